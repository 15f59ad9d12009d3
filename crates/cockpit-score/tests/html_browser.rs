//! The HTML report opened in headless Chromium (Debian's `chromium`;
//! `cargo xtask ci` installs it when missing): a screenshot is taken, and
//! the DOM Chromium built is checked for the charts, the matrix, and for
//! hostile markup from a measured system arriving as text, not as elements.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cockpit_core::{Measurement, Report, Unit};
use cockpit_score::{Date, Format, GatePolicy, certify, read_report};

/// A hang guard for one browser run, not a timing assertion.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(p) = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        }) {
            return p;
        }
    }
    panic!(
        "headless Chromium is needed for this test: `apt-get install chromium` (cargo xtask ci installs it)"
    );
}

/// Run Chromium headless on `page` with `extra` flags; stdout is returned.
fn run_chromium(page: &Path, profile: &Path, extra: &[String]) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--window-size=1280,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    // Read stdout on a thread so a large DOM cannot block the browser.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// The fail fixture with every measurement that carries a distribution
/// joined by its p50 and p99, as the probes report them (`ttft_p95`,
/// `ttft_p50`, `ttft_p99` each carrying the whole summary), and one more
/// measurement of the same subject with figures of its own. Returns the
/// report, how many distinct distributions it holds and how many
/// percentiles its measurements report on them.
fn report_with_percentiles_of_each_distribution() -> (Report, usize, usize) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fail.json");
    let mut report = read_report(&fixture).unwrap();
    let (mut distinct, mut reported) = (0, 0);
    for f in &mut report.findings {
        let mut extra = Vec::new();
        for m in &f.measurements {
            let Some(d) = m.distribution.filter(|d| d.count > 0) else {
                continue;
            };
            distinct += 1;
            let (base, q) = m.name.rsplit_once('_').unwrap();
            reported += if matches!(q, "p50" | "p99") { 2 } else { 3 };
            for (q, v) in [("p50", d.p50_ms), ("p99", d.p99_ms)] {
                let mut p = Measurement::new(
                    format!("{base}_{q}"),
                    v,
                    Unit::Milliseconds,
                    &m.method,
                    d.count,
                );
                p.distribution = Some(d);
                extra.push(p);
            }
            // Another distribution of the same subject: a chart of its own.
            let mut other = d;
            other.max_ms *= 2.0;
            let mut itl = Measurement::new(
                "itl_p99",
                other.p99_ms,
                Unit::Milliseconds,
                &m.method,
                d.count,
            );
            itl.distribution = Some(other);
            extra.push(itl);
            distinct += 1;
            reported += 1;
        }
        f.measurements.extend(extra);
    }
    (report, distinct, reported)
}

#[test]
fn html_report_renders_in_headless_chromium_with_its_charts() {
    let (report, distributions, reported) = report_with_percentiles_of_each_distribution();
    assert!(distributions >= 4, "the fixture lost its distributions");
    let cert = certify(
        &report,
        &GatePolicy::default(),
        Date::new(2026, 3, 1).unwrap(),
    );
    let html = Format::Html.render(&cert, false).unwrap();
    // Self-contained: no script, no stylesheet link, no attribute that
    // fetches (maud quotes every attribute and escapes quotes in text, so
    // ` src="` can only be an attribute), no CSS url(). The only `href`s
    // are the check ids' links to their pages, which nothing fetches.
    for needle in ["<script", "<link", " src=\"", "@import", "url(http"] {
        assert!(!html.contains(needle), "the page contains {needle:?}");
    }
    let hrefs = html.matches(" href=\"").count();
    let check_links = html.matches("<a class=\"check\" href=\"").count();
    assert_eq!(hrefs, check_links, "an href that is not a check's page");
    assert_eq!(check_links, report.findings.len());
    assert!(
        html.contains(&format!(
            "href=\"{}\"",
            cockpit_score::doc_url("docs/checks/CIC-GATE.md")
        )) || !report
            .findings
            .iter()
            .any(|f| f.check_id.as_str() == "CIC-GATE")
    );
    // Failures first: no finding row of a better status precedes a worse one.
    let table = &html[html.find("id=\"findings\"").unwrap()..];
    let first_pass = table.find("class=\"s-pass\"");
    let last_fail = table.rfind("class=\"s-fail\"");
    if let (Some(p), Some(f)) = (first_pass, last_fail) {
        assert!(f < p, "a pass row precedes a fail row");
    }

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    let shot = dir.path().join("screenshot.png");
    run_chromium(
        &page,
        &dir.path().join("profile-shot"),
        &[format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "a {}-byte screenshot is blank",
        png.len()
    );

    let dom = run_chromium(
        &page,
        &dir.path().join("profile-dom"),
        &["--dump-dom".to_string()],
    );
    assert!(
        dom.contains("id=\"chart-pillars\""),
        "pillar chart missing:\n{dom}"
    );
    // One bar per scored pillar.
    assert_eq!(dom.matches("data-pillar=\"network\"").count(), 2, "{dom}");
    // One chart per distribution, however many of its percentiles the
    // findings report; on it the reported ones marked.
    let dists = dom.matches("class=\"chart chart-distribution\"").count();
    assert_eq!(dists, distributions, "one chart per distribution");
    assert_eq!(dom.matches("data-measurement=\"ttft\"").count(), 2, "{dom}");
    assert!(dom.contains("data-quantile=\"p99.9\""), "{dom}");
    assert_eq!(
        dom.matches("data-reported=\"true\"").count(),
        reported,
        "each reported percentile marked once on its distribution's chart"
    );
    // Axes with their units: the value axis of every distribution chart
    // says milliseconds, the pillar chart's axis says points of 100.
    assert_eq!(
        dom.matches(">latency (ms)</text>").count(),
        distributions,
        "{dom}"
    );
    assert_eq!(
        dom.matches("class=\"axis y-axis\"").count(),
        distributions + 1,
        "{dom}"
    );
    assert!(dom.contains(">score (points of 100)</text>"), "{dom}");
    // Markdown in texts: a code span is a <code> element.
    assert!(
        dom.contains("Run <code>agentops-cockpit certify</code> in the job"),
        "{dom}"
    );
    assert!(
        !dom.contains("`kubectl apply`"),
        "a raw backtick code span: {dom}"
    );
    assert!(dom.contains("id=\"matrix\""), "{dom}");
    assert!(dom.contains("Regional Mismatch"), "{dom}");
    // The hostile error message is text in the DOM, never an element.
    assert!(
        !dom.contains("<script>alert"),
        "markup from a measured system became an element"
    );
    assert!(
        !dom.contains("<img src=\"x\""),
        "markup from a measured system became an element"
    );
    assert!(
        dom.contains(
            "&lt;script&gt;alert('x')&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;"
        ),
        "{dom}"
    );
}
