//! The one error type of this crate.
//!
//! What goes wrong with a deployment (refused, erroring, slow) is evidence:
//! it is counted per side and judged by SHD-ERRORS. What remains here is
//! what keeps a comparison from starting: settings that cannot be used.

/// What went wrong with the `[shadow]` settings or a comparison's input.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ShadowError {
    /// A `[shadow]` setting is out of range: `key` names it.
    #[error("shadow.{key}: {message}")]
    Config { key: &'static str, message: String },
    /// A deployment's URL cannot be probed (redacted in the message).
    #[error("{url}: {message}")]
    Endpoint { url: String, message: String },
}
