//! `agentops-cockpit`: the thin command-line front of the agentops-cockpit
//! libraries. It parses arguments, loads `cockpit.toml`, calls the libraries,
//! renders, and sets the exit code — no domain logic lives here.

mod audit;
mod certify;
mod checks;
mod cli;
mod cockpit;
mod config;
mod deploy;
mod error;
mod evidence;
mod fanout;
mod fanout_k8s;
mod load;
mod logsink;
mod output;
mod probe;
mod push;
mod render;
mod run_end;
mod shadow;
mod sim_fanout;
mod simulate;
mod term;

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use cli::{AuditCommand, Cli, Command, DeployCommand};

pub use error::{CliError, ResultExt};

/// How a command that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Measured, and the gate (or an SLO) failed.
    GateFailed,
    /// Partial results were written after Ctrl-C.
    Interrupted,
}

/// Print to stdout. A reader that went away (`… | head`) is not an error:
/// the output is simply not wanted any more; other write errors exit 2.
pub fn print_stdout(text: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    if STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed) && !text.is_empty() {
        return Err(CliError::Write {
            path: "<stdout>".into(),
            source: std::io::Error::other("standard output is closed"),
        });
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Write {
            path: "<stdout>".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Whether standard output was closed when the process started (`>&-`).
/// Rust's runtime reopens a closed descriptor 0–2 on `/dev/null`,
/// read-write, before `main`, and writes to it then vanish; a shell's
/// `>/dev/null` opens it write-only. So on Linux a stdout that is
/// `/dev/null` opened read-write was closed, and printing a report to it is
/// an error rather than a silent success.
#[cfg(target_os = "linux")]
fn stdout_was_closed() -> bool {
    let is_null =
        std::fs::read_link("/proc/self/fd/1").is_ok_and(|t| t == std::path::Path::new("/dev/null"));
    let flags = std::fs::read_to_string("/proc/self/fdinfo/1")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        });
    // O_ACCMODE is 0o3, O_RDWR 0o2.
    is_null && flags.is_some_and(|f| f & 0o3 == 0o2)
}

/// Whether standard output was closed when the process started.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The exit code of a run: by its outcome, or by the error's class
/// ([`CliError::exit_code`]), the error printed on stderr.
fn exit_code(r: Result<Outcome, CliError>) -> ExitCode {
    use error::code;
    ExitCode::from(match r {
        Ok(Outcome::Success) => code::SUCCESS,
        Ok(Outcome::GateFailed) => code::GATE_FAILED,
        Ok(Outcome::Interrupted) => code::INTERRUPTED,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    })
}

/// This project's crates: `-v`… and a bare `RUST_LOG` level apply to these.
const OURS: &[&str] = &[
    "agentops_cockpit",
    "cockpit_core",
    "cockpit_deps",
    "cockpit_shadow",
    "cockpit_watchtower",
    "cockpit_hive",
    "cockpit_fleet",
    "cockpit_probe",
    "cockpit_stm",
    "cockpit_k8s",
    "cockpit_score",
    "cockpit_sim",
    "cockpit_testbed",
];

/// The log filter. `-v`… raise the level of this project's crates only: a
/// dependency's debug output (HTTP/2 frames, the Kubernetes client) floods
/// the log and can print URLs and headers unredacted, so it stays at `warn`
/// unless named. RUST_LOG is read the same way: a bare level (`debug`)
/// applies to this project's crates; `h2=debug` or `hyper=trace` names a
/// dependency and is taken as written.
fn log_filter(verbose: u8, quiet: bool, rust_log: Option<&str>) -> String {
    let ours =
        |level: &str| -> Vec<String> { OURS.iter().map(|c| format!("{c}={level}")).collect() };
    let Some(env) = rust_log.map(str::trim).filter(|e| !e.is_empty()) else {
        if quiet {
            return "error".into();
        }
        let level = match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        };
        return std::iter::once("warn".to_string())
            .chain(ours(level))
            .collect::<Vec<_>>()
            .join(",");
    };
    let mut base = "warn";
    let mut directives = Vec::new();
    for d in env.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if d.contains('=') || d.contains('[') || !is_level(d) {
            directives.push(d.to_string());
        } else {
            // A level below warn lowers the dependencies too; above, only ours.
            if matches!(d.to_ascii_lowercase().as_str(), "error" | "off") {
                base = d;
            }
            directives.extend(ours(d));
        }
    }
    std::iter::once(base.to_string())
        .chain(directives)
        .collect::<Vec<_>>()
        .join(",")
}

fn is_level(d: &str) -> bool {
    matches!(
        d.to_ascii_lowercase().as_str(),
        "trace" | "debug" | "info" | "warn" | "error" | "off"
    )
}

/// Log output on stderr, filtered by [`log_filter`]; ANSI colour only by
/// `--color` (auto: when stderr is a terminal), so a redirected log is text.
fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let env = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let filter =
        EnvFilter::try_new(log_filter(verbose, quiet, env.as_deref())).unwrap_or_else(|e| {
            eprintln!("warning: RUST_LOG is not a valid filter ({e}); using the default");
            EnvFilter::new(log_filter(verbose, quiet, None))
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(term::stderr_colour())
        .with_writer(logsink::LogSink)
        .with_target(false)
        .try_init();
}

/// `completions SHELL` and the hidden `manpage`: generated from the same
/// clap definitions as the parser, so they never drift.
fn print_generated(command: &Command) -> Result<Outcome, CliError> {
    use clap::CommandFactory as _;
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    match command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut cmd, "agentops-cockpit", &mut buf);
        }
        _ => clap_mangen::Man::new(cmd)
            .render(&mut buf)
            .map_err(|source| CliError::Write {
                path: "<stdout>".into(),
                source,
            })?,
    }
    print_stdout(&String::from_utf8_lossy(&buf))?;
    Ok(Outcome::Success)
}

/// A token cancelled on the first SIGINT (Ctrl-C) or SIGTERM (what
/// Kubernetes and CI runners send to stop a job): the command finishes
/// with what was measured, writes it marked `interrupted`, cleans up (the
/// State pillar deletes its check key) and exits 130. A second signal of
/// either kind exits at once (130 for SIGINT, 143 for SIGTERM). The
/// handlers are installed before this returns, so a signal that arrives
/// while the command is starting is not lost.
fn cancel_on_ctrl_c() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    #[cfg(unix)]
    let (mut interrupts, mut terms) = {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(i), Ok(t)) => (i, t),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("cannot listen for Ctrl-C and SIGTERM: {e}");
                return token;
            }
        }
    };
    tokio::spawn(async move {
        // The exit code of a second signal: 128 + its number.
        #[cfg(unix)]
        let mut next = async || {
            tokio::select! {
                i = interrupts.recv() => i.map(|()| ("Ctrl-C", 130)),
                t = terms.recv() => t.map(|()| ("SIGTERM", 143)),
            }
        };
        #[cfg(not(unix))]
        let next = async || tokio::signal::ctrl_c().await.ok().map(|()| ("Ctrl-C", 130));
        if let Some((name, _)) = next().await {
            eprintln!(
                "interrupted ({name}): finishing with what was measured so far (a second signal aborts)"
            );
            t.cancel();
            if let Some((_, code)) = next().await {
                std::process::exit(code);
            }
        }
    });
    token
}

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    STDOUT_CLOSED.store(stdout_was_closed(), std::sync::atomic::Ordering::Relaxed);
    let cli = Cli::parse();
    term::init(cli.color, cli.quiet);
    init_tracing(cli.verbose, cli.quiet);
    if matches!(cli.command, Command::Completions { .. } | Command::Manpage) {
        return exit_code(print_generated(&cli.command));
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async move {
        let cancel = cancel_on_ctrl_c();
        match cli.command {
            Command::Probe(args) => probe::run(args, cancel).await,
            Command::Audit {
                command: AuditCommand::Report(args),
            } => audit::run(args, cancel).await,
            Command::Certify(args) => certify::run(args, cancel).await,
            Command::Load(cmd) => fanout::run(*cmd, cancel).await,
            Command::Cockpit(args) => cockpit::run(args, cancel).await,
            Command::Simulate(cmd) => sim_fanout::run(*cmd, cancel).await,
            Command::Shadow(args) => shadow::run(args, cancel).await,
            c @ (Command::Completions { .. } | Command::Manpage) => print_generated(&c),
            Command::Checks { command } => checks::run(command),
            Command::Deploy {
                command: DeployCommand::Sovereign(args),
            } => deploy::run(args, cancel).await,
        }
    });
    exit_code(result)
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn a_bare_rust_log_level_leaves_dependencies_at_warn() {
        let f = log_filter(0, false, Some("debug"));
        assert!(f.starts_with("warn,"), "{f}");
        assert!(f.contains("cockpit_probe=debug"), "{f}");
        assert!(!f.contains("h2"), "{f}");
        // A dependency named is taken as written.
        let f = log_filter(0, false, Some("debug,h2=trace"));
        assert!(
            f.contains("h2=trace") && f.contains("agentops_cockpit=debug"),
            "{f}"
        );
        // error / off lower everything.
        assert!(log_filter(0, false, Some("error")).starts_with("error,"));
        // Without RUST_LOG: -v raises ours, -q is errors only.
        assert!(log_filter(2, false, None).contains("cockpit_stm=debug"));
        assert_eq!(log_filter(0, true, None), "error");
        assert_eq!(log_filter(0, false, Some("  ")), log_filter(0, false, None));
    }
}
