//! One connection to Redis: a small RESP client of the crate's own, for the
//! dozen commands the checks send. Every command runs under the timeout,
//! every reply is read under [`ReplyLimits`] (see [`crate::resp`]), every
//! error names the (redacted) endpoint.
//!
//! The connection is taken out of its slot for the length of a command and
//! put back only after a whole reply: a command that fails, times out, or
//! is dropped mid-way (Ctrl-C) leaves the slot empty, and the next command
//! connects again (TCP, TLS for `rediss://`, `AUTH`, `SELECT`), so a reply
//! is never read as the answer to another command.
//!
//! It also holds the crate's key-safety rule, once: [`Conn::write_own_key`].

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::endpoint::Endpoint;
use crate::resp::{self, ReadError, ReplyLimits, Value, shorten};
use crate::{CHECK_KEY_MARK, Info, StmError};

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

const TLS_STAGE: &str = "TLS handshake";

/// An open, authenticated stream, positioned between replies.
type Link = BufReader<Box<dyn Io>>;

/// A connection and what it needs to name its errors.
pub(crate) struct Conn {
    endpoint: Endpoint,
    /// The endpoint with credentials redacted: the only form ever shown.
    pub url: String,
    pub timeout: Duration,
    limits: ReplyLimits,
    link: Mutex<Option<Link>>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("url", &self.url).finish()
    }
}

/// How [`Conn::write_own_key`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnWrite {
    /// `SET … NX EX`: create the key; if it exists, fail and leave it as it is.
    Create,
    /// `SET … EX`: write again a key this run created.
    Refresh,
}

impl Conn {
    /// Connect, authenticate and PING. Returns the connection and how long
    /// connecting took (TCP, TLS, AUTH, SELECT and the first PING).
    pub async fn open(
        url: &str,
        timeout: Duration,
        limits: ReplyLimits,
    ) -> Result<(Conn, Duration), StmError> {
        let endpoint = Endpoint::parse(url)?;
        let conn = Conn {
            url: endpoint.shown.clone(),
            endpoint,
            timeout,
            limits,
            link: Mutex::new(None),
        };
        let start = Instant::now();
        conn.ensure_open().await?;
        match conn.ping().await {
            Ok(()) => Ok((conn, start.elapsed())),
            Err(StmError::Timeout { url, .. }) => Err(StmError::Protocol {
                url,
                what: "PING",
                message: format!(
                    "no PONG within {} ms (not a Redis port, or TLS on one side only)",
                    timeout.as_millis()
                ),
            }),
            Err(e) => Err(e),
        }
    }

    pub fn timeout_error(&self, what: &'static str) -> StmError {
        StmError::Timeout {
            url: self.url.clone(),
            what,
            timeout: self.timeout,
        }
    }

    /// Connect now if the last command left no connection (bounded by the
    /// timeout), so that the next command's time is its own.
    pub async fn ensure_open(&self) -> Result<(), StmError> {
        let mut slot = self.link.lock().await;
        if slot.is_some() {
            return Ok(());
        }
        let mut stage = "connect";
        match tokio::time::timeout(self.timeout, self.connect(&mut stage)).await {
            Err(_) if stage == TLS_STAGE => Err(StmError::Tls {
                url: self.url.clone(),
                message: format!(
                    "no TLS handshake within {} ms (a plaintext port, or TLS on one side only)",
                    self.timeout.as_millis()
                ),
            }),
            Err(_) => Err(self.timeout_error(stage)),
            Ok(Err(e)) => Err(e),
            Ok(Ok(link)) => {
                *slot = Some(link);
                Ok(())
            }
        }
    }

    /// Send one command and read its reply, under the timeout. A server
    /// error reply becomes `Err` (`Auth` for `NOAUTH` / `WRONGPASS`,
    /// `Command` otherwise).
    pub async fn call(&self, what: &'static str, args: &[&[u8]]) -> Result<Value, StmError> {
        let mut slot = self.link.lock().await;
        let exchange = async {
            let mut link = match slot.take() {
                Some(l) => l,
                None => self.connect(&mut "connect").await?,
            };
            let reply = self.exchange(&mut link, what, args).await?;
            *slot = Some(link);
            Ok::<_, StmError>(reply)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(self.timeout_error(what)),
            Ok(Err(e)) => Err(e),
            Ok(Ok(Value::Error(m))) => Err(self.server_error(what, &m)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    async fn exchange(
        &self,
        link: &mut Link,
        what: &'static str,
        args: &[&[u8]],
    ) -> Result<Value, StmError> {
        let io = link.get_mut();
        let sent = async {
            io.write_all(&resp::encode_command(args)).await?;
            io.flush().await
        };
        sent.await
            .map_err(|e| self.read_error(what, ReadError::Io(e)))?;
        resp::read_reply(link, self.limits)
            .await
            .map_err(|e| self.read_error(what, e))
    }

    /// TCP, TLS when `rediss://`, then `AUTH` and `SELECT` as the URL says;
    /// `stage` tells how far it got (for a timeout's message).
    async fn connect(&self, stage: &mut &'static str) -> Result<Link, StmError> {
        let ep = &self.endpoint;
        let connect_err = |e: std::io::Error| StmError::Connect {
            url: self.url.clone(),
            message: e.to_string(),
        };
        let tcp = TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(connect_err)?;
        tcp.set_nodelay(true).map_err(connect_err)?;
        let io: Box<dyn Io> = if ep.tls {
            *stage = TLS_STAGE;
            Box::new(self.tls(tcp).await?)
        } else {
            Box::new(tcp)
        };
        let mut link = BufReader::new(io);
        if let Some(password) = &ep.password {
            *stage = "AUTH";
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &ep.username {
                args.push(user);
            }
            args.push(password);
            if let Value::Error(m) = self.exchange(&mut link, "AUTH", &args).await? {
                return Err(StmError::Auth {
                    url: self.url.clone(),
                    message: shorten(&m),
                });
            }
        }
        if ep.db != 0 {
            *stage = "SELECT";
            let db = ep.db.to_string();
            if let Value::Error(m) = self
                .exchange(&mut link, "SELECT", &[b"SELECT", db.as_bytes()])
                .await?
            {
                // The URL names a database the server does not have.
                if m.contains("out of range") {
                    return Err(StmError::Url {
                        url: self.url.clone(),
                        message: format!("the server has no database {db} ({})", shorten(&m)),
                    });
                }
                return Err(self.server_error("SELECT", &m));
            }
        }
        Ok(link)
    }

    async fn tls(
        &self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, StmError> {
        let tls_err = |message: String| StmError::Tls {
            url: self.url.clone(),
            message,
        };
        let config = tls_config().map_err(tls_err)?;
        let name = ServerName::try_from(self.endpoint.host.clone())
            .map_err(|e| tls_err(format!("not a TLS server name: {e}")))?;
        tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| tls_err(e.to_string()))
    }

    fn read_error(&self, what: &'static str, e: ReadError) -> StmError {
        let url = self.url.clone();
        match e {
            ReadError::Io(e) => StmError::Connect {
                url,
                message: format!("connection lost during {what}: {e}"),
            },
            ReadError::Closed => StmError::Closed { url, what },
            ReadError::TooLarge(_) | ReadError::TooDeep(_) | ReadError::TooMany(_) => {
                StmError::ReplyBound {
                    url,
                    what,
                    bound: e.to_string(),
                }
            }
            ReadError::Invalid(_) => StmError::Protocol {
                url,
                what,
                message: e.to_string(),
            },
        }
    }

    fn server_error(&self, what: &'static str, message: &str) -> StmError {
        let url = self.url.clone();
        let message = shorten(message);
        if message.starts_with("NOAUTH") || message.starts_with("WRONGPASS") {
            StmError::Auth { url, message }
        } else {
            StmError::Command { url, what, message }
        }
    }

    fn unexpected(&self, what: &'static str, v: &Value) -> StmError {
        StmError::Protocol {
            url: self.url.clone(),
            what,
            message: format!("unexpected reply: {}", v.describe()),
        }
    }

    fn int(&self, what: &'static str, v: Value) -> Result<i64, StmError> {
        match v {
            Value::Int(i) => Ok(i),
            v => Err(self.unexpected(what, &v)),
        }
    }

    /// `PING`, expecting `PONG`.
    pub async fn ping(&self) -> Result<(), StmError> {
        match self.call("PING", &[b"PING"]).await? {
            Value::Text(t) if t == b"PONG" => Ok(()),
            v => Err(StmError::Protocol {
                url: self.url.clone(),
                what: "PING",
                message: format!("expected PONG, got {}", v.describe()),
            }),
        }
    }

    /// `INFO` (the default sections: server, memory, persistence, stats,
    /// replication, cluster, …).
    pub async fn info(&self) -> Result<Info, StmError> {
        match self.call("INFO", &[b"INFO"]).await? {
            Value::Text(t) => {
                let info = Info::parse(&String::from_utf8_lossy(&t));
                if info.is_empty() {
                    return Err(StmError::Protocol {
                        url: self.url.clone(),
                        what: "INFO",
                        message: "the reply holds no `name:value` field".into(),
                    });
                }
                Ok(info)
            }
            v => Err(self.unexpected("INFO", &v)),
        }
    }

    /// `CONFIG GET parameter`: `Ok(None)` when the server does not know the
    /// parameter; an error when CONFIG is refused (managed Redis).
    pub async fn config_get(&self, parameter: &'static str) -> Result<Option<String>, StmError> {
        let args: [&[u8]; 3] = [b"CONFIG", b"GET", parameter.as_bytes()];
        match self.call("CONFIG GET", &args).await? {
            Value::List(items) => match items.into_iter().nth(1) {
                Some(Value::Text(t)) => Ok(Some(String::from_utf8_lossy(&t).into_owned())),
                None => Ok(None),
                Some(v) => Err(self.unexpected("CONFIG GET", &v)),
            },
            v => Err(self.unexpected("CONFIG GET", &v)),
        }
    }

    /// The server's clock (`TIME`), in seconds since the epoch.
    pub async fn server_time(&self) -> Result<i64, StmError> {
        let v = self.call("TIME", &[b"TIME"]).await?;
        let secs = match &v {
            Value::List(items) => match items.first() {
                Some(Value::Text(t)) => std::str::from_utf8(t).ok().and_then(|s| s.parse().ok()),
                _ => None,
            },
            _ => None,
        };
        secs.ok_or_else(|| self.unexpected("TIME", &v))
    }

    /// The crate's key-safety rule, the one place a key is written: only a
    /// key of the check's own (`…cockpit-check:…`), always with a TTL (so
    /// it expires even if the process is killed), and — to create it —
    /// with `NX`, so an existing key is never overwritten.
    pub async fn write_own_key(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        mode: OwnWrite,
    ) -> Result<(), StmError> {
        let what = match mode {
            OwnWrite::Create => "SET NX",
            OwnWrite::Refresh => "SET",
        };
        if !key.contains(CHECK_KEY_MARK) {
            return Err(StmError::Command {
                url: self.url.clone(),
                what,
                message: format!("refused: not one of the check's own keys ({CHECK_KEY_MARK}…)"),
            });
        }
        let ttl_s = ttl.as_secs().max(1).to_string();
        let mut args: Vec<&[u8]> = vec![b"SET", key.as_bytes(), value, b"EX", ttl_s.as_bytes()];
        if mode == OwnWrite::Create {
            args.push(b"NX");
        }
        match self.call(what, &args).await? {
            Value::Text(t) if t == b"OK" => Ok(()),
            Value::Nil if mode == OwnWrite::Create => Err(StmError::Command {
                url: self.url.clone(),
                what,
                message: "the check's own key already existed; it was not overwritten".into(),
            }),
            v => Err(self.unexpected(what, &v)),
        }
    }

    /// `GET key` (only ever one of the check's own keys).
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StmError> {
        match self.call("GET", &[b"GET", key.as_bytes()]).await? {
            Value::Text(t) => Ok(Some(t)),
            Value::Nil => Ok(None),
            v => Err(self.unexpected("GET", &v)),
        }
    }

    /// `TTL key`, seconds (-1: none, -2: no such key).
    pub async fn ttl(&self, key: &[u8]) -> Result<i64, StmError> {
        let v = self.call("TTL", &[b"TTL", key]).await?;
        self.int("TTL", v)
    }

    /// `DEL key` (only ever one of the check's own keys): how many went.
    pub async fn del(&self, key: &str) -> Result<i64, StmError> {
        let v = self.call("DEL", &[b"DEL", key.as_bytes()]).await?;
        self.int("DEL", v)
    }

    /// One `SCAN cursor MATCH pattern COUNT count` page: the next cursor
    /// and the keys.
    pub async fn scan_page(
        &self,
        cursor: &[u8],
        pattern: &str,
        count: u32,
    ) -> Result<(Vec<u8>, Vec<Vec<u8>>), StmError> {
        let count = count.to_string();
        let args: [&[u8]; 6] = [
            b"SCAN",
            cursor,
            b"MATCH",
            pattern.as_bytes(),
            b"COUNT",
            count.as_bytes(),
        ];
        let v = self.call("SCAN", &args).await?;
        if let Value::List(items) = &v
            && let [Value::Text(next), Value::List(keys)] = items.as_slice()
        {
            let keys: Option<Vec<Vec<u8>>> = keys
                .iter()
                .map(|k| match k {
                    Value::Text(t) => Some(t.clone()),
                    _ => None,
                })
                .collect();
            if let Some(keys) = keys {
                return Ok((next.clone(), keys));
            }
        }
        Err(self.unexpected("SCAN", &v))
    }

    /// `MEMORY USAGE key`, bytes (`None`: no such key).
    pub async fn memory_usage(&self, key: &[u8]) -> Result<Option<u64>, StmError> {
        match self
            .call("MEMORY USAGE", &[b"MEMORY", b"USAGE", key])
            .await?
        {
            Value::Int(b) => Ok(Some(b.max(0) as u64)),
            Value::Nil => Ok(None),
            v => Err(self.unexpected("MEMORY USAGE", &v)),
        }
    }

    /// Close the connection (bounded; errors ignored: it may be gone).
    pub async fn close(&self) {
        let link = self.link.lock().await.take();
        if let Some(mut link) = link {
            let _ = tokio::time::timeout(Duration::from_secs(1), link.get_mut().shutdown()).await;
        }
    }
}

/// rustls (ring) with the system's root certificates, built once.
fn tls_config() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}
