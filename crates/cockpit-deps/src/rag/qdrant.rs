//! Qdrant's REST API: `GET /collections/{name}` (status, points and indexed
//! vectors, the vectors' size and distance) and `POST
//! /collections/{name}/points/query` by a constant unit vector of that
//! size (Qdrant ≥ 1.10).

use serde_json::{Value, json};

use super::chroma::percent_encode;
use super::{Collection, StoreError, send_json};
use crate::VectorStoreConfig;

pub(crate) async fn describe(
    client: &reqwest::Client,
    base: &str,
    cfg: &VectorStoreConfig,
) -> Result<Collection, StoreError> {
    let name = percent_encode(&cfg.collection);
    let info = send_json(
        client.get(format!("{base}/collections/{name}")),
        "collection",
    )
    .await?;
    let r = &info["result"];
    let status = r["status"]
        .as_str()
        .ok_or_else(|| StoreError::Answer("collection: no `result.status` in the answer".into()))?;
    let count = r["points_count"].as_u64().unwrap_or(0);
    let (vector_name, dimension) = vectors(&r["config"]["params"]["vectors"]);
    let optimizer = match &r["optimizer_status"] {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.contains_key("error") => {
            format!("optimizer error: {}", o["error"].as_str().unwrap_or("?"))
        }
        _ => "?".into(),
    };
    let probe = dimension
        .filter(|d| (1..=65_536).contains(d))
        .map(|d| vec![1.0 / (d as f32).sqrt(); d as usize]);
    Ok(Collection {
        id: name,
        count,
        dimension,
        index_status: format!("{status} (optimizer {optimizer})"),
        index_ready: status == "green",
        indexed: r["indexed_vectors_count"].as_u64(),
        probe: probe.filter(|_| count > 0),
        vector_name,
    })
}

/// The vectors' name (for named vectors, the first) and size.
fn vectors(v: &Value) -> (Option<String>, Option<u64>) {
    if let Some(size) = v["size"].as_u64() {
        return (None, Some(size));
    }
    match v.as_object().and_then(|o| o.iter().next()) {
        Some((name, params)) => (Some(name.clone()), params["size"].as_u64()),
        None => (None, None),
    }
}

pub(crate) async fn query(
    client: &reqwest::Client,
    base: &str,
    _cfg: &VectorStoreConfig,
    c: &Collection,
    vector: &[f32],
    k: u64,
) -> Result<(), StoreError> {
    let url = format!("{base}/collections/{}/points/query", c.id);
    let mut body = json!({ "query": vector, "limit": k });
    if let Some(name) = &c.vector_name {
        body["using"] = json!(name);
    }
    let answer = send_json(client.post(url).json(&body), "query").await?;
    if answer["result"]["points"].is_array() {
        Ok(())
    } else {
        Err(StoreError::Answer(
            "query: no `result.points` in the answer".into(),
        ))
    }
}
