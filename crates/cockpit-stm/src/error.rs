//! The one error type of this crate.

use std::time::Duration;

/// What went wrong talking to Redis. Every variant names the endpoint with
/// its credentials redacted; no variant ever carries a password.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StmError {
    /// The URL could not be parsed as a Redis URL.
    #[error(
        "`{url}` is not a Redis URL (redis://[user:password@]host:port[/db] or rediss://…): {message}"
    )]
    Url { url: String, message: String },
    /// TCP connect (or name resolution) failed.
    #[error("{url}: cannot connect: {message}")]
    Connect { url: String, message: String },
    /// The server rejected the credentials (or needs some).
    #[error("{url}: authentication failed: {message}")]
    Auth { url: String, message: String },
    /// The TLS handshake failed (certificate, or TLS against a plaintext port).
    #[error("{url}: TLS: {message}")]
    Tls { url: String, message: String },
    /// No answer within the timeout.
    #[error("{url}: no answer to {what} within {} ms", timeout.as_millis())]
    Timeout {
        url: String,
        what: &'static str,
        timeout: Duration,
    },
    /// The peer does not answer like a Redis server.
    #[error("{url}: does not answer like a Redis server ({what}): {message}")]
    Protocol {
        url: String,
        what: &'static str,
        message: String,
    },
    /// The server answered a command with an error.
    #[error("{url}: {what} failed: {message}")]
    Command {
        url: String,
        what: &'static str,
        message: String,
    },
}

impl StmError {
    /// Classify a fred error for `what` on `url` (already redacted).
    pub(crate) fn from_fred(url: &str, what: &'static str, e: &fred::error::Error) -> StmError {
        use fred::error::ErrorKind as K;
        let url = url.to_string();
        let message = e.details().to_string();
        match e.kind() {
            K::Auth => StmError::Auth { url, message },
            K::Tls => StmError::Tls { url, message },
            K::IO | K::Canceled => StmError::Connect { url, message },
            K::Config | K::Url => StmError::Url { url, message },
            K::Timeout => StmError::Timeout {
                url,
                what,
                timeout: Duration::ZERO,
            },
            K::Protocol | K::Parse => StmError::Protocol { url, what, message },
            _ => StmError::Command { url, what, message },
        }
    }

    /// The server refused a write because it is a read-only replica.
    pub fn is_read_only(&self) -> bool {
        matches!(self, StmError::Command { message, .. } if message.starts_with("READONLY"))
    }

    /// The server refused a write because it is out of memory (`maxmemory`
    /// reached under `noeviction`).
    pub fn is_out_of_memory(&self) -> bool {
        matches!(self, StmError::Command { message, .. } if message.starts_with("OOM"))
    }
}
