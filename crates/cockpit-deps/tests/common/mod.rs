//! What the integration tests start: real MCP servers (npm's
//! `@modelcontextprotocol/server-everything`, a server built with PyPI's
//! `mcp` SDK, a broken stdio fixture) and a real Chroma server, each on
//! 127.0.0.1 and stopped when dropped. Missing installs are made once,
//! into the target directory (`target/npm`, `target/py-venv-deps`); if an
//! install fails the tests fail, they never skip.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cockpit_core::{AuditOutcome, Finding};

/// The npm package and version the tests run.
pub const EVERYTHING: &str = "@modelcontextprotocol/server-everything@2026.8.31";

/// A file of cockpit-deps' tests/support (also when another crate's tests
/// include this module by path).
pub fn support(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cockpit-deps/tests/support")
        .join(name)
}

/// target/ (the test binary lives in target/<profile>/deps).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf()
}

fn run_install(what: &str, cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `target/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js`,
/// installed (`npm install --prefix target/npm`) when missing.
pub fn everything() -> &'static Path {
    static JS: OnceLock<PathBuf> = OnceLock::new();
    JS.get_or_init(|| {
        let prefix = target_dir().join("npm");
        let js = prefix.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
        if !js.is_file() {
            run_install(
                "npm install --prefix target/npm @modelcontextprotocol/server-everything",
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--prefix"])
                    .arg(&prefix)
                    .arg(EVERYTHING),
            );
        }
        js
    })
}

/// `target/py-venv-deps` (PyPI's `mcp` and `chromadb`), created when missing.
pub fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let venv = target_dir().join("py-venv-deps");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../cockpit-probe/tests/support/py_venv.sh");
        run_install(
            "sh py_venv.sh target/py-venv-deps tests/support/requirements.txt",
            Command::new("sh")
                .arg(script)
                .arg(&venv)
                .arg(support("requirements.txt"))
                .arg("mcp,chromadb"),
        );
        venv
    })
}

pub fn python() -> PathBuf {
    venv().join("bin/python")
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A server process of a test, killed and reaped when dropped.
#[derive(Debug)]
pub struct Server {
    child: std::process::Child,
    pub port: u16,
}

impl Server {
    /// Start `cmd` and wait (at most `within`) until `port` accepts.
    pub fn start(mut cmd: Command, port: u16, within: Duration) -> Server {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        let mut server = Server { child, port };
        let deadline = Instant::now() + within;
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server exited before listening on {port}: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "nothing listens on {port} after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The finding of check `id`.
pub fn find<'a>(r: &'a AuditOutcome, id: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.check_id.as_str() == id)
        .unwrap_or_else(|| panic!("no {id} finding in {:#?}", r.findings))
}

/// Whether process `pid` still exists (a zombie counts: it is not reaped).
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A generous guard: a test that hangs fails instead.
pub const HANG_GUARD: Duration = Duration::from_secs(180);

/// A real Chroma server (`chroma run` from PyPI's chromadb) on a free
/// 127.0.0.1 port, its data in a temporary directory; killed when dropped.
#[derive(Debug)]
pub struct Chroma {
    pub server: Server,
    _data: tempfile::TempDir,
}

impl Chroma {
    pub fn start() -> Chroma {
        let data = tempfile::tempdir().expect("a data directory");
        let port = free_port();
        let mut cmd = Command::new(python());
        cmd.args([
            "-c",
            "import sys; from chromadb.cli.cli import app; sys.argv[0] = 'chroma'; app()",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--path",
        ])
        .arg(data.path())
        .env("ANONYMIZED_TELEMETRY", "False");
        let server = Server::start(cmd, port, Duration::from_secs(120));
        Chroma {
            server,
            _data: data,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port)
    }

    /// Create `collection` with `n` records of dimension `dim`, through
    /// chromadb's own Python client.
    pub fn seed(&self, collection: &str, n: usize, dim: usize) {
        let script = format!(
            "import chromadb\n\
             c = chromadb.HttpClient(host='127.0.0.1', port={port})\n\
             col = c.create_collection('{collection}')\n\
             n, d = {n}, {dim}\n\
             if n:\n    col.add(ids=[f'doc-{{i}}' for i in range(n)], embeddings=[[((i * 7 + j) % 11) / 10.0 for j in range(d)] for i in range(n)], documents=[f'document {{i}}' for i in range(n)])\n",
            port = self.server.port
        );
        run_install(
            "seed a Chroma collection",
            Command::new(python())
                .args(["-c", &script])
                .env("ANONYMIZED_TELEMETRY", "False"),
        );
    }
}
