//! CMP-THROTTLE: Cloud Run CPU allocation (`run.googleapis.com/cpu-throttling`
//! on the revision template). With throttling, CPU is only allocated while a
//! request is being processed, which starves a token stream between chunks
//! and any background work.

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status, Unit};

use super::read;
use crate::object::Workload;

pub const CMP_THROTTLE: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-THROTTLE"),
    pillar: Pillar::Compute,
    severity: Severity::Medium,
    title: "Cloud Run CPU always allocated",
};

const KEY: &str = "run.googleapis.com/cpu-throttling";

pub fn evaluate(w: &Workload) -> Finding {
    let v = w.template_annotation(KEY);
    let always = v.is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
    let f = if always {
        CMP_THROTTLE.finding(
            Status::Pass,
            format!("{KEY} is \"false\": CPU is always allocated"),
        )
    } else {
        CMP_THROTTLE
            .finding(
                Status::Warn,
                match v {
                    Some(v) => format!("{KEY} is \"{v}\": CPU only while a request is processed"),
                    None => format!(
                        "{KEY} is not set (Cloud Run's default throttles CPU outside requests)"
                    ),
                },
            )
            .with_recommendation(format!(
                "Set `{KEY}: \"false\"` (instance-based billing) for streaming agents."
            ))
    };
    w.origin.locate_at(
        f.with_measurement(read(
            "cpu_always_allocated",
            if always { 1.0 } else { 0.0 },
            Unit::Bool,
            format!("read from the revision template annotation {KEY}"),
        )),
        "cpu-throttling",
    )
}
