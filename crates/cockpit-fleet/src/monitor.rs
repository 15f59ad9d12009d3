//! The loop: every interval, start a probe of each target that is not
//! still being probed (each in its own task, after a random jitter, under
//! the global concurrency bound), then at the interval's end judge the
//! alert rules on each window, write the evidence, and publish a
//! [`FleetSnapshot`]. The loop never waits for a probe: a slow or dead
//! target's result lands in whichever interval is open when it ends, and
//! the others go on.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cockpit_core::Finding;
use cockpit_probe::checks::ttft;
use tokio::sync::{Semaphore, broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::alert::{AlertRules, RuleChange, RuleInput};
use crate::evidence::{Recorder, read_lake};
use crate::hub::Hub;
use crate::snapshot::{AgentView, Baseline, FiringAlert, GateView, RulesView, SNAPSHOT_VERSION};
use crate::target::{Fleet, Target, jitter, status_of, targets};
use crate::webhook::Webhook;
use crate::window::Window;
use crate::{
    AlertEvent, AlertSettings, AlertState, CockpitSettings, FleetSnapshot, MAX_ALERT_HISTORY,
    MonitorError, TargetKind, TargetStatus,
};

/// How long a stopping monitor waits for queued webhook posts.
const WEBHOOK_GRACE: Duration = Duration::from_secs(15);

/// What the monitor writes besides its snapshots.
#[derive(Debug, Clone, Default)]
pub struct MonitorOptions {
    /// The evidence lake: baselines and the gate are read from it, alert
    /// records written to it. `None`: nothing read, nothing written.
    pub recorder: Option<Recorder>,
    /// Also store each interval's report (NET-TTFT per agent from that
    /// interval's probes, and the interval's FLT-SLOW changes) in the lake.
    pub record: bool,
}

/// Mission Control's engine. Cheap to clone (one shared state); the
/// dashboards hold a clone and read [`Monitor::subscribe`].
#[derive(Debug, Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: CockpitSettings,
    fleet: Fleet,
    targets: Vec<Target>,
    /// `[stm]` and `[kubernetes]` rows, after the targets.
    infra: Vec<crate::infra::Infra>,
    options: MonitorOptions,
    state: Mutex<State>,
    snapshots: watch::Sender<Arc<FleetSnapshot>>,
    events: broadcast::Sender<AlertEvent>,
    limit: Arc<Semaphore>,
    webhook: Mutex<Option<Webhook>>,
    /// The fleet hub's parts, on their own cadence; `None` when none is declared.
    hub: Option<Arc<Hub>>,
}

#[derive(Debug)]
struct Row {
    window: Window,
    rules: AlertRules,
    status: TargetStatus,
    last_probe_at: Option<String>,
    last_probe_ms: Option<f64>,
    in_flight: bool,
    baseline: Option<Baseline>,
    firing: Vec<FiringAlert>,
    /// The NET-TTFT finding of the latest probe, not recorded yet (`record`).
    unrecorded: Option<Finding>,
}

#[derive(Debug, Default)]
struct State {
    round: u64,
    rows: Vec<Row>,
    history: VecDeque<AlertEvent>,
    seq: u64,
    gate: Option<GateView>,
    /// The newest certified run read from the lake.
    lake_head: Option<std::path::PathBuf>,
}

/// An RFC 3339 timestamp with milliseconds.
fn stamp(t: jiff::Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.as_millisecond())
        .unwrap_or(t)
        .to_string()
}

impl Monitor {
    /// A monitor of `fleet`; nothing runs until [`Monitor::run`] or
    /// [`Monitor::run_once`].
    pub fn new(
        fleet: Fleet,
        settings: CockpitSettings,
        options: MonitorOptions,
    ) -> Result<Monitor, MonitorError> {
        settings.validate()?;
        let targets = targets(&fleet)?;
        let infra = crate::infra::rows(&fleet, &settings, &targets)?;
        let hub = Hub::new(&fleet, &settings)?.map(Arc::new);
        let len = usize::try_from(settings.intervals_per_window()).unwrap_or(usize::MAX);
        let rows = targets
            .iter()
            .map(|t| Row {
                window: Window::new(
                    len,
                    settings.interval,
                    t.kind() == TargetKind::Retrieval,
                    settings.baseline_intervals(),
                ),
                rules: AlertRules::new(&settings.alerts),
                status: TargetStatus::Unknown,
                last_probe_at: None,
                last_probe_ms: None,
                in_flight: false,
                baseline: None,
                firing: Vec::new(),
                unrecorded: None,
            })
            .collect();
        let state = State {
            rows,
            ..State::default()
        };
        let (events, _) = broadcast::channel(256);
        let limit = Arc::new(Semaphore::new(settings.concurrency));
        let inner = Inner {
            snapshots: watch::channel(Arc::new(FleetSnapshot::empty())).0,
            settings,
            fleet,
            targets,
            infra,
            options,
            state: Mutex::new(state),
            events,
            limit,
            webhook: Mutex::new(None),
            hub,
        };
        let m = Monitor {
            inner: Arc::new(inner),
        };
        m.publish(None);
        Ok(m)
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<FleetSnapshot> {
        self.inner.snapshots.borrow().clone()
    }

    /// A receiver that sees a new snapshot after every interval.
    pub fn subscribe(&self) -> watch::Receiver<Arc<FleetSnapshot>> {
        self.inner.snapshots.subscribe()
    }

    /// Every alert state change from now on (a lagging receiver loses the
    /// oldest; the snapshot's `alerts` keeps the history).
    pub fn alert_events(&self) -> broadcast::Receiver<AlertEvent> {
        self.inner.events.subscribe()
    }

    pub fn settings(&self) -> &CockpitSettings {
        &self.inner.settings
    }

    /// Probe on every interval until `cancel`; then publish a last snapshot
    /// (no next probe) and wait briefly for queued webhook posts. Probes in
    /// flight are cancelled with it.
    pub async fn run(self, cancel: CancellationToken) {
        self.prepare().await;
        // The hub's parts on their own cadence, never in the probes' way.
        let hub = (self.inner.hub.clone()).map(|h| tokio::spawn(h.run(cancel.clone())));
        let interval = self.inner.settings.interval;
        let start = tokio::time::Instant::now();
        let mut round = 1u64;
        self.open(round);
        self.launch(round, &cancel, true);
        self.publish(Some(start + interval));
        loop {
            let end = start + interval.saturating_mul(u32::try_from(round).unwrap_or(u32::MAX));
            tokio::select! {
                () = tokio::time::sleep_until(end) => {}
                () = cancel.cancelled() => break,
            }
            self.close(round).await;
            // Published before the next interval opens: the snapshot shows
            // the very window the rules were judged on.
            self.publish(Some(end + interval));
            round += 1;
            self.open(round);
            self.launch(round, &cancel, true);
        }
        if let Some(h) = hub {
            let _ = h.await;
        }
        self.finish().await;
    }

    /// One probe of every target (no jitter), judged at once: with a single
    /// interval the rules fire on one breach (`consecutive` is taken as 1).
    /// Returns the snapshot, also published.
    pub async fn run_once(&self, cancel: &CancellationToken) -> Arc<FleetSnapshot> {
        self.prepare().await;
        self.open(1);
        let hub = (self.inner.hub.as_ref()).map_or_else(Vec::new, |h| h.launch(cancel));
        for h in self.launch(1, cancel, false).into_iter().chain(hub) {
            let _ = h.await;
        }
        {
            let one = AlertSettings {
                consecutive: 1,
                ..self.inner.settings.alerts.clone()
            };
            let mut st = self.lock();
            for row in &mut st.rows {
                row.rules = AlertRules::new(&one);
            }
        }
        self.close(1).await;
        self.finish().await;
        self.snapshot()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read the lake (baselines, gate) and start the webhook sender.
    async fn prepare(&self) {
        self.refresh_lake().await;
        if let Some(url) = &self.inner.settings.alerts.webhook {
            let hook = Webhook::start(url.clone(), self.inner.fleet.probe.tls());
            *self.inner.webhook.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
        }
    }

    /// Read the lake again when a certification landed since the last
    /// read: the gate shown, and each agent's baseline from the newest
    /// passing certification (it replaces a first-hour baseline).
    async fn refresh_lake(&self) {
        let Some(rec) = &self.inner.options.recorder else {
            return;
        };
        let lake = rec.lake.clone();
        let agents: std::collections::HashSet<String> = (self.inner.targets.iter())
            .filter(|t| t.kind() == TargetKind::Agent)
            .map(|t| t.name().to_string())
            .collect();
        let head = self.lock().lake_head.clone();
        let read = tokio::task::spawn_blocking(move || read_lake(&lake, &agents, head.as_deref()));
        let Ok(Some(view)) = read.await else {
            return;
        };
        let mut st = self.lock();
        for (t, row) in self.inner.targets.iter().zip(st.rows.iter_mut()) {
            if let Some(b) = view.baselines.get(t.name()) {
                row.baseline = Some(b.clone());
            }
        }
        st.gate = view.gate;
        st.lake_head = view.head;
    }

    async fn finish(&self) {
        let hook = self
            .inner
            .webhook
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut hook) = hook {
            hook.finish(WEBHOOK_GRACE).await;
            *self.inner.webhook.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
        }
        self.publish(None);
    }

    /// Open interval `round` in every window.
    fn open(&self, round: u64) {
        let mut st = self.lock();
        for row in &mut st.rows {
            row.window.open(round);
        }
        drop(st);
        for row in &self.inner.infra {
            row.open(round);
        }
    }

    /// Start a probe of every target not being probed.
    fn launch(
        &self,
        round: u64,
        cancel: &CancellationToken,
        jittered: bool,
    ) -> Vec<JoinHandle<()>> {
        let mut st = self.lock();
        let mut handles = Vec::new();
        for (i, row) in st.rows.iter_mut().enumerate() {
            if row.in_flight {
                continue;
            }
            row.in_flight = true;
            let m = self.clone();
            let cancel = cancel.clone();
            let span =
                tracing::info_span!("fleet_probe", target = %self.inner.targets[i].name(), round);
            handles.push(tokio::spawn(
                async move { m.probe(i, &cancel, jittered).await }.instrument(span),
            ));
        }
        let inner = &self.inner;
        handles.extend(crate::infra::launch(
            &inner.infra,
            &inner.settings,
            &inner.limit,
            round,
            cancel,
            jittered,
        ));
        handles
    }

    /// Probe target `i` and record the result.
    async fn probe(&self, i: usize, cancel: &CancellationToken, jittered: bool) {
        let inner = &self.inner;
        let wait = if jittered {
            jitter(inner.settings.interval)
        } else {
            Duration::ZERO
        };
        let permit = tokio::select! {
            () = cancel.cancelled() => None,
            p = async {
                tokio::time::sleep(wait).await;
                inner.limit.clone().acquire_owned().await.ok()
            } => p,
        };
        let Some(_permit) = permit else {
            self.lock().rows[i].in_flight = false;
            return;
        };
        let started = Instant::now();
        // Boxed, and only once a permit is held: a thousand tasks waiting
        // for their turn each hold a pointer, not a whole probe's state.
        let probe = Box::pin(inner.targets[i].probe(&inner.settings, &inner.fleet.probe, cancel));
        let r = probe.await;
        let took = started.elapsed();
        {
            let mut st = self.lock();
            let row = &mut st.rows[i];
            row.in_flight = false;
            if matches!(&r, Ok(r) if r.interrupted) {
                return;
            }
            if let Ok(report) = &r {
                row.window.record(report, took);
            }
            row.status = status_of(&r);
            row.last_probe_at = Some(stamp(jiff::Timestamp::now()));
            row.last_probe_ms = Some(took.as_secs_f64() * 1000.0);
        }
        // `--record`: the NET-TTFT finding of this probe, built outside the
        // lock (a lean probe's samples go into histograms for it).
        if let (true, Target::Agent(a)) = (inner.options.record, &inner.targets[i]) {
            let r = r.map(cockpit_probe::ProbeReport::with_histograms);
            let f = ttft::evaluate(a, &a.name, &a.endpoint, &r, &inner.fleet.thresholds);
            self.lock().rows[i].unrecorded = Some(f);
        }
    }

    /// End interval `round`: judge the rules, write the evidence, keep the
    /// alert history, notify.
    async fn close(&self, round: u64) {
        self.refresh_lake().await;
        let (mut events, findings) = self.judge(round);
        let Some(rec) = self.inner.options.recorder.clone() else {
            return self.announce(events);
        };
        let record = self.inner.options.record;
        let endpoints: Vec<String> = (events.iter())
            .map(|e| self.endpoint_of(&e.agent))
            .collect();
        let written = tokio::task::spawn_blocking(move || {
            for (ev, url) in events.iter_mut().zip(&endpoints) {
                match rec.alert(ev, url) {
                    Ok(dir) => ev.evidence = Some(dir.display().to_string()),
                    Err(e) => tracing::warn!("cannot write the alert record: {e}"),
                }
            }
            if record
                && !findings.is_empty()
                && let Err(e) = rec.store(findings, &[])
            {
                tracing::warn!("cannot record the interval: {e}");
            }
            events
        })
        .await;
        self.announce(written.unwrap_or_default());
    }

    fn endpoint_of(&self, name: &str) -> String {
        (self.inner.targets.iter())
            .find(|t| t.name() == name)
            .map(|t| t.endpoint().to_string())
            .unwrap_or_default()
    }

    /// Judge every agent's window; the state changes, and the interval's
    /// findings when recording.
    fn judge(&self, round: u64) -> (Vec<AlertEvent>, Vec<Finding>) {
        let inner = &self.inner;
        let mut st = self.lock();
        st.round = round;
        let mut events = Vec::new();
        let mut findings = Vec::new();
        let window = inner.settings.window;
        let st = &mut *st;
        for (t, row) in inner.targets.iter().zip(st.rows.iter_mut()) {
            let Target::Agent(agent) = t else { continue };
            findings.extend(row.unrecorded.take());
            let merged = row.window.merged();
            let count = merged.series.count();
            let p95 = merged
                .series
                .quantile(0.95)
                .map(|d| d.as_secs_f64() * 1000.0);
            if row.baseline.is_none()
                && let Some(first) = row.window.first_period(round)
                && let Some(p) = first.quantile(0.95)
            {
                row.baseline = Some(Baseline {
                    ttft_p95_ms: p.as_secs_f64() * 1000.0,
                    count: first.count(),
                    source: "first-hour".into(),
                    run: None,
                });
            }
            let input = RuleInput {
                ttft_p95_ms: p95,
                count,
                baseline_ms: row.baseline.as_ref().map(|b| b.ttft_p95_ms),
            };
            for f in &mut row.firing {
                if let Some(p) = p95 {
                    (f.ttft_p95_ms, f.count) = (p, count);
                }
            }
            for c in row.rules.judge(&input) {
                st.seq += 1;
                let ev = event(st.seq, round, &agent.name, &c, window, &inner.settings);
                apply(&mut row.firing, &ev);
                if inner.options.record {
                    findings.push(crate::checks::slow_reasoning(&ev, &agent.endpoint));
                }
                events.push(ev);
            }
        }
        (events, findings)
    }

    /// Keep the events in the history, broadcast them, post them.
    fn announce(&self, events: Vec<AlertEvent>) {
        if events.is_empty() {
            return;
        }
        {
            let mut st = self.lock();
            for ev in &events {
                st.history.push_back(ev.clone());
                while st.history.len() > MAX_ALERT_HISTORY {
                    st.history.pop_front();
                }
            }
        }
        let hook = self.inner.webhook.lock().unwrap_or_else(|e| e.into_inner());
        for ev in events {
            if let Some(h) = hook.as_ref() {
                h.post(&ev);
            }
            let _ = self.inner.events.send(ev);
        }
    }

    /// Build and publish the snapshot; `next`: when the next round starts.
    fn publish(&self, next: Option<tokio::time::Instant>) {
        let snap = self.build(next);
        self.inner.snapshots.send_replace(Arc::new(snap));
    }

    fn build(&self, next: Option<tokio::time::Instant>) -> FleetSnapshot {
        let inner = &self.inner;
        let now = jiff::Timestamp::now();
        let next_in = next.map(|n| n.saturating_duration_since(tokio::time::Instant::now()));
        let webhook = (inner.webhook.lock().unwrap_or_else(|e| e.into_inner()))
            .as_ref()
            .map(Webhook::view);
        let st = self.lock();
        let agents = (inner.targets.iter())
            .zip(&st.rows)
            .map(|(t, row)| view(t, row, st.gate.clone()))
            .chain(inner.infra.iter().map(crate::infra::Infra::view))
            .collect();
        let s = &inner.settings;
        FleetSnapshot {
            snapshot_version: SNAPSHOT_VERSION.to_string(),
            taken_at: stamp(now),
            round: st.round,
            interval: s.interval,
            window: s.window,
            next_probe_at: next_in
                .and_then(|d| jiff::SignedDuration::try_from(d).ok())
                .and_then(|d| now.checked_add(d).ok())
                .map(stamp),
            next_probe_in_ms: next_in.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            rules: RulesView {
                ttft_p95_ms: s.alerts.ttft_p95_ms,
                consecutive: s.alerts.consecutive,
                relative_increase_pct: s.alerts.relative_increase_pct,
                relative_min_increase_ms: s.alerts.relative_min_increase_ms,
            },
            agents,
            alerts: st.history.iter().cloned().collect(),
            webhook,
            hub: (inner.hub.as_ref()).map_or_else(Default::default, |h| h.view()),
        }
    }
}

/// One row of the snapshot.
fn view(t: &Target, row: &Row, gate: Option<GateView>) -> AgentView {
    let m = row.window.merged();
    let status = match (&row.status, row.firing.first()) {
        (TargetStatus::Up, Some(f)) => TargetStatus::Degraded {
            reason: format!(
                "Latency Regression ({}): TTFT p95 {:.1} ms over {:.1} ms",
                f.rule.as_str(),
                f.ttft_p95_ms,
                f.bound_ms
            ),
        },
        (s, _) => s.clone(),
    };
    let [ttft, itl, e2e] = m.latency;
    AgentView {
        name: t.name().to_string(),
        kind: t.kind(),
        protocol: t.protocol().to_string(),
        endpoint: t.shown_endpoint(),
        status,
        last_probe_at: row.last_probe_at.clone(),
        last_probe_ms: row.last_probe_ms,
        ttft,
        itl,
        e2e,
        ttft_p95_series: row.window.series(),
        tokens_per_s: m.tokens,
        requests: m.requests,
        baseline: row.baseline.clone(),
        last_gate: gate,
        alerts: row.firing.clone(),
        totals: row.window.totals.clone(),
        stm: None,
        kubernetes: None,
    }
}

/// The event of one rule change.
fn event(
    seq: u64,
    round: u64,
    agent: &str,
    c: &RuleChange,
    window: Duration,
    s: &CockpitSettings,
) -> AlertEvent {
    let w = humantime::format_duration(window);
    let what = match c.rule {
        crate::AlertRule::TtftAbsolute => format!("the {:.0} ms threshold", c.bound_ms),
        _ => format!(
            "{:.1} ms ({}% and at least {} ms over the baseline {:.1} ms)",
            c.bound_ms,
            s.alerts.relative_increase_pct,
            s.alerts.relative_min_increase_ms,
            c.baseline_ms.unwrap_or_default()
        ),
    };
    let message = match c.state {
        AlertState::Firing => format!(
            "Latency Regression on `{agent}`: TTFT p95 {:.1} ms over the last {w} is above {what} for {} intervals (n={})",
            c.ttft_p95_ms, s.alerts.consecutive, c.count
        ),
        _ => format!(
            "Latency Regression resolved on `{agent}`: TTFT p95 {:.1} ms over the last {w} is within {what} for {} intervals (n={})",
            c.ttft_p95_ms, s.alerts.consecutive, c.count
        ),
    };
    AlertEvent {
        seq,
        at: stamp(jiff::Timestamp::now()),
        round,
        agent: agent.to_string(),
        rule: c.rule,
        state: c.state,
        ttft_p95_ms: c.ttft_p95_ms,
        count: c.count,
        window,
        bound_ms: c.bound_ms,
        baseline_ms: c.baseline_ms,
        consecutive: s.alerts.consecutive,
        message,
        evidence: None,
    }
}

/// Keep `firing` in step with an event.
fn apply(firing: &mut Vec<FiringAlert>, ev: &AlertEvent) {
    firing.retain(|f| f.rule != ev.rule);
    if ev.state == AlertState::Firing {
        firing.push(FiringAlert {
            rule: ev.rule,
            since: ev.at.clone(),
            ttft_p95_ms: ev.ttft_p95_ms,
            count: ev.count,
            bound_ms: ev.bound_ms,
        });
    }
}

impl FleetSnapshot {
    /// The snapshot before the first probe.
    fn empty() -> FleetSnapshot {
        FleetSnapshot {
            snapshot_version: SNAPSHOT_VERSION.to_string(),
            taken_at: stamp(jiff::Timestamp::now()),
            round: 0,
            interval: Duration::ZERO,
            window: Duration::ZERO,
            next_probe_at: None,
            next_probe_in_ms: None,
            rules: RulesView {
                ttft_p95_ms: 0.0,
                consecutive: 0,
                relative_increase_pct: 0.0,
                relative_min_increase_ms: 0.0,
            },
            agents: Vec::new(),
            alerts: Vec::new(),
            webhook: None,
            hub: Default::default(),
        }
    }
}
