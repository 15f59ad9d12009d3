//! A hostile RESP server: a TCP server on a free 127.0.0.1 port that reads
//! each command a client sends and answers it with a chosen [`Reply`] —
//! nesting 10 000 deep, a bulk string announcing a terabyte and streaming
//! bytes forever, an aggregate announcing billions of elements, a reply
//! dripped a byte at a time. It runs on a thread and runtime of its own
//! (so sync tests, async tests and CLI tests can all use it) and stops when
//! dropped.
//!
//! ```no_run
//! use cockpit_stm::testing::hostile::{HostileServer, Reply};
//!
//! let server = HostileServer::start(Reply::nested(b'*', 10_000))
//!     .answering("AUTH", Reply::bytes(b"+OK\r\n"));
//! let url = server.url();
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How the server answers a command.
#[derive(Debug, Clone)]
pub enum Reply {
    /// These bytes; the connection stays open for the next command.
    Bytes(Vec<u8>),
    /// `head`, then `fill` bytes forever, as fast as the client reads.
    Endless { head: Vec<u8>, fill: u8 },
    /// These bytes, one every `every` (a reply slower than any timeout).
    Drip { bytes: Vec<u8>, every: Duration },
    /// A bulk string of the value the last `SET` on this connection gave
    /// (nil before any): a store that keeps what it is given, so another
    /// command's lie (e.g. `TTL` answering -1) can be told apart.
    LastSetValue,
}

impl Reply {
    pub fn bytes(b: &[u8]) -> Reply {
        Reply::Bytes(b.to_vec())
    }

    /// A well-formed bulk string holding `text`.
    pub fn bulk(text: &[u8]) -> Reply {
        let mut b = format!("${}\r\n", text.len()).into_bytes();
        b.extend_from_slice(text);
        b.extend_from_slice(b"\r\n");
        Reply::Bytes(b)
    }

    /// `depth` aggregate headers of `kind` (`*`, `~`, `>`, `%`, `|`), each
    /// announcing one element (or pair), then `:1`.
    pub fn nested(kind: u8, depth: usize) -> Reply {
        let mut b = Vec::with_capacity(depth * 4 + 4);
        for _ in 0..depth {
            b.extend_from_slice(&[kind, b'1', b'\r', b'\n']);
        }
        b.extend_from_slice(b":1\r\n");
        Reply::Bytes(b)
    }

    /// A header announcing `len` bytes (`$`, `=`, `!`), then bytes forever.
    pub fn endless_blob(kind: u8, len: u64) -> Reply {
        Reply::Endless {
            head: format!("{}{len}\r\n", kind as char).into_bytes(),
            fill: b'x',
        }
    }
}

/// The running server; stops when dropped.
#[derive(Debug)]
pub struct HostileServer {
    port: u16,
    answers: Arc<Mutex<Answers>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Answers {
    default: Reply,
    by_command: HashMap<String, Reply>,
}

impl Answers {
    fn for_command(&self, name: &str) -> Reply {
        self.by_command
            .get(&name.to_ascii_uppercase())
            .unwrap_or(&self.default)
            .clone()
    }
}

impl HostileServer {
    /// Answer every command with `default`.
    pub fn start(default: Reply) -> HostileServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let port = listener.local_addr().expect("local addr").port();
        let answers = Arc::new(Mutex::new(Answers {
            default,
            by_command: HashMap::new(),
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shared = answers.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the hostile server");
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                tokio::select! {
                    _ = stopped => {}
                    _ = accept_loop(listener, shared) => {}
                }
            });
        });
        HostileServer {
            port,
            answers,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Answer `command` (e.g. `"INFO"`, `"AUTH"`) with `reply` instead.
    pub fn answering(self, command: &str, reply: Reply) -> HostileServer {
        self.answers
            .lock()
            .expect("answers")
            .by_command
            .insert(command.to_ascii_uppercase(), reply);
        self
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, answers: Arc<Mutex<Answers>>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve(stream, answers.clone()));
    }
}

/// Read commands until the client goes; answer each.
async fn serve(stream: TcpStream, answers: Arc<Mutex<Answers>>) {
    let mut stream = BufReader::new(stream);
    let mut last_set: Option<Vec<u8>> = None;
    while let Some(args) = read_command(&mut stream).await {
        let name = String::from_utf8_lossy(&args[0]).into_owned();
        if name.eq_ignore_ascii_case("SET") {
            last_set = args.get(2).cloned();
        }
        let reply = match answers.lock().expect("answers").for_command(&name) {
            Reply::LastSetValue => match &last_set {
                Some(v) => Reply::bulk(v),
                None => Reply::bytes(b"$-1\r\n"),
            },
            other => other,
        };
        if answer(stream.get_mut(), reply).await.is_err() {
            return;
        }
    }
}

async fn answer(s: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Bytes(b) => s.write_all(&b).await,
        Reply::Endless { head, fill } => {
            s.write_all(&head).await?;
            let chunk = vec![fill; 64 * 1024];
            loop {
                s.write_all(&chunk).await?;
            }
        }
        Reply::Drip { bytes, every } => {
            for b in bytes {
                s.write_all(&[b]).await?;
                tokio::time::sleep(every).await;
            }
            Ok(())
        }
        // Resolved by `serve`; nothing to send when it gets here.
        Reply::LastSetValue => Ok(()),
    }
}

/// One command as clients send it (an array of bulk strings): its first
/// three arguments (name, key, value), each at most 1 MiB. `None` when the
/// client closed or sent something else.
async fn read_command(r: &mut BufReader<TcpStream>) -> Option<Vec<Vec<u8>>> {
    let header = read_line(r).await?;
    let n: usize = header.strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::new();
    for _ in 0..n.min(1024) {
        let len: usize = read_line(r).await?.strip_prefix('$')?.parse().ok()?;
        let mut arg = vec![0; len.min(1 << 20) + 2];
        r.read_exact(&mut arg).await.ok()?;
        arg.truncate(arg.len() - 2);
        if args.len() < 3 {
            args.push(arg);
        }
    }
    (!args.is_empty()).then_some(args)
}

async fn read_line(r: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    let n = (&mut *r).take(4096).read_line(&mut line).await.ok()?;
    if n == 0 {
        return None;
    }
    Some(line.trim_end().to_string())
}
