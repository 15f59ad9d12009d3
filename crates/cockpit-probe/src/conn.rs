//! Phased connections: DNS, TCP connect, TLS handshake and the HTTP
//! handshake, each timed and each under the request timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::ProbeError;
use crate::options::{HttpVersion, TlsOptions};
use crate::report::ErrorKind;
use crate::target::Target;

/// A failed request: its kind and a message that names the (redacted) target.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    /// The status the peer answered with, when the failure is that status
    /// (a gRPC call's non-OK code).
    pub status: Option<crate::load::ResponseStatus>,
}

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            status: None,
        }
    }

    /// This failure, answered with `status`.
    pub fn with_status(mut self, status: crate::load::ResponseStatus) -> Self {
        self.status = Some(status);
        self
    }
}

/// Any byte stream a connection runs on (TCP, or TLS over TCP).
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The timed phases of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phases {
    /// When the connection was started (before DNS).
    pub start: Instant,
    pub dns: Duration,
    pub connect: Duration,
    pub tls: Option<Duration>,
    /// True when ALPN (or prior knowledge) chose HTTP/2.
    pub h2: bool,
}

/// TLS client configuration for a run, built once.
#[derive(Clone)]
pub(crate) struct TlsContext {
    config: Arc<ClientConfig>,
    /// Said after every handshake failure (e.g. that no system roots exist).
    note: &'static str,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsContext")
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsContext {
    /// A client config with these ALPN protocols.
    pub fn new(opts: &TlsOptions, alpn: &[&[u8]], url: &str) -> Result<Self, ProbeError> {
        let provider = provider();
        let tls_err = |e: rustls::Error| ProbeError::Tls {
            url: url.to_string(),
            reason: e.to_string(),
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?;
        let mut note = "";
        let mut config = if opts.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            match &opts.ca_file {
                Some(path) => {
                    let ca_err = |reason: String| ProbeError::CaFile {
                        path: path.clone(),
                        reason,
                    };
                    let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
                    let mut n = 0;
                    for cert in CertificateDer::pem_slice_iter(&pem) {
                        let cert = cert.map_err(|e| ca_err(format!("bad PEM: {e}")))?;
                        roots
                            .add(cert)
                            .map_err(|e| ca_err(format!("not a usable CA certificate: {e}")))?;
                        n += 1;
                    }
                    if n == 0 {
                        return Err(ca_err("no PEM certificate in the file".to_string()));
                    }
                }
                None => {
                    let native = rustls_native_certs::load_native_certs();
                    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
                    if added == 0 {
                        // Every handshake will fail verification and be counted; say why.
                        note = " (no system root certificates were found: pass a CA file)";
                    }
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsContext {
            config: Arc::new(config),
            note,
        })
    }

    /// The ALPN list for an HTTP version choice.
    pub fn alpn_for(v: HttpVersion) -> &'static [&'static [u8]] {
        match v {
            HttpVersion::Auto => &[b"h2", b"http/1.1"],
            HttpVersion::Http1 => &[b"http/1.1"],
            HttpVersion::Http2 => &[b"h2"],
        }
    }
}

/// Accepts every certificate (`insecure_skip_verify`), still checking that
/// handshake signatures are made with the presented key.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Resolve `host:port`, timed. Errors are `dns` failures.
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, Failure> {
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Err(_) => Err(Failure::new(
            ErrorKind::Timeout,
            format!("DNS lookup of {host} took longer than {timeout:?}"),
        )),
        Ok(Err(e)) => Err(Failure::new(
            ErrorKind::Dns,
            format!("DNS lookup of {host} failed: {e}"),
        )),
        Ok(Ok(addrs)) => {
            let v: Vec<SocketAddr> = addrs.collect();
            if v.is_empty() {
                Err(Failure::new(
                    ErrorKind::Dns,
                    format!("{host} resolved to no address"),
                ))
            } else {
                Ok(v)
            }
        }
    }
}

/// TCP connect to the first address that accepts, under `timeout` overall.
pub(crate) async fn tcp_connect(
    addrs: &[SocketAddr],
    timeout: Duration,
    what: &str,
) -> Result<TcpStream, Failure> {
    let attempt = async {
        let mut last = None;
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some((a, e)),
            }
        }
        let (a, e) = last.expect("at least one address");
        Err(Failure::new(
            ErrorKind::Connect,
            format!("TCP connect to {what} ({a}) failed: {e}"),
        ))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Err(_) => Err(Failure::new(
            ErrorKind::Timeout,
            format!("TCP connect to {what} took longer than {timeout:?}"),
        )),
        Ok(r) => {
            let s = r?;
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    }
}

/// DNS, TCP and (for TLS targets) the TLS handshake. Returns the stream and
/// the timed phases. `force_h2` picks HTTP/2 on cleartext (prior knowledge).
pub(crate) async fn open_stream(
    target: &Target,
    tls: Option<&TlsContext>,
    timeout: Duration,
    force_h2: bool,
) -> Result<(Box<dyn Io>, Phases), Failure> {
    let start = Instant::now();
    let addrs = resolve(&target.host, target.port, timeout).await?;
    let dns = start.elapsed();
    let t1 = Instant::now();
    let tcp = tcp_connect(&addrs, timeout, &target.redacted).await?;
    let connect = t1.elapsed();
    if !target.tls {
        return Ok((
            Box::new(tcp),
            Phases {
                start,
                dns,
                connect,
                tls: None,
                h2: force_h2,
            },
        ));
    }
    let Some(ctx) = tls else {
        return Err(Failure::new(
            ErrorKind::Tls,
            "no TLS configuration for a TLS target",
        ));
    };
    let name = ServerName::try_from(target.host.clone()).map_err(|e| {
        Failure::new(
            ErrorKind::Tls,
            format!("{} is not a valid TLS server name: {e}", target.host),
        )
    })?;
    let connector = tokio_rustls::TlsConnector::from(ctx.config.clone());
    let t2 = Instant::now();
    let stream = match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Err(_) => {
            return Err(Failure::new(
                ErrorKind::Timeout,
                format!(
                    "TLS handshake with {} took longer than {timeout:?}",
                    target.redacted
                ),
            ));
        }
        Ok(Err(e)) => {
            return Err(Failure::new(
                ErrorKind::Tls,
                format!(
                    "TLS handshake with {} failed: {e}{}",
                    target.redacted, ctx.note
                ),
            ));
        }
        Ok(Ok(s)) => s,
    };
    let tls_time = t2.elapsed();
    // ALPN decides; without ALPN, HTTP/2 only when it was asked for (prior knowledge).
    let h2 = match stream.get_ref().1.alpn_protocol() {
        Some(p) => p == b"h2",
        None => force_h2,
    };
    Ok((
        Box::new(stream),
        Phases {
            start,
            dns,
            connect,
            tls: Some(tls_time),
            h2,
        },
    ))
}

pub(crate) type ReqBody = Full<Bytes>;

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<ReqBody>),
    H2(hyper::client::conn::http2::SendRequest<ReqBody>),
}

/// An HTTP connection: a request sender and the task driving the socket,
/// aborted when the connection is dropped (so a dropped connection never
/// lingers, even against a server that stalls).
pub(crate) struct HttpConn {
    sender: Sender,
    task: JoinHandle<()>,
    pub phases: Phases,
    /// Set once this connection has served a request.
    pub used: bool,
}

impl std::fmt::Debug for HttpConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConn")
            .field("h2", &self.phases.h2)
            .finish()
    }
}

impl Drop for HttpConn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpConn {
    /// Open a connection and run the HTTP handshake.
    pub async fn open(
        target: &Target,
        tls: Option<&TlsContext>,
        version: HttpVersion,
        timeout: Duration,
    ) -> Result<Self, Failure> {
        let force_h2 = version == HttpVersion::Http2;
        let (io, phases) = open_stream(target, tls, timeout, force_h2).await?;
        let io = TokioIo::new(io);
        let handshake = async {
            if phases.h2 {
                let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                    .handshake(io)
                    .await?;
                let task = tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok::<_, hyper::Error>((Sender::H2(sender), task))
            } else {
                let (sender, conn) = hyper::client::conn::http1::Builder::new()
                    .handshake(io)
                    .await?;
                let task = tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok((Sender::H1(sender), task))
            }
        };
        match tokio::time::timeout(timeout, handshake).await {
            Err(_) => Err(Failure::new(
                ErrorKind::Timeout,
                format!(
                    "HTTP handshake with {} took longer than {timeout:?}",
                    target.redacted
                ),
            )),
            Ok(Err(e)) => Err(Failure::new(
                ErrorKind::Protocol,
                format!("HTTP handshake with {} failed: {e}", target.redacted),
            )),
            Ok(Ok((sender, task))) => Ok(HttpConn {
                sender,
                task,
                phases,
                used: false,
            }),
        }
    }

    pub fn is_h2(&self) -> bool {
        matches!(self.sender, Sender::H2(_))
    }

    pub fn version_name(&self) -> &'static str {
        if self.is_h2() { "HTTP/2" } else { "HTTP/1.1" }
    }

    /// True when the connection can take another request.
    pub fn is_open(&self) -> bool {
        match &self.sender {
            Sender::H1(s) => !s.is_closed(),
            Sender::H2(s) => !s.is_closed(),
        }
    }

    /// Wait until the connection can take a request.
    pub async fn ready(&mut self, timeout: Duration, what: &str) -> Result<(), Failure> {
        let r = match &mut self.sender {
            Sender::H1(s) => tokio::time::timeout(timeout, s.ready()).await,
            Sender::H2(s) => tokio::time::timeout(timeout, s.ready()).await,
        };
        match r {
            Err(_) => Err(Failure::new(
                ErrorKind::Timeout,
                format!("connection to {what} was not ready within {timeout:?}"),
            )),
            Ok(Err(e)) => Err(Failure::new(
                ErrorKind::Connect,
                format!("connection to {what} closed: {e}"),
            )),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Build a request for this connection's HTTP version.
    pub fn request(&self, target: &Target, method: http::Method) -> http::request::Builder {
        let b = http::Request::builder().method(method);
        if self.is_h2() {
            b.uri(target.absolute_uri()).version(http::Version::HTTP_2)
        } else {
            b.uri(target.path_and_query.as_str())
                .header(http::header::HOST, target.authority.as_str())
        }
    }

    /// Send a request; resolves when the response head has arrived.
    pub fn send(
        &mut self,
        req: http::Request<ReqBody>,
    ) -> impl std::future::Future<Output = Result<http::Response<Incoming>, hyper::Error>> + Send + 'static
    {
        self.used = true;
        let fut: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>> =
            match &mut self.sender {
                Sender::H1(s) => Box::pin(s.send_request(req)),
                Sender::H2(s) => Box::pin(s.send_request(req)),
            };
        fut
    }
}

/// Classify a hyper error from a request in flight.
pub(crate) fn classify_hyper_error(e: &hyper::Error) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        ErrorKind::StreamCut
    } else if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() || e.is_user() {
        ErrorKind::Protocol
    } else {
        // io errors (reset, broken pipe) and h2 stream resets.
        ErrorKind::StreamCut
    }
}
