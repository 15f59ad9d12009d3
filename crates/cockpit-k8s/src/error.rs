//! The errors this crate returns. Most problems with the input are findings
//! (a bad document in a manifest file, a forbidden list call), so the rest of
//! the audit still runs; these are the ones that stop a call. [`crate::audit`]
//! turns the input errors into `CMP-MANIFEST` error findings too, so only a
//! caller of the building blocks sees them as errors.

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
    /// An input is not a regular file (a FIFO, a device, a socket): it is
    /// never opened, so it cannot block or stream without end.
    #[error("{path}: not a regular file ({kind}): not read")]
    NotRegularFile { path: PathBuf, kind: &'static str },
    /// An input file is larger than the bound on what one file may hold.
    #[error("{path}: larger than the {limit_bytes}-byte limit on one input file: not read")]
    TooLarge { path: PathBuf, limit_bytes: u64 },
    /// A directory or pattern expands to more files than the bound.
    #[error(
        "{input}: more than {limit} files below it: name the files or a narrower directory or pattern"
    )]
    TooManyFiles { input: String, limit: usize },
    /// A glob pattern is malformed.
    #[error("`{pattern}` is not a valid glob pattern: {message}")]
    Pattern { pattern: String, message: String },
    /// A glob pattern matched no file.
    #[error("`{pattern}` matches no file")]
    NoMatch { pattern: String },
    /// A `[kubernetes]` setting has a value outside its range.
    #[error("kubernetes.{key}: {message}")]
    Config { key: &'static str, message: String },
    /// No kubeconfig, or the context named is not in it, or its credential
    /// plugin failed or did not answer in time.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// A Kubernetes API call failed (the message names the resource and verb).
    #[error("{verb} {resource}: {message}")]
    Api {
        verb: &'static str,
        resource: String,
        message: String,
    },
    /// A `[deploy]` setting is missing or has a value outside its range.
    #[error("deploy.{key}: {message}")]
    DeployConfig { key: &'static str, message: String },
    /// `[deploy]` renders objects that would fail these checks: refused
    /// rather than deployed below the project's own bar.
    #[error("[deploy] cannot be rendered compliant: {checks} would fail ({message})")]
    Refused { checks: String, message: String },
    /// A rendered object could not be serialised.
    #[error("rendering the manifests: {0}")]
    Render(String),
    /// The namespace to deploy into does not exist (and
    /// `--create-namespace` was not given).
    #[error("namespace `{0}` does not exist: create it, or pass --create-namespace")]
    NamespaceMissing(String),
    /// Server-side apply met a field owned by another field manager.
    #[error("apply {object}: conflict with another field manager (409): {message}")]
    Conflict { object: String, message: String },
}
