//! Why a simulation could not start. What happens to single turns (errors,
//! timeouts, wrong answers) is never an error: it is counted in the
//! [`SimReport`](crate::SimReport).

/// Why a simulation could not start; every message names the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// An option's value cannot be used (`name` is the option's name).
    #[error("invalid option {name}: {reason}")]
    InvalidOption { name: &'static str, reason: String },
    /// The ramp is not `FROM:TO:xK` or `FROM:TO:+K` within the bounds.
    #[error("invalid ramp {text:?}: {reason}")]
    Ramp { text: String, reason: String },
    /// An objective the simulation cannot check.
    #[error(transparent)]
    Slo(#[from] cockpit_core::slo::SloError),
    /// A shard result (`simulate merge`) that cannot be merged: unreadable,
    /// another schema, out of bounds, of another run, or a shard twice.
    #[error("{name}: {reason}")]
    ShardResult { name: String, reason: String },
    /// The agent's URL or the client's options (TLS, headers) were refused.
    #[error(transparent)]
    Probe(#[from] cockpit_probe::ProbeError),
}
