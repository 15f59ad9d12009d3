//! A load run's distributions as oha and hey print them: the latency
//! histogram (exact bucket counts with a bar) and how the requests ended
//! (`[200] 11982 responses`). At most 80 columns; ANSI colour only when
//! the caller says so (`--color`, a terminal).

use std::fmt::Write as _;

use cockpit_probe::load::{LatencyBucket, LoadReport, ResponseStatus, StatusCounts};

/// Buckets of the latency histogram.
pub(super) const BUCKETS: usize = 11;
/// The widest line the two sections print.
const WIDTH: usize = 80;
/// The longest bar.
const BAR: usize = 40;

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// `text` in `colour` when `on`.
fn paint(text: &str, colour: &str, on: bool) -> String {
    if on {
        format!("{colour}{text}{RESET}")
    } else {
        text.to_string()
    }
}

/// The latency histogram of a run that took samples; empty otherwise.
pub(super) fn latency_histogram(r: &LoadReport, colour: bool) -> String {
    histogram_text(&r.latency_histogram(BUCKETS), colour)
}

/// `buckets` as lines `  upper ms [count] |■■■`, the bars scaled to the
/// fullest bucket (a bucket with any sample shows at least one mark).
pub(super) fn histogram_text(buckets: &[LatencyBucket], colour: bool) -> String {
    let Some(most) = buckets.iter().map(|b| b.count).max().filter(|m| *m > 0) else {
        return String::new();
    };
    let labels: Vec<String> = buckets
        .iter()
        .map(|b| super::load::ms(b.upper_ms))
        .collect();
    let label_w = labels.iter().map(String::len).max().unwrap_or(0);
    let count_w = most.to_string().len();
    // "  {label} ms [{count}] |{bar}"
    let prefix = 2 + label_w + 3 + 2 + count_w + 3;
    let bar_w = BAR.min(WIDTH.saturating_sub(prefix)).max(1);
    let mut out = String::from("latency histogram (bucket upper bounds, ms):\n");
    for (b, label) in buckets.iter().zip(&labels) {
        let marks = if b.count == 0 {
            0
        } else {
            (u128::from(b.count) * bar_w as u128 / u128::from(most)).max(1) as usize
        };
        let bar = "■".repeat(marks);
        let _ = writeln!(
            out,
            "  {label:>label_w$} ms [{:>count_w$}] |{}",
            b.count,
            paint(&bar, GREEN, colour && marks > 0)
        );
    }
    out
}

/// How the run's requests ended, one line per status; empty when the
/// report has no counts (a merge of results without them) or none ended.
pub(super) fn status_distribution(r: &LoadReport, colour: bool) -> String {
    match &r.status_codes {
        Some(c) if !c.is_empty() => status_text(c, colour),
        _ => String::new(),
    }
}

/// `counts` as lines `  [200] 11982 responses`.
pub(super) fn status_text(counts: &StatusCounts, colour: bool) -> String {
    let keys: Vec<String> = counts.iter().map(|(s, _)| format!("[{s}]")).collect();
    let key_w = keys.iter().map(String::len).max().unwrap_or(0);
    let count_w = counts
        .iter()
        .map(|(_, n)| n.to_string().len())
        .max()
        .unwrap_or(0);
    let mut out = String::from("status code distribution:\n");
    for ((status, n), key) in counts.iter().zip(&keys) {
        let what = match (status.answered(), n) {
            (true, 1) => "response",
            (true, _) => "responses",
            (false, 1) => "request failed before any status",
            (false, _) => "requests failed before any status",
        };
        let key = paint(&format!("{key:<key_w$}"), tint(status), colour);
        let _ = writeln!(out, "  {key} {n:>count_w$} {what}");
    }
    out
}

/// Green for a success, yellow for a client error or a redirect, red for
/// the rest.
fn tint(s: ResponseStatus) -> &'static str {
    match s {
        ResponseStatus::Http(200..=299) | ResponseStatus::Grpc(0) => GREEN,
        ResponseStatus::Http(300..=499) => YELLOW,
        _ => RED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cockpit_probe::ErrorKind;

    fn bucket(upper_ms: f64, count: u64) -> LatencyBucket {
        LatencyBucket { upper_ms, count }
    }

    #[test]
    fn histogram_layout() {
        let text = histogram_text(
            &[
                bucket(0.25, 9000),
                bucket(1.5, 2250),
                bucket(12.0, 0),
                bucket(250.0, 3),
            ],
            false,
        );
        let bar = |n| "■".repeat(n);
        let expected = format!(
            "latency histogram (bucket upper bounds, ms):\n\
             \x20 0.250 ms [9000] |{}\n\
             \x20  1.50 ms [2250] |{}\n\
             \x20 12.00 ms [   0] |\n\
             \x20   250 ms [   3] |{}\n",
            bar(40),
            bar(10),
            bar(1)
        );
        assert_eq!(text, expected);
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        assert!(!text.contains('\x1b'));
        assert!(histogram_text(&[], false).is_empty());
        assert!(histogram_text(&[bucket(1.0, 0)], false).is_empty());
        let coloured = histogram_text(&[bucket(1.0, 5)], true);
        assert!(coloured.contains(&format!("{GREEN}■")), "{coloured:?}");
    }

    #[test]
    fn a_huge_count_still_fits_80_columns() {
        let text = histogram_text(&[bucket(0.001, u64::MAX), bucket(3_600_000.0, 1)], false);
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
    }

    #[test]
    fn status_layout() {
        let mut c = StatusCounts::default();
        c.add_n(ResponseStatus::Http(200), 11982);
        c.add_n(ResponseStatus::Http(503), 18);
        c.add(ResponseStatus::Failed(ErrorKind::Connect));
        assert_eq!(
            status_text(&c, false),
            "status code distribution:\n\
             \x20 [200]     11982 responses\n\
             \x20 [503]        18 responses\n\
             \x20 [connect]     1 request failed before any status\n"
        );
        let mut g = StatusCounts::default();
        g.add_n("OK".parse().unwrap(), 5);
        g.add("UNAVAILABLE".parse().unwrap());
        let text = status_text(&g, true);
        assert!(
            text.contains(&format!("{GREEN}[OK]         {RESET}")),
            "{text:?}"
        );
        assert!(
            text.contains(&format!("{RED}[UNAVAILABLE]{RESET} 1 response")),
            "{text:?}"
        );
    }
}
