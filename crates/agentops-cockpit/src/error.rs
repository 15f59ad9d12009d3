//! Everything that ends a run early, and the one place that turns it into
//! an exit code ([`CliError::exit_code`]).
//!
//! Library errors arrive through `?` as their own variants (`#[from]`), with
//! their `#[source]` chains kept; [`Context`] adds which flag or file they
//! came from without losing the variant, so the exit code is decided by what
//! went wrong, never by where the message was built.

use std::path::PathBuf;

/// Exit codes (also in `--help` and the README).
pub mod code {
    /// Measured; the gate (or every SLO) held.
    pub const SUCCESS: u8 = 0;
    /// Measured, and the gate or an SLO failed.
    pub const GATE_FAILED: u8 = 1;
    /// Bad arguments, configuration or input file; an output that cannot be written.
    pub const USAGE: u8 = 2;
    /// Nothing that had to be measured could be reached.
    pub const UNREACHABLE: u8 = 3;
    /// Interrupted (Ctrl-C or SIGTERM): partial results were written.
    pub const INTERRUPTED: u8 = 130;
}

/// Why a command could not finish.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Arguments that cannot be used together, or a value clap could not check.
    #[error("{0}")]
    Usage(String),
    /// `cockpit.toml`, located to file:line:column.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A probe or load run could not start (bad URL, TLS setup, …) or its
    /// one request failed.
    #[error(transparent)]
    Probe(#[from] cockpit_probe::ProbeError),
    /// The State pillar's Redis (the `--protocol redis` probe).
    #[error(transparent)]
    Stm(#[from] cockpit_stm::StmError),
    /// Manifest, Cloud Run and pipeline inputs; the kubeconfig.
    #[error(transparent)]
    K8s(#[from] cockpit_k8s::K8sError),
    /// The gate's policy, a saved report, the evidence lake, a renderer.
    #[error(transparent)]
    Score(#[from] cockpit_score::ScoreError),
    /// Mission Control could not start: its settings, an empty fleet.
    #[error(transparent)]
    Fleet(#[from] cockpit_fleet::MonitorError),
    /// A simulation that could not start (bad option, ramp, objective, URL).
    #[error(transparent)]
    Sim(#[from] cockpit_sim::SimError),
    /// `[watchtower]` or a canary (never shown).
    #[error(transparent)]
    Watchtower(#[from] cockpit_watchtower::WatchtowerError),
    /// `shadow`'s settings or a deployment's URL.
    #[error(transparent)]
    Shadow(#[from] cockpit_shadow::ShadowError),
    /// Nothing that had to be measured could be reached.
    #[error("{0}")]
    Unreachable(String),
    /// An output file or stream that cannot be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `--serve ADDR` cannot be listened on (in use, not an address of this machine).
    #[error("--serve {addr}: cannot listen: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Our own data could not be serialised (a bug: report it).
    #[error("cannot serialise {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// Another error, with the flag or file it is about.
    #[error("{context}: {source}")]
    Context {
        context: String,
        #[source]
        source: Box<CliError>,
    },
}

impl CliError {
    /// The exit code for this error, decided by what went wrong.
    pub fn exit_code(&self) -> u8 {
        use cockpit_k8s::K8sError;
        use cockpit_probe::ProbeError;
        use cockpit_stm::StmError;
        match self {
            CliError::Context { source, .. } => source.exit_code(),
            CliError::Unreachable(_) => code::UNREACHABLE,
            // One request that had to answer did not (metrics, connect RTT).
            CliError::Probe(ProbeError::Request { .. }) => code::UNREACHABLE,
            // A Redis URL that is not one is input; anything else is the server.
            CliError::Stm(StmError::Url { .. }) => code::USAGE,
            CliError::Stm(_) => code::UNREACHABLE,
            CliError::K8s(K8sError::Kubeconfig(_) | K8sError::Api { .. }) => code::UNREACHABLE,
            CliError::Usage(_)
            | CliError::Config(_)
            | CliError::Probe(_)
            | CliError::K8s(_)
            | CliError::Score(_)
            | CliError::Fleet(_)
            | CliError::Sim(_)
            | CliError::Shadow(_)
            | CliError::Watchtower(_)
            | CliError::Write { .. }
            | CliError::Listen { .. }
            | CliError::Serialize { .. } => code::USAGE,
        }
    }

    /// The same error, saying which flag or file it is about.
    pub fn context(self, context: impl Into<String>) -> CliError {
        CliError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }
}

/// `.context("--from")` on any result whose error converts into [`CliError`].
pub trait ResultExt<T> {
    fn context(self, context: impl Into<String>) -> Result<T, CliError>;
}

impl<T, E: Into<CliError>> ResultExt<T> for Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T, CliError> {
        self.map_err(|e| e.into().context(context))
    }
}

/// JSON of our own types; failure is a bug, reported as [`CliError::Serialize`].
pub fn to_json_pretty<T: serde::Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<String, CliError> {
    serde_json::to_string_pretty(value).map_err(|source| CliError::Serialize { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io() -> std::io::Error {
        std::io::Error::other("disk full")
    }

    #[test]
    fn every_class_has_its_code() {
        let unreachable = [
            CliError::Unreachable("x".into()),
            CliError::Probe(cockpit_probe::ProbeError::Request {
                url: "http://h/metrics".into(),
                kind: cockpit_probe::ErrorKind::Connect,
                message: "refused".into(),
            }),
            CliError::Stm(cockpit_stm::StmError::Connect {
                url: "redis://h:1".into(),
                message: "refused".into(),
            }),
            CliError::K8s(cockpit_k8s::K8sError::Kubeconfig("no context".into())),
        ];
        for e in unreachable {
            assert_eq!(e.exit_code(), code::UNREACHABLE, "{e}");
        }
        let usage = [
            CliError::Usage("x".into()),
            CliError::Probe(cockpit_probe::ProbeError::UnknownProtocol("soap".into())),
            CliError::Stm(cockpit_stm::StmError::Url {
                url: "redis://h:99999".into(),
                message: "bad port".into(),
            }),
            CliError::K8s(cockpit_k8s::K8sError::NoMatch {
                pattern: "d/*.yaml".into(),
            }),
            CliError::Score(cockpit_score::ScoreError::Threshold(120.0)),
            CliError::Fleet(cockpit_fleet::MonitorError::NoTargets),
            CliError::Write {
                path: "out/report.json".into(),
                source: io(),
            },
            CliError::Listen {
                addr: "127.0.0.1:9464".parse().unwrap(),
                source: io(),
            },
        ];
        for e in usage {
            assert_eq!(e.exit_code(), code::USAGE, "{e}");
        }
    }

    #[test]
    fn context_keeps_the_class_and_the_chain() {
        let e: Result<(), CliError> = Err(cockpit_stm::StmError::Connect {
            url: "redis://h:1".into(),
            message: "refused".into(),
        })
        .context("--protocol redis");
        let e = e.unwrap_err();
        assert_eq!(e.exit_code(), code::UNREACHABLE);
        assert!(
            e.to_string().starts_with("--protocol redis: redis://h:1"),
            "{e}"
        );
        assert!(std::error::Error::source(&e).is_some());
        let usage =
            CliError::Score(cockpit_score::ScoreError::Threshold(120.0)).context("--from r.json");
        assert_eq!(usage.exit_code(), code::USAGE);
    }
}
