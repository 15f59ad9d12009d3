//! Shared harness for the integration tests: the reference testbed, a small
//! TLS server with a self-signed certificate, a gRPC server that only serves
//! health, and a refused port. Everything listens on 127.0.0.1.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cockpit_probe::ProbeOptions;
use cockpit_testbed::{Testbed, TestbedConfig};
use http::{HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A testbed with these delays and token count.
pub async fn testbed(ttft: Duration, inter_token: Duration, tokens: u32) -> Testbed {
    Testbed::start(TestbedConfig {
        ttft,
        inter_token,
        tokens,
        ..TestbedConfig::default()
    })
    .await
    .expect("testbed starts")
}

/// Options for a quick run: `samples` samples, one warm-up, short timeouts.
pub fn quick(samples: u32) -> ProbeOptions {
    ProbeOptions {
        samples,
        warmup: 1,
        timeout: Duration::from_secs(10),
        deadline: Duration::from_secs(60),
        ..ProbeOptions::default()
    }
}

/// `opts` plus one request header.
pub fn with_header(mut opts: ProbeOptions, name: &'static str, value: &str) -> ProbeOptions {
    opts.headers.push((
        HeaderName::from_static(name),
        HeaderValue::from_str(value).expect("valid header"),
    ));
    opts
}

/// A port on 127.0.0.1 that refuses connections (bound, then released).
pub async fn refused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

/// An HTTPS/1.1 server on 127.0.0.1 with a fresh self-signed certificate for
/// `127.0.0.1` and `localhost`; answers every request `200 ok`.
pub struct TlsServer {
    pub addr: SocketAddr,
    /// The certificate, as a PEM file (the CA to trust).
    pub ca_file: tempfile::NamedTempFile,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn tls_server() -> TlsServer {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("self-signed certificate");
    let mut ca_file = tempfile::NamedTempFile::new().expect("temp file");
    ca_file
        .write_all(ck.cert.pem().as_bytes())
        .expect("write CA");
    let cert = ck.cert.der().clone();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    TlsServer {
        addr,
        ca_file,
        task,
    }
}

/// A gRPC server that serves only `grpc.health.v1` (SERVING), not the agent.
pub struct HealthOnlyServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HealthOnlyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn health_only_grpc() -> HealthOnlyServer {
    let (_reporter, service) = tonic_health::server::health_reporter();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });
    HealthOnlyServer { addr, task }
}
