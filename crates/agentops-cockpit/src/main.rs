//! `agentops-cockpit`: the thin command-line front of the agentops-cockpit
//! libraries. It parses arguments, loads `cockpit.toml`, calls the libraries,
//! renders, and sets the exit code — no domain logic lives here.

mod audit;
mod certify;
mod cli;
mod config;
mod error;
mod evidence;
mod load;
mod probe;
mod render;

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use cli::{AuditCommand, Cli, Command};

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
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Write {
            path: "<stdout>".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

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

fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// A token cancelled on the first Ctrl-C (SIGINT); a second one exits at
/// once. The handler is installed before this returns, so a signal that
/// arrives while the command is starting is not lost.
fn cancel_on_ctrl_c() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    #[cfg(unix)]
    let mut interrupts =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for Ctrl-C: {e}");
                return token;
            }
        };
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut next = async || interrupts.recv().await.is_some();
        #[cfg(not(unix))]
        let next = async || tokio::signal::ctrl_c().await.is_ok();
        if next().await {
            eprintln!(
                "interrupted: finishing with what was measured so far (Ctrl-C again to abort)"
            );
            t.cancel();
            if next().await {
                std::process::exit(130);
            }
        }
    });
    token
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
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
            Command::Load(args) => load::run(args, cancel).await,
        }
    });
    exit_code(result)
}
