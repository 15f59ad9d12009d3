//! One connection to Redis: every command under a timeout, every error
//! named with the (redacted) endpoint.

use std::future::Future;
use std::time::{Duration, Instant};

use fred::prelude::*;
use fred::types::config::{ReconnectPolicy, TcpConfig};

use crate::{Info, StmError};

/// A connected fred client and what it needs to name its errors.
pub(crate) struct Conn {
    pub client: Client,
    /// The endpoint with credentials redacted: the only form ever shown.
    pub url: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("url", &self.url).finish()
    }
}

impl Conn {
    /// Connect, authenticate and PING. Returns the connection and how long
    /// connecting took (TCP, TLS, AUTH/HELLO and the first PING).
    pub async fn open(
        url: &str,
        timeout: Duration,
        reconnect: Option<ReconnectPolicy>,
    ) -> Result<(Conn, Duration), StmError> {
        let shown = cockpit_core::redact_url(url);
        let config = Config::from_url(url).map_err(|e| StmError::Url {
            url: shown.clone(),
            message: e.details().to_string(),
        })?;
        let mut builder = Builder::from_config(config);
        builder
            .with_connection_config(|c| {
                c.connection_timeout = timeout;
                c.internal_command_timeout = timeout;
                // A command is sent once: a retried DEBUG RESTART would
                // restart the server twice, a retried SET could outlive DEL.
                c.max_command_attempts = 1;
                c.reconnect_on_auth_error = false;
                c.tcp = TcpConfig {
                    nodelay: Some(true),
                    ..TcpConfig::default()
                };
            })
            .with_performance_config(|p| {
                p.default_command_timeout = timeout;
            });
        if let Some(policy) = reconnect {
            builder.set_policy(policy);
        }
        let client = builder
            .build()
            .map_err(|e| StmError::from_fred(&shown, "connect", &e))?;
        let conn = Conn {
            client,
            url: shown,
            timeout,
        };
        let start = Instant::now();
        match tokio::time::timeout(timeout, conn.client.init()).await {
            Err(_) => {
                conn.close().await;
                return Err(conn.timeout_error("connect"));
            }
            Ok(Err(e)) => {
                conn.close().await;
                return Err(StmError::from_fred(&conn.url, "connect", &e));
            }
            Ok(Ok(_task)) => {}
        }
        let pong: Result<String, StmError> = conn.call("PING", conn.client.ping(None)).await;
        match pong {
            Ok(p) if p == "PONG" => Ok((conn, start.elapsed())),
            Ok(other) => {
                conn.close().await;
                Err(StmError::Protocol {
                    url: conn.url.clone(),
                    what: "PING",
                    message: format!("expected PONG, got {other:?}"),
                })
            }
            Err(StmError::Timeout { url, .. }) => {
                conn.close().await;
                Err(StmError::Protocol {
                    url,
                    what: "PING",
                    message: format!(
                        "no PONG within {} ms (not a Redis port, or TLS on one side only)",
                        timeout.as_millis()
                    ),
                })
            }
            Err(e) => {
                conn.close().await;
                Err(e)
            }
        }
    }

    pub fn timeout_error(&self, what: &'static str) -> StmError {
        StmError::Timeout {
            url: self.url.clone(),
            what,
            timeout: self.timeout,
        }
    }

    /// Await one command under the timeout.
    pub async fn call<R>(
        &self,
        what: &'static str,
        fut: impl Future<Output = Result<R, fred::error::Error>>,
    ) -> Result<R, StmError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(self.timeout_error(what)),
            Ok(Err(e)) => match StmError::from_fred(&self.url, what, &e) {
                StmError::Timeout { .. } => Err(self.timeout_error(what)),
                other => Err(other),
            },
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// `INFO` (the default sections: server, memory, persistence, stats,
    /// replication, cluster, …).
    pub async fn info(&self) -> Result<Info, StmError> {
        let text: String = self.call("INFO", self.client.info(None)).await?;
        Ok(Info::parse(&text))
    }

    /// `CONFIG GET parameter`: `Ok(None)` when the server does not know the
    /// parameter; an error when CONFIG is refused (managed Redis).
    pub async fn config_get(&self, parameter: &'static str) -> Result<Option<String>, StmError> {
        let v: Vec<String> = self
            .call("CONFIG GET", self.client.config_get(parameter))
            .await?;
        Ok(v.into_iter().nth(1))
    }

    /// The server's clock (`TIME`), in seconds since the epoch.
    pub async fn server_time(&self) -> Result<i64, StmError> {
        let v: Vec<String> = self
            .call(
                "TIME",
                self.client.custom(fred::cmd!("TIME"), Vec::<String>::new()),
            )
            .await?;
        v.first()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| StmError::Protocol {
                url: self.url.clone(),
                what: "TIME",
                message: format!("unexpected reply {v:?}"),
            })
    }

    /// Close the connection (bounded; errors ignored: the connection may be gone).
    pub async fn close(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.client.quit()).await;
    }
}
