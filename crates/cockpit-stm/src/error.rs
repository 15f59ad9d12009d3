//! The one error type of this crate.

use std::time::Duration;

/// What went wrong: a `[stm]` setting, or talking to Redis. Every variant
/// about a server names the endpoint with its credentials redacted; no
/// variant ever carries a password.
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
    /// The connection closed before a whole reply arrived (a restart, a
    /// crash, a proxy cutting it).
    #[error("{url}: the connection closed before the reply to {what}")]
    Closed { url: String, what: &'static str },
    /// A reply broke a bound it is read under (its size, its nesting, the
    /// elements it announces: see [`crate::ReplyLimits`]); nothing past the
    /// bound was read or allocated, and the connection was dropped.
    #[error("{url}: {what}: {bound}")]
    ReplyBound {
        url: String,
        what: &'static str,
        /// e.g. "protocol error: reply over 4194304 bytes".
        bound: String,
    },
    /// A `[stm]` setting is malformed or out of range; `key` names it.
    #[error("{message}")]
    Config { key: &'static str, message: String },
    /// The server answered a command with an error.
    #[error("{url}: {what} failed: {message}")]
    Command {
        url: String,
        what: &'static str,
        message: String,
    },
}

impl StmError {
    /// The kind of failure, for counts and dashboards: `url`, `connect`
    /// (also a connection closed mid-reply), `auth`, `tls`, `timeout`,
    /// `protocol` (also a reply past its bound), `config`, `command`.
    pub fn kind(&self) -> &'static str {
        match self {
            StmError::Url { .. } => "url",
            StmError::Timeout { .. } => "timeout",
            StmError::Connect { .. } | StmError::Closed { .. } => "connect",
            StmError::Auth { .. } => "auth",
            StmError::Tls { .. } => "tls",
            StmError::Protocol { .. } | StmError::ReplyBound { .. } => "protocol",
            StmError::Config { .. } => "config",
            StmError::Command { .. } => "command",
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
