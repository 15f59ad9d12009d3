//! The stand-in vector store: deterministic hits for a query.

use std::hash::{DefaultHasher, Hash, Hasher};

/// Hits returned when a request asks for 0.
pub(crate) const DEFAULT_TOP_K: u32 = 3;
/// The most hits one search returns.
pub(crate) const MAX_TOP_K: u32 = 100;

/// One retrieved passage.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hit {
    pub id: String,
    pub score: f32,
    pub text: String,
}

/// The `top_k` best passages for `query` (0: [`DEFAULT_TOP_K`]), best first.
/// The same query always gives the same hits.
pub(crate) fn search(query: &str, top_k: u32) -> Vec<Hit> {
    let k = if top_k == 0 {
        DEFAULT_TOP_K
    } else {
        top_k.min(MAX_TOP_K)
    };
    let mut h = DefaultHasher::new();
    query.hash(&mut h);
    let base = h.finish();
    let shown: String = query.chars().take(64).collect();
    (0..k)
        .map(|i| {
            let doc = base.wrapping_add(u64::from(i).wrapping_mul(7919)) % 100_000;
            Hit {
                id: format!("doc-{doc:05}"),
                score: 1.0 - i as f32 / (k as f32 + 1.0),
                text: format!("passage {i} relevant to \"{shown}\""),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_ranked_and_bounded() {
        let a = search("kv cache", 5);
        assert_eq!(a, search("kv cache", 5));
        assert_eq!(a.len(), 5);
        assert!(a.windows(2).all(|w| w[0].score > w[1].score));
        assert_eq!(search("q", 0).len(), DEFAULT_TOP_K as usize);
        assert_eq!(search("q", 10_000).len(), MAX_TOP_K as usize);
    }
}
