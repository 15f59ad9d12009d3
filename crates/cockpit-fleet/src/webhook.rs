//! The alert webhook: one Slack-compatible post (`{"text": …}`) per alert
//! state change, sent by one background task from a bounded queue, each
//! retried with exponential backoff a bounded number of times. The post is
//! made with cockpit-probe's HTTP client (TLS verified as `[probe]` says),
//! so there is no second client. The URL is a secret: it is never logged,
//! and failures are reported by their kind alone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cockpit_probe::{ProbeOptions, TlsOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::snapshot::WebhookView;
use crate::{AlertEvent, AlertState};

/// Events waiting to be posted at most; more are dropped (and counted).
pub const WEBHOOK_QUEUE: usize = 64;
/// Attempts per event.
pub const WEBHOOK_ATTEMPTS: u32 = 4;
/// The wait before the first retry; doubled after each failure.
pub const WEBHOOK_BACKOFF: Duration = Duration::from_millis(250);
/// Bound on one post.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The sending half, and the delivery counts.
#[derive(Debug)]
pub(crate) struct Webhook {
    tx: Option<mpsc::Sender<AlertEvent>>,
    pub stats: Arc<Mutex<WebhookView>>,
    task: Option<JoinHandle<()>>,
}

impl Webhook {
    /// Start the sender task for `url`.
    pub fn start(url: String, tls: TlsOptions) -> Webhook {
        let (tx, rx) = mpsc::channel(WEBHOOK_QUEUE);
        let stats = Arc::new(Mutex::new(WebhookView::default()));
        let task = tokio::spawn(deliver(url, tls, rx, stats.clone()));
        Webhook {
            tx: Some(tx),
            stats,
            task: Some(task),
        }
    }

    /// Queue one event; a full queue drops it (counted).
    pub fn post(&self, ev: &AlertEvent) {
        let Some(tx) = &self.tx else { return };
        if tx.try_send(ev.clone()).is_err() {
            lock(&self.stats).dropped += 1;
        }
    }

    /// Stop taking events and wait at most `grace` for the queue to drain.
    pub async fn finish(&mut self, grace: Duration) {
        self.tx = None;
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(grace, task).await.is_err() {
                abort.abort();
            }
        }
    }

    pub fn view(&self) -> WebhookView {
        lock(&self.stats).clone()
    }
}

fn lock(m: &Mutex<WebhookView>) -> std::sync::MutexGuard<'_, WebhookView> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The Slack-compatible body of an event.
pub(crate) fn body(ev: &AlertEvent) -> String {
    let icon = match ev.state {
        AlertState::Firing => ":rotating_light:",
        _ => ":white_check_mark:",
    };
    serde_json::json!({ "text": format!("{icon} {}", ev.message) }).to_string()
}

async fn deliver(
    url: String,
    tls: TlsOptions,
    mut rx: mpsc::Receiver<AlertEvent>,
    stats: Arc<Mutex<WebhookView>>,
) {
    while let Some(ev) = rx.recv().await {
        let body = Bytes::from(body(&ev));
        let mut wait = WEBHOOK_BACKOFF;
        let mut delivered = false;
        for attempt in 1..=WEBHOOK_ATTEMPTS {
            match post_once(&url, &tls, body.clone()).await {
                Ok(()) => {
                    delivered = true;
                    break;
                }
                Err(kind) => {
                    lock(&stats).failed_attempts += 1;
                    tracing::warn!(attempt, kind, seq = ev.seq, "alert webhook post failed");
                }
            }
            if attempt < WEBHOOK_ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        let mut s = lock(&stats);
        if delivered {
            s.delivered += 1;
        } else {
            s.abandoned += 1;
        }
    }
}

/// One POST; `Err` names the failure's kind only (the message could show
/// the URL).
async fn post_once(url: &str, tls: &TlsOptions, body: Bytes) -> Result<(), &'static str> {
    let opts = ProbeOptions {
        samples: 1,
        warmup: 0,
        concurrency: 1,
        timeout: WEBHOOK_TIMEOUT,
        deadline: WEBHOOK_TIMEOUT + Duration::from_secs(1),
        method: http::Method::POST,
        body: Some(body),
        content_type: Some(http::HeaderValue::from_static("application/json")),
        tls: tls.clone(),
        ..ProbeOptions::default()
    };
    match cockpit_probe::probe_http(url, &opts).await {
        Ok(r) if r.samples == 1 && r.total_errors() == 0 => Ok(()),
        Ok(r) => Err(r.errors.keys().next().map_or("no_answer", |k| k.as_str())),
        Err(_) => Err("invalid_url"),
    }
}
