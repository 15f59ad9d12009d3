//! `cargo xtask`: the project's automation, in plain Rust.
//!
//! - `cargo xtask ci` — what CI runs: installs missing tools, then fmt,
//!   clippy, cargo-deny (bans, licences, sources) and every test.
//! - `cargo xtask bench probe-accuracy` — client-measured TTFT against the
//!   testbed's server-side stamps at 1, 64 and 256 concurrent streams.
//! - `cargo xtask bench sse` — the criterion bench of the SSE parser.
//! - `cargo xtask bench stm` — STA-LATENCY's per-command latency against
//!   `redis-benchmark -t get,set` on the same redis-server, as ratios.
//! - `cargo xtask bench load` — the load engine against wrk and oha, on nginx.
//! - `cargo xtask bench simulate` — the simulator's sessions/s and peak RSS
//!   at 1,000 sessions in flight against a zero-latency testbed, beside
//!   `load --protocol openai` at the same concurrency.
//! - `cargo xtask bench load-fanout` — the fan-out over 1, 2, 4 local
//!   workers on nginx, and the merge of 64 worker results.
//! - `cargo xtask load-test [--target URL]` — the standard load profile
//!   (starts the testbed when no target is given).
//! - `cargo xtask mutants [CRATE]` — the mutation score of cockpit-core,
//!   cockpit-score and the pillars' pure code (cargo-mutants; long, not in CI).
//! - `cargo xtask dist [--target T] [--version V]` — the release archive
//!   of one target (the `dist` profile) with its SHA-256, as the release
//!   workflow builds it.
//! - `cargo xtask man` — regenerate docs/man/agentops-cockpit.1 (a test
//!   fails when it is stale).
//! - `cargo xtask simulation-run [--target URL]` — the standard
//!   reasoning-degradation profile (starts the testbed fleet when no target
//!   is given).

mod cockpit;
mod dist;
mod fanout;
mod load;
mod mutants;
mod sim;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["ci"] => ci(),
        ["bench"] | ["bench", "all"] => bench_sse().and_then(|_| bench_accuracy(&[])),
        ["bench", "sse"] => bench_sse(),
        ["bench", "manifests"] => bench_manifests(),
        ["bench", "stm", rest @ ..] => bench_stm(rest),
        ["bench", "load", rest @ ..] => load::bench_load(rest),
        ["bench", "cockpit", rest @ ..] => cockpit::bench_cockpit(rest),
        ["bench", "simulate", rest @ ..] => sim::bench_simulate(rest),
        ["bench", "load-fanout", rest @ ..] => fanout::bench_fanout(rest),
        ["load-test", rest @ ..] => load::load_test(rest),
        ["simulation-run", rest @ ..] => sim::simulation_run(rest),
        ["bench", "probe-accuracy", rest @ ..] => bench_accuracy(rest),
        ["mutants", rest @ ..] => mutants::mutants(rest),
        ["dist", rest @ ..] => dist::dist(rest),
        ["man"] => dist::man(),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  ci                          fmt, clippy, deny, tests (installs missing tools)\n  bench [all]                 every benchmark\n  bench sse                   SSE parser throughput (criterion)\n  bench manifests             1,000 manifest documents audited vs parse-only floor (criterion)\n  bench probe-accuracy [--levels 1,64,256] [--rounds N]\n  bench stm [--requests N] [--rounds R]   STA-LATENCY vs redis-benchmark, same server (installs redis-server)\n  bench load [--secs 10] [--reps 3] [--connections 64]   vs wrk and oha on nginx (installs them)\n  bench load-fanout [--secs 10] [--bin PATH]   --workers 1, 2, 4 --local on nginx; merge of 64 results\n  bench cockpit [--agents 1000] [--interval 15s] [--rounds 4] [--concurrency 32] [--debug]\n                              Mission Control over a testbed fleet: CPU per probe, peak RSS, redraw, /metrics\n  bench simulate [--concurrency 1000] [--sessions 5000] [--reps 3] [--secs 10]   simulator vs load, zero-latency testbed\n  load-test [--target URL] [--protocol P] [--rate N] [-d D]   the standard load profile\n  simulation-run [--target URL]   the standard reasoning-degradation profile\n  dist [--target T] [--version V]   release archive + SHA-256 (dist profile; slow, not in ci)\n  man                         regenerate docs/man/agentops-cockpit.1\n  {}\n                              mutation score (installs cargo-mutants; long, not in ci)\n",
                mutants::USAGE
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)))
    }
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The workspace root (this crate's parent directory).
fn workspace_root() -> std::path::PathBuf {
    let xtask = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// `CARGO_TARGET_DIR`, or the workspace's `target/`.
fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// `cargo install --locked <krate>` unless `cargo <subcommand> --version`
/// already works (installed once, in ~/.cargo/bin).
fn ensure_cargo_tool(subcommand: &str, krate: &str) -> Result<(), String> {
    let installed = cargo()
        .args([subcommand, "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        return Ok(());
    }
    run(cargo().args(["install", "--locked", krate]))
}

/// Install the tools the checks and tests need, when missing.
fn ensure_tools() -> Result<(), String> {
    ensure_cargo_tool("deny", "cargo-deny")?;
    // cockpit-score's HTML report test opens the report in headless Chromium.
    ensure_apt_packages(&[("chromium", "chromium")])?;
    // Mission Control's tests: /metrics checked by promtool and scraped by a
    // real prometheus server (Debian: prometheus ships both); the terminal
    // dashboard driven in tmux.
    ensure_apt_packages(&[
        ("promtool", "prometheus"),
        ("prometheus", "prometheus"),
        ("tmux", "tmux"),
    ])?;
    ensure_redis()?;
    // `--push-gateway` is tested against a real Pushgateway.
    ensure_apt_packages(&[("prometheus-pushgateway", "prometheus-pushgateway")])?;
    ensure_python_venv()?;
    ensure_deps_peers()?;
    ensure_report_validators()?;
    Ok(())
}

/// cockpit-score's report tests validate the SARIF with Microsoft's SARIF
/// multitool and the GitHub rule set (npm `@microsoft/sarif-multitool`, in
/// `<target>/npm`) and the JUnit XML against the Jenkins xUnit schema with
/// xmllint (Debian `libxml2-utils`). The SARIF test installs the
/// multitool too when missing.
fn ensure_report_validators() -> Result<(), String> {
    ensure_apt_packages(&[("xmllint", "libxml2-utils")])?;
    let npm = target_dir().join("npm");
    let exe = npm.join("node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
    if !exe.is_file() {
        // The same version as crates/cockpit-score/tests/sarif_github.rs.
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&npm)
            .arg("@microsoft/sarif-multitool@5.7.0"))?;
    }
    Ok(())
}

/// cockpit-deps's tests talk to real MCP servers and a real Chroma:
/// npm's `@modelcontextprotocol/server-everything` in `<target>/npm`, and
/// PyPI's `mcp` and `chromadb` in `<target>/py-venv-deps` (prebuilt wheels,
/// kept while crates/cockpit-deps/tests/support/requirements.txt is
/// unchanged). Each is installed once; the tests install them too when
/// missing.
fn ensure_deps_peers() -> Result<(), String> {
    ensure_apt_packages(&[("node", "nodejs"), ("npm", "npm")])?;
    let root = workspace_root();
    let npm = target_dir().join("npm");
    if !npm
        .join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
        .is_file()
    {
        // The same version as crates/cockpit-deps/tests/common/mod.rs.
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&npm)
            .arg("@modelcontextprotocol/server-everything@2026.8.31"))?;
    }
    run(Command::new("sh")
        .arg(root.join("crates/cockpit-probe/tests/support/py_venv.sh"))
        .arg(target_dir().join("py-venv-deps"))
        .arg(root.join("crates/cockpit-deps/tests/support/requirements.txt"))
        .arg("mcp,chromadb"))
}

/// cockpit-probe's gRPC interop tests (tests/grpc_method.rs) run a server
/// built with PyPI's grpcio from `<target>/py-venv`: create it once
/// (prebuilt wheels, kept while tests/support/requirements.txt is
/// unchanged). The tests create it too when missing.
fn ensure_python_venv() -> Result<(), String> {
    ensure_apt_packages(&[("python3", "python3")])?;
    let venv_ok = Command::new("python3")
        .args(["-m", "venv", "--help"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !venv_ok {
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "python3-venv"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    run(Command::new("sh")
        .arg(workspace_root().join("crates/cockpit-probe/tests/support/py_venv.sh"))
        .arg(target_dir().join("py-venv")))
}

/// The State pillar's tests and bench start real `redis-server` processes
/// and use `redis-cli` and `redis-benchmark` (Debian: redis-server, which
/// pulls redis-tools).
fn ensure_redis() -> Result<(), String> {
    ensure_apt_packages(&[
        ("redis-server", "redis-server"),
        ("redis-cli", "redis-tools"),
        ("redis-benchmark", "redis-tools"),
    ])
}

fn bench_stm(rest: &[&str]) -> Result<(), String> {
    ensure_redis()?;
    let mut c = cargo();
    c.args([
        "bench",
        "-p",
        "cockpit-stm",
        "--bench",
        "vs_redis_benchmark",
        "--",
    ]);
    c.args(rest);
    run(&mut c)
}

/// `apt-get install` the packages whose program is not on PATH (after one
/// `apt-get update`), non-interactive and quiet.
fn ensure_apt_packages(wanted: &[(&str, &str)]) -> Result<(), String> {
    let on_path = |program: &str| {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
    };
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(program, _)| !on_path(program))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    run(Command::new("apt-get")
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Switches that make tests rewrite what they compare with: never in CI.
const BLESSING_VARS: [&str; 2] = ["UPDATE_GOLDEN", "UPDATE_SCHEMA"];

fn ci() -> Result<(), String> {
    if let Some(v) = BLESSING_VARS.iter().find(|v| std::env::var_os(v).is_some()) {
        return Err(format!(
            "{v} is set: the tests would rewrite the files they compare with; unset it for CI"
        ));
    }
    ensure_tools()?;
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().args([
        "deny",
        "--log-level",
        "error",
        "check",
        "bans",
        "licenses",
        "sources",
    ]))?;
    let before = tree_state();
    run(cargo().args(["test", "--workspace", "--locked"]))?;
    let after = tree_state();
    if before != after {
        return Err(format!(
            "the tests changed the working tree (golden files, schema, or stray output):\n--- before\n{}\n--- after\n{}",
            before.unwrap_or_default(),
            after.unwrap_or_default()
        ));
    }
    Ok(())
}

/// `git status` and `git diff` of the working tree, or `None` outside a
/// git checkout: compared before and after the tests.
fn tree_state() -> Option<String> {
    let out = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let status = out(&["status", "--porcelain=v1", "--untracked-files=all"])?;
    let diff = out(&["diff", "--no-ext-diff", "--no-textconv"])?;
    Some(status + &diff)
}

fn bench_manifests() -> Result<(), String> {
    run(cargo().args(["bench", "-p", "cockpit-k8s", "--bench", "manifests"]))
}

fn bench_sse() -> Result<(), String> {
    run(cargo().args(["bench", "-p", "cockpit-probe", "--bench", "sse_parser"]))
}

fn bench_accuracy(rest: &[&str]) -> Result<(), String> {
    let mut c = cargo();
    c.args([
        "bench",
        "-p",
        "cockpit-probe",
        "--bench",
        "probe_accuracy",
        "--",
    ]);
    c.args(rest);
    run(&mut c)
}
