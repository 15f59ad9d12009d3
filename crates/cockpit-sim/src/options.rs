//! What to simulate, checked before any request is sent.

use std::time::Duration;

use cockpit_probe::ProbeOptions;
use http::HeaderName;
use tokio_util::sync::CancellationToken;

use crate::ramp::MAX_CONCURRENCY;
use crate::script::recalls_per_session;
use crate::{Ramp, SimError, SimSlo};

/// The most turns of one conversation.
pub const MAX_TURNS: u32 = 64;
/// The longest run.
pub const MAX_DEADLINE: Duration = Duration::from_secs(24 * 3600);

/// A simulation's settings. `Default`: 16 sessions of 6 turns, at least 30
/// recall turns per level, full history, a 10-minute bound.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Concurrent sessions when there is no ramp.
    pub sessions: u32,
    /// Turns per session (at least 2: the plant and one recall).
    pub turns: u32,
    /// Concurrency levels; `None`: one level of `sessions`.
    pub ramp: Option<Ramp>,
    /// Each level runs sessions until it has at least this many recall
    /// turns (and at least its concurrency in sessions).
    pub min_recall_turns: u32,
    /// Carry sessions by this request header holding the session id (only
    /// the new turn is sent); `None`: every request carries the whole
    /// conversation.
    pub session_header: Option<HeaderName>,
    /// The response header the agent echoes the trace context in.
    pub trace_header: HeaderName,
    /// Read the echoed trace context from this top-level field of the
    /// answer's JSON chunks instead of `trace_header` (its value a
    /// `traceparent` or a bare 32-hex trace id).
    pub trace_field: Option<String>,
    /// Read the echoed session id from this top-level JSON field instead of
    /// the `session_header` response header.
    pub session_field: Option<String>,
    /// Seed of the canaries, span ids and filler.
    pub seed: u64,
    /// The client: model, headers, TLS, per-turn `timeout` and `idle_timeout`.
    pub request: ProbeOptions,
    /// Bound on the whole run.
    pub deadline: Duration,
    pub slos: Vec<SimSlo>,
    /// Stops the run; what was measured is returned marked interrupted.
    pub cancel: CancellationToken,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            sessions: 16,
            turns: 6,
            ramp: None,
            min_recall_turns: 30,
            session_header: None,
            trace_header: HeaderName::from_static("traceparent"),
            trace_field: None,
            session_field: None,
            seed: 1,
            request: ProbeOptions::default(),
            deadline: Duration::from_secs(600),
            slos: Vec::new(),
            cancel: CancellationToken::new(),
        }
    }
}

impl SimOptions {
    /// Refuse what cannot run, naming the option.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |name, reason: String| Err(SimError::InvalidOption { name, reason });
        if self.sessions == 0 || self.sessions > MAX_CONCURRENCY {
            return bad("sessions", format!("must be within 1..={MAX_CONCURRENCY}"));
        }
        if !(2..=MAX_TURNS).contains(&self.turns) {
            return bad("turns", format!("must be within 2..={MAX_TURNS}"));
        }
        if self.min_recall_turns > 1_000_000 {
            return bad("min_recall_turns", "must be at most 1000000".into());
        }
        if self.deadline.is_zero() || self.deadline > MAX_DEADLINE {
            return bad("deadline", format!("must be within 0..{MAX_DEADLINE:?}"));
        }
        for (name, field) in [
            ("trace_field", &self.trace_field),
            ("session_field", &self.session_field),
        ] {
            if field
                .as_ref()
                .is_some_and(|f| f.is_empty() || f.len() > 128)
            {
                return bad(name, "must be a JSON field name of 1 to 128 bytes".into());
            }
        }
        Ok(())
    }

    /// The levels to run.
    pub fn levels(&self) -> Ramp {
        self.ramp
            .clone()
            .unwrap_or_else(|| Ramp::single(self.sessions))
    }

    /// Sessions a level of `concurrency` runs.
    pub fn sessions_at(&self, concurrency: u32) -> u32 {
        sessions_at(self.turns, self.min_recall_turns, concurrency)
    }
}

/// Sessions a level of `concurrency` runs: at least `concurrency`, and
/// enough for `min_recall_turns` recall turns of `turns`-turn sessions.
pub(crate) fn sessions_at(turns: u32, min_recall_turns: u32, concurrency: u32) -> u32 {
    let per = recalls_per_session(turns).max(1);
    concurrency.max(min_recall_turns.div_ceil(per))
}
