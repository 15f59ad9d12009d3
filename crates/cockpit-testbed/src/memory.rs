//! Recall: the reference agent answers questions from its memory of the
//! conversation, and can be told to lose or mix up that memory under load.
//!
//! - A user turn holding `remember:` plants a fact: the text after the
//!   marker, to the end of its line.
//! - A user turn ending in `?` is a question: the answer starts with
//!   `I recall: {fact}. `, the fact being the latest one planted in the
//!   conversation's context (the session's stored turns with a session id,
//!   else the request's earlier messages); without a fact, the answer is the
//!   usual tokens.
//!
//! The reasoning faults ([`TestbedConfig`](crate::TestbedConfig)) change
//! where the fact comes from, only under load, like real ones:
//! `shared_context_above` (a global "last fact" slot answers instead of the
//! conversation when more answers than that are in flight),
//! `retrieval_pool` (a question finding every memory-retrieval slot taken
//! is answered without memory), `context_window_tokens` (only the newest
//! turns whose words fit the window are read).

use crate::sessions::Turn;

/// What marks a planted fact in a user turn (case-insensitive).
pub const PLANT_MARKER: &str = "remember:";

/// The fact a text plants, if any: what follows [`PLANT_MARKER`] to the
/// end of its line, trimmed (and a final `.` dropped).
pub(crate) fn planted(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find(PLANT_MARKER)? + PLANT_MARKER.len();
    let rest = text.get(at..)?;
    let line = rest.lines().next().unwrap_or("").trim();
    let fact = line.strip_suffix('.').unwrap_or(line).trim();
    (!fact.is_empty()).then_some(fact)
}

/// Whether a user turn asks a question (ends with `?`).
pub(crate) fn is_question(prompt: &str) -> bool {
    prompt.trim_end().ends_with('?')
}

/// The newest turns whose words add up to at most `tokens` (all of them
/// when `None`).
pub(crate) fn window(turns: &[Turn], tokens: Option<u32>) -> &[Turn] {
    let Some(max) = tokens else {
        return turns;
    };
    let mut used = 0usize;
    let mut start = turns.len();
    for (i, t) in turns.iter().enumerate().rev() {
        used += t.content.split_whitespace().count();
        if used > max as usize {
            break;
        }
        start = i;
    }
    &turns[start..]
}

/// The latest fact planted by a user turn of `turns`.
pub(crate) fn latest_fact(turns: &[Turn]) -> Option<String> {
    turns
        .iter()
        .rev()
        .filter(|t| t.role == "user")
        .find_map(|t| planted(&t.content))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_questions_and_windows() {
        assert_eq!(
            planted("Please Remember: my order number is ABC-123.\nThanks"),
            Some("my order number is ABC-123")
        );
        assert_eq!(planted("nothing to keep"), None);
        assert_eq!(planted("remember:   "), None);
        assert!(is_question("What is my order number? "));
        assert!(!is_question("Tell me about the weather."));
        let turns = vec![
            Turn::new("user", "remember: fact one"),
            Turn::new("assistant", "ok noted"),
            Turn::new("user", "a b c d"),
        ];
        assert_eq!(latest_fact(&turns).as_deref(), Some("fact one"));
        assert_eq!(window(&turns, None).len(), 3);
        assert_eq!(window(&turns, Some(6)).len(), 2);
        assert_eq!(latest_fact(window(&turns, Some(6))), None);
        assert!(window(&turns, Some(1)).is_empty());
    }
}
