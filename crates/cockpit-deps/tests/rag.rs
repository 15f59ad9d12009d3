//! The RAG dropzone against a real Chroma server (`chroma run` from PyPI's
//! chromadb, on a free loopback port, collections made with chromadb's own
//! Python client) and against Qdrant answers served by a local server (no
//! Qdrant server is installable here; see tests/support/qdrant/README.md):
//! a collection with its count, index and query latency; a missing, an
//! empty and a stale one; a store in another zone; a store that is down; an
//! answer past the read bound.

mod common;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use cockpit_core::fleet::AgentConfig;
use cockpit_core::{AuditOutcome, Finding, Status};
use cockpit_deps::{DepsConfig, VectorBackend, VectorStoreConfig};
use common::{Chroma, HANG_GUARD, free_port, support};
use tokio_util::sync::CancellationToken;

async fn audit(stores: Vec<VectorStoreConfig>, agents: Vec<AgentConfig>) -> AuditOutcome {
    let cfg = DepsConfig::new(vec![], stores, agents);
    cfg.validate().expect("a valid configuration");
    tokio::time::timeout(
        HANG_GUARD,
        cockpit_deps::audit(&cfg, &CancellationToken::new()),
    )
    .await
    .expect("the audit ended within the hang guard")
}

fn find<'a>(r: &'a AuditOutcome, id: &str, subject: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.check_id.as_str() == id && f.subject.as_deref() == Some(subject))
        .unwrap_or_else(|| panic!("no {id} finding for {subject}"))
}

fn agent(name: &str, zone: &str) -> AgentConfig {
    toml::from_str(&format!(
        "name = \"{name}\"\nendpoint = \"http://127.0.0.1:9/v1\"\nprotocol = \"openai\"\nzone = \"{zone}\"\n"
    ))
    .expect("an agent")
}

fn store(name: &str, backend: VectorBackend, url: &str, collection: &str) -> VectorStoreConfig {
    let mut v = VectorStoreConfig::new(name, backend, url, collection);
    v.samples = 10;
    v
}

#[tokio::test]
async fn chroma_collections_real_server() {
    let chroma = tokio::task::spawn_blocking(|| {
        let c = Chroma::start();
        c.seed("docs", 20, 8);
        c.seed("empty", 0, 8);
        c
    })
    .await
    .unwrap();
    let url = chroma.url();
    let mut docs = store("kb", VectorBackend::Chroma, &url, "docs");
    docs.source_count = Some(25);
    docs.zone = Some("europe-west1-b".into());
    docs.agent = Some("chat".into());
    let r = audit(
        vec![
            docs,
            store("ghost", VectorBackend::Chroma, &url, "no-such-collection"),
            store("blank", VectorBackend::Chroma, &url, "empty"),
        ],
        vec![agent("chat", "us-central1-a")],
    )
    .await;
    assert_eq!((r.subjects, r.reached), (3, 3));

    let f = find(&r, "RAG-COLLECTION", "kb");
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert_eq!(f.measurement("count").unwrap().value, 20.0);
    assert_eq!(f.measurement("dimension").unwrap().value, 8.0);
    assert!(f.summary.contains("hnsw"), "{}", f.summary);
    let f = find(&r, "RAG-LATENCY", "kb");
    assert_ne!(f.status, Status::NotMeasured, "{}", f.summary);
    assert_eq!(f.measurement("query_p99").unwrap().samples, 10);
    let f = find(&r, "RAG-STALE", "kb");
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(f.summary.contains("5 not indexed"), "{}", f.summary);
    let f = find(&r, "RAG-ZONE", "kb");
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(f.summary.contains("another region"), "{}", f.summary);

    let f = find(&r, "RAG-COLLECTION", "ghost");
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(f.summary.contains("does not exist"), "{}", f.summary);
    assert_eq!(find(&r, "RAG-LATENCY", "ghost").status, Status::NotMeasured);

    let f = find(&r, "RAG-COLLECTION", "blank");
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(f.summary.contains("holds 0 vectors"), "{}", f.summary);
    let f = find(&r, "RAG-LATENCY", "blank");
    assert_eq!(f.status, Status::NotMeasured, "{}", f.summary);
    assert_eq!(find(&r, "RAG-STALE", "blank").status, Status::Skipped);
}

#[tokio::test]
async fn a_store_that_is_down_is_not_measured() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let r = audit(
        vec![store("down", VectorBackend::Chroma, &url, "docs")],
        vec![],
    )
    .await;
    let f = find(&r, "RAG-COLLECTION", "down");
    assert_eq!(f.status, Status::NotMeasured, "{}", f.summary);
    assert!(f.summary.contains("cannot connect"), "{}", f.summary);
    assert!(r.nothing_reached());
}

/// Qdrant's answers from tests/support/qdrant, and one answer past the
/// read bound; the URL of the server.
async fn qdrant() -> String {
    let file = |name: &str| std::fs::read_to_string(support(&format!("qdrant/{name}"))).unwrap();
    let (green, yellow, missing, query) = (
        file("collection_green.json"),
        file("collection_yellow_named.json"),
        file("collection_missing.json"),
        file("query.json"),
    );
    let huge = format!("{{\"result\":\"{}\"}}", "x".repeat(2 << 20));
    let app = Router::new()
        .route("/collections/docs", get(move || async move { green }))
        .route("/collections/busy", get(move || async move { yellow }))
        .route(
            "/collections/missing",
            get(move || async move { (StatusCode::NOT_FOUND, missing) }),
        )
        .route("/collections/huge", get(move || async move { huge }))
        .route(
            "/collections/{name}/points/query",
            post(move || async move { query }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn qdrant_recorded_answers() {
    let url = qdrant().await;
    let mut docs = store("q", VectorBackend::Qdrant, &url, "docs");
    docs.zone = Some("us-central1-a".into());
    docs.source_count = Some(1000);
    let r = audit(
        vec![
            docs,
            store("busy", VectorBackend::Qdrant, &url, "busy"),
            store("gone", VectorBackend::Qdrant, &url, "missing"),
            store("huge", VectorBackend::Qdrant, &url, "huge"),
        ],
        vec![agent("chat", "us-central1-a")],
    )
    .await;
    let f = find(&r, "RAG-COLLECTION", "q");
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert_eq!(f.measurement("count").unwrap().value, 1000.0);
    assert!(f.summary.contains("green"), "{}", f.summary);
    assert_eq!(
        find(&r, "RAG-LATENCY", "q")
            .measurement("query_p50")
            .unwrap()
            .samples,
        10
    );
    assert_eq!(find(&r, "RAG-ZONE", "q").status, Status::Pass);
    assert_eq!(find(&r, "RAG-STALE", "q").status, Status::Pass);

    let f = find(&r, "RAG-COLLECTION", "busy");
    assert_eq!(f.status, Status::Warn, "{}", f.summary);
    assert_eq!(f.measurement("indexed").unwrap().value, 200.0);
    // A named vector is queried by its name: the queries were answered.
    assert_ne!(find(&r, "RAG-LATENCY", "busy").status, Status::NotMeasured);

    let f = find(&r, "RAG-COLLECTION", "gone");
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(f.summary.contains("doesn't exist"), "{}", f.summary);

    let f = find(&r, "RAG-COLLECTION", "huge");
    assert_eq!(f.status, Status::NotMeasured, "{}", f.summary);
    assert!(f.summary.contains("over 1048576 bytes"), "{}", f.summary);
}

/// A Qdrant that wants an API key (as Qdrant does with `api_key` set):
/// 401 without it, the recorded collection with it.
async fn qdrant_with_key(key: &'static str) -> String {
    let green = std::fs::read_to_string(support("qdrant/collection_green.json")).unwrap();
    let query = std::fs::read_to_string(support("qdrant/query.json")).unwrap();
    let authorised = move |h: &axum::http::HeaderMap| {
        h.get("api-key")
            .is_some_and(|v| v.as_bytes() == key.as_bytes())
    };
    let app = Router::new()
        .route(
            "/collections/docs",
            get(move |h: axum::http::HeaderMap| async move {
                if authorised(&h) {
                    (StatusCode::OK, green)
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        "Must provide an API key".to_string(),
                    )
                }
            }),
        )
        .route(
            "/collections/{name}/points/query",
            post(move |h: axum::http::HeaderMap| async move {
                if authorised(&h) {
                    (StatusCode::OK, query)
                } else {
                    (StatusCode::UNAUTHORIZED, String::new())
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn a_store_api_key_is_sent_and_never_shown() {
    const KEY: &str = "qdrant-key-5e1f0a";
    let url = qdrant_with_key(KEY).await;
    let mut keyed = store("keyed", VectorBackend::Qdrant, &url, "docs");
    keyed.api_key = Some(KEY.into());
    let mut wrong = store("wrong", VectorBackend::Qdrant, &url, "docs");
    wrong.api_key = Some("qdrant-key-other".into());
    let none = store("none", VectorBackend::Qdrant, &url, "docs");
    let r = audit(vec![keyed.clone(), wrong, none], vec![]).await;
    let f = find(&r, "RAG-COLLECTION", "keyed");
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    for name in ["wrong", "none"] {
        let f = find(&r, "RAG-COLLECTION", name);
        assert_eq!(f.status, Status::NotMeasured, "{}", f.summary);
        assert!(f.summary.contains("401"), "{}", f.summary);
    }
    let shown = format!("{:?} {:?}", r.findings, keyed);
    assert!(
        !shown.contains("5e1f0a") && !shown.contains("key-other"),
        "{shown}"
    );
    assert!(format!("{keyed:?}").contains("<redacted>"));
    let mut bad = keyed;
    bad.api_key = Some("line\nbreak".into());
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("api_key") && !e.contains("break"), "{e}");
}
