//! Chroma's HTTP API, v2: `GET …/collections/{name}` (its id, dimension
//! and index configuration), `GET …/collections/{id}/count`, `POST
//! …/collections/{id}/get` (one stored embedding, the query vector) and
//! `POST …/collections/{id}/query` by that embedding.

use serde_json::{Value, json};

use super::{Collection, StoreError, send_json};
use crate::VectorStoreConfig;

fn collections(base: &str, cfg: &VectorStoreConfig) -> String {
    format!(
        "{base}/api/v2/tenants/{}/databases/{}/collections",
        cfg.tenant.as_deref().unwrap_or("default_tenant"),
        cfg.database.as_deref().unwrap_or("default_database")
    )
}

pub(crate) async fn describe(
    client: &reqwest::Client,
    base: &str,
    cfg: &VectorStoreConfig,
) -> Result<Collection, StoreError> {
    let root = collections(base, cfg);
    let name = percent_encode(&cfg.collection);
    let info = send_json(client.get(format!("{root}/{name}")), "collection").await?;
    let id = info["id"]
        .as_str()
        .ok_or_else(|| StoreError::Answer("collection: no `id` in the answer".into()))?
        .to_string();
    let count = send_json(client.get(format!("{root}/{id}/count")), "count")
        .await?
        .as_u64()
        .ok_or_else(|| StoreError::Answer("count: not a number".into()))?;
    let dimension = info["dimension"].as_u64();
    let probe = if count > 0 {
        let got = send_json(
            client
                .post(format!("{root}/{id}/get"))
                .json(&json!({ "limit": 1, "include": ["embeddings"] })),
            "get",
        )
        .await?;
        first_embedding(&got)
    } else {
        None
    };
    Ok(Collection {
        id,
        count,
        dimension,
        index_status: index_status(&info),
        index_ready: dimension.is_some(),
        indexed: None,
        probe,
        vector_name: None,
    })
}

/// `hnsw (space l2)` or `spann (…)`, from the collection's configuration.
fn index_status(info: &Value) -> String {
    let conf = &info["configuration_json"];
    let (kind, params) = if conf["spann"].is_object() {
        ("spann", &conf["spann"])
    } else {
        ("hnsw", &conf["hnsw"])
    };
    let space = params["space"].as_str().unwrap_or("?");
    match info["dimension"].as_u64() {
        Some(d) => format!("{kind} (space {space}, dimension {d})"),
        None => format!("{kind} (space {space}, nothing indexed yet)"),
    }
}

fn first_embedding(got: &Value) -> Option<Vec<f32>> {
    got["embeddings"][0]
        .as_array()?
        .iter()
        .map(|x| x.as_f64().map(|v| v as f32))
        .collect()
}

pub(crate) async fn query(
    client: &reqwest::Client,
    base: &str,
    cfg: &VectorStoreConfig,
    c: &Collection,
    vector: &[f32],
    k: u64,
) -> Result<(), StoreError> {
    let url = format!("{}/{}/query", collections(base, cfg), c.id);
    let body = json!({ "query_embeddings": [vector], "n_results": k, "include": ["distances"] });
    let answer = send_json(client.post(url).json(&body), "query").await?;
    if answer["ids"][0].is_array() {
        Ok(())
    } else {
        Err(StoreError::Answer("query: no `ids` in the answer".into()))
    }
}

/// A collection name as one path segment.
pub(crate) fn percent_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
