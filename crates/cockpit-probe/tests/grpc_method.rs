//! Dynamic gRPC calls (`[[retrieval]] grpc_method`) against real servers on
//! 127.0.0.1: a vector-search server built only with PyPI's grpcio and
//! grpcio-reflection (tests/support/vector_server.py, nobody here wrote its
//! gRPC stack), and the testbed through its `.proto` (it serves no
//! reflection). The Python packages are installed once into
//! `target/py-venv` (tests/support/py_venv.sh); if that fails the tests
//! fail, they never skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use cockpit_core::Status;
use cockpit_core::fleet::RetrievalConfig;
use cockpit_probe::{
    DescriptorSource, GrpcCall, NetworkAuditConfig, ProbeError, ProbeSettings, probe_grpc_method,
};
use common::{quick, testbed};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

fn support(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(file)
}

/// `target/py-venv`, created (once per test binary) when missing.
fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> → target
        let target = exe
            .ancestors()
            .nth(3)
            .expect("the test binary lives in target/<profile>/deps");
        let venv = target.join("py-venv");
        let out = std::process::Command::new("sh")
            .arg(support("py_venv.sh"))
            .arg(&venv)
            .output()
            .expect("run sh tests/support/py_venv.sh");
        assert!(
            out.status.success(),
            "cannot install the Python gRPC server's packages (python3 -m venv, pip install -r tests/support/requirements.txt): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        venv
    })
}

/// The Python server, stopped (killed) when dropped.
struct PyServer {
    url: String,
    _child: Child,
}

/// Start vector_server.py with `reflection` (`v1alpha`, `v1` or `none`).
async fn python_server(reflection: &str) -> PyServer {
    let python = venv().join("bin/python");
    let mut child = Command::new(python)
        .arg(support("vector_server.py"))
        .arg(support("vectors.proto"))
        .args(["--reflection", reflection])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start vector_server.py");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    tokio::time::timeout(Duration::from_secs(120), reader.read_line(&mut line))
        .await
        .expect("vector_server.py printed its port within 120 s")
        .expect("read the port");
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("vector_server.py printed {line:?}, not a port"));
    PyServer {
        url: format!("grpc://127.0.0.1:{port}"),
        _child: child,
    }
}

fn call(method: &str, request: &str, descriptors: DescriptorSource) -> GrpcCall {
    GrpcCall {
        method: method.into(),
        request_json: request.into(),
        descriptors,
    }
}

fn vectors_proto() -> DescriptorSource {
    DescriptorSource::ProtoFile {
        path: support("vectors.proto"),
        import_paths: vec![],
    }
}

const SEARCH: &str = "vectors.v1.VectorSearch/Search";
const STREAM: &str = "vectors.v1.VectorSearch/SearchStream";
const REQUEST: &str = r#"{"query": "what does the sovereign gate check", "top_k": 4}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_python_grpcio_server_is_measured_through_v1alpha_reflection() {
    let server = python_server("v1alpha").await;
    let r = probe_grpc_method(
        &server.url,
        &call(SEARCH, REQUEST, DescriptorSource::Reflection),
        &quick(20),
    )
    .await
    .expect("resolved by reflection");
    assert_eq!(r.samples, 20, "{}", serde_json::to_string(&r).unwrap());
    assert_eq!(r.total_errors(), 0);
    assert_eq!(r.distribution("e2e").unwrap().count(), 20);
    // Unary: no first message, no gaps.
    assert!(r.distribution("ttft").is_none() && r.distribution("itl").is_none());
    assert!(r.method("e2e").unwrap().contains("grpc_method"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_stream_gives_first_message_and_gaps_through_v1_reflection() {
    let server = python_server("v1").await;
    let r = probe_grpc_method(
        &server.url,
        &call(STREAM, REQUEST, DescriptorSource::Reflection),
        &quick(10),
    )
    .await
    .expect("resolved by grpc.reflection.v1");
    assert_eq!(r.samples, 10, "{}", serde_json::to_string(&r).unwrap());
    assert_eq!(r.distribution("ttft").unwrap().count(), 10);
    // 4 hits per stream: 3 gaps each.
    assert_eq!(r.distribution("itl").unwrap().count(), 30);
    let (ttft, e2e) = (r.summary("ttft").unwrap(), r.summary("e2e").unwrap());
    assert!(ttft.min_ms <= e2e.max_ms);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proto_file_replaces_reflection() {
    let server = python_server("none").await;
    let r = probe_grpc_method(
        &server.url,
        &call(SEARCH, REQUEST, vectors_proto()),
        &quick(10),
    )
    .await
    .expect("resolved from vectors.proto (importing google/protobuf/timestamp.proto)");
    assert_eq!(r.samples, 10);
    // Without reflection and without a .proto: a reason, not a crash.
    let e = probe_grpc_method(
        &server.url,
        &call(SEARCH, REQUEST, DescriptorSource::Reflection),
        &quick(1),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ProbeError::GrpcMethod { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains(SEARCH) && text.contains("reflection") && text.contains("grpc_proto"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_cannot_be_resolved_is_named() {
    let server = python_server("v1alpha").await;
    let cases = [
        ("vectors.v1.VectorSearch/Nope", REQUEST, "no method Nope"),
        ("vectors.v1.Missing/Search", REQUEST, "vectors.v1.Missing"),
        (
            "vectors.v1.VectorSearch/Upsert",
            REQUEST,
            "client-streaming",
        ),
        ("VectorSearch", REQUEST, "package.Service/Method"),
        (SEARCH, r#"{"vector": [1, 2]}"#, "vectors.v1.SearchRequest"),
        (SEARCH, r#"{"query": 5"#, "vectors.v1.SearchRequest"),
    ];
    for (method, request, expected) in cases {
        for source in [DescriptorSource::Reflection, vectors_proto()] {
            let e = probe_grpc_method(&server.url, &call(method, request, source), &quick(1))
                .await
                .unwrap_err();
            let text = e.to_string();
            assert!(
                matches!(e, ProbeError::GrpcMethod { .. }) && text.contains(expected),
                "{method} {request}: {text}"
            );
        }
    }
}

fn agent_proto() -> DescriptorSource {
    DescriptorSource::ProtoFile {
        path: Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../proto/cockpit/agent/v1/agent.proto"),
        import_paths: vec![],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_testbed_is_called_through_its_proto_file() {
    let tb = testbed(Duration::from_millis(5), Duration::from_millis(1), 5).await;
    // The REST body doubles as the request: {"query", "top_k"}.
    let r = probe_grpc_method(
        &tb.grpc_url(),
        &call(
            "cockpit.agent.v1.RetrievalService/Search",
            r#"{"query": "q", "top_k": 3}"#,
            agent_proto(),
        ),
        &quick(10),
    )
    .await
    .expect("Search resolved from agent.proto");
    assert_eq!(r.samples, 10, "{}", serde_json::to_string(&r).unwrap());
    // A server stream of the testbed: 5 tokens, 4 gaps each.
    let r = probe_grpc_method(
        &tb.grpc_url(),
        &call(
            "cockpit.agent.v1.AgentService/StreamComplete",
            r#"{"prompt": "hi", "maxTokens": 5}"#,
            agent_proto(),
        ),
        &quick(5),
    )
    .await
    .expect("StreamComplete resolved from agent.proto");
    assert_eq!(r.samples, 5, "{}", serde_json::to_string(&r).unwrap());
    assert_eq!(r.distribution("ttft").unwrap().count(), 5);
    assert!(
        r.summary("ttft").unwrap().min_ms >= 5.0,
        "the testbed's TTFT is 5 ms"
    );
    assert_eq!(r.distribution("itl").unwrap().count(), 5 * 4);
    // The testbed serves no reflection: a reason, not a crash.
    let e = probe_grpc_method(
        &tb.grpc_url(),
        &call(
            "cockpit.agent.v1.RetrievalService/Search",
            "{}",
            DescriptorSource::Reflection,
        ),
        &quick(1),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("reflection"), "{e}");
    tb.shutdown().await;
}

fn backend(rest: String, grpc: &str, method: &str) -> RetrievalConfig {
    let mut b: RetrievalConfig = serde_json::from_value(serde_json::json!({
        "name": "vectors",
        "endpoint": rest,
        "grpc_endpoint": grpc,
        "grpc_method": method,
    }))
    .expect("a [[retrieval]] entry");
    b.top_k = 3;
    b
}

async fn net_proto(b: RetrievalConfig) -> cockpit_core::Finding {
    let cfg = NetworkAuditConfig {
        agents: vec![],
        retrieval: vec![b],
        thresholds: Default::default(),
        probe: ProbeSettings {
            retrieval_samples: 10,
            timeout_s: 10.0,
            ..ProbeSettings::default()
        },
    };
    let out = cockpit_probe::checks::audit(&cfg, &CancellationToken::new()).await;
    out.findings
        .into_iter()
        .find(|f| f.check_id.as_str() == "NET-PROTO")
        .expect("a NET-PROTO finding")
}

#[tokio::test(flavor = "multi_thread")]
async fn net_proto_compares_a_users_stream_with_its_rest_twin_or_says_why_not() {
    let server = python_server("v1alpha").await;
    let tb = testbed(Duration::from_millis(1), Duration::from_millis(1), 1).await;
    let rest = format!("{}/v1/retrieval/search", tb.base_url());

    let f = net_proto(backend(rest.clone(), &server.url, STREAM)).await;
    assert!(matches!(f.status, Status::Pass | Status::Warn), "{f:#?}");
    assert!(f.summary.contains(STREAM), "{}", f.summary);
    for m in [
        "rest_p50",
        "grpc_p50",
        "rest_over_grpc_ratio",
        "grpc_first_message_p50",
        "grpc_message_gap_p95",
    ] {
        let m = f.measurement(m).unwrap_or_else(|| panic!("no {m}: {f:#?}"));
        assert!(m.samples >= 1, "{m:?}");
    }

    // A method the server does not have: not measured, with the reason,
    // the REST side kept as evidence.
    let f = net_proto(backend(rest, &server.url, "vectors.v1.VectorSearch/Nope")).await;
    assert_eq!(f.status, Status::NotMeasured, "{f:#?}");
    assert!(f.summary.contains("no method Nope"), "{}", f.summary);
    assert!(f.measurement("rest_p50").is_some());
    assert!(f.measurement("rest_over_grpc_ratio").is_none());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_above_the_decoding_bound_is_a_counted_failure() {
    let server = python_server("v1alpha").await;
    // 300,000 hits: more than MAX_MESSAGE_BYTES (4 MiB) in one message.
    let big = r#"{"query": "q", "top_k": 300000}"#;
    let r = probe_grpc_method(
        &server.url,
        &call(SEARCH, big, DescriptorSource::Reflection),
        &quick(1),
    )
    .await
    .expect("resolved");
    assert_eq!(r.samples, 0, "{}", serde_json::to_string(&r).unwrap());
    assert_eq!(
        r.error_count(cockpit_probe::ErrorKind::GrpcStatus),
        2,
        "{}",
        serde_json::to_string(&r).unwrap()
    );
    let example = &r.error_examples[&cockpit_probe::ErrorKind::GrpcStatus];
    assert!(example.contains(SEARCH), "{example}");
}
