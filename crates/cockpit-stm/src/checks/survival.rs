//! STA-SURVIVAL (opt-in, `--disruptive`): a marker written before a server
//! restart is still there after it, and how long the outage lasted.

use std::time::{Duration, Instant};

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};
use fred::prelude::*;
use fred::types::config::ReconnectPolicy;
use fred::types::{Expiration, SetOptions};
use tokio_util::sync::CancellationToken;

use super::{not_measured, on};
use crate::conn::Conn;
use crate::{StmError, SurvivalMode};

pub const STA_SURVIVAL: CheckSpec = CheckSpec {
    id: CheckId::new("STA-SURVIVAL"),
    pillar: Pillar::State,
    severity: Severity::Critical,
    title: "Sessions survive a server restart (disruptive)",
};

/// TTL of the survival marker: it expires even if the audit dies mid-way.
pub const MARKER_TTL: Duration = Duration::from_secs(600);

/// What the survival check saw.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Survival {
    /// The marker was there after the restart.
    Survived {
        outage: Duration,
    },
    /// The server came back without the marker.
    Lost {
        outage: Duration,
    },
    /// The server refused to restart (e.g. DEBUG disabled).
    Refused(String),
    /// The server did not answer again within the wait.
    NoComeback {
        waited: Duration,
    },
    Failed(StmError),
    Interrupted,
}

/// Write a marker, restart the server (`DEBUG RESTART` or `DEBUG
/// CRASH-AND-RECOVER`), reconnect with fred's exponential reconnect policy,
/// and read the marker back (then delete it).
pub(crate) async fn run(
    url: &str,
    prefix: &str,
    mode: SurvivalMode,
    timeout: Duration,
    wait: Duration,
    cancel: &CancellationToken,
) -> Survival {
    let policy = ReconnectPolicy::new_exponential(0, 20, 500, 2);
    let conn = match Conn::open(url, timeout, Some(policy)).await {
        Ok((c, _)) => c,
        Err(e) => return Survival::Failed(e),
    };
    let marker = format!(
        "{prefix}{}survival:{}",
        crate::CHECK_KEY_MARK,
        uuid::Uuid::new_v4()
    );
    let value = uuid::Uuid::new_v4().to_string();
    let r = run_on(&conn, &marker, &value, mode, wait, cancel).await;
    // The server may be down (interrupted, no comeback): the marker's TTL covers that.
    crate::delete_own_key(&conn, &marker).await;
    conn.close().await;
    r
}

async fn run_on(
    conn: &Conn,
    marker: &str,
    value: &str,
    mode: SurvivalMode,
    wait: Duration,
    cancel: &CancellationToken,
) -> Survival {
    let set: Result<Option<String>, StmError> = conn
        .call(
            "SET",
            conn.client.set(
                marker,
                value,
                Some(Expiration::EX(MARKER_TTL.as_secs() as i64)),
                Some(SetOptions::NX),
                false,
            ),
        )
        .await;
    match set {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Survival::Failed(StmError::Command {
                url: conn.url.clone(),
                what: "SET NX",
                message: "the marker key already existed".into(),
            });
        }
        Err(e) => return Survival::Failed(e),
    }
    if cancel.is_cancelled() {
        return Survival::Interrupted;
    }
    let args: Vec<&str> = match mode {
        SurvivalMode::Restart => vec!["RESTART"],
        SurvivalMode::Crash => vec!["CRASH-AND-RECOVER", "0"],
    };
    let start = Instant::now();
    let sent: Result<fred::types::Value, StmError> = conn
        .call("DEBUG", conn.client.custom(fred::cmd!("DEBUG"), args))
        .await;
    match sent {
        // The connection dropping is the expected answer to a restart.
        Err(StmError::Connect { .. } | StmError::Timeout { .. }) => {}
        Err(e) => return Survival::Refused(e.to_string()),
        Ok(v) => {
            return Survival::Refused(format!("the server answered {v:?} instead of restarting"));
        }
    }
    // Wait for the server to answer again (fred reconnects in the background).
    loop {
        if cancel.is_cancelled() {
            return Survival::Interrupted;
        }
        if start.elapsed() > wait {
            return Survival::NoComeback {
                waited: start.elapsed(),
            };
        }
        let pong: Result<String, fred::error::Error> =
            match tokio::time::timeout(Duration::from_secs(1), conn.client.ping(None)).await {
                Ok(r) => r,
                Err(_) => continue,
            };
        if pong.is_ok() {
            break;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Survival::Interrupted,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    let outage = start.elapsed();
    match conn
        .call::<Option<String>>("GET", conn.client.get(marker))
        .await
    {
        Ok(Some(v)) if v == value => Survival::Survived { outage },
        Ok(_) => Survival::Lost { outage },
        Err(e) => Survival::Failed(e),
    }
}

pub fn evaluate(url: &str, mode: SurvivalMode, r: &Survival) -> Finding {
    let how = match mode {
        SurvivalMode::Restart => "a graceful restart (DEBUG RESTART)",
        SurvivalMode::Crash => "a crash restart (DEBUG CRASH-AND-RECOVER)",
    };
    let outage_m = |d: &Duration| {
        Measurement::new(
            "outage",
            d.as_secs_f64() * 1000.0,
            Unit::Milliseconds,
            "client-side, from sending DEBUG to the first PONG after reconnecting (fred exponential reconnect, 20–500 ms)",
            1,
        )
    };
    match r {
        Survival::Survived { outage } => on(
            &STA_SURVIVAL,
            url,
            Status::Pass,
            format!("a marker written before {how} was there after it; the server answered again after {:.0} ms", outage.as_secs_f64() * 1000.0),
        )
        .with_measurement(outage_m(outage)),
        Survival::Lost { outage } => on(
            &STA_SURVIVAL,
            url,
            Status::Fail,
            format!("Memory Loss: a marker written before {how} was gone after it (the server answered again after {:.0} ms): sessions do not survive a restart", outage.as_secs_f64() * 1000.0),
        )
        .with_measurement(outage_m(outage))
        .with_recommendation("Turn on AOF (appendonly yes, appendfsync everysec) so writes survive a restart; on Memorystore, enable persistence and use the Standard tier."),
        Survival::NoComeback { waited } => on(
            &STA_SURVIVAL,
            url,
            Status::Fail,
            format!("after {how} the server did not answer again within {:.0} ms", waited.as_secs_f64() * 1000.0),
        )
        .with_measurement(outage_m(waited))
        .with_recommendation("Check the server's log: it did not come back; a supervisor (systemd, Kubernetes) must restart it."),
        Survival::Refused(why) => not_measured(
            &STA_SURVIVAL,
            url,
            format!("the server refused to restart ({why}); DEBUG must be allowed (enable-debug-command) — managed Redis refuses it: test failover from the provider instead"),
        ),
        Survival::Failed(e) => not_measured(&STA_SURVIVAL, url, e),
        Survival::Interrupted => not_measured(&STA_SURVIVAL, url, "the run was interrupted (Ctrl-C) before the server answered again"),
    }
}
