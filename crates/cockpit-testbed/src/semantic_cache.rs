//! The semantic cache: answers a prompt seen before (after normalisation,
//! and with the configured paraphrases read as their group's first phrase)
//! without the model, after `hit_ttft_ms`, and counts hits, misses and the
//! tokens it served in Prometheus counters.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::SemanticCache;

/// Prometheus counter: prompts answered from the semantic cache.
pub const HITS_METRIC: &str = "testbed_semantic_cache_hits_total";
/// Prometheus counter: prompts the semantic cache did not hold.
pub const MISSES_METRIC: &str = "testbed_semantic_cache_misses_total";
/// Prometheus counter: output tokens served from the semantic cache.
pub const TOKENS_METRIC: &str = "testbed_semantic_cache_tokens_served_total";
/// Response header: `hit` or `miss` (absent without a semantic cache).
pub const CACHE_HEADER: &str = "x-cache";

/// The cache's state: its entries (most recently used last) and counters.
#[derive(Debug)]
pub(crate) struct CacheState {
    config: SemanticCache,
    entries: Mutex<VecDeque<(String, u32)>>,
    hits: AtomicU64,
    misses: AtomicU64,
    tokens: AtomicU64,
}

impl CacheState {
    pub fn new(config: SemanticCache) -> CacheState {
        CacheState {
            config,
            entries: Mutex::new(VecDeque::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> &SemanticCache {
        &self.config
    }

    /// The tokens of the cached answer to `prompt`, counted as a hit; or
    /// `None`, counted as a miss. A miss stores `tokens` for next time
    /// (unless the capacity is 0: a cache that never holds anything).
    pub fn lookup(&self, prompt: &str, tokens: u32) -> Option<u32> {
        let key = canonical(prompt, &self.config.paraphrases);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = entries.iter().position(|(k, _)| *k == key) {
            let entry = entries.remove(pos)?;
            let cached = entry.1;
            entries.push_back(entry);
            self.hits.fetch_add(1, Ordering::Relaxed);
            self.tokens.fetch_add(u64::from(cached), Ordering::Relaxed);
            return Some(cached);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        if self.config.capacity > 0 {
            if entries.len() >= self.config.capacity {
                entries.pop_front();
            }
            entries.push_back((key, tokens));
        }
        None
    }

    /// The three counters, text exposition format.
    pub fn render(&self, out: &mut String) {
        let counters = [
            (
                HITS_METRIC,
                "Prompts answered from the semantic cache.",
                &self.hits,
            ),
            (
                MISSES_METRIC,
                "Prompts the semantic cache did not hold.",
                &self.misses,
            ),
            (
                TOKENS_METRIC,
                "Output tokens served from the semantic cache.",
                &self.tokens,
            ),
        ];
        for (name, help, n) in counters {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                n.load(Ordering::Relaxed)
            ));
        }
    }
}

/// Lower case, punctuation dropped, whitespace collapsed; then every
/// phrase of a paraphrase group (normalised the same way) replaced by its
/// group's first phrase.
///
/// ```ignore
/// canonical("What's the capital of France?", &[vec!["what is".into(), "whats".into()]])
///     == "what is the capital of france"
/// ```
pub(crate) fn canonical(prompt: &str, paraphrases: &[Vec<String>]) -> String {
    let mut key = normalise(prompt);
    for group in paraphrases {
        let Some(first) = group.first().map(|p| normalise(p)) else {
            continue;
        };
        for other in group.iter().skip(1).map(|p| normalise(p)) {
            if !other.is_empty() {
                key = replace_words(&key, &other, &first);
            }
        }
    }
    key
}

fn normalise(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|c| !(c.is_ascii_punctuation() && *c != '-'))
        .flat_map(char::to_lowercase)
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `phrase` replaced by `by` where it stands as whole words in `text`.
fn replace_words(text: &str, phrase: &str, by: &str) -> String {
    let padded = format!(" {text} ");
    let out = padded.replace(&format!(" {phrase} "), &format!(" {by} "));
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize) -> CacheState {
        CacheState::new(SemanticCache {
            capacity,
            paraphrases: vec![vec![
                "what is the capital of france".into(),
                "tell me france's capital city".into(),
            ]],
            ..SemanticCache::default()
        })
    }

    #[test]
    fn normalised_prompts_and_paraphrases_hit() {
        let c = cache(8);
        assert_eq!(c.lookup("What is the capital of France? (ref 1)", 7), None);
        assert_eq!(
            c.lookup("what is   the capital of france (ref 1)", 9),
            Some(7)
        );
        assert_eq!(
            c.lookup("Tell me France's capital city (ref 1)", 9),
            Some(7)
        );
        assert_eq!(c.lookup("What is the capital of France? (ref 2)", 7), None);
        let mut text = String::new();
        c.render(&mut text);
        assert!(
            text.contains("testbed_semantic_cache_hits_total 2\n"),
            "{text}"
        );
        assert!(
            text.contains("testbed_semantic_cache_misses_total 2\n"),
            "{text}"
        );
        assert!(
            text.contains("testbed_semantic_cache_tokens_served_total 14\n"),
            "{text}"
        );
    }

    #[test]
    fn a_cache_of_capacity_zero_never_hits_and_the_oldest_entry_goes_first() {
        let c = cache(0);
        assert_eq!(c.lookup("a", 1), None);
        assert_eq!(c.lookup("a", 1), None);
        let c = cache(1);
        assert_eq!(c.lookup("a", 1), None);
        assert_eq!(c.lookup("b", 1), None);
        assert_eq!(c.lookup("a", 1), None);
        assert_eq!(c.lookup("a", 1), Some(1));
    }

    #[test]
    fn phrases_match_whole_words_only() {
        let p = vec![vec!["is".to_string(), "was".to_string()]];
        assert_eq!(canonical("It was wasabi.", &p), "it is wasabi");
    }
}
