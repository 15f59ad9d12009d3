//! The errors this crate returns. Most problems with the input are findings
//! (a bad document in a manifest file, a forbidden list call), so the rest of
//! the audit still runs; these are the ones that stop a call.

use std::path::PathBuf;

/// Why an audit call could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum K8sError {
    /// A manifest, Cloud Run export or pipeline path could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A glob pattern is malformed.
    #[error("`{pattern}` is not a valid glob pattern: {message}")]
    Pattern { pattern: String, message: String },
    /// A glob pattern matched no file.
    #[error("`{pattern}` matches no file")]
    NoMatch { pattern: String },
    /// No kubeconfig, or the context named is not in it.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// A Kubernetes API call failed (the message names the resource and verb).
    #[error("{verb} {resource}: {message}")]
    Api {
        verb: &'static str,
        resource: String,
        message: String,
    },
}
