//! Service-level objectives on a report's evidence: `certify --slo` and
//! `[gate] slos`, each a [`GateSlo`]. The language and the reduction of a
//! distribution by an aggregate are [`cockpit_core::slo`]'s (the ones
//! `agentops-cockpit load --slo` uses); this module says which metrics a
//! report carries evidence for — each [`GateMetric`] is read from one
//! check's findings ([`GateMetric::check_id`]) — and holds each objective
//! against every subject with that evidence.
//!
//! | metric | evidence | aggregates |
//! | --- | --- | --- |
//! | `ttft` | NET-TTFT: the time-to-first-token distribution of each agent | `p(50)`, `p(90)`, `p(95)`, `p(99)`, `p(99.9)`, `avg`, `med`, `min`, `max` |
//! | `retrieval` | NET-TAIL: the retrieval latency distribution of each backend | as `ttft` |
//! | `connect_rtt` | NET-ZONE: the TCP connect round trip from each agent to its backends | as `ttft` |
//! | `store_ping` | STA-LATENCY: the PING round trip of each session store | as `ttft` |
//! | `cold_start` | CMP-TTR: each agent's first-request TTFT (TTFB over HTTP), one sample | none, `min`, `max`, `avg` |
//!
//! Thresholds are durations (`800ms`, `1.5s`; a bare number is
//! milliseconds). An objective holds only when every subject meets it; a
//! metric the report has no evidence for is not measured, which fails the
//! gate unless `fail_closed = false`.

use std::fmt;
use std::str::FromStr;

use cockpit_core::slo::{Aggregate, Op, Slo, SloError};
use cockpit_core::{CheckId, Finding, LatencySummary, Report, Status};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A metric the gate can hold an objective against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GateMetric {
    /// NET-TTFT's time-to-first-token distribution.
    Ttft,
    /// NET-TAIL's retrieval latency distribution.
    Retrieval,
    /// NET-ZONE's TCP connect round trip distribution.
    ConnectRtt,
    /// STA-LATENCY's PING round trip distribution.
    StorePing,
    /// CMP-TTR's first-request measurement (one sample).
    ColdStart,
}

impl GateMetric {
    pub const ALL: [GateMetric; 5] = [
        GateMetric::Ttft,
        GateMetric::Retrieval,
        GateMetric::ConnectRtt,
        GateMetric::StorePing,
        GateMetric::ColdStart,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GateMetric::Ttft => "ttft",
            GateMetric::Retrieval => "retrieval",
            GateMetric::ConnectRtt => "connect_rtt",
            GateMetric::StorePing => "store_ping",
            GateMetric::ColdStart => "cold_start",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<GateMetric> {
        GateMetric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The check whose findings carry the evidence. The pillar crates
    /// define these ids; the CLI, which sees every pillar, tests each one
    /// against their catalogue.
    pub const fn check_id(self) -> CheckId {
        match self {
            GateMetric::Ttft => CheckId::new("NET-TTFT"),
            GateMetric::Retrieval => CheckId::new("NET-TAIL"),
            GateMetric::ConnectRtt => CheckId::new("NET-ZONE"),
            GateMetric::StorePing => CheckId::new("STA-LATENCY"),
            GateMetric::ColdStart => CheckId::new("CMP-TTR"),
        }
    }

    /// The evidence's measurement names start with this (`ttft_p95`,
    /// `ping_p99`, `first_request_ttft`).
    pub const fn measurement_prefix(self) -> &'static str {
        match self {
            GateMetric::Ttft => "ttft_",
            GateMetric::Retrieval => "retrieval_",
            GateMetric::ConnectRtt => "connect_rtt_",
            GateMetric::StorePing => "ping_",
            GateMetric::ColdStart => "first_request_",
        }
    }

    /// Whether the evidence is a whole distribution (else one value).
    pub(crate) fn is_distribution(self) -> bool {
        self != GateMetric::ColdStart
    }
}

fn known_metrics() -> String {
    GateMetric::ALL
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An objective of `certify --slo` / `[gate] slos`: the grammar's [`Slo`]
/// with a metric the gate knows, an aggregate the evidence keeps and a
/// duration threshold — checked when parsed, so the gate never holds an
/// objective it cannot evaluate. Serialised as its text.
///
/// ```
/// use cockpit_score::{GateMetric, GateSlo};
/// let s: GateSlo = "ttft:p(95)<800ms".parse().unwrap();
/// assert_eq!(s.metric(), GateMetric::Ttft);
/// assert_eq!(s.metric().check_id().as_str(), "NET-TTFT");
/// let e = "ttft:p(97)<800ms".parse::<GateSlo>().unwrap_err();
/// assert!(e.to_string().starts_with("\"ttft:p(97)<800ms\": "));
/// assert!(e.to_string().contains("p(97)"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GateSlo {
    slo: Slo,
    metric: GateMetric,
}

impl GateSlo {
    /// The objective, if the gate can evaluate it on a report.
    pub fn new(slo: Slo) -> Result<GateSlo, SloError> {
        let metric = gate_metric(&slo)?;
        Ok(GateSlo { slo, metric })
    }

    pub fn metric(&self) -> GateMetric {
        self.metric
    }

    /// The objective as parsed.
    pub fn slo(&self) -> &Slo {
        &self.slo
    }

    /// The objective as written.
    pub fn text(&self) -> &str {
        &self.slo.text
    }

    /// The threshold in milliseconds (every gate metric is a duration).
    fn threshold_ms(&self) -> f64 {
        self.slo.threshold.millis().unwrap_or(f64::NAN)
    }
}

impl FromStr for GateSlo {
    type Err = SloError;

    fn from_str(text: &str) -> Result<GateSlo, SloError> {
        GateSlo::new(text.parse()?)
    }
}

impl fmt::Display for GateSlo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl Serialize for GateSlo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.slo.serialize(s)
    }
}

impl<'de> Deserialize<'de> for GateSlo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<GateSlo, D::Error> {
        GateSlo::new(Slo::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The metric of an objective the gate can evaluate on any report; the
/// error names the objective.
fn gate_metric(slo: &Slo) -> Result<GateMetric, SloError> {
    let Some(name) = slo.metric.as_deref() else {
        return Err(SloError::unsupported(
            slo,
            format!(
                "name a metric, e.g. ttft:p(95)<800ms (certify knows: {})",
                known_metrics()
            ),
        ));
    };
    let metric = GateMetric::parse(name).ok_or_else(|| {
        SloError::unsupported(
            slo,
            format!(
                "unknown metric {name:?} (certify knows: {})",
                known_metrics()
            ),
        )
    })?;
    if metric.is_distribution() {
        match slo.aggregate {
            None => {
                return Err(SloError::unsupported(
                    slo,
                    format!("{name} needs an aggregate, e.g. {name}:p(95)"),
                ));
            }
            Some(Aggregate::Percentile(p)) if !LatencySummary::KEPT_PERCENTILES.contains(&p) => {
                return Err(SloError::unsupported(
                    slo,
                    format!(
                        "a report keeps p(50), p(90), p(95), p(99) and p(99.9) of {name}, not p({p}); the other aggregates are avg, med, min, max"
                    ),
                ));
            }
            Some(Aggregate::Rate | Aggregate::Count) => {
                return Err(SloError::unsupported(
                    slo,
                    format!("{name} is a latency: use p(50|90|95|99|99.9), avg, med, min or max"),
                ));
            }
            Some(_) => {}
        }
    } else if !matches!(
        slo.aggregate,
        None | Some(Aggregate::Min | Aggregate::Max | Aggregate::Avg)
    ) {
        return Err(SloError::unsupported(
            slo,
            format!(
                "{name} is one first-request measurement per agent: use no aggregate ({name}<1s), min, max or avg"
            ),
        ));
    }
    if slo.threshold.millis().is_none() {
        return Err(SloError::unsupported(
            slo,
            format!(
                "\"{}\" is not a duration (e.g. 800ms, 1.5s; a bare number is milliseconds)",
                slo.threshold
            ),
        ));
    }
    Ok(metric)
}

/// Where an objective stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SloStatus {
    /// Every subject meets it.
    Pass,
    /// At least one subject breaks it.
    Fail,
    /// No subject broke it, but the evidence is missing for the metric or
    /// for one of its subjects. Never a pass.
    NotMeasured,
    /// The gate cannot evaluate it; always fails the gate. Objectives are
    /// checked when parsed ([`GateSlo`]), so the gate no longer produces
    /// it; kept so that certifications written before read back.
    Invalid,
}

impl SloStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SloStatus::Pass => "pass",
            SloStatus::Fail => "fail",
            SloStatus::NotMeasured => "not-measured",
            SloStatus::Invalid => "invalid",
        }
    }
}

/// One subject's reading of an objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloSubject {
    /// The agent or backend (or the finding's location when it names none).
    pub subject: String,
    /// Index into `report.findings` of the evidence.
    pub finding: usize,
    pub status: SloStatus,
    /// The aggregate's value in milliseconds; absent when not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_ms: Option<f64>,
    /// The measurement it was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement: Option<String>,
    /// How many samples the value rests on.
    pub samples: u64,
    /// `search: p(95) 912.0 ms (n=200)`, or `search (why it was not measured)`.
    pub figure: String,
}

/// One objective and what the report's evidence says of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloOutcome {
    /// The objective as written.
    pub slo: String,
    /// Absent when the gate cannot evaluate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<GateMetric>,
    pub status: SloStatus,
    /// Every subject with the metric's evidence.
    pub subjects: Vec<SloSubject>,
    /// One sentence, with the deciding figure.
    pub summary: String,
}

/// `912.0`, `4.10`, `0.083`: enough digits for sub-millisecond readings.
fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn subject_name(f: &Finding) -> String {
    f.subject
        .clone()
        .or_else(|| f.location.as_ref().map(ToString::to_string))
        .unwrap_or_else(|| f.check_id.to_string())
}

/// Read one finding's evidence for the objective.
fn read(gate_slo: &GateSlo, index: usize, f: &Finding) -> SloSubject {
    let (slo, metric) = (&gate_slo.slo, gate_slo.metric);
    let subject = subject_name(f);
    let prefix = metric.measurement_prefix();
    let reading = f
        .measurements
        .iter()
        .filter(|m| m.name.starts_with(prefix))
        .find_map(|m| {
            if metric.is_distribution() {
                let d = m.distribution.as_ref()?;
                let agg = slo.aggregate?;
                Some((m, agg.of(d)?, d.count, agg.to_string()))
            } else {
                let label = slo
                    .aggregate
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| m.name.clone());
                Some((m, m.value, m.samples, label))
            }
        });
    match reading {
        Some((m, v, n, label)) => {
            let pass = slo.op.holds_on(Some(v), gate_slo.threshold_ms());
            SloSubject {
                figure: format!("{subject}: {label} {} ms (n={n})", ms(v)),
                subject,
                finding: index,
                status: if pass {
                    SloStatus::Pass
                } else {
                    SloStatus::Fail
                },
                observed_ms: Some(v),
                measurement: Some(m.name.clone()),
                samples: n,
            }
        }
        None => SloSubject {
            figure: format!("{subject} ({} is {}: {})", f.check_id, f.status, f.summary),
            subject,
            finding: index,
            status: SloStatus::NotMeasured,
            observed_ms: None,
            measurement: None,
            samples: 0,
        },
    }
}

/// Hold one objective against a report: every finding of the metric's
/// check (skipped ones aside: their subject is not configured) is a
/// subject; the objective holds only when each meets it.
pub fn evaluate_slo(report: &Report, slo: &GateSlo) -> SloOutcome {
    let check = slo.metric.check_id();
    let subjects: Vec<SloSubject> = report
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.check_id == check && f.status != Status::Skipped)
        .map(|(i, f)| read(slo, i, f))
        .collect();
    let (status, summary) = verdict(slo, &check, &subjects);
    SloOutcome {
        slo: slo.text().to_string(),
        metric: Some(slo.metric),
        status,
        subjects,
        summary,
    }
}

/// The objective's status and its sentence, from its subjects' readings.
fn verdict(slo: &GateSlo, check: &CheckId, subjects: &[SloSubject]) -> (SloStatus, String) {
    let of = |s: SloStatus| -> Vec<&str> {
        subjects
            .iter()
            .filter(|x| x.status == s)
            .map(|x| x.figure.as_str())
            .collect()
    };
    let (failed, missing) = (of(SloStatus::Fail), of(SloStatus::NotMeasured));
    if subjects.is_empty() {
        return (
            SloStatus::NotMeasured,
            format!(
                "not measured: the report holds no {check} evidence for {}",
                slo.metric.as_str()
            ),
        );
    }
    if !failed.is_empty() {
        return (SloStatus::Fail, format!("broken by {}", failed.join("; ")));
    }
    if !missing.is_empty() {
        return (
            SloStatus::NotMeasured,
            format!("not measured for {}", missing.join("; ")),
        );
    }
    // The subject closest to breaking it.
    let worst = subjects
        .iter()
        .filter_map(|s| s.observed_ms.map(|v| (v, s)))
        .max_by(|(a, _), (b, _)| {
            let ord = a.total_cmp(b);
            if matches!(slo.slo.op, Op::Gt | Op::Ge) {
                ord.reverse()
            } else {
                ord
            }
        })
        .map(|(_, s)| s.figure.as_str())
        .unwrap_or("-");
    (
        SloStatus::Pass,
        format!("held by {} subject(s); closest: {worst}", subjects.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cockpit_core::{CheckSpec, Measurement, Pillar, Severity, Unit};

    const TTFT: CheckSpec = CheckSpec {
        id: CheckId::new("NET-TTFT"),
        pillar: Pillar::Network,
        severity: Severity::High,
        title: "TTFT",
    };
    const TTR: CheckSpec = CheckSpec {
        id: CheckId::new("CMP-TTR"),
        pillar: Pillar::Compute,
        severity: Severity::Medium,
        title: "TTR",
    };

    fn summary(p95: f64) -> LatencySummary {
        LatencySummary {
            count: 200,
            min_ms: p95 / 4.0,
            mean_ms: p95 / 2.0,
            p50_ms: p95 / 2.0,
            p90_ms: p95 * 0.9,
            p95_ms: p95,
            p99_ms: p95 * 1.1,
            p999_ms: p95 * 1.2,
            max_ms: p95 * 1.3,
        }
    }

    fn ttft(subject: &str, p95: f64) -> Finding {
        TTFT.finding(Status::Pass, "ok")
            .with_subject(subject)
            .with_measurement(
                Measurement::new("ttft_p95", p95, Unit::Milliseconds, "client", 200)
                    .with_distribution(summary(p95)),
            )
    }

    fn report(findings: Vec<Finding>) -> Report {
        Report::new("agentops-cockpit", "0.0.0", findings)
    }

    fn eval(r: &Report, s: &str) -> SloOutcome {
        evaluate_slo(r, &s.parse().unwrap())
    }

    #[test]
    fn every_metric_reads_its_check_and_prefix() {
        for m in GateMetric::ALL {
            assert_eq!(GateMetric::parse(m.as_str()), Some(m));
            assert!(m.measurement_prefix().ends_with('_'), "{m:?}");
            let s: GateSlo = format!("{}:max<1s", m.as_str()).parse().unwrap();
            assert_eq!(s.metric(), m);
        }
    }

    #[test]
    fn holds_only_when_every_subject_meets_it() {
        let r = report(vec![ttft("chat", 212.0), ttft("search", 912.0)]);
        let o = eval(&r, "ttft:p(95)<1s");
        assert_eq!(o.status, SloStatus::Pass, "{o:?}");
        assert_eq!(o.subjects.len(), 2);
        assert!(
            o.summary
                .contains("closest: search: p(95) 912.0 ms (n=200)"),
            "{}",
            o.summary
        );
        let o = eval(&r, "ttft:p(95)<800ms");
        assert_eq!(o.status, SloStatus::Fail);
        assert_eq!(o.summary, "broken by search: p(95) 912.0 ms (n=200)");
        assert_eq!(o.subjects[0].status, SloStatus::Pass);
        assert_eq!(o.subjects[1].observed_ms, Some(912.0));
        // Each aggregate is read from the carried distribution.
        assert_eq!(eval(&r, "ttft:max<1200ms").status, SloStatus::Pass);
        assert_eq!(eval(&r, "ttft:p(99.9)<1s").status, SloStatus::Fail);
        assert_eq!(eval(&r, "ttft:min>50ms").status, SloStatus::Pass);
        let o = eval(&r, "ttft:avg>200ms");
        assert_eq!(o.status, SloStatus::Fail);
        assert!(o.summary.contains("chat: avg 106.0 ms"), "{}", o.summary);
    }

    #[test]
    fn missing_evidence_is_not_measured_never_a_pass() {
        let r = report(vec![ttft("chat", 212.0)]);
        let o = eval(&r, "retrieval:p(99)<10ms");
        assert_eq!(o.status, SloStatus::NotMeasured);
        assert!(o.summary.contains("no NET-TAIL evidence"), "{}", o.summary);
        // A subject whose finding carries no measurement.
        let mut r = report(vec![
            ttft("chat", 212.0),
            TTFT.finding(Status::NotMeasured, "connection refused")
                .with_subject("search"),
            TTFT.finding(Status::Skipped, "not configured")
                .with_subject("other"),
        ]);
        let o = eval(&r, "ttft:p(95)<800ms");
        assert_eq!(o.status, SloStatus::NotMeasured);
        assert_eq!(o.subjects.len(), 2, "skipped findings are no subjects");
        assert!(
            o.summary == "not measured for search (NET-TTFT is not-measured: connection refused)",
            "{}",
            o.summary
        );
        // A breach elsewhere still fails it.
        r.findings.push(ttft("third", 900.0));
        assert_eq!(eval(&r, "ttft:p(95)<800ms").status, SloStatus::Fail);
    }

    #[test]
    fn figures_keep_the_digits_their_size_needs() {
        let r = report(vec![ttft("a", 4.1), ttft("b", 0.083)]);
        let o = eval(&r, "ttft:p(95)<1ms");
        assert_eq!(o.summary, "broken by a: p(95) 4.10 ms (n=200)");
        let o = eval(&r, "ttft:p(95)<5ms");
        assert_eq!(o.subjects[1].figure, "b: p(95) 0.083 ms (n=200)");
        // The closest to breaking a lower bound is the smallest reading.
        let o = eval(&r, "ttft:p(95)>0.01ms");
        assert!(
            o.summary.ends_with("closest: b: p(95) 0.083 ms (n=200)"),
            "{}",
            o.summary
        );
    }

    #[test]
    fn an_unknown_metric_is_told_the_known_ones() {
        for slo in ["tokens:p(95)<1s", "p(95)<1s"] {
            let e = slo.parse::<GateSlo>().unwrap_err().to_string();
            assert!(
                e.contains("(certify knows: ttft, retrieval, connect_rtt, store_ping, cold_start)"),
                "{e}"
            );
        }
    }

    #[test]
    fn cold_start_is_one_value() {
        let f = TTR
            .finding(Status::Pass, "ok")
            .with_subject("chat")
            .with_measurement(Measurement::new(
                "first_request_ttft",
                784.9,
                Unit::Milliseconds,
                "first request",
                1,
            ));
        let r = report(vec![f]);
        let o = eval(&r, "cold_start<1s");
        assert_eq!(o.status, SloStatus::Pass);
        assert!(
            o.summary
                .contains("chat: first_request_ttft 784.9 ms (n=1)"),
            "{}",
            o.summary
        );
        assert_eq!(eval(&r, "cold_start:max<500ms").status, SloStatus::Fail);
    }

    #[test]
    fn refuses_what_the_evidence_cannot_give() {
        for (slo, says) in [
            ("ttft:p(97)<800ms", "not p(97)"),
            ("ttft<800ms", "needs an aggregate"),
            ("ttft:rate<1%", "is a latency"),
            ("cold_start:p(95)<1s", "one first-request measurement"),
            ("ttft:p(95)<5%", "is not a duration"),
            ("tokens:p(95)<1s", "unknown metric \"tokens\""),
            ("p(95)<1s", "name a metric"),
        ] {
            let e = slo.parse::<GateSlo>().unwrap_err().to_string();
            assert!(e.starts_with(&format!("{slo:?}: ")), "{e}");
            assert!(e.contains(says), "{slo}: {e}");
            // Refused the same way from a configuration file.
            let e = serde_json::from_str::<GateSlo>(&format!("{slo:?}")).unwrap_err();
            assert!(e.to_string().contains(says), "{slo}: {e}");
        }
        for ok in [
            "ttft:p(99.9)<2s",
            "retrieval:med<5",
            "connect_rtt:p(50)<1ms",
            "store_ping:p(99)<=2ms",
            "cold_start:avg<3s",
        ] {
            let s: GateSlo = ok.parse().unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("{ok:?}"));
        }
    }

    #[test]
    fn the_gate_fails_on_a_breach_and_on_unmeasured_when_closed() {
        let r = report(vec![ttft("chat", 212.0), ttft("search", 912.0)]);
        let today = crate::Date::today();
        let mut p = crate::GatePolicy {
            slos: vec!["ttft:p(95)<1s".parse().unwrap()],
            // The report measures the Network pillar only.
            out_of_scope: crate::policy::out_of_scope_except(Pillar::Network),
            ..crate::GatePolicy::default()
        };
        let c = crate::certify(&r, &p, today);
        assert!(c.passed, "{:?}", c.reasons);
        assert_eq!(c.slos[0].status, SloStatus::Pass);

        p.slos.push("ttft:p(95)<800ms".parse().unwrap());
        let c = crate::certify(&r, &p, today);
        assert!(!c.passed);
        assert_eq!(
            c.reasons,
            ["SLO ttft:p(95)<800ms failed: broken by search: p(95) 912.0 ms (n=200)"]
        );
        // The score is the findings' alone.
        assert_eq!(c.score, Some(100.0));

        p.slos = vec!["retrieval:p(99)<10ms".parse().unwrap()];
        let c = crate::certify(&r, &p, today);
        assert!(!c.passed);
        assert!(c.reasons[0].contains("fails closed"), "{:?}", c.reasons);
        p.fail_closed = false;
        let c = crate::certify(&r, &p, today);
        assert!(c.passed, "{:?}", c.reasons);
        assert_eq!(c.slos[0].status, SloStatus::NotMeasured);

        // A policy cannot hold an objective the gate cannot evaluate.
        let e = serde_json::from_str::<crate::GatePolicy>(r#"{"slos": ["ttft:p(97)<1s"]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"ttft:p(97)<1s\": "), "{e}");
    }
}
