//! The one error type of the crate. A target that cannot be reached is
//! never an error: it is shown down with its error kind, and the loop goes
//! on. Errors are what stops a monitor from starting (bad settings, a
//! target whose URL cannot be probed) or a record from being written.

use std::path::PathBuf;

/// Why the monitor could not start, or what it could not write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// A `[cockpit]` / `[cockpit.alerts]` value that cannot be used; `key`
    /// names it for the caller to locate in its file.
    #[error("cockpit.{key}: {message}")]
    Config { key: &'static str, message: String },
    /// The fleet has nothing to watch.
    #[error(
        "no target to watch: declare [[agents]] (or [[retrieval]], [stm], a live [kubernetes]) in the configuration"
    )]
    NoTargets,
    /// Two targets share a name.
    #[error("target name `{0}` is used twice")]
    DuplicateName(String),
    /// A fleet hub declaration (`[[mcp]]`, `[[vector_store]]`, `[[cache]]`,
    /// `[shadow]`, `[watchtower]`) that its crate refuses.
    #[error("{part}: {message}")]
    Hub { part: &'static str, message: String },
    /// The evidence lake could not be written or read.
    #[error("evidence lake {}: {source}", path.display())]
    Lake {
        path: PathBuf,
        #[source]
        source: cockpit_score::ScoreError,
    },
}
