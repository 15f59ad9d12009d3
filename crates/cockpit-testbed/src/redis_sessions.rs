//! Session memory in Redis: each session is a list `{prefix}{session_id}`
//! of JSON turns, its TTL renewed on every append — what a production agent
//! should do, and what the State pillar audits.
//!
//! The [`SessionStore`] seam is synchronous, so this store speaks RESP over a
//! blocking `std::net::TcpStream` (read and write timeouts set): one short
//! round trip to a nearby Redis per call. Good for a reference agent, not a
//! pattern for a production one.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

use crate::sessions::{SessionStore, Turn};

/// Turns kept in Redis lists under `{prefix}{session_id}`.
pub struct RedisSessions {
    addr: String,
    password: Option<String>,
    prefix: String,
    ttl: Duration,
    timeout: Duration,
    conn: Mutex<Option<BufReader<TcpStream>>>,
}

// Debug by hand: the password must never reach a log or a panic message.
impl std::fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessions")
            .field("addr", &self.addr)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A reply, as far as this store needs to read them.
#[derive(Debug, PartialEq)]
enum Reply {
    Ok,
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

impl RedisSessions {
    /// A store on `redis://[:password@]host:port` (no TLS); keys
    /// `{prefix}{session_id}` expire `ttl` after their last append.
    /// Connects (and authenticates) now, so a wrong address fails here.
    pub fn connect(url: &str, prefix: &str, ttl: Duration) -> std::io::Result<RedisSessions> {
        let rest = url.strip_prefix("redis://").ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "expected redis://[:password@]host:port",
            )
        })?;
        let rest = rest.split('/').next().unwrap_or(rest);
        let (password, addr) = match rest.rsplit_once('@') {
            Some((userinfo, addr)) => {
                let pw = userinfo.rsplit(':').next().unwrap_or(userinfo);
                (Some(pw.to_string()), addr.to_string())
            }
            None => (None, rest.to_string()),
        };
        let store = RedisSessions {
            addr,
            password,
            prefix: prefix.to_string(),
            ttl,
            timeout: Duration::from_secs(2),
            conn: Mutex::new(None),
        };
        let mut guard = store.conn.lock().unwrap_or_else(|e| e.into_inner());
        *guard = Some(store.open()?);
        drop(guard);
        Ok(store)
    }

    fn open(&self) -> std::io::Result<BufReader<TcpStream>> {
        let addr = self
            .addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))?;
        let stream = TcpStream::connect_timeout(&addr, self.timeout)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        stream.set_nodelay(true)?;
        let mut conn = BufReader::new(stream);
        if let Some(pw) = &self.password {
            command(&mut conn, &[b"AUTH", pw.as_bytes()])?;
        }
        Ok(conn)
    }

    /// Run one command, reconnecting once if the connection broke.
    fn call(&self, args: &[&[u8]]) -> std::io::Result<Reply> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(conn) = guard.as_mut() {
            match command(conn, args) {
                Ok(r) => return Ok(r),
                Err(e) if e.kind() == std::io::ErrorKind::Other => return Err(e),
                Err(_) => {}
            }
        }
        let mut conn = self.open()?;
        let r = command(&mut conn, args);
        *guard = Some(conn);
        r
    }

    fn key(&self, session_id: &str) -> String {
        format!("{}{session_id}", self.prefix)
    }
}

impl SessionStore for RedisSessions {
    fn append(&self, session_id: &str, turn: Turn) -> u32 {
        let key = self.key(session_id);
        let json = serde_json::to_vec(&turn).unwrap_or_default();
        let n = match self.call(&[b"RPUSH", key.as_bytes(), &json]) {
            Ok(Reply::Int(n)) => u32::try_from(n).unwrap_or(u32::MAX),
            other => {
                tracing::warn!(?other, "RPUSH of a session turn failed");
                return 0;
            }
        };
        let ttl = self.ttl.as_secs().max(1).to_string();
        if let Err(e) = self.call(&[b"EXPIRE", key.as_bytes(), ttl.as_bytes()]) {
            tracing::warn!(error = %e, "EXPIRE of a session failed");
        }
        n
    }

    fn turns(&self, session_id: &str) -> Vec<Turn> {
        let key = self.key(session_id);
        match self.call(&[b"LRANGE", key.as_bytes(), b"0", b"-1"]) {
            Ok(Reply::Array(items)) => items
                .into_iter()
                .filter_map(|r| match r {
                    Reply::Bulk(Some(b)) => serde_json::from_slice(&b).ok(),
                    _ => None,
                })
                .collect(),
            other => {
                tracing::warn!(?other, "LRANGE of a session failed");
                Vec::new()
            }
        }
    }
}

/// Write one command, read its reply. A server error is `ErrorKind::Other`.
fn command(conn: &mut BufReader<TcpStream>, args: &[&[u8]]) -> std::io::Result<Reply> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    conn.get_mut().write_all(&out)?;
    read_reply(conn)
}

/// The largest bulk reply or array the store accepts; Redis itself caps a
/// string at 512 MiB, a session turn list is far smaller.
const MAX_REPLY: i64 = 64 << 20;

fn read_reply(conn: &mut BufReader<TcpStream>) -> std::io::Result<Reply> {
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let line = line.trim_end();
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad reply {line:?}"),
        )
    };
    let (kind, rest) = line.split_at(1.min(line.len()));
    let num = || rest.parse::<i64>().map_err(|_| bad());
    match kind {
        "+" => Ok(Reply::Ok),
        "-" => Err(std::io::Error::other(rest.to_string())),
        ":" => Ok(Reply::Int(num()?)),
        "$" => {
            let n = num()?;
            if n < 0 {
                return Ok(Reply::Bulk(None));
            }
            if n > MAX_REPLY {
                return Err(bad());
            }
            let mut buf = vec![0u8; n as usize + 2];
            std::io::Read::read_exact(conn, &mut buf)?;
            buf.truncate(n as usize);
            Ok(Reply::Bulk(Some(buf)))
        }
        "*" => {
            let n = num()?;
            if n > MAX_REPLY {
                return Err(bad());
            }
            (0..n.max(0))
                .map(|_| read_reply(conn))
                .collect::<std::io::Result<_>>()
                .map(Reply::Array)
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let store = RedisSessions {
            addr: "127.0.0.1:6379".to_string(),
            password: Some("hunter2-s3cret".to_string()),
            prefix: "session:".to_string(),
            ttl: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
            conn: Mutex::new(None),
        };
        let shown = format!("{store:?}");
        assert!(!shown.contains("hunter2-s3cret"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        assert!(shown.contains("127.0.0.1:6379"), "{shown}");
    }
}
