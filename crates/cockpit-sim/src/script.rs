//! The conversations: a canary fact planted at turn 1, recall questions
//! (direct and indirect) and filler turns that grow the context, all drawn
//! from a seeded RNG so a run can be replayed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Every canary starts with this; the rest is `XXXX-XXXX`.
pub const CANARY_PREFIX: &str = "CNRY-";
/// Length of a canary: `CNRY-XXXX-XXXX`.
pub const CANARY_LEN: usize = 14;
/// Letters and digits a canary is made of (no 0/O, 1/I look-alikes).
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Words of the filler turns.
const FILLER: [&str; 16] = [
    "latency",
    "shipment",
    "warehouse",
    "invoice",
    "budget",
    "region",
    "quarterly",
    "forecast",
    "supplier",
    "contract",
    "delivery",
    "pallet",
    "customs",
    "tariff",
    "schedule",
    "inventory",
];
/// Words per filler turn.
pub const FILLER_WORDS: usize = 40;

/// What a turn asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnKind {
    /// Turn 1: the fact to remember.
    Plant,
    /// A question whose answer must hold the canary, asked directly.
    RecallDirect,
    /// The same, asked indirectly.
    RecallIndirect,
    /// Notes that grow the context; no answer is judged.
    Filler,
}

impl TurnKind {
    pub fn is_recall(self) -> bool {
        matches!(self, TurnKind::RecallDirect | TurnKind::RecallIndirect)
    }
}

/// The kind of turn `k` (1-based) of `turns`: turn 1 plants, odd turns and
/// the last one recall (direct and indirect in turn), the others are filler.
pub fn turn_kind(k: u32, turns: u32) -> TurnKind {
    if k == 1 {
        TurnKind::Plant
    } else if k % 2 == 1 || k == turns {
        if (k / 2) % 2 == 1 {
            TurnKind::RecallDirect
        } else {
            TurnKind::RecallIndirect
        }
    } else {
        TurnKind::Filler
    }
}

/// Recall turns in a conversation of `turns` turns.
pub fn recalls_per_session(turns: u32) -> u32 {
    (1..=turns)
        .filter(|k| turn_kind(*k, turns).is_recall())
        .count() as u32
}

/// A session's RNG: the run's seed, the level and the session index mixed
/// (SplitMix64), so a session's canary and filler do not depend on timing.
pub fn session_rng(seed: u64, level: u32, session: u32) -> StdRng {
    let mixed = seed ^ (u64::from(level) << 32) ^ u64::from(session);
    StdRng::seed_from_u64(cockpit_core::rng::SplitMix64::new(mixed).next_u64())
}

/// A canary `CNRY-XXXX-XXXX`.
pub fn canary(rng: &mut StdRng) -> String {
    let mut s = String::with_capacity(CANARY_LEN);
    s.push_str(CANARY_PREFIX);
    for i in 0..8 {
        if i == 4 {
            s.push('-');
        }
        s.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    s
}

/// The user's text of a turn.
pub fn prompt(kind: TurnKind, canary: &str, rng: &mut StdRng) -> String {
    match kind {
        TurnKind::Plant => {
            format!("Just acknowledge this. Remember: my order number is {canary}.")
        }
        TurnKind::RecallDirect => "What is my order number?".to_string(),
        TurnKind::RecallIndirect => {
            "I am filling in the claim form for the order I mentioned at the start: which reference should I write in it?".to_string()
        }
        TurnKind::Filler => {
            let mut s = String::from("Notes for later, no answer needed:");
            for _ in 0..FILLER_WORDS {
                s.push(' ');
                s.push_str(FILLER[rng.random_range(0..FILLER.len())]);
            }
            s.push('.');
            s
        }
    }
}

/// Every canary-shaped word of `text` (exact shape, so no model judging).
pub fn canaries_in(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices(CANARY_PREFIX).filter_map(|(at, _)| {
        let c = text.get(at..at + CANARY_LEN)?;
        let shaped = c[CANARY_PREFIX.len()..].bytes().enumerate().all(|(i, b)| {
            if i == 4 {
                b == b'-'
            } else {
                ALPHABET.contains(&b)
            }
        });
        shaped.then_some(c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_plant_then_recall_and_fill() {
        let kinds: Vec<_> = (1..=6).map(|k| turn_kind(k, 6)).collect();
        assert_eq!(kinds[0], TurnKind::Plant);
        assert_eq!(kinds[1], TurnKind::Filler);
        assert!(kinds[2].is_recall() && kinds[4].is_recall() && kinds[5].is_recall());
        assert_ne!(kinds[2], kinds[4]);
        assert_eq!(recalls_per_session(6), 3);
        assert_eq!(recalls_per_session(2), 1);
    }

    #[test]
    fn canaries_are_reproducible_and_found_exactly() {
        let a = canary(&mut session_rng(7, 1, 3));
        assert_eq!(a, canary(&mut session_rng(7, 1, 3)));
        assert_ne!(a, canary(&mut session_rng(7, 1, 4)));
        assert_eq!(a.len(), CANARY_LEN);
        let text = format!("I recall: my order number is {a}. CNRY-ab");
        assert_eq!(canaries_in(&text).collect::<Vec<_>>(), [a.as_str()]);
        let p = prompt(TurnKind::Filler, &a, &mut session_rng(1, 1, 1));
        assert!(!p.ends_with('?') && !p.contains(CANARY_PREFIX));
        assert!(prompt(TurnKind::RecallIndirect, &a, &mut session_rng(1, 1, 1)).ends_with('?'));
    }
}
