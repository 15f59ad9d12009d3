//! `[cockpit]` and `[cockpit.alerts]` in `cockpit.toml`: how often the
//! fleet is probed, over which window figures are computed, and the
//! Latency Regression rules. Every struct rejects unknown keys, so a typo
//! is an error with its file, line and column rather than a silent default.
//!
//! ```
//! use std::time::Duration;
//! use cockpit_fleet::CockpitSettings;
//! let s: CockpitSettings = toml::from_str(r#"
//! interval = "15s"
//! window = "5m"
//! [alerts]
//! ttft_p95_ms = 800
//! consecutive = 3
//! "#).unwrap();
//! s.validate().unwrap();
//! assert_eq!(s.interval, Duration::from_secs(15));
//! assert_eq!(s.intervals_per_window(), 20);
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::MonitorError;

/// The shortest probe interval accepted (tests drive intervals this fast).
pub const MIN_INTERVAL: Duration = Duration::from_millis(50);
/// The longest probe interval or window: one day.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// The most intervals a window may span (memory: one set of histograms each).
pub const MAX_INTERVALS_PER_WINDOW: u64 = 1440;
/// The most probes in flight at once.
pub const MAX_CONCURRENCY: usize = 4096;
/// The most requests one probe of one target makes.
pub const MAX_SAMPLES: u32 = 1000;

/// `[cockpit]`: the monitor's schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CockpitSettings {
    /// How often every target is probed (`"15s"`); each probe starts at a
    /// random offset within the first tenth of the interval (jitter).
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// The rolling window figures and alert rules are computed over
    /// (`"5m"`); a whole number of intervals, rounded up.
    #[serde(deserialize_with = "duration")]
    pub window: Duration,
    /// Probes in flight at once, over the whole fleet.
    pub concurrency: usize,
    /// Bound on each request of a probe (connect to last token).
    #[serde(deserialize_with = "duration")]
    pub probe_timeout: Duration,
    /// Requests per probe of one target per interval.
    pub samples: u32,
    /// `[cockpit.alerts]`.
    pub alerts: AlertSettings,
    /// The `[kubernetes]` row: a label selector
    /// (`app.kubernetes.io/part-of=chat`) the agent pods are listed with;
    /// every Deployment / StatefulSet it picks is watched. Unset: the
    /// workloads the audit takes for agents or retrieval backends.
    pub kubernetes_selector: Option<String>,
    /// How often the fleet hub's parts (shadow, caches, MCP servers,
    /// vector stores, watchtower) are measured (`"1m"`); default four
    /// intervals. Heavier than a probe, so slower.
    #[serde(deserialize_with = "some_duration")]
    pub hub_interval: Option<Duration>,
    /// Bound on one measurement of one hub part; default the hub interval,
    /// at least two minutes.
    #[serde(deserialize_with = "some_duration")]
    pub hub_timeout: Option<Duration>,
    /// Hub parts measured at once (apart from the agent probes' bound).
    pub hub_concurrency: usize,
    /// Run the adversarial watchtower in the monitor: every hub interval,
    /// its prompt-injection attempts go to every agent with a `canary`.
    /// Off unless asked for (`--watchtower`).
    pub watchtower: bool,
}

/// The longest `hub_concurrency`.
pub const MAX_HUB_CONCURRENCY: usize = 64;

impl Default for CockpitSettings {
    fn default() -> Self {
        CockpitSettings {
            interval: Duration::from_secs(15),
            window: Duration::from_secs(300),
            concurrency: 32,
            probe_timeout: Duration::from_secs(10),
            samples: 3,
            alerts: AlertSettings::default(),
            kubernetes_selector: None,
            hub_interval: None,
            hub_timeout: None,
            hub_concurrency: 2,
            watchtower: false,
        }
    }
}

/// `[cockpit.alerts]`: the Latency Regression rules and where to post them.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// Absolute rule: TTFT p95 over the window above this, milliseconds.
    pub ttft_p95_ms: f64,
    /// Intervals in a row a rule must be breached to fire, and met to
    /// resolve (hysteresis).
    pub consecutive: u32,
    /// Relative rule: TTFT p95 up by at least this percentage against the
    /// agent's baseline.
    pub relative_increase_pct: f64,
    /// Relative rule: and by at least this many milliseconds (a fast
    /// agent's few milliseconds of noise are no regression).
    pub relative_min_increase_ms: f64,
    /// Relative rule, when the evidence lake has no passing certification
    /// that measured the agent: its baseline is the TTFT p95 of every
    /// sample the monitor took of it over this first period (`"1h"`);
    /// until the period is over, the relative rule waits.
    #[serde(deserialize_with = "duration")]
    pub baseline_period: Duration,
    /// Slack-compatible incoming webhook (`"${SLACK_WEBHOOK}"`): one post
    /// per alert state change. A secret: shown nowhere.
    pub webhook: Option<String>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            ttft_p95_ms: 800.0,
            consecutive: 3,
            relative_increase_pct: 50.0,
            relative_min_increase_ms: 100.0,
            baseline_period: Duration::from_secs(3600),
            webhook: None,
        }
    }
}

impl std::fmt::Debug for AlertSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSettings")
            .field("ttft_p95_ms", &self.ttft_p95_ms)
            .field("consecutive", &self.consecutive)
            .field("relative_increase_pct", &self.relative_increase_pct)
            .field("relative_min_increase_ms", &self.relative_min_increase_ms)
            .field("baseline_period", &self.baseline_period)
            .field("webhook", &self.webhook.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A duration written as humantime text (`"15s"`, `"5m"`, `"250ms"`).
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(s.trim()).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{s}` is not a duration ({e}; e.g. \"15s\", \"500ms\", \"5m\")"
        ))
    })
}

fn some_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

impl CockpitSettings {
    /// `hub_interval`, or four probe intervals.
    pub fn hub_interval(&self) -> Duration {
        self.hub_interval
            .unwrap_or_else(|| self.interval.saturating_mul(4))
    }

    /// `hub_timeout`, or the hub interval and at least two minutes.
    pub fn hub_timeout(&self) -> Duration {
        self.hub_timeout
            .unwrap_or_else(|| self.hub_interval().max(Duration::from_secs(120)))
    }

    /// The ranges every value must be in; errors name the key.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cockpit_fleet::{CockpitSettings, MonitorError};
    /// let s = CockpitSettings { interval: Duration::from_millis(1), ..Default::default() };
    /// assert!(matches!(s.validate(), Err(MonitorError::Config { key: "interval", .. })));
    /// ```
    pub fn validate(&self) -> Result<(), MonitorError> {
        let bad = |key, message: String| Err(MonitorError::Config { key, message });
        for (key, d) in [
            ("interval", self.interval),
            ("window", self.window),
            ("probe_timeout", self.probe_timeout),
            ("hub_interval", self.hub_interval()),
            ("hub_timeout", self.hub_timeout()),
        ] {
            if d < MIN_INTERVAL || d > MAX_INTERVAL {
                return bad(
                    key,
                    format!(
                        "{} is outside {} ..= {}",
                        humantime::format_duration(d),
                        humantime::format_duration(MIN_INTERVAL),
                        humantime::format_duration(MAX_INTERVAL)
                    ),
                );
            }
        }
        if self.window < self.interval {
            return bad("window", "must be at least one interval".into());
        }
        if self.intervals_per_window() > MAX_INTERVALS_PER_WINDOW {
            return bad(
                "window",
                format!(
                    "spans {} intervals; at most {MAX_INTERVALS_PER_WINDOW} (lengthen the interval)",
                    self.intervals_per_window()
                ),
            );
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return bad(
                "concurrency",
                format!("must be 1..={MAX_CONCURRENCY}, got {}", self.concurrency),
            );
        }
        if self.hub_interval() < self.interval {
            return bad("hub_interval", "must be at least one interval".into());
        }
        if self.hub_concurrency == 0 || self.hub_concurrency > MAX_HUB_CONCURRENCY {
            return bad(
                "hub_concurrency",
                format!(
                    "must be 1..={MAX_HUB_CONCURRENCY}, got {}",
                    self.hub_concurrency
                ),
            );
        }
        if self.samples == 0 || self.samples > MAX_SAMPLES {
            return bad(
                "samples",
                format!("must be 1..={MAX_SAMPLES}, got {}", self.samples),
            );
        }
        if let Some(s) = &self.kubernetes_selector {
            let ok = !s.trim().is_empty()
                && s.len() <= 1024
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " -_./=!,()".contains(c));
            if !ok {
                return bad(
                    "kubernetes_selector",
                    format!(
                        "`{s}` is not a label selector (e.g. \"app.kubernetes.io/part-of=chat\", at most 1024 characters)"
                    ),
                );
            }
        }
        self.alerts.validate()
    }

    /// Intervals the baseline's first period spans (rounded up, at least 1).
    pub fn baseline_intervals(&self) -> u64 {
        let i = self.interval.as_nanos().max(1);
        u64::try_from(self.alerts.baseline_period.as_nanos().div_ceil(i))
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Intervals a window spans (rounded up, at least 1).
    pub fn intervals_per_window(&self) -> u64 {
        let i = self.interval.as_nanos().max(1);
        u64::try_from(self.window.as_nanos().div_ceil(i))
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

impl AlertSettings {
    /// Positive finite bounds, `consecutive` within 1..=1000, a webhook
    /// that is an http(s) URL (named without its value).
    pub fn validate(&self) -> Result<(), MonitorError> {
        let bad = |key, message: String| Err(MonitorError::Config { key, message });
        if !(self.ttft_p95_ms.is_finite() && self.ttft_p95_ms > 0.0) {
            return bad(
                "ttft_p95_ms",
                format!("must be a positive number, got {}", self.ttft_p95_ms),
            );
        }
        if !(self.relative_increase_pct.is_finite() && self.relative_increase_pct > 0.0) {
            return bad(
                "relative_increase_pct",
                format!(
                    "must be a positive number, got {}",
                    self.relative_increase_pct
                ),
            );
        }
        if self.baseline_period < MIN_INTERVAL || self.baseline_period > MAX_INTERVAL {
            return bad(
                "baseline_period",
                format!(
                    "{} is outside {} ..= {}",
                    humantime::format_duration(self.baseline_period),
                    humantime::format_duration(MIN_INTERVAL),
                    humantime::format_duration(MAX_INTERVAL)
                ),
            );
        }
        if !(self.relative_min_increase_ms.is_finite() && self.relative_min_increase_ms >= 0.0) {
            return bad(
                "relative_min_increase_ms",
                format!(
                    "must be a number >= 0, got {}",
                    self.relative_min_increase_ms
                ),
            );
        }
        if self.consecutive == 0 || self.consecutive > 1000 {
            return bad(
                "consecutive",
                format!("must be 1..=1000, got {}", self.consecutive),
            );
        }
        if let Some(url) = &self.webhook {
            let ok = http::Uri::try_from(url.as_str()).is_ok_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
            });
            if !ok {
                return bad(
                    "webhook",
                    "is not an http(s) URL (the value is not shown)".into(),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let s = CockpitSettings::default();
        s.validate().unwrap();
        assert_eq!(s.hub_interval(), Duration::from_secs(60));
        assert_eq!(s.hub_timeout(), Duration::from_secs(120));
        assert!(!s.watchtower, "the watchtower is opt-in");
        let short: CockpitSettings =
            toml::from_str("interval = \"1s\"\nhub_interval = \"500ms\"").unwrap();
        assert!(matches!(
            short.validate(),
            Err(MonitorError::Config {
                key: "hub_interval",
                ..
            })
        ));
        assert_eq!(s.intervals_per_window(), 20);
        assert_eq!(s.alerts.ttft_p95_ms, 800.0);
        assert_eq!(s.alerts.consecutive, 3);
        assert_eq!(s.alerts.relative_increase_pct, 50.0);
    }

    #[test]
    fn bad_values_name_their_key_and_never_the_webhook() {
        let cases: [(&str, CockpitSettings); 5] = [
            (
                "window",
                CockpitSettings {
                    window: Duration::from_secs(1),
                    interval: Duration::from_secs(2),
                    ..Default::default()
                },
            ),
            (
                "concurrency",
                CockpitSettings {
                    concurrency: 0,
                    ..Default::default()
                },
            ),
            (
                "window",
                CockpitSettings {
                    interval: Duration::from_millis(50),
                    window: Duration::from_secs(3600),
                    ..Default::default()
                },
            ),
            (
                "consecutive",
                CockpitSettings {
                    alerts: AlertSettings {
                        consecutive: 0,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            ),
            (
                "webhook",
                CockpitSettings {
                    alerts: AlertSettings {
                        webhook: Some("ftp://s3cr3t".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            ),
        ];
        for (want, s) in cases {
            match s.validate() {
                Err(MonitorError::Config { key, message }) => {
                    assert_eq!(key, want, "{message}");
                    assert!(!message.contains("s3cr3t"), "{message}");
                }
                other => panic!("{want}: {other:?}"),
            }
        }
        let shown = format!(
            "{:?}",
            AlertSettings {
                webhook: Some("https://hooks.example/s3cr3t".into()),
                ..Default::default()
            }
        );
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_refused() {
        assert!(toml::from_str::<CockpitSettings>("intervall = \"1s\"").is_err());
        assert!(toml::from_str::<CockpitSettings>("[alerts]\nttft = 1").is_err());
        assert!(toml::from_str::<CockpitSettings>("hub_intervall = \"1m\"").is_err());
        let e = toml::from_str::<CockpitSettings>("interval = \"fast\"").unwrap_err();
        assert!(e.to_string().contains("not a duration"), "{e}");
    }
}
