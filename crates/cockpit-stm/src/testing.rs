//! Test support (feature `test-support`): real `redis-server` processes on
//! free 127.0.0.1 ports, each with its own configuration and directory,
//! killed when dropped; and [`hostile`] RESP servers that answer with
//! broken or malicious replies. Used by this crate's and the CLI's
//! integration tests.
//!
//! Needs `redis-server` and `redis-cli` on `PATH` (Debian: `apt-get install
//! redis-server`; `cargo xtask ci` installs it when missing).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod hostile;

/// How long a server may take to accept commands after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// AOF with `appendfsync everysec`, `noeviction` under a 64 MB limit.
pub const AOF_NOEVICTION: &str = "appendonly yes\nappendfsync everysec\nsave \"\"\nmaxmemory 64mb\nmaxmemory-policy noeviction\n";
/// No persistence at all, and `allkeys-lru` under a 64 MB limit.
pub const NO_PERSISTENCE_ALLKEYS_LRU: &str =
    "appendonly no\nsave \"\"\nmaxmemory 64mb\nmaxmemory-policy allkeys-lru\n";
/// RDB snapshots only (`save 3600 1 300 100`), `noeviction`.
pub const RDB_ONLY: &str =
    "appendonly no\nsave 3600 1 300 100\nmaxmemory 64mb\nmaxmemory-policy noeviction\n";
/// No persistence, `noeviction` (for restarts that lose everything).
pub const NO_PERSISTENCE: &str =
    "appendonly no\nsave \"\"\nmaxmemory 64mb\nmaxmemory-policy noeviction\n";

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    password: Option<String>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Start a server whose configuration file is `config` plus the port,
    /// directory and `enable-debug-command local` lines this harness adds.
    pub fn start(config: &str) -> RedisServer {
        let password = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("requirepass "))
            .map(|p| p.trim().trim_matches('"').to_string());
        let mut last = String::new();
        // The free port is found by binding and releasing it: another
        // process may take it in between, so try a few.
        for _ in 0..5 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("temp dir for redis-server");
            let conf = dir.path().join("redis.conf");
            let text = format!(
                "bind 127.0.0.1\nport {port}\ndir {}\ndaemonize no\nloglevel warning\nlogfile {}\nenable-debug-command local\n{config}",
                dir.path().display(),
                dir.path().join("redis.log").display(),
            );
            std::fs::write(&conf, text).expect("write redis.conf");
            let child = match Command::new(redis_server_path())
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(c) => c,
                Err(e) => panic!(
                    "cannot start redis-server ({e}); install it (apt-get install redis-server) or run `cargo xtask ci`, which does"
                ),
            };
            let mut server = RedisServer {
                child,
                port,
                password: password.clone(),
                dir,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(e) => last = format!("{e}; log: {}", server.log()),
            }
        }
        panic!("redis-server did not start: {last}");
    }

    /// Start a replica of `primary` (`replicaof`, `masterauth` when the
    /// primary has a password) with `config`, and wait until its link is up.
    pub fn start_replica(primary: &RedisServer, config: &str) -> RedisServer {
        let auth = primary
            .password
            .as_deref()
            .map(|p| format!("masterauth {p}\n"))
            .unwrap_or_default();
        let replica = RedisServer::start(&format!(
            "{config}replicaof 127.0.0.1 {}\n{auth}",
            primary.port
        ));
        let start = Instant::now();
        while !replica
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
        {
            assert!(
                start.elapsed() < START_TIMEOUT,
                "the replica never linked to its primary; log: {}",
                replica.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        replica
    }

    /// Kill the server now (SIGKILL), as a crash or a lost node would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://[:password@]127.0.0.1:port`, the password percent-encoded
    /// (as a URL needs it when it holds `/`, `+`, `#`, `@`, `%`, `?`).
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!(
                "redis://:{}@127.0.0.1:{}",
                percent_encoding::utf8_percent_encode(p, percent_encoding::NON_ALPHANUMERIC),
                self.port
            ),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The server's working directory (AOF, RDB, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Run `redis-cli` against this server on its own connection and return
    /// its stdout (`--raw`). Panics, with what redis-cli printed, when it
    /// fails: it cannot connect, or the server answers with an error (`-e`)
    /// — so an empty answer always means the server said so.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|e| panic!("redis-cli {args:?} on port {}: {e}", self.port))
    }

    /// [`cli`](Self::cli), a failure returned instead: what redis-cli
    /// printed and its exit status.
    pub fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let mut c = Command::new("redis-cli");
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "--raw",
            "-e",
        ]);
        if let Some(p) = &self.password {
            c.args(["--no-auth-warning", "-a", p]);
        }
        let out = c
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run redis-cli: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "{}; stdout: {stdout:?}; stderr: {:?}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Every key matching `pattern`, read with `SCAN` on a connection of the
    /// test's own.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        self.cli(&["--scan", "--pattern", pattern])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Poll with PING (a raw RESP exchange) until the server answers.
    fn wait_ready(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("redis-server exited ({status})"));
            }
            if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 64];
                if s.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok()
                    && let Ok(n) = s.read(&mut buf)
                {
                    let reply = &buf[..n];
                    // +PONG, or -NOAUTH when a password is set: either way it serves.
                    if reply.starts_with(b"+PONG") || reply.starts_with(b"-NOAUTH") {
                        // The port was free a moment ago: another test's
                        // server may have taken it first, and then answers
                        // here while this one fails to bind. Only ours counts.
                        let ours = format!("process_id:{}", self.child.id());
                        if self
                            .try_cli(&["INFO", "server"])?
                            .lines()
                            .any(|l| l.trim() == ours)
                        {
                            return Ok(());
                        }
                        return Err(format!(
                            "port {} is served by another process, not redis-server {}",
                            self.port,
                            self.child.id()
                        ));
                    }
                }
            }
            if start.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "no PONG on port {} within {START_TIMEOUT:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// `redis-server`, from `PATH` or Debian's `/usr/bin`.
fn redis_server_path() -> PathBuf {
    let p = PathBuf::from("/usr/bin/redis-server");
    if p.exists() {
        p
    } else {
        PathBuf::from("redis-server")
    }
}
