//! The one error type of this crate.
//!
//! An agent that refuses, fails or leaks is evidence (an attempt's
//! outcome, judged by WTC-LEAK). What remains here is what keeps the
//! watchtower from starting: settings or a canary that cannot be used.

/// What went wrong with `[watchtower]`, an agent's canary, or the corpus.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WatchtowerError {
    /// A `[watchtower]` setting is out of range: `key` names it.
    #[error("watchtower.{key}: {message}")]
    Config { key: &'static str, message: String },
    /// An agent's `canary` cannot be used (the value is never shown).
    #[error("agent `{agent}`: canary: {message}")]
    Canary { agent: String, message: String },
    /// The corpus does not parse or breaks its rules (a bug in the repo).
    #[error("the attempt corpus: {0}")]
    Corpus(String),
}
