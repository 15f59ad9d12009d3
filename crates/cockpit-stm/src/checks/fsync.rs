//! STA-FSYNC: how often the AOF is fsynced (`appendfsync`).

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use super::{not_measured, on};

pub const STA_FSYNC: CheckSpec = CheckSpec {
    id: CheckId::new("STA-FSYNC"),
    pillar: Pillar::State,
    severity: Severity::Medium,
    title: "AOF fsync policy",
};

/// `aof_enabled` from `INFO persistence` (None: unknown); `appendfsync`
/// from `CONFIG GET appendfsync` (`Err(why)`: refused, as on Memorystore).
pub fn evaluate(
    url: &str,
    aof_enabled: Option<bool>,
    appendfsync: &Result<Option<String>, String>,
) -> Finding {
    match aof_enabled {
        None => {
            return not_measured(
                &STA_FSYNC,
                url,
                "INFO persistence did not report aof_enabled",
            );
        }
        Some(false) => {
            return on(
                &STA_FSYNC,
                url,
                Status::Skipped,
                "AOF is off, so no fsync policy applies (see STA-PERSIST)".into(),
            );
        }
        Some(true) => {}
    }
    let policy = match appendfsync {
        Err(why) => {
            return not_measured(
                &STA_FSYNC,
                url,
                format!(
                    "CONFIG GET appendfsync refused ({why}); managed Redis often blocks CONFIG — read the policy from the provider's settings"
                ),
            );
        }
        Ok(None) => {
            return not_measured(&STA_FSYNC, url, "CONFIG GET appendfsync returned nothing");
        }
        Ok(Some(p)) => p.to_ascii_lowercase(),
    };
    let m = |v: f64| {
        Measurement::new(
            "appendfsync_always",
            v,
            Unit::Bool,
            "CONFIG GET appendfsync",
            1,
        )
    };
    match policy.as_str() {
        "always" => on(&STA_FSYNC, url, Status::Pass, "appendfsync always: every write is fsynced before it is acknowledged".into()).with_measurement(m(1.0)),
        "everysec" => on(&STA_FSYNC, url, Status::Pass, "appendfsync everysec: at most about one second of writes is lost if the host fails".into()).with_measurement(m(0.0)),
        other => on(
            &STA_FSYNC,
            url,
            Status::Warn,
            format!("appendfsync {other}: the OS decides when the AOF reaches disk, so a host failure can lose many seconds of session writes"),
        )
        .with_measurement(m(0.0))
        .with_recommendation("Set appendfsync everysec (the usual balance) or always."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let u = "redis://h";
        let p = |s: &str| Ok(Some(s.to_string()));
        assert_eq!(evaluate(u, Some(true), &p("everysec")).status, Status::Pass);
        assert_eq!(evaluate(u, Some(true), &p("always")).status, Status::Pass);
        assert_eq!(evaluate(u, Some(true), &p("no")).status, Status::Warn);
        assert_eq!(evaluate(u, Some(false), &p("no")).status, Status::Skipped);
        assert_eq!(
            evaluate(u, Some(true), &Err("refused".into())).status,
            Status::NotMeasured
        );
        assert_eq!(evaluate(u, None, &p("always")).status, Status::NotMeasured);
    }
}
