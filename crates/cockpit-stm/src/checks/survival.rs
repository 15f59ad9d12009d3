//! STA-SURVIVAL (opt-in, `--disruptive`): a marker written before a server
//! restart is still there after it, and how long the outage lasted.

use std::time::{Duration, Instant};

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};
use tokio_util::sync::CancellationToken;

use super::{not_measured, on};
use crate::conn::{Conn, OwnWrite};
use crate::{StmConfig, StmError, SurvivalMode};

pub const STA_SURVIVAL: CheckSpec = CheckSpec {
    id: CheckId::new("STA-SURVIVAL"),
    pillar: Pillar::State,
    severity: Severity::Critical,
    title: "Sessions survive a server restart (disruptive)",
};

/// TTL of the survival marker: it expires even if the audit dies mid-way.
pub const MARKER_TTL: Duration = Duration::from_secs(600);

/// First and longest pause between reconnect attempts after the restart.
const RECONNECT_MIN: Duration = Duration::from_millis(20);
const RECONNECT_MAX: Duration = Duration::from_millis(500);

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
/// CRASH-AND-RECOVER`), reconnect until it answers, and read the marker
/// back (then delete it).
pub(crate) async fn run(url: &str, cfg: &StmConfig, cancel: &CancellationToken) -> Survival {
    let conn = match Conn::open(url, cfg.timeout, cfg.reply_limits).await {
        Ok((c, _)) => c,
        Err(e) => return Survival::Failed(e),
    };
    let marker = format!(
        "{}{}survival:{}",
        cfg.key_prefix,
        crate::CHECK_KEY_MARK,
        uuid::Uuid::new_v4()
    );
    let value = uuid::Uuid::new_v4().to_string();
    let r = run_on(&conn, &marker, &value, cfg, cancel).await;
    // The server may be down (interrupted, no comeback): the marker's TTL covers that.
    crate::delete_own_key(&conn, &marker).await;
    conn.close().await;
    r
}

async fn run_on(
    conn: &Conn,
    marker: &str,
    value: &str,
    cfg: &StmConfig,
    cancel: &CancellationToken,
) -> Survival {
    let written = conn
        .write_own_key(marker, value.as_bytes(), MARKER_TTL, OwnWrite::Create)
        .await;
    if let Err(e) = written {
        return Survival::Failed(e);
    }
    if cancel.is_cancelled() {
        return Survival::Interrupted;
    }
    let args: &[&[u8]] = match cfg.survival_mode {
        SurvivalMode::Restart => &[b"DEBUG", b"RESTART"],
        SurvivalMode::Crash => &[b"DEBUG", b"CRASH-AND-RECOVER", b"0"],
    };
    let start = Instant::now();
    match conn.call("DEBUG", args).await {
        // The connection dropping is the expected answer to a restart.
        Err(StmError::Connect { .. } | StmError::Closed { .. } | StmError::Timeout { .. }) => {}
        Err(e) => return Survival::Refused(e.to_string()),
        Ok(v) => {
            return Survival::Refused(format!(
                "the server answered {} instead of restarting",
                v.describe()
            ));
        }
    }
    if let Err(s) = wait_for_comeback(conn, start, cfg.survival_timeout, cancel).await {
        return s;
    }
    let outage = start.elapsed();
    match conn.get(marker).await {
        Ok(Some(v)) if v == value.as_bytes() => Survival::Survived { outage },
        Ok(_) => Survival::Lost { outage },
        Err(e) => Survival::Failed(e),
    }
}

/// PING (connecting again as needed) until the server answers, with
/// backoff from 20 ms doubling to 500 ms between attempts.
async fn wait_for_comeback(
    conn: &Conn,
    start: Instant,
    wait: Duration,
    cancel: &CancellationToken,
) -> Result<(), Survival> {
    let mut pause = RECONNECT_MIN;
    loop {
        if cancel.is_cancelled() {
            return Err(Survival::Interrupted);
        }
        if start.elapsed() > wait {
            return Err(Survival::NoComeback {
                waited: start.elapsed(),
            });
        }
        let attempt = tokio::select! {
            _ = cancel.cancelled() => return Err(Survival::Interrupted),
            r = tokio::time::timeout(Duration::from_secs(1), conn.ping()) => r,
        };
        if let Ok(Ok(())) = attempt {
            return Ok(());
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(Survival::Interrupted),
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(RECONNECT_MAX);
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
            "client-side, from sending DEBUG to the first PONG after reconnecting (attempts 20 ms apart, doubling to 500 ms)",
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

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "redis://h:6379";

    #[test]
    fn verdicts() {
        let outage = Duration::from_millis(250);
        let f = evaluate(U, SurvivalMode::Restart, &Survival::Survived { outage });
        assert_eq!(f.status, Status::Pass);
        assert_eq!(f.measurement("outage").unwrap().value, 250.0);
        let f = evaluate(U, SurvivalMode::Crash, &Survival::Lost { outage });
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("Memory Loss"), "{}", f.summary);
        assert!(f.summary.contains("CRASH-AND-RECOVER"), "{}", f.summary);
        let f = evaluate(
            U,
            SurvivalMode::Restart,
            &Survival::NoComeback {
                waited: Duration::from_secs(30),
            },
        );
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("did not answer again"), "{}", f.summary);
    }

    #[test]
    fn refusals_and_failures_are_not_measured() {
        let f = evaluate(
            U,
            SurvivalMode::Restart,
            &Survival::Refused("ERR DEBUG command not allowed".into()),
        );
        assert_eq!(f.status, Status::NotMeasured);
        assert!(f.summary.contains("enable-debug-command"), "{}", f.summary);
        let e = StmError::Closed {
            url: U.into(),
            what: "SET NX",
        };
        assert_eq!(
            evaluate(U, SurvivalMode::Restart, &Survival::Failed(e)).status,
            Status::NotMeasured
        );
        assert_eq!(
            evaluate(U, SurvivalMode::Restart, &Survival::Interrupted).status,
            Status::NotMeasured
        );
    }
}
