//! Mission Control's engine: watches a fleet of AI agents continuously.
//!
//! A [`Monitor`] probes every target of the fleet (`[[agents]]`, and
//! `[[retrieval]]` backends) on an interval with `cockpit-probe`'s clients,
//! keeps a rolling window per target as compact histograms per interval
//! (sparse, two significant digits, merged exactly over the window; each
//! probe is lean: its few samples are a list until folded in), and after
//! every interval publishes a
//! [`FleetSnapshot`]: status, TTFT / ITL / e2e percentiles with their
//! sample counts, tokens per second, errors by kind, the newest gate score
//! from the evidence lake, and the Latency Regression alerts.
//!
//! The alert rules (see `docs/cockpit.md`): TTFT p95 over the window above
//! the threshold (800 ms) for K consecutive intervals (3) fires; K good
//! intervals in a row resolve it (hysteresis). A relative rule does the
//! same for a rise of X % (50 %) against the agent's baseline: the newest
//! passing certification in the evidence lake (re-read every interval),
//! else the agent's TTFT p95 over the monitor's first hour.
//! Every state change is written to the evidence lake as a "Slow
//! Reasoning" record (check `FLT-SLOW`) and posted once to an optional
//! Slack-compatible webhook.
//!
//! The fleet hub ([`hub`]): the parts declared beside the agents —
//! `shadow_endpoint` comparisons, `[[cache]]`, `[[mcp]]`,
//! `[[vector_store]]`, and the watchtower when `[cockpit] watchtower` asks
//! for it — are measured by their own crates on a slower cadence
//! (`hub_interval`), each in its own task under `hub_concurrency` and
//! `hub_timeout`, and shown in [`FleetSnapshot::hub`].
//!
//! ```
//! use cockpit_fleet::{AlertRules, AlertSettings, RuleInput};
//! // The pure half: window figures in, state changes out.
//! let mut rules = AlertRules::new(&AlertSettings { consecutive: 2, ..Default::default() });
//! let slow = RuleInput { ttft_p95_ms: Some(900.0), count: 20, baseline_ms: None };
//! assert!(rules.judge(&slow).is_empty());
//! let changes = rules.judge(&slow);
//! assert_eq!(changes.len(), 1, "fires on the second breached interval");
//! ```
//!
//! The engine, against a fleet (the dashboards read the same channel):
//!
//! ```no_run
//! use cockpit_fleet::{CockpitSettings, Fleet, Monitor, MonitorOptions};
//! # async fn demo(agents: Vec<cockpit_core::fleet::AgentConfig>) -> Result<(), cockpit_fleet::MonitorError> {
//! let fleet = Fleet { agents, ..Fleet::default() };
//! let monitor = Monitor::new(fleet, CockpitSettings::default(), MonitorOptions::default())?;
//! let mut snapshots = monitor.subscribe();
//! let cancel = tokio_util::sync::CancellationToken::new();
//! tokio::spawn(monitor.clone().run(cancel.clone()));
//! while snapshots.changed().await.is_ok() {
//!     let s = snapshots.borrow_and_update().clone();
//!     for a in &s.agents {
//!         println!("{} {} TTFT p95 {:?} ms (n={})", a.name, a.status.label(), a.ttft.p95_ms, a.ttft.count);
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # What it never does
//!
//! It never prints and has no UI (the CLI and the dashboards read its
//! snapshots). A target that cannot be reached never stops the loop or
//! delays the others: each probe runs in its own task under a per-request
//! timeout and a global concurrency bound, and the target is shown down
//! with its error kind. It writes only new run directories of the evidence
//! lake. It never shows a webhook URL or a header value: they are secrets.
//! It never sends the watchtower's red-team prompts unless the settings
//! ask for it (`watchtower = true`), and a hub part never waits for a
//! probe's turn nor delays one.

mod alert;
pub mod checks;
mod compact;
mod config;
mod error;
mod evidence;
pub mod hub;
mod infra;
mod kube;
mod monitor;
mod snapshot;
mod stm;
mod target;
mod webhook;
mod window;

pub use alert::{AlertRules, RuleChange, RuleInput};
pub use config::{
    AlertSettings, CockpitSettings, MAX_CONCURRENCY, MAX_HUB_CONCURRENCY, MAX_INTERVAL,
    MAX_INTERVALS_PER_WINDOW, MAX_SAMPLES, MIN_INTERVAL,
};
pub use error::MonitorError;
pub use evidence::{MAX_CERTIFICATIONS_READ, Recorder};
pub use hub::FleetHub;
pub use hub::view::HubView;
pub use monitor::{Monitor, MonitorOptions};
pub use snapshot::{
    AgentView, AlertEvent, AlertRule, AlertState, Baseline, CumulativeHistogram, FiringAlert,
    FleetSnapshot, GateView, LatencyWindow, PillarView, RateWindow, RequestCounts, RulesView,
    SNAPSHOT_VERSION, SeriesPoint, TargetKind, TargetStatus, Totals, WebhookView,
};

pub use kube::{
    KubeClient, KubernetesView, MAX_PODS_SHOWN, MAX_WORKLOADS_SHOWN, PodIssue, WorkloadView,
};
pub use stm::{STM_MEMORY_HIGH, STM_ROW, StmView};
pub use target::Fleet;
pub use webhook::{WEBHOOK_ATTEMPTS, WEBHOOK_BACKOFF, WEBHOOK_QUEUE, WEBHOOK_TIMEOUT};
pub use window::BUCKET_BOUNDS_S;

/// Alert state changes kept in a snapshot's history.
pub const MAX_ALERT_HISTORY: usize = 200;
