//! Passwords with URL-special characters against a real redis-server:
//! percent-encoded they authenticate, and neither they nor their encoded
//! form show anywhere — findings, errors, `Debug`, the latency report, or
//! tracing at every level. Alone in its test binary: it installs the
//! global tracing subscriber (a thread-local one misses callsites other
//! tests' threads registered first).

use std::time::Duration;

use cockpit_core::{AuditOutcome, Finding, Status};
use cockpit_stm::StmConfig;
use cockpit_stm::testing::{self, RedisServer};
use tokio_util::sync::CancellationToken;

fn cfg(server: &RedisServer) -> StmConfig {
    StmConfig {
        latency_samples: 5,
        latency_p99: Duration::from_secs(5),
        ..StmConfig::for_url(server.url())
    }
}

fn find<'a>(r: &'a AuditOutcome, id: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.check_id.as_str() == id)
        .unwrap_or_else(|| panic!("no {id} finding in {:#?}", r.findings))
}

/// Everything the crate traces, at every level, with span fields, into a buffer.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn passwords_with_url_special_characters_authenticate_percent_encoded_and_never_show() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    for secret in ["ab/cd+ef==", "p#ss@w%rd?x", "we:ird/pw&y="] {
        let server = RedisServer::start(&format!(
            "{}requirepass \"{secret}\"\n",
            testing::NO_PERSISTENCE
        ));
        // The URL as the issue writes it for the first secret, and the
        // harness's percent-encoding for all.
        let mut urls = vec![server.url()];
        if secret == "ab/cd+ef==" {
            urls.push(format!(
                "redis://:ab%2Fcd%2Bef%3D%3D@127.0.0.1:{}",
                server.port()
            ));
        }
        for url in urls {
            let encoded = url
                .split_once("://:")
                .and_then(|(_, r)| r.split_once('@'))
                .map(|(p, _)| p.to_string())
                .unwrap();
            let c = StmConfig {
                url: Some(url.clone()),
                ..cfg(&server)
            };
            let r = cockpit_stm::audit(&c, &CancellationToken::new()).await;
            let rt = find(&r, "STA-ROUNDTRIP");
            assert_eq!(rt.status, Status::Pass, "{secret}: {}", rt.summary);
            let opts = cockpit_stm::LatencyOptions {
                samples: 3,
                ..Default::default()
            };
            let lat = cockpit_stm::measure_latency(&url, &opts).await.unwrap();
            assert_eq!(lat.samples, 3);
            // A wrong password with the same characters.
            let wrong = url.replace(&encoded, &format!("{encoded}%2Fx"));
            let bad = cockpit_stm::audit(
                &StmConfig {
                    url: Some(wrong.clone()),
                    ..cfg(&server)
                },
                &CancellationToken::new(),
            )
            .await;
            let f = find(&bad, "STA-PERSIST");
            assert!(f.summary.contains("authentication failed"), "{}", f.summary);
            let lat_err = cockpit_stm::measure_latency(&wrong, &opts)
                .await
                .unwrap_err();
            let shown = [
                serde_json::to_string(&r.findings).unwrap(),
                serde_json::to_string(&bad.findings).unwrap(),
                serde_json::to_string(&lat).unwrap(),
                format!("{c:?}"),
                format!("{lat_err} {lat_err:?}"),
                log.text(),
            ];
            for s in &shown {
                for leak in [secret, encoded.as_str()] {
                    assert!(!s.contains(leak), "{leak} shown in: {s}");
                }
            }
        }
        assert!(server.keys("*cockpit-check:*").is_empty());
    }
    // The spans were captured (so the check above saw them), redacted.
    let text = log.text();
    assert!(
        text.contains("stm_audit") && text.contains(":***@"),
        "{text}"
    );
}
