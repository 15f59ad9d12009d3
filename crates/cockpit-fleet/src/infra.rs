//! The fleet's infrastructure rows, next to its agents: the `[stm]`
//! session store ([`crate::stm`]) and the `[kubernetes]` agent pods
//! ([`crate::kube`]). Each is read on the monitor's interval, in its own
//! task after the same jitter and under the same concurrency bound as
//! an agent's probe, and shown as one row of the snapshot (`kind: "stm"`
//! / `"kubernetes"`). They have no alert rules: their state is the row's
//! status.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::kube::KubeRow;
use crate::stm::StmRow;
use crate::target::{Fleet, Target, jitter};
use crate::{AgentView, CockpitSettings, MonitorError};

/// A ring of the window's intervals, each a `T` (oldest first).
#[derive(Debug)]
pub(crate) struct Ring<T> {
    items: VecDeque<(u64, T)>,
    len: usize,
    interval: Duration,
}

impl<T: Default> Ring<T> {
    pub fn new(settings: &CockpitSettings) -> Self {
        let len = usize::try_from(settings.intervals_per_window())
            .unwrap_or(usize::MAX)
            .max(1);
        Ring {
            items: VecDeque::with_capacity(len.min(1024) + 1),
            len,
            interval: settings.interval,
        }
    }

    /// Start interval `round`; the oldest leaves when the window is full.
    pub fn open(&mut self, round: u64) {
        self.items.push_back((round, T::default()));
        while self.items.len() > self.len {
            self.items.pop_front();
        }
    }

    /// The open interval (one is opened when none is).
    pub fn current(&mut self) -> &mut T {
        if self.items.is_empty() {
            self.open(0);
        }
        let last = self.items.len() - 1;
        &mut self.items[last].1
    }

    /// `(round, interval)`, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &(u64, T)> {
        self.items.iter()
    }

    /// The time the intervals cover.
    pub fn span(&self) -> Duration {
        self.interval * u32::try_from(self.items.len()).unwrap_or(u32::MAX)
    }
}

/// One infrastructure row.
#[derive(Debug, Clone)]
pub(crate) enum Infra {
    Stm(Arc<StmRow>),
    Kube(Arc<KubeRow>),
}

impl Infra {
    pub fn name(&self) -> &str {
        match self {
            Infra::Stm(r) => &r.name,
            Infra::Kube(r) => &r.name,
        }
    }

    pub fn open(&self, round: u64) {
        match self {
            Infra::Stm(r) => r.open(round),
            Infra::Kube(r) => r.open(round),
        }
    }

    /// Mark the row in flight; false when it already is.
    fn start(&self) -> bool {
        match self {
            Infra::Stm(r) => r.start(),
            Infra::Kube(r) => r.start(),
        }
    }

    /// Clear the in-flight mark without a reading (cancelled before it began).
    fn abandon(&self) {
        match self {
            Infra::Stm(r) => r.abandon(),
            Infra::Kube(r) => r.abandon(),
        }
    }

    async fn read(&self, settings: &CockpitSettings, cancel: &CancellationToken) {
        match self {
            Infra::Stm(r) => r.read(settings, cancel).await,
            Infra::Kube(r) => r.read(settings, cancel).await,
        }
    }

    pub fn view(&self) -> AgentView {
        match self {
            Infra::Stm(r) => r.view(),
            Infra::Kube(r) => r.view(),
        }
    }
}

/// The rows `fleet` declares; names must not clash with the targets'.
pub(crate) fn rows(
    fleet: &Fleet,
    settings: &CockpitSettings,
    targets: &[Target],
) -> Result<Vec<Infra>, MonitorError> {
    let mut rows = Vec::new();
    if let Some(cfg) = &fleet.stm {
        rows.push(Infra::Stm(Arc::new(StmRow::new(cfg, settings)?)));
    }
    if let Some(cfg) = &fleet.kubernetes {
        rows.push(Infra::Kube(Arc::new(KubeRow::new(
            cfg,
            settings,
            fleet.kubernetes_client.clone(),
        ))));
    }
    if let Some(r) = rows
        .iter()
        .find(|r| targets.iter().any(|t| t.name() == r.name()))
    {
        return Err(MonitorError::DuplicateName(r.name().to_string()));
    }
    Ok(rows)
}

/// Start a reading of every row not being read, each in its own task
/// (after a jitter when `jittered`) under the global bound `limit`.
pub(crate) fn launch(
    rows: &[Infra],
    settings: &CockpitSettings,
    limit: &Arc<Semaphore>,
    round: u64,
    cancel: &CancellationToken,
    jittered: bool,
) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    for row in rows.iter().filter(|r| r.start()) {
        let (row, settings, limit, cancel) =
            (row.clone(), settings.clone(), limit.clone(), cancel.clone());
        let span = tracing::info_span!("fleet_infra", target = %row.name(), round);
        handles.push(tokio::spawn(
            async move {
                let wait = if jittered {
                    jitter(settings.interval)
                } else {
                    Duration::ZERO
                };
                let permit = tokio::select! {
                    () = cancel.cancelled() => None,
                    p = async {
                        tokio::time::sleep(wait).await;
                        limit.acquire_owned().await.ok()
                    } => p,
                };
                match permit {
                    Some(_permit) => row.read(&settings, &cancel).await,
                    None => row.abandon(),
                }
            }
            .instrument(span),
        ));
    }
    handles
}

/// An RFC 3339 timestamp with milliseconds, now.
pub(crate) fn now_stamp() -> String {
    let t = jiff::Timestamp::now();
    jiff::Timestamp::from_millisecond(t.as_millisecond())
        .unwrap_or(t)
        .to_string()
}
