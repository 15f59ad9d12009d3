//! The one error type of this crate.
//!
//! Most of what goes wrong with a dependency (a server that exits, answers
//! garbage or nothing, a missing collection) is evidence, not an error: it
//! becomes a finding with its kind counted in the snapshot. What remains
//! here is what keeps a check from starting: a declaration that cannot be
//! used (a client that cannot be built is a not-measured finding too).

/// What went wrong with a `[[mcp]]` / `[[vector_store]]` declaration. Every
/// variant names the entry; URLs are shown redacted.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DepsError {
    /// A declaration is malformed or out of range: `kind` is `mcp` or
    /// `vector_store`, `name` the entry's name, `key` the setting.
    #[error("{kind} `{name}`: {key}: {message}")]
    Config {
        kind: &'static str,
        name: String,
        key: &'static str,
        message: String,
    },
}
