//! Running the levels: `concurrency` workers per level, each running whole
//! sessions one after another until the level has its sessions. Every turn
//! is counted into the level's one [`LevelResult`], behind a mutex taken
//! once per turn: a turn is a network round trip, and a
//! per-worker result would hold two HDR histograms (≈ 376 KiB) per session
//! in flight — 368 MiB at 1,000.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use cockpit_probe::chat::{ChatAnswer, ChatClient, ChatConn, ChatMessage};
use http::{HeaderName, HeaderValue};
use rand::Rng;
use tokio::time::Instant;

use crate::SimOptions;
use crate::report::{Collision, LevelResult, MAX_COLLISION_EXAMPLES};
use crate::script::{TurnKind, canaries_in, canary, prompt, session_rng, turn_kind};
use crate::shard::{Shard, Share};

/// What every worker of one level shares.
struct LevelPlan {
    concurrency: u32,
    /// This shard's sessions and workers.
    share: Share,
    /// Sessions of this shard that ran to their last turn.
    completed: AtomicU32,
    /// Canary → session index.
    canaries: HashMap<String, u32>,
    /// Trace id (32 hex digits) → session index.
    traces: HashMap<String, u32>,
    trace_ids: Vec<String>,
    next: AtomicU32,
    /// The level's counts, shared by its workers.
    result: Mutex<LevelResult>,
}

impl LevelPlan {
    fn new(opts: &SimOptions, concurrency: u32, shard: Shard) -> LevelPlan {
        let sessions = opts.sessions_at(concurrency);
        let mut canaries = HashMap::with_capacity(sessions as usize);
        let mut traces = HashMap::with_capacity(sessions as usize);
        let mut trace_ids = Vec::with_capacity(sessions as usize);
        for i in 0..sessions {
            let mut rng = session_rng(opts.seed, concurrency, i);
            canaries.insert(canary(&mut rng), i);
            let id = format!("{:032x}", rng.random::<u128>() | 1);
            traces.insert(id.clone(), i);
            trace_ids.push(id);
        }
        LevelPlan {
            concurrency,
            share: Share::of(shard, concurrency, sessions),
            completed: AtomicU32::new(0),
            canaries,
            traces,
            trace_ids,
            next: AtomicU32::new(0),
            result: Mutex::new(LevelResult::default()),
        }
    }

    fn session_id(&self, i: u32) -> String {
        format!("sim-c{}-s{i}", self.concurrency)
    }
}

/// Why a worker stopped before its level was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Cancelled,
    Deadline,
}

/// One level as run by one shard: its counts (the shard's sessions), the
/// sessions of the shard that ran to their end, and why it stopped early.
pub(crate) struct LevelRun {
    pub level: LevelResult,
    pub completed: u32,
    pub stop: Option<Stop>,
}

/// Run `shard`'s part of one level (all of it for [`Shard::WHOLE`]).
pub(crate) async fn run_level(
    client: &Arc<ChatClient>,
    opts: &Arc<SimOptions>,
    concurrency: u32,
    shard: Shard,
    deadline: Instant,
) -> LevelRun {
    let plan = Arc::new(LevelPlan::new(opts, concurrency, shard));
    let workers: Vec<_> = (0..plan.share.workers)
        .map(|_| {
            let (client, opts, plan) = (client.clone(), opts.clone(), plan.clone());
            tokio::spawn(async move { worker(&client, &opts, &plan, deadline).await })
        })
        .collect();
    let mut stop = None;
    for w in workers {
        if let Ok(s) = w.await {
            stop = stop.or(s);
        }
    }
    let mut level = std::mem::take(&mut *plan.result.lock().unwrap_or_else(|e| e.into_inner()));
    level.concurrency = concurrency;
    level.sessions = plan.share.sessions;
    level.finish();
    LevelRun {
        level,
        completed: plan.completed.load(Ordering::Relaxed),
        stop,
    }
}

async fn worker(
    client: &ChatClient,
    opts: &SimOptions,
    plan: &LevelPlan,
    deadline: Instant,
) -> Option<Stop> {
    loop {
        let j = plan.next.fetch_add(1, Ordering::Relaxed);
        if j >= plan.share.sessions {
            return None;
        }
        let i = plan.share.session(j);
        if let Err(stop) = session(client, opts, plan, i, deadline).await {
            return Some(stop);
        }
        plan.completed.fetch_add(1, Ordering::Relaxed);
    }
}

/// One conversation, turn after turn.
async fn session(
    client: &ChatClient,
    opts: &SimOptions,
    plan: &LevelPlan,
    i: u32,
    deadline: Instant,
) -> Result<(), Stop> {
    let mut rng = session_rng(opts.seed, plan.concurrency, i);
    let own = canary(&mut rng);
    let _trace: u128 = rng.random();
    let trace_id = &plan.trace_ids[i as usize];
    let session_id = plan.session_id(i);
    let mut conn = ChatConn::default();
    let mut history: Vec<ChatMessage> = Vec::new();
    for k in 1..=opts.turns {
        let kind = turn_kind(k, opts.turns);
        let text = prompt(kind, &own, &mut rng);
        let span: u64 = rng.random::<u64>() | 1;
        let traceparent = format!("00-{trace_id}-{span:016x}-01");
        let headers = turn_headers(opts.session_header.as_ref(), &traceparent, &session_id);
        let single;
        let messages = if opts.session_header.is_some() {
            single = [ChatMessage::user(text)];
            &single[..]
        } else {
            history.push(ChatMessage::user(text));
            &history[..]
        };
        let answer = tokio::select! {
            () = opts.cancel.cancelled() => return Err(Stop::Cancelled),
            () = tokio::time::sleep_until(deadline) => return Err(Stop::Deadline),
            a = client.send(&mut conn, messages, &headers) => a,
        };
        let turn = Turn {
            number: k,
            kind,
            own: &own,
            trace_id,
            session_id: &session_id,
        };
        {
            let mut acc = plan.result.lock().unwrap_or_else(|e| e.into_inner());
            record(&mut acc, plan, opts, &turn, &answer);
        }
        if opts.session_header.is_none() {
            history.push(ChatMessage::assistant(answer.text));
        }
    }
    Ok(())
}

fn turn_headers(
    session_header: Option<&HeaderName>,
    traceparent: &str,
    session_id: &str,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut h = Vec::with_capacity(2);
    if let Ok(v) = HeaderValue::from_str(traceparent) {
        h.push((HeaderName::from_static("traceparent"), v));
    }
    if let (Some(name), Ok(v)) = (session_header, HeaderValue::from_str(session_id)) {
        h.push((name.clone(), v));
    }
    h
}

/// The turn an answer belongs to.
struct Turn<'a> {
    number: u32,
    kind: TurnKind,
    own: &'a str,
    trace_id: &'a str,
    session_id: &'a str,
}

/// Count one answer: failure or timing, recall verdict, collisions, trace.
fn record(
    acc: &mut LevelResult,
    plan: &LevelPlan,
    opts: &SimOptions,
    t: &Turn<'_>,
    a: &ChatAnswer,
) {
    acc.turns += 1;
    let recall = t.kind.is_recall();
    acc.recall_turns += u64::from(recall);
    if !a.headers.is_empty() {
        trace(acc, plan, opts, t, a);
    }
    if let Some(f) = &a.failure {
        *acc.errors.entry(f.kind.to_string()).or_default() += 1;
        return;
    }
    if a.text_over_bound {
        *acc.errors
            .entry("answer_over_bound".to_string())
            .or_default() += 1;
        return;
    }
    if let Some(d) = a.ttft {
        acc.ttft.record(d);
    }
    if let Some(d) = a.e2e {
        acc.e2e.record(d);
    }
    let mut own_found = false;
    for c in canaries_in(&a.text) {
        if c == t.own {
            own_found = true;
        } else if let Some(other) = plan.canaries.get(c) {
            acc.collisions += 1;
            if acc.collision_examples.len() < MAX_COLLISION_EXAMPLES {
                acc.collision_examples.push(Collision {
                    session: t.session_id.to_string(),
                    other_session: plan.session_id(*other),
                    turn: t.number,
                });
            }
        }
    }
    if !recall {
        return;
    }
    if a.text.trim().is_empty() {
        acc.empty += 1;
    } else if own_found {
        acc.answered += 1;
        acc.correct += 1;
    } else {
        acc.answered += 1;
        acc.wrong += 1;
    }
}

/// Judge the echoed trace context (and session id) of one response: from
/// its headers, or from the answer's JSON fields when configured.
fn trace(acc: &mut LevelResult, plan: &LevelPlan, opts: &SimOptions, t: &Turn<'_>, a: &ChatAnswer) {
    let header = |name: &HeaderName| a.headers.get(name).and_then(|v| v.to_str().ok());
    let echoed = match &opts.trace_field {
        Some(f) => a.field(f),
        None => header(&opts.trace_header),
    };
    let Some(tp) = echoed else {
        acc.trace.missing += 1;
        return;
    };
    // A traceparent (version-traceid-parent-flags) or a bare trace id.
    let id = if tp.contains('-') {
        tp.split('-').nth(1).unwrap_or("")
    } else {
        tp
    };
    if id != t.trace_id {
        match plan.traces.get(id) {
            Some(_) => acc.trace.cross_session += 1,
            None => acc.trace.mismatched += 1,
        }
        return;
    }
    let session_echo = match &opts.session_field {
        Some(f) => a.field(f),
        None => opts.session_header.as_ref().and_then(header),
    };
    match session_echo {
        Some(s) if s != t.session_id => acc.trace.session_mismatched += 1,
        _ => acc.trace.matched += 1,
    }
}
