//! Reading the cache's counters from a Prometheus text exposition: one GET
//! through cockpit-probe's bounded metrics client, each counter summed over
//! its series (all label sets).

use cockpit_probe::TlsOptions;
use serde::Serialize;

use crate::CacheConfig;

/// The counters of one cache at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Counters {
    pub hits: f64,
    pub misses: f64,
    /// Tokens served from the cache, when `tokens_metric` is declared.
    pub tokens: Option<f64>,
}

impl Counters {
    pub fn lookups(&self) -> f64 {
        self.hits + self.misses
    }

    /// Hits over lookups, 0–1; `None` before the first lookup.
    pub fn hit_rate(&self) -> Option<f64> {
        (self.lookups() > 0.0).then(|| self.hits / self.lookups())
    }
}

/// The sum of every sample of counter `name` in `text` (a family `foo`
/// also matches its OpenMetrics sample name `foo_total`); `None` when no
/// sample has that name or a value does not parse.
///
/// ```
/// let text = "# TYPE cache_hits_total counter\n\
///             cache_hits_total{model=\"a\"} 3\n\
///             cache_hits_total{model=\"b, c\"} 4 1700000000\n\
///             cache_hits_totally 100\n";
/// assert_eq!(cockpit_hive::counter_total(text, "cache_hits_total"), Some(7.0));
/// assert_eq!(cockpit_hive::counter_total(text, "cache_hits"), Some(7.0));
/// assert_eq!(cockpit_hive::counter_total(text, "cache_misses_total"), None);
/// ```
pub fn counter_total(text: &str, name: &str) -> Option<f64> {
    let total = format!("{name}_total");
    let mut sum = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = sample_of(line, name).or_else(|| sample_of(line, &total)) else {
            continue;
        };
        let value = after_labels(rest)?.split_whitespace().next()?;
        let v: f64 = value.parse().ok()?;
        sum = Some(sum.unwrap_or(0.0) + v);
    }
    sum
}

/// The opening of a label set.
const OPEN: char = '\u{7b}';
/// The closing of a label set.
const CLOSE: char = '\u{7d}';

/// What follows `name` in `line` when the line is one of its samples.
fn sample_of<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.strip_prefix(name)
        .filter(|r| r.starts_with([OPEN, ' ']))
}

/// What follows the label set (`{…}`, quotes and escapes respected), or
/// the whole text when there is none; `None` when it is not closed.
fn after_labels(rest: &str) -> Option<&str> {
    if !rest.starts_with(OPEN) {
        return Some(rest);
    }
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            CLOSE if !quoted => return Some(&rest[i + 1..]),
            _ => {}
        }
    }
    None
}

/// The cache's counters now: one GET of `url`, each declared counter read.
/// A counter that is missing is an error naming it.
pub(crate) async fn scrape(
    c: &CacheConfig,
    url: &str,
    timeout: std::time::Duration,
    tls: &TlsOptions,
) -> Result<Counters, String> {
    let text = cockpit_probe::metrics::fetch_metrics(url, timeout, tls)
        .await
        .map_err(|e| e.to_string())?;
    let read = |name: &Option<String>| -> Result<Option<f64>, String> {
        match name {
            None => Ok(None),
            Some(n) => counter_total(&text, n)
                .map(Some)
                .ok_or_else(|| format!("no counter `{n}` in the exposition")),
        }
    };
    Ok(Counters {
        hits: read(&c.hits_metric)?.unwrap_or(0.0),
        misses: read(&c.misses_metric)?.unwrap_or(0.0),
        tokens: read(&c.tokens_metric)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_with_braces_and_quotes_are_skipped_and_bad_values_refused() {
        let text = "hits{path=\"a}\\\"b\"} 2\nhits 1\n";
        assert_eq!(counter_total(text, "hits"), Some(3.0));
        assert_eq!(counter_total("hits{a=\"x\" 2\n", "hits"), None);
        assert_eq!(counter_total("hits abc\n", "hits"), None);
        assert_eq!(counter_total("hitsx 1\n", "hits"), None);
    }

    #[test]
    fn hit_rate_waits_for_a_lookup() {
        let c = Counters {
            hits: 0.0,
            misses: 0.0,
            tokens: None,
        };
        assert_eq!(c.hit_rate(), None);
        let c = Counters { hits: 3.0, ..c };
        assert_eq!(c.hit_rate(), Some(1.0));
    }
}
