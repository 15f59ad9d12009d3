//! The one error type of this crate.
//!
//! A cache that never hits, a metrics endpoint that does not answer or a
//! counter that is missing is evidence (a finding). What remains here is
//! what keeps the analytics from starting: a `[[cache]]` declaration that
//! cannot be used.

/// What went wrong with a `[[cache]]` declaration: `agent` names the entry
/// (its `agent` key), `key` the setting.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HiveError {
    #[error("cache of agent `{agent}`: {key}: {message}")]
    Config {
        agent: String,
        key: &'static str,
        message: String,
    },
}
