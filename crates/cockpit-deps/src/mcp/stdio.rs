//! A stdio MCP server as a child process of ours: started in its own
//! process group with its stdout behind a [`WatchedRead`] and the SDK's
//! line bound, and always stopped: stdin closed, a short grace, then the
//! whole group killed and the child reaped — also when the audit is
//! cancelled or the session future is dropped ([`Drop`] kills the group).

use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rmcp::RoleClient;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::AsyncReadExt;
use tokio::process::{ChildStdin, ChildStdout};

use super::watch::{MAX_LINE_BYTES, PipeWatch, WatchedRead};
use super::{Diagnose, McpFailure, Raw};
use crate::McpServerConfig;

/// How much of the server's stderr a finding may quote.
const STDERR_KEPT: u64 = 2048;
/// How long a server has to exit by itself once its stdin is closed.
const GRACE: Duration = Duration::from_millis(300);

pub(crate) type StdioTransport = AsyncRwTransport<RoleClient, WatchedRead<ChildStdout>, ChildStdin>;

/// The running server.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: tokio::process::Child,
    group: Option<u32>,
    watch: Arc<PipeWatch>,
    stderr: Option<tokio::task::JoinHandle<Vec<u8>>>,
    program: String,
}

/// Start the server; its transport for the SDK, and the process.
pub(crate) fn spawn(cfg: &McpServerConfig) -> Result<(StdioTransport, ServerProcess), String> {
    let program = cfg.command.clone().unwrap_or_default();
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&cfg.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    let (Some(stdin), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(format!("`{program}`: no pipes to the child"));
    };
    // Keep the start of stderr, drain the rest so the server never blocks on it.
    let stderr = tokio::spawn(async move {
        let mut kept = Vec::new();
        let _ = (&mut stderr).take(STDERR_KEPT).read_to_end(&mut kept).await;
        let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
        kept
    });
    let watch = Arc::new(PipeWatch::default());
    let read = WatchedRead::new(stdout, watch.clone());
    let transport = AsyncRwTransport::new_client(read, stdin).with_max_line_length(MAX_LINE_BYTES);
    let process = ServerProcess {
        group: child.id(),
        child,
        watch,
        stderr: Some(stderr),
        program,
    };
    Ok((transport, process))
}

impl ServerProcess {
    /// Stop it (the SDK has closed its stdin by now): a short grace to exit
    /// by itself, then the group killed; always reaped. Returns what its
    /// stderr began with.
    pub(crate) async fn stop(mut self) -> String {
        if tokio::time::timeout(GRACE, self.child.wait())
            .await
            .is_err()
        {
            self.kill_group();
            let _ = self.child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        }
        self.kill_group();
        self.stderr_text().await
    }

    async fn stderr_text(&mut self) -> String {
        let Some(task) = self.stderr.take() else {
            return String::new();
        };
        match tokio::time::timeout(Duration::from_secs(1), task).await {
            Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).trim().to_string(),
            _ => String::new(),
        }
    }

    fn kill_group(&self) {
        cockpit_core::process::kill_process_group(self.group);
    }

    /// Its exit status, if it exits within `wait`.
    async fn exit_status(&mut self, wait: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(wait, self.child.wait())
            .await
            .ok()?
            .ok()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_group();
    }
}

impl Diagnose for ServerProcess {
    async fn diagnose(&mut self, raw: Raw) -> (McpFailure, String) {
        let w = &self.watch;
        if w.over_session_bound() {
            return (
                McpFailure::OverBound,
                format!(
                    "wrote more than {} bytes on stdout in one session",
                    super::watch::MAX_SESSION_BYTES
                ),
            );
        }
        if w.invalid_lines() > 0 && matches!(raw, Raw::Timeout(_) | Raw::Closed(_)) {
            return (
                McpFailure::InvalidJsonRpc,
                format!(
                    "wrote {} line(s) on stdout that are not JSON-RPC 2.0 (first: \"{}\")",
                    w.invalid_lines(),
                    w.first_invalid().unwrap_or_default()
                ),
            );
        }
        if w.oversized_lines() > 0 && matches!(raw, Raw::Timeout(_)) {
            return (
                McpFailure::OverBound,
                format!("wrote a message over {MAX_LINE_BYTES} bytes (dropped)"),
            );
        }
        match raw {
            Raw::Closed(detail) => match self.exit_status(Duration::from_millis(500)).await {
                Some(status) => {
                    let stderr = self.stderr_text().await;
                    let stderr = match stderr.lines().last() {
                        Some(l) => format!("; stderr: {}", l.escape_default()),
                        None => String::new(),
                    };
                    (
                        McpFailure::Exited,
                        format!("`{}` exited ({status}){stderr}", self.program),
                    )
                }
                None => (McpFailure::Closed, detail),
            },
            other => other.classify(),
        }
    }
}
