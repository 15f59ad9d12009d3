//! The fleet hub's five parts, measured on their own, slower cadence
//! (`[cockpit] hub_interval`) beside the agent probes: shadow mode
//! (cockpit-shadow), Hive Mind cache analytics (cockpit-hive), the MCP hub
//! and the RAG dropzone (cockpit-deps), and — only when asked for
//! explicitly, since it sends red-team prompts — the adversarial
//! watchtower (cockpit-watchtower).
//!
//! Each declared item (one shadowed agent, one cache, one MCP server, one
//! vector store, one watched agent) is a unit measured by its crate's own
//! `measure_all`, in a task of its own under the hub's concurrency bound
//! (`hub_concurrency`, apart from the agent probes' bound: the hub never
//! delays them) and its time bound (`hub_timeout`). A unit still being
//! measured is not started again. A unit that fails, times out or panics
//! shows its error in its panel; the loop goes on.

mod parts;
pub mod view;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cockpit_core::fleet::AgentConfig;
use cockpit_deps::{DepsConfig, McpServerConfig, VectorStoreConfig};
use cockpit_hive::{CacheConfig, CacheSnapshot, HiveConfig};
use cockpit_probe::ProbeSettings;
use cockpit_shadow::{ShadowConfig, ShadowOutcome, ShadowSettings};
use cockpit_watchtower::{WatchSnapshot, WatchtowerConfig, WatchtowerSettings};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::{CockpitSettings, MonitorError};
use view::{CachePanel, HubView, McpPanel, Measured, RagPanel, ShadowPanel, WatchPanel};

/// What the hub measures: the declarations of `cockpit.toml` beside the
/// agents ([`Fleet::hub`](crate::Fleet::hub)).
#[derive(Debug, Clone, Default)]
pub struct FleetHub {
    /// `[[mcp]]`: the MCP servers the agents call.
    pub mcp: Vec<McpServerConfig>,
    /// `[[vector_store]]`: the RAG dropzone's collections.
    pub vector_stores: Vec<VectorStoreConfig>,
    /// `[[cache]]`: the agents' semantic / prefix caches.
    pub caches: Vec<CacheConfig>,
    /// `[shadow]`: how each `shadow_endpoint` comparison samples and judges.
    pub shadow: ShadowSettings,
    /// `[watchtower]` settings. The watchtower runs in the monitor only
    /// when `[cockpit] watchtower = true` (or `--watchtower`): it sends
    /// prompt-injection attempts to every agent with a `canary`.
    pub watchtower: WatchtowerSettings,
}

/// One item the hub measures.
#[derive(Debug, Clone)]
enum Unit {
    Shadow(ShadowConfig),
    Cache(HiveConfig),
    Mcp(McpServerConfig),
    Store(VectorStoreConfig),
    Watch(WatchtowerConfig),
}

/// What one measurement of a unit gave.
#[derive(Debug)]
enum Reading {
    Shadow(ShadowOutcome),
    Cache(Box<CacheSnapshot>),
    Mcp(Box<cockpit_deps::McpSnapshot>),
    Store(Box<cockpit_deps::StoreSnapshot>),
    Watch(WatchSnapshot),
}

#[derive(Debug)]
struct Slot {
    unit: Unit,
    /// Index of the unit's panel within its part's list.
    panel: usize,
    in_flight: bool,
}

#[derive(Debug, Default)]
struct State {
    slots: Vec<Slot>,
    view: HubView,
    /// The latest snapshot of each cache (the fleet's totals sum them).
    caches: Vec<Option<CacheSnapshot>>,
}

/// The hub of one monitor.
#[derive(Debug)]
pub(crate) struct Hub {
    state: Mutex<State>,
    limit: Arc<Semaphore>,
    interval: Duration,
    timeout: Duration,
    shadow: ShadowSettings,
}

/// The units of the declarations, and their empty panels.
fn units(fleet: &crate::Fleet, watchtower: bool) -> Vec<Unit> {
    let (agents, probe, hub) = (&fleet.agents, &fleet.probe, &fleet.hub);
    let one = |a: &AgentConfig| vec![a.clone()];
    let shadow = (agents.iter())
        .filter(|a| a.shadow_endpoint.is_some())
        .map(|a| Unit::Shadow(ShadowConfig::new(one(a), probe.clone(), hub.shadow.clone())));
    let caches = (hub.caches.iter()).map(|c| {
        Unit::Cache(HiveConfig::new(
            vec![c.clone()],
            agents.clone(),
            probe.clone(),
        ))
    });
    let mcp = hub.mcp.iter().cloned().map(Unit::Mcp);
    let stores = hub.vector_stores.iter().cloned().map(Unit::Store);
    let watched = (agents.iter())
        .filter(|a| watchtower && a.canary.is_some())
        .map(|a| {
            Unit::Watch(WatchtowerConfig::new(
                one(a),
                probe.clone(),
                hub.watchtower.clone(),
            ))
        });
    shadow
        .chain(caches)
        .chain(mcp)
        .chain(stores)
        .chain(watched)
        .collect()
}

/// Each declaration's own checks, the error naming its part.
fn validate(fleet: &crate::Fleet, watchtower: bool) -> Result<(), MonitorError> {
    let bad = |part: &'static str, e: &dyn std::fmt::Display| MonitorError::Hub {
        part,
        message: e.to_string(),
    };
    let hub = &fleet.hub;
    for m in &hub.mcp {
        m.validate().map_err(|e| bad("mcp", &e))?;
    }
    for v in &hub.vector_stores {
        v.validate().map_err(|e| bad("vector_store", &e))?;
    }
    if !hub.caches.is_empty() {
        HiveConfig::new(
            hub.caches.clone(),
            fleet.agents.clone(),
            fleet.probe.clone(),
        )
        .validate()
        .map_err(|e| bad("cache", &e))?;
    }
    if fleet.agents.iter().any(|a| a.shadow_endpoint.is_some()) {
        hub.shadow.validate().map_err(|e| bad("shadow", &e))?;
    }
    if watchtower {
        WatchtowerConfig::new(
            fleet.agents.clone(),
            ProbeSettings::default(),
            hub.watchtower.clone(),
        )
        .validate()
        .map_err(|e| bad("watchtower", &e))?;
    }
    Ok(())
}

/// Add the pending panel of `unit`; its index in its part's list.
fn add_panel(v: &mut HubView, unit: &Unit) -> usize {
    match unit {
        Unit::Shadow(c) => {
            let a = &c.agents[0];
            let p = ShadowPanel {
                agent: a.name.clone(),
                v1: cockpit_core::redact_url(&a.endpoint),
                v2: cockpit_core::redact_url(a.shadow_endpoint.as_deref().unwrap_or_default()),
                ..ShadowPanel::default()
            };
            push(&mut v.shadow, p)
        }
        Unit::Cache(c) => {
            let p = CachePanel {
                agent: c.caches[0].agent.clone(),
                kind: c.caches[0].kind.as_str().to_string(),
                ..CachePanel::default()
            };
            push(&mut v.caches, p)
        }
        Unit::Mcp(m) => {
            let p = McpPanel {
                name: m.name.clone(),
                server: m.shown(),
                transport: m.transport().as_str().to_string(),
                ..McpPanel::default()
            };
            push(&mut v.mcp, p)
        }
        Unit::Store(s) => {
            let p = RagPanel {
                name: s.name.clone(),
                backend: s.backend.as_str().to_string(),
                collection: s.collection.clone(),
                store: cockpit_core::redact_url(&s.url),
                status: "pending".into(),
                source_count: s.source_count,
                ..RagPanel::default()
            };
            push(&mut v.rag, p)
        }
        Unit::Watch(c) => {
            let canary = c.agents[0].canary.as_deref();
            let p = WatchPanel {
                agent: c.agents[0].name.clone(),
                canary: canary
                    .map(cockpit_watchtower::canary_tag)
                    .unwrap_or_default(),
                ..WatchPanel::default()
            };
            push(&mut v.watchtower, p)
        }
    }
}

/// Append `p`; its index.
fn push<T>(list: &mut Vec<T>, p: T) -> usize {
    list.push(p);
    list.len() - 1
}

/// An RFC 3339 timestamp with milliseconds.
fn stamp() -> String {
    let t = jiff::Timestamp::now();
    jiff::Timestamp::from_millisecond(t.as_millisecond())
        .unwrap_or(t)
        .to_string()
}

impl Hub {
    /// The hub of `fleet`; `None` when it declares no part.
    pub fn new(fleet: &crate::Fleet, s: &CockpitSettings) -> Result<Option<Hub>, MonitorError> {
        validate(fleet, s.watchtower)?;
        let units = units(fleet, s.watchtower);
        if units.is_empty() {
            return Ok(None);
        }
        let mut state = State {
            view: HubView {
                interval: s.hub_interval(),
                ..HubView::default()
            },
            ..State::default()
        };
        for unit in units {
            let panel = add_panel(&mut state.view, &unit);
            if matches!(unit, Unit::Cache(_)) {
                state.caches.push(None);
            }
            state.slots.push(Slot {
                unit,
                panel,
                in_flight: false,
            });
        }
        Ok(Some(Hub {
            state: Mutex::new(state),
            limit: Arc::new(Semaphore::new(s.hub_concurrency)),
            interval: s.hub_interval(),
            timeout: s.hub_timeout(),
            shadow: fleet.hub.shadow.clone(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The panels now.
    pub fn view(&self) -> HubView {
        self.lock().view.clone()
    }

    /// Measure every part on the hub's interval until `cancel`, the first
    /// round at once.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        loop {
            self.launch(&cancel);
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                () = cancel.cancelled() => return,
            }
        }
    }

    /// Start a measurement of every unit not being measured.
    pub fn launch(self: &Arc<Self>, cancel: &CancellationToken) -> Vec<JoinHandle<()>> {
        let mut st = self.lock();
        let mut handles = Vec::new();
        for (i, slot) in st.slots.iter_mut().enumerate() {
            if slot.in_flight {
                continue;
            }
            slot.in_flight = true;
            let (hub, cancel, unit) = (self.clone(), cancel.clone(), slot.unit.clone());
            let span = tracing::info_span!("fleet_hub", unit = i);
            handles.push(tokio::spawn(
                async move { hub.measure(i, unit, &cancel).await }.instrument(span),
            ));
        }
        handles
    }

    /// One measurement of unit `i`: under the concurrency bound, in a task
    /// of its own (a panic is an error, not the loop's end), within the
    /// timeout (then cancelled and dropped: a stdio MCP server is killed).
    async fn measure(&self, i: usize, unit: Unit, cancel: &CancellationToken) {
        let permit = tokio::select! {
            () = cancel.cancelled() => None,
            p = self.limit.clone().acquire_owned() => p.ok(),
        };
        let Some(_permit) = permit else {
            self.lock().slots[i].in_flight = false;
            return;
        };
        let started = Instant::now();
        let stop = cancel.child_token();
        let mut task = tokio::spawn(read(unit, stop.clone()));
        let result = tokio::select! {
            r = tokio::time::timeout(self.timeout, &mut task) => match r {
                Ok(Ok(reading)) => reading,
                Ok(Err(e)) if e.is_panic() => Err("the measurement panicked".to_string()),
                Ok(Err(_)) => Err("the measurement was cancelled".to_string()),
                Err(_) => Err(format!(
                    "did not finish within {} (hub_timeout)",
                    humantime::format_duration(self.timeout)
                )),
            },
            () = cancel.cancelled() => Err("the monitor stopped".to_string()),
        };
        stop.cancel();
        task.abort();
        if cancel.is_cancelled() {
            self.lock().slots[i].in_flight = false;
            return;
        }
        self.apply(i, result, started.elapsed());
    }

    /// Put a measurement into its panel.
    fn apply(&self, i: usize, result: Result<Reading, String>, took: Duration) {
        let at = stamp();
        let mut guard = self.lock();
        let st = &mut *guard;
        let slot = &mut st.slots[i];
        slot.in_flight = false;
        let k = slot.panel;
        let v = &mut st.view;
        let measured: &mut Measured = match &slot.unit {
            Unit::Shadow(_) => &mut v.shadow[k].measured,
            Unit::Cache(_) => &mut v.caches[k].measured,
            Unit::Mcp(_) => &mut v.mcp[k].measured,
            Unit::Store(_) => &mut v.rag[k].measured,
            Unit::Watch(_) => &mut v.watchtower[k].measured,
        };
        measured.measured_at = Some(at.clone());
        measured.took_ms = Some(took.as_secs_f64() * 1000.0);
        let reading = match result {
            Ok(r) => {
                measured.measurements += 1;
                r
            }
            Err(e) => {
                measured.failed_measurements += 1;
                measured.error = Some(e);
                if let Unit::Mcp(_) = slot.unit {
                    v.mcp[k].up = Some(false);
                }
                return;
            }
        };
        match reading {
            Reading::Shadow(o) => parts::shadow(&mut v.shadow[k], &o, &self.shadow),
            Reading::Cache(s) => {
                parts::cache(&mut v.caches[k], &s);
                st.caches[k] = Some(*s);
                let all: Vec<&CacheSnapshot> = st.caches.iter().flatten().collect();
                v.cache_fleet = parts::cache_fleet(&all);
            }
            Reading::Mcp(s) => parts::mcp(&mut v.mcp[k], &s),
            Reading::Store(s) => parts::rag(&mut v.rag[k], &s, &at),
            Reading::Watch(s) => parts::watch(&mut v.watchtower[k], &s),
        }
    }
}

/// One measurement by the part's own crate; an error when it could not
/// run (settings it refuses).
async fn read(unit: Unit, cancel: CancellationToken) -> Result<Reading, String> {
    let none = || "nothing was measured".to_string();
    Ok(match unit {
        Unit::Shadow(c) => {
            let mut all = cockpit_shadow::measure_all(&c, &cancel).await;
            Reading::Shadow(all.pop().ok_or_else(none)?)
        }
        Unit::Cache(c) => {
            let mut all =
                (cockpit_hive::measure_all(&c, &cancel).await).map_err(|e| e.to_string())?;
            Reading::Cache(Box::new(all.pop().ok_or_else(none)?))
        }
        Unit::Mcp(m) => {
            let d = DepsConfig::new(vec![m], vec![], vec![]);
            let mut s = cockpit_deps::measure_all(&d, &cancel).await;
            Reading::Mcp(Box::new(s.mcp.pop().ok_or_else(none)?))
        }
        Unit::Store(v) => {
            let d = DepsConfig::new(vec![], vec![v], vec![]);
            let mut s = cockpit_deps::measure_all(&d, &cancel).await;
            Reading::Store(Box::new(s.stores.pop().ok_or_else(none)?))
        }
        Unit::Watch(c) => {
            let mut all =
                (cockpit_watchtower::measure_all(&c, &cancel).await).map_err(|e| e.to_string())?;
            Reading::Watch(all.pop().ok_or_else(none)?)
        }
    })
}
