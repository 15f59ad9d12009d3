//! RAG-STALE: the index keeps up with its dropzone — the store's vector
//! count against the `source_count` the configuration declares (how many
//! documents the dropzone holds now).

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use super::finding;
use crate::PreviousRun;
use crate::rag::StoreSnapshot;

pub const RAG_STALE: CheckSpec = CheckSpec {
    id: CheckId::new("RAG-STALE"),
    pillar: Pillar::State,
    severity: Severity::Medium,
    title: "Vector index keeps up with its dropzone",
};

/// The count against the declared source count; and, given the previous
/// run's, whether the dropzone grew while the index did not.
pub fn evaluate(s: &StoreSnapshot, previous: Option<&PreviousRun>) -> Finding {
    let mut f = finding(
        &RAG_STALE,
        &s.name,
        &s.shown,
        Status::Skipped,
        String::new(),
    );
    let Some(source) = s.source_count else {
        f.summary = "no `source_count` declared for the dropzone".into();
        return f;
    };
    let Some(count) = s.count else {
        f.status = Status::NotMeasured;
        f.summary = format!(
            "not measured: the collection's count could not be read ({})",
            s.error.as_deref().unwrap_or("?")
        );
        return f;
    };
    f = f
        .with_measurement(Measurement::new(
            "count",
            count as f64,
            Unit::Count,
            "read from the store's API",
            1,
        ))
        .with_measurement(Measurement::new(
            "source_count",
            source as f64,
            Unit::Count,
            "declared in [[vector_store]] source_count",
            1,
        ));
    if let Some(p) = previous {
        f = f.with_measurement(Measurement::new(
            "previous_count",
            p.count as f64,
            Unit::Count,
            "the previous run's count, from the evidence lake",
            1,
        ));
        if source > p.source_count && count <= p.count {
            f.status = Status::Fail;
            f.summary = format!(
                "the dropzone grew from {} to {source} documents since the previous run, the index stayed at {count} vectors (was {})",
                p.source_count, p.count
            );
            return f.with_recommendation(
                "The ingestion behind the dropzone has stopped: the index is not growing while its source is. Check its job's last run and errors.",
            );
        }
    }
    if count >= source {
        f.status = Status::Pass;
        f.summary = format!("index holds {count} vectors for the dropzone's {source} documents");
    } else {
        f.status = Status::Fail;
        f.summary = format!(
            "index holds {count} vectors, the dropzone {source} documents: {} not indexed",
            source - count
        );
        f = f.with_recommendation(
            "The ingestion behind the dropzone is behind or stopped: check its job's last run and errors; the agent answers from an index that lacks the newest documents.",
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::rag_collection::tests::store;

    #[test]
    fn verdicts() {
        let mut s = store(Some(80));
        assert_eq!(evaluate(&s, None).status, Status::Skipped);
        s.source_count = Some(100);
        let f = evaluate(&s, None);
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("20 not indexed"), "{}", f.summary);
        s.source_count = Some(80);
        assert_eq!(evaluate(&s, None).status, Status::Pass);
        let mut s = store(None);
        s.source_count = Some(1);
        assert_eq!(evaluate(&s, None).status, Status::NotMeasured);
    }

    #[test]
    fn across_runs_a_growing_dropzone_needs_a_growing_index() {
        let mut s = store(Some(120));
        s.source_count = Some(110);
        let before = PreviousRun {
            count: 120,
            source_count: 100,
        };
        let f = evaluate(&s, Some(&before));
        assert_eq!(f.status, Status::Fail, "{}", f.summary);
        assert!(f.summary.contains("grew from 100 to 110"), "{}", f.summary);
        s.count = Some(125);
        assert_eq!(evaluate(&s, Some(&before)).status, Status::Pass);
        s.count = Some(120);
        s.source_count = Some(100);
        assert_eq!(evaluate(&s, Some(&before)).status, Status::Pass);
        // The previous run's counts come from its report.
        let mut cfg = crate::DepsConfig::default();
        let report = cockpit_core::Report::new("t", "0", vec![evaluate(&s, None)]);
        cfg.remember(&report);
        assert_eq!(cfg.previous.get("kb"), Some(&before));
    }
}
