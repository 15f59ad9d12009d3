//! CMP-BOOST: Cloud Run startup CPU boost
//! (`run.googleapis.com/startup-cpu-boost` on the revision template), which
//! shortens the cold start of a model-loading container.

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status, Unit};

use super::read;
use crate::object::Workload;

pub const CMP_BOOST: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-BOOST"),
    pillar: Pillar::Compute,
    severity: Severity::Medium,
    title: "Cloud Run startup CPU boost",
};

const KEY: &str = "run.googleapis.com/startup-cpu-boost";

pub fn evaluate(w: &Workload) -> Finding {
    let v = w.template_annotation(KEY);
    let on = v.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let f = if on {
        CMP_BOOST.finding(Status::Pass, format!("{KEY} is \"true\""))
    } else {
        CMP_BOOST
            .finding(
                Status::Warn,
                match v {
                    Some(v) => {
                        format!("{KEY} is \"{v}\": cold starts run on the normal CPU allocation")
                    }
                    None => {
                        format!("{KEY} is not set: cold starts run on the normal CPU allocation")
                    }
                },
            )
            .with_recommendation(format!("Set `{KEY}: \"true\"` on the revision template."))
    };
    w.origin.locate_at(
        f.with_measurement(read(
            "startup_cpu_boost",
            if on { 1.0 } else { 0.0 },
            Unit::Bool,
            format!("read from the revision template annotation {KEY}"),
        )),
        "startup-cpu-boost",
    )
}
