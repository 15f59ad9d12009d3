//! The attempt corpus (`corpus/attempts.toml`, compiled in): each attempt
//! an id, an OWASP Top 10 for LLM Applications (2025) category and the
//! user turn sent.

use serde::{Deserialize, Serialize};

use crate::WatchtowerError;

const CORPUS: &str = include_str!("../corpus/attempts.toml");

/// The OWASP categories the corpus uses, with their names.
pub const CATEGORIES: [(&str, &str); 3] = [
    ("LLM01", "Prompt Injection"),
    ("LLM02", "Sensitive Information Disclosure"),
    ("LLM07", "System Prompt Leakage"),
];

/// One attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    pub id: String,
    pub category: String,
    pub text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    attempt: Vec<Attempt>,
}

/// The corpus, checked: ids unique, categories known, texts non-empty.
pub fn attempts() -> Result<Vec<Attempt>, WatchtowerError> {
    let f: File = toml::from_str(CORPUS).map_err(|e| WatchtowerError::Corpus(e.to_string()))?;
    let mut seen = std::collections::HashSet::new();
    for a in &f.attempt {
        if !seen.insert(a.id.as_str()) {
            return Err(WatchtowerError::Corpus(format!(
                "id {} is used twice",
                a.id
            )));
        }
        if !CATEGORIES.iter().any(|(c, _)| *c == a.category) {
            return Err(WatchtowerError::Corpus(format!(
                "{}: unknown category {}",
                a.id, a.category
            )));
        }
        if a.text.trim().is_empty() {
            return Err(WatchtowerError::Corpus(format!("{}: empty text", a.id)));
        }
    }
    Ok(f.attempt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_parses_and_keeps_its_rules() {
        let a = attempts().unwrap();
        assert!(a.len() >= 10, "{}", a.len());
        for (c, _) in CATEGORIES {
            assert!(a.iter().any(|x| x.category == c), "no attempt of {c}");
        }
        assert_eq!(a[0].id, "WT-001");
    }
}
