//! What the engine's integration tests share.

use std::sync::Arc;
use std::time::Duration;

use cockpit_fleet::FleetSnapshot;
use tokio::sync::watch;

/// Generous bound on any wait: a hang fails the test instead of the suite.
pub const HANG_GUARD: Duration = Duration::from_secs(90);

/// The first snapshot that satisfies `pred`.
pub async fn until(
    rx: &mut watch::Receiver<Arc<FleetSnapshot>>,
    what: &str,
    pred: impl Fn(&FleetSnapshot) -> bool,
) -> Arc<FleetSnapshot> {
    let wait = async {
        loop {
            let s = rx.borrow_and_update().clone();
            if pred(&s) {
                return s;
            }
            rx.changed().await.expect("monitor running");
        }
    };
    tokio::time::timeout(HANG_GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("waited too long for {what}"))
}
