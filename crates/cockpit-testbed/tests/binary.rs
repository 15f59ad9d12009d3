//! The `cockpit-testbed` binary as a parent process runs it.

mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_listening_addresses_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cockpit-testbed"))
        .args([
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--ttft-ms",
            "5",
            "--tokens",
            "2",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn cockpit-testbed");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let read_line = async |lines: &mut tokio::io::Lines<_>| {
        tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("address line in time")
            .unwrap()
            .expect("address line")
    };
    let http = read_line(&mut lines).await;
    let grpc = read_line(&mut lines).await;
    let http: SocketAddr = http
        .strip_prefix("http=http://")
        .expect(&http)
        .parse()
        .unwrap();
    let grpc: SocketAddr = grpc
        .strip_prefix("grpc=grpc://")
        .expect(&grpc)
        .parse()
        .unwrap();
    assert!(http.ip().is_loopback() && grpc.ip().is_loopback());
    assert_ne!(http.port(), 0);

    let health = support::get(http, "/healthz").await;
    assert_eq!(health.status, 200);
    let answer = support::fetch(
        http,
        "POST",
        "/v1/chat/completions",
        &[],
        &support::chat_body(false, false),
    )
    .await;
    assert_eq!(
        answer.json()["choices"][0]["message"]["content"],
        "tok0 tok1 "
    );

    let pid = child.id().unwrap().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("exits within 5 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn bad_flags_exit_with_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_cockpit-testbed"))
        .args([
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--fault",
            "meltdown",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("meltdown"));
    let out = Command::new(env!("CARGO_BIN_EXE_cockpit-testbed"))
        .args([
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--error-rate",
            "3",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error_rate"));
}
