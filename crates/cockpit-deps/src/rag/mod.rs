//! The RAG dropzone: for each `[[vector_store]]`, the collection read over
//! the backend's HTTP API (Chroma v2, Qdrant REST) — does it exist, how
//! many vectors, is its index built — then `samples` nearest-neighbour
//! queries by an explicit embedding vector (no embedding model: Chroma is
//! queried with a vector read back from the collection itself, Qdrant with
//! a constant unit vector of the collection's dimension), each timed into
//! a [`Distribution`].
//!
//! Every request has the entry's timeout (connect and whole request), and
//! every answer is read under [`MAX_ANSWER_BYTES`] before it is parsed; a
//! store that is down, refuses, or answers past a bound is a finding.

mod chroma;
mod qdrant;

use std::time::Instant;

use cockpit_core::Distribution;
use tokio_util::sync::CancellationToken;

use crate::{VectorBackend, VectorStoreConfig};

/// The largest answer read from a vector store (a collection's description,
/// a count, a query's ids and distances).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Neighbours asked for by each timed query.
const QUERY_K: u64 = 5;

/// What one look at one vector store measured: the data the RAG-* checks
/// judge and Mission Control's RAG dropzone panel shows.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreSnapshot {
    pub name: String,
    /// The redacted base URL.
    pub shown: String,
    pub backend: VectorBackend,
    pub collection: String,
    /// The server answered at all (a 404 for the collection counts).
    pub reached: bool,
    /// The collection exists (`None`: could not tell).
    pub exists: Option<bool>,
    /// Vectors (Chroma records, Qdrant points) in the collection.
    pub count: Option<u64>,
    /// The vectors' dimension, when the store says.
    pub dimension: Option<u64>,
    /// The index as the store describes it (`green`, `hnsw (l2)`, …).
    pub index_status: Option<String>,
    /// The index is built and serves queries (Qdrant `green`; Chroma: a
    /// dimension is known, i.e. vectors were indexed).
    pub index_ready: Option<bool>,
    /// Vectors the store reports as indexed, when it says (Qdrant).
    pub indexed: Option<u64>,
    pub query: Distribution,
    pub query_errors: u64,
    /// The first failure, in words.
    pub error: Option<String>,
    pub zone: Option<String>,
    pub source_count: Option<u64>,
    pub min_count: Option<u64>,
    pub interrupted: bool,
}

impl StoreSnapshot {
    /// Nothing measured yet.
    pub fn new(cfg: &VectorStoreConfig) -> Self {
        StoreSnapshot {
            name: cfg.name.clone(),
            shown: cockpit_core::redact_url(&cfg.url),
            backend: cfg.backend,
            collection: cfg.collection.clone(),
            reached: false,
            exists: None,
            count: None,
            dimension: None,
            index_status: None,
            index_ready: None,
            indexed: None,
            query: Distribution::new(),
            query_errors: 0,
            error: None,
            zone: cfg.zone.clone(),
            source_count: cfg.source_count,
            min_count: cfg.min_count,
            interrupted: false,
        }
    }

    fn failed(&mut self, why: String) {
        if self.error.is_none() {
            self.error = Some(why);
        }
    }
}

/// The collection as the backend describes it.
#[derive(Debug, Default)]
pub(crate) struct Collection {
    /// The id queries address (Chroma's UUID; Qdrant's name).
    pub id: String,
    pub count: u64,
    pub dimension: Option<u64>,
    pub index_status: String,
    pub index_ready: bool,
    pub indexed: Option<u64>,
    /// The vector the timed queries send, if one can be had.
    pub probe: Option<Vec<f32>>,
    /// Qdrant's named vector to query, if the collection has names.
    pub vector_name: Option<String>,
}

/// Why a request to the store did not give what was asked.
#[derive(Debug)]
pub(crate) enum StoreError {
    /// No answer: connect refused, timeout, TLS.
    Unreachable(String),
    /// The collection does not exist (HTTP 404).
    Missing(String),
    /// Any other answer that cannot be used.
    Answer(String),
}

/// One request: the body read under the bound, the status checked, JSON
/// parsed.
pub(crate) async fn send_json(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<serde_json::Value, StoreError> {
    let response = request
        .send()
        .await
        .map_err(|e| StoreError::Unreachable(format!("{what}: {}", crate::http::error_text(&e))))?;
    let status = response.status();
    let body = crate::http::body_bounded(response, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| StoreError::Answer(format!("{what}: {e}")))?;
    let text = String::from_utf8_lossy(&body);
    let short: String = text.chars().take(200).collect();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(StoreError::Missing(format!("{what}: HTTP 404 {short}")));
    }
    if !status.is_success() {
        return Err(StoreError::Answer(format!(
            "{what}: HTTP {} {short}",
            status.as_u16()
        )));
    }
    serde_json::from_slice(&body).map_err(|e| StoreError::Answer(format!("{what}: not JSON ({e})")))
}

/// Look at one store: the collection, then the timed queries.
#[tracing::instrument(name = "vector_store", skip_all, fields(target = %cockpit_core::redact_url(&cfg.url), check_id = "RAG-COLLECTION"))]
pub async fn measure(cfg: &VectorStoreConfig, cancel: &CancellationToken) -> StoreSnapshot {
    let mut snap = StoreSnapshot::new(cfg);
    let client = match crate::http::client(cfg.timeout(), &cfg.request_headers()) {
        Ok(c) => c,
        Err(e) => {
            snap.failed(e);
            return snap;
        }
    };
    let base = cfg.url.trim_end_matches('/').to_string();
    let described = tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        r = describe(&client, &base, cfg) => Some(r),
    };
    let collection = match described {
        None => {
            snap.interrupted = true;
            return snap;
        }
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            record(&mut snap, e);
            return snap;
        }
    };
    snap.reached = true;
    snap.exists = Some(true);
    snap.count = Some(collection.count);
    snap.dimension = collection.dimension;
    snap.index_status = Some(collection.index_status.clone());
    snap.index_ready = Some(collection.index_ready);
    snap.indexed = collection.indexed;
    time_queries(&client, &base, cfg, &collection, &mut snap, cancel).await;
    snap
}

fn record(snap: &mut StoreSnapshot, e: StoreError) {
    match e {
        StoreError::Unreachable(m) => snap.failed(m),
        StoreError::Missing(m) => {
            snap.reached = true;
            snap.exists = Some(false);
            snap.failed(m);
        }
        StoreError::Answer(m) => {
            snap.reached = true;
            snap.failed(m);
        }
    }
}

async fn describe(
    client: &reqwest::Client,
    base: &str,
    cfg: &VectorStoreConfig,
) -> Result<Collection, StoreError> {
    match cfg.backend {
        VectorBackend::Chroma => chroma::describe(client, base, cfg).await,
        VectorBackend::Qdrant => qdrant::describe(client, base, cfg).await,
    }
}

/// `samples` queries, one at a time; stops at the first that fails to
/// reach the store (it is gone) or on cancel.
async fn time_queries(
    client: &reqwest::Client,
    base: &str,
    cfg: &VectorStoreConfig,
    c: &Collection,
    snap: &mut StoreSnapshot,
    cancel: &CancellationToken,
) {
    let Some(vector) = &c.probe else {
        snap.failed("the collection holds no vector to query with".into());
        return;
    };
    let k = QUERY_K.min(c.count.max(1));
    for _ in 0..cfg.samples {
        let started = Instant::now();
        let one = async {
            match cfg.backend {
                VectorBackend::Chroma => chroma::query(client, base, cfg, c, vector, k).await,
                VectorBackend::Qdrant => qdrant::query(client, base, cfg, c, vector, k).await,
            }
        };
        let r = tokio::select! {
            biased;
            _ = cancel.cancelled() => { snap.interrupted = true; return; }
            r = one => r,
        };
        match r {
            Ok(()) => snap.query.record(started.elapsed()),
            Err(e) => {
                snap.query_errors += 1;
                let gone = matches!(e, StoreError::Unreachable(_));
                let (StoreError::Unreachable(m) | StoreError::Missing(m) | StoreError::Answer(m)) =
                    e;
                snap.failed(format!("query: {m}"));
                if gone {
                    return;
                }
            }
        }
    }
}
