//! RAG-STALE: the index keeps up with its dropzone — the store's vector
//! count against the `source_count` the configuration declares (how many
//! documents the dropzone holds now).

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use super::finding;
use crate::rag::StoreSnapshot;

pub const RAG_STALE: CheckSpec = CheckSpec {
    id: CheckId::new("RAG-STALE"),
    pillar: Pillar::State,
    severity: Severity::Medium,
    title: "Vector index keeps up with its dropzone",
};

pub fn evaluate(s: &StoreSnapshot) -> Finding {
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
        assert_eq!(evaluate(&s).status, Status::Skipped);
        s.source_count = Some(100);
        let f = evaluate(&s);
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("20 not indexed"), "{}", f.summary);
        s.source_count = Some(80);
        assert_eq!(evaluate(&s).status, Status::Pass);
        let mut s = store(None);
        s.source_count = Some(1);
        assert_eq!(evaluate(&s).status, Status::NotMeasured);
    }
}
