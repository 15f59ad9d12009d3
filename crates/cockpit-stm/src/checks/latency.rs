//! STA-LATENCY: Redis is reachable, and its PING p99 is within the bound.

use std::time::Duration;

use cockpit_core::{
    CheckId, CheckSpec, Distribution, Finding, Measurement, Pillar, Severity, Status, Unit,
};

use super::{not_measured, on};
use crate::LatencyReport;
use crate::latency::{CONNECT_METHOD, GET_METHOD, PING_METHOD, SET_METHOD};

pub const STA_LATENCY: CheckSpec = CheckSpec {
    id: CheckId::new("STA-LATENCY"),
    pillar: Pillar::State,
    severity: Severity::High,
    title: "Session store reachability and latency (p99)",
};

fn percentiles(prefix: &str, d: &Distribution, method: &str) -> Vec<Measurement> {
    let s = d.summary();
    [("p50", s.p50_ms), ("p99", s.p99_ms)]
        .into_iter()
        .map(|(q, v)| {
            Measurement::new(
                format!("{prefix}_{q}"),
                v,
                Unit::Milliseconds,
                method,
                s.count,
            )
            .with_distribution(s)
        })
        .collect()
}

/// PING p99 against `bound`: pass within, warn up to 2×, fail beyond.
pub fn evaluate(r: &LatencyReport, bound: Duration) -> Finding {
    let d = r.ping_distribution();
    if d.is_empty() {
        let why = if r.interrupted {
            "the run was interrupted before a PING was answered".to_string()
        } else {
            let detail = r
                .error_examples
                .values()
                .next()
                .cloned()
                .unwrap_or_else(|| "no PING answered".into());
            format!(
                "{} of {} commands failed ({detail})",
                r.errors.values().sum::<u64>(),
                r.attempted
            )
        };
        return not_measured(&STA_LATENCY, &r.target, why);
    }
    let p99 = d.summary().p99_ms;
    let bound_ms = bound.as_secs_f64() * 1000.0;
    let mut f = on(&STA_LATENCY, &r.target, Status::Pass, String::new())
        .with_measurement(Measurement::new(
            "connect",
            r.connect.max_ms,
            Unit::Milliseconds,
            CONNECT_METHOD,
            1,
        ))
        .with_measurements(percentiles("ping", d, PING_METHOD));
    if !r.set_dist.is_empty() {
        f = f
            .with_measurements(percentiles("set", &r.set_dist, SET_METHOD))
            .with_measurements(percentiles("get", &r.get_dist, GET_METHOD));
    }
    let writes = match &r.writes_skipped {
        Some(why) => format!("; SET/GET not measured: {why}"),
        None => String::new(),
    };
    let errors: u64 = r.errors.values().sum();
    let errors = if errors > 0 {
        format!("; {errors} of {} commands failed", r.attempted)
    } else {
        String::new()
    };
    if p99 <= bound_ms {
        f.summary = format!(
            "PING p99 {p99:.2} ms is within {bound_ms:.1} ms (n={}){writes}{errors}",
            d.count()
        );
        if errors.is_empty() {
            return f;
        }
        f.status = Status::Warn;
    } else {
        f.status = if p99 <= 2.0 * bound_ms {
            Status::Warn
        } else {
            Status::Fail
        };
        f.summary = format!(
            "PING p99 {p99:.2} ms is above {bound_ms:.1} ms{} (n={}){writes}{errors}",
            if f.status == Status::Warn {
                " (within 2×)"
            } else {
                " by more than 2×"
            },
            d.count()
        );
    }
    f.with_recommendation(
        "Put the session store in the agent's region and zone (Memorystore in the same VPC and zone), keep one long-lived connection per process, and check the server's CPU and slow log: every turn reads and writes session memory.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StmError;

    fn report(ping_ms: &[u64]) -> LatencyReport {
        let mut r = LatencyReport::new("redis://h:6379".into(), Duration::from_millis(2));
        for ms in ping_ms {
            r.ping_dist.record(Duration::from_millis(*ms));
            r.attempted += 1;
        }
        r
    }

    #[test]
    fn verdicts() {
        let bound = Duration::from_millis(10);
        let f = evaluate(&report(&[1, 2, 3]), bound);
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert!(f.measurement("ping_p99").is_some());
        assert!(f.measurement("set_p99").is_none());
        assert_eq!(evaluate(&report(&[15, 15]), bound).status, Status::Warn);
        let f = evaluate(&report(&[50, 50]), bound);
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("more than 2×"), "{}", f.summary);
        assert!(f.recommendation.is_some());
        // Within the bound, but commands failed.
        let mut r = report(&[1, 1]);
        r.error(&StmError::Closed {
            url: "redis://h:6379".into(),
            what: "GET",
        });
        let f = evaluate(&r, bound);
        assert_eq!(f.status, Status::Warn);
        assert!(
            f.summary.contains("1 of 2 commands failed"),
            "{}",
            f.summary
        );
    }

    #[test]
    fn nothing_answered_is_not_measured_with_the_first_error() {
        let mut r = report(&[]);
        r.attempted = 1;
        r.error(&StmError::ReplyBound {
            url: "redis://h:6379".into(),
            what: "PING",
            bound: "protocol error: nesting deeper than 32".into(),
        });
        let f = evaluate(&r, Duration::from_millis(10));
        assert_eq!(f.status, Status::NotMeasured);
        assert!(
            f.summary.contains("nesting deeper than 32"),
            "{}",
            f.summary
        );
        r.interrupted = true;
        let f = evaluate(&r, Duration::from_millis(10));
        assert!(f.summary.contains("interrupted"), "{}", f.summary);
    }
}
