//! Short-term memory: the turns of each conversation, keyed by session id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// `user` or `assistant`.
    pub role: String,
    /// The message text.
    pub content: String,
}

impl Turn {
    /// A turn with `role` and `content`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Turn {
        Turn {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Where the testbed keeps conversation turns: the seam for an external
/// store (e.g. Redis) next to the in-process [`InMemorySessions`].
pub trait SessionStore: Send + Sync {
    /// Appends `turn` to `session_id` and returns the number of turns the
    /// session holds now, this one included.
    fn append(&self, session_id: &str, turn: Turn) -> u32;
    /// The turns of `session_id`, oldest first (empty when unknown).
    fn turns(&self, session_id: &str) -> Vec<Turn>;
    /// The store a restarted agent process finds ([`Testbed::restart`](crate::Testbed::restart)):
    /// an empty one for memory held in the process, the same turns for an
    /// external store.
    fn restarted(self: Arc<Self>) -> Arc<dyn SessionStore>;
}

/// Turns held in process memory, lost when the testbed stops.
#[derive(Debug, Default)]
pub struct InMemorySessions {
    sessions: Mutex<HashMap<String, Vec<Turn>>>,
}

impl InMemorySessions {
    /// An empty store.
    pub fn new() -> InMemorySessions {
        InMemorySessions::default()
    }
}

impl SessionStore for InMemorySessions {
    fn append(&self, session_id: &str, turn: Turn) -> u32 {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let turns = sessions.entry(session_id.to_owned()).or_default();
        turns.push(turn);
        u32::try_from(turns.len()).unwrap_or(u32::MAX)
    }

    fn turns(&self, session_id: &str) -> Vec<Turn> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(session_id).cloned().unwrap_or_default()
    }

    /// Process memory does not survive its process: a new, empty store.
    fn restarted(self: Arc<Self>) -> Arc<dyn SessionStore> {
        Arc::new(InMemorySessions::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_counts_turns_per_session() {
        let store = InMemorySessions::new();
        assert_eq!(store.append("a", Turn::new("user", "hi")), 1);
        assert_eq!(store.append("a", Turn::new("assistant", "hello")), 2);
        assert_eq!(store.append("b", Turn::new("user", "yo")), 1);
        assert_eq!(
            store.turns("a"),
            vec![Turn::new("user", "hi"), Turn::new("assistant", "hello")]
        );
        assert!(store.turns("unknown").is_empty());
        let after = Arc::new(store).restarted();
        assert!(
            after.turns("a").is_empty(),
            "process memory survived a restart"
        );
    }
}
