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
use std::sync::{Arc, Mutex};
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

    /// The turns stay in Redis; the new process opens its own connection.
    fn restarted(self: Arc<Self>) -> Arc<dyn SessionStore> {
        *self.conn.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self
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

/// The longest reply line (`+OK`, `:12`, `$5`, an error) read before giving up.
const MAX_LINE: u64 = 64 * 1024;

/// How deep arrays may nest: the store's replies are at most one level.
const MAX_DEPTH: usize = 4;

fn read_reply(conn: &mut BufReader<TcpStream>) -> std::io::Result<Reply> {
    read_reply_at(conn, 0)
}

fn read_reply_at(conn: &mut BufReader<TcpStream>, depth: usize) -> std::io::Result<Reply> {
    use std::io::Read as _;
    let mut raw = Vec::new();
    let n = conn.by_ref().take(MAX_LINE).read_until(b'\n', &mut raw)?;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    if raw.last() != Some(&b'\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("reply line longer than {MAX_LINE} bytes"),
        ));
    }
    let line = String::from_utf8_lossy(&raw);
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
            conn.read_exact(&mut buf)?;
            buf.truncate(n as usize);
            Ok(Reply::Bulk(Some(buf)))
        }
        "*" => {
            let n = num()?;
            if n > MAX_REPLY || depth >= MAX_DEPTH {
                return Err(bad());
            }
            (0..n.max(0))
                .map(|_| read_reply_at(conn, depth + 1))
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

    /// Read one reply from a server that sends `bytes` (then, with `endless`,
    /// `x` forever until the client hangs up).
    fn reply_from(bytes: Vec<u8>, endless: bool) -> std::io::Result<Reply> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let _ = s.write_all(&bytes);
            while endless && s.write_all(&[b'x'; 4096]).is_ok() {}
        });
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut conn = BufReader::new(stream);
        let r = read_reply(&mut conn);
        drop(conn);
        server.join().unwrap();
        r
    }

    #[test]
    fn well_formed_replies_are_read() {
        let r = reply_from(b"*2\r\n$2\r\nhi\r\n:7\r\n".to_vec(), false).unwrap();
        match r {
            Reply::Array(items) => {
                assert!(matches!(&items[0], Reply::Bulk(Some(b)) if b == b"hi"));
                assert!(matches!(items[1], Reply::Int(7)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_replies_are_refused_within_bounds() {
        // Nesting far past the bound: refused, no stack overflow.
        let deep = b"*1\r\n".repeat(10_000);
        let e = reply_from([deep, b":1\r\n".to_vec()].concat(), false).unwrap_err();
        assert!(e.to_string().contains("bad reply"), "{e}");
        // A bulk length past the bound: refused before allocating it.
        let e = reply_from(b"$1099511627776\r\n".to_vec(), true).unwrap_err();
        assert!(e.to_string().contains("bad reply"), "{e}");
        // An array count past the bound.
        let e = reply_from(b"*99999999999\r\n".to_vec(), true).unwrap_err();
        assert!(e.to_string().contains("bad reply"), "{e}");
        // A line that never ends: cut at the line bound.
        let e = reply_from(b"+".to_vec(), true).unwrap_err();
        assert!(e.to_string().contains("longer than"), "{e}");
    }
}
