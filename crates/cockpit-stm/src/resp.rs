//! The RESP wire format: the commands this crate sends, encoded, and the
//! one reader of everything a server sends back, RESP2 and RESP3 alike.
//!
//! The reader trusts nothing it is told. Every reply is read under
//! [`ReplyLimits`]: its bytes on the wire (headers, lines and payloads
//! together), the nesting of its aggregates (array `*`, set `~`, push `>`,
//! map `%`, attribute `|`) and the number of elements they announce. A
//! bound is checked against what a header *announces*, before anything is
//! allocated or waited for: `$1099511627776` or `*99999999999` fails on its
//! header, a line that never ends fails once it passes the byte bound, and
//! nesting is walked with an explicit stack, never by recursion, so no
//! reply can overflow the stack. Time is the caller's bound (every command
//! runs under the audit's timeout).

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// The bounds every reply is read under. The defaults hold any reply the
/// State checks ask for (the largest is `INFO`, a few KiB; a `SCAN` page of
/// `COUNT 1000` keys is tens of KiB) with a wide margin, and keep what a
/// hostile or broken server can make the reader hold under
/// [`memory_bound`](Self::memory_bound) (about 40 MB with the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Most bytes one reply may take on the wire, everything included.
    pub max_bytes: usize,
    /// Deepest nesting of aggregates (a flat array is depth 1).
    pub max_depth: usize,
    /// Most elements all the aggregates of one reply may announce together
    /// (a map's pair counts two).
    pub max_elements: usize,
}

impl ReplyLimits {
    /// 4 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 4 << 20;
    /// 32 levels (the State checks read at most 2: a `SCAN` page).
    pub const DEFAULT_MAX_DEPTH: usize = 32;
    /// 100 000 elements.
    pub const DEFAULT_MAX_ELEMENTS: usize = 100_000;
}

impl ReplyLimits {
    /// The most memory reading one reply can hold, beyond the connection's
    /// read buffer: its bytes a few times over (the line being read, the
    /// values kept, a copy while a verbatim string loses its format prefix,
    /// a buffer's growth), and per element and per level of nesting the
    /// slots that hold them. The reader's property tests check it.
    ///
    /// ```
    /// let l = cockpit_stm::ReplyLimits::default();
    /// assert!(l.memory_bound() < 48_000_000);
    /// ```
    pub fn memory_bound(&self) -> usize {
        self.max_bytes
            .saturating_mul(6)
            .saturating_add(self.max_elements.saturating_mul(160))
            .saturating_add(self.max_depth.saturating_mul(160))
            .saturating_add(8 << 10)
    }
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_elements: Self::DEFAULT_MAX_ELEMENTS,
        }
    }
}

/// One reply, as far as the checks care.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `_`, and RESP2's `$-1` / `*-1`.
    Nil,
    Int(i64),
    /// A simple, bulk or verbatim string (the verbatim format prefix
    /// removed), or a double, big number or boolean as sent.
    Text(Vec<u8>),
    /// An error reply, simple (`-`) or blob (`!`).
    Error(String),
    /// An array, set or push; a map flattened to key, value, key, value…
    /// (the shape RESP2 gives `CONFIG GET`). Attributes are read and dropped.
    List(Vec<Value>),
}

impl Value {
    /// A short description for error messages (never the content: a reply
    /// may be megabytes, and a hostile one is not worth echoing).
    pub fn describe(&self) -> String {
        match self {
            Value::Nil => "nil".into(),
            Value::Int(i) => format!("the integer {i}"),
            Value::Text(t) if t.len() <= 32 => {
                format!("the string {:?}", String::from_utf8_lossy(t))
            }
            Value::Text(t) => format!("a string of {} bytes", t.len()),
            Value::Error(e) => format!("an error ({})", shorten(e)),
            Value::List(l) => format!("an aggregate of {} elements", l.len()),
        }
    }
}

/// What stopped a reply from being read.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(std::io::Error),
    /// The peer closed the connection before a whole reply arrived.
    Closed,
    TooLarge(usize),
    TooDeep(usize),
    TooMany(usize),
    /// Not RESP.
    Invalid(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "connection lost: {e}"),
            ReadError::Closed => f.write_str("the server closed the connection"),
            ReadError::TooLarge(n) => write!(f, "protocol error: reply over {n} bytes"),
            ReadError::TooDeep(n) => write!(f, "protocol error: nesting deeper than {n}"),
            ReadError::TooMany(n) => {
                write!(f, "protocol error: more than {n} elements in one reply")
            }
            ReadError::Invalid(m) => write!(f, "protocol error: {m}"),
        }
    }
}

/// A server-sent text cut to a length fit for a message.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `args` as a RESP array of bulk strings (how every command is sent).
pub(crate) fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// What one reply has used of its bounds so far.
struct Budget {
    limits: ReplyLimits,
    bytes: usize,
    elements: usize,
}

impl Budget {
    fn take_bytes(&mut self, n: usize) -> Result<(), ReadError> {
        if n > self.limits.max_bytes - self.bytes {
            return Err(ReadError::TooLarge(self.limits.max_bytes));
        }
        self.bytes += n;
        Ok(())
    }

    /// An aggregate announced `n` elements: each takes at least 3 bytes
    /// (`_\r\n`), so what cannot fit is refused now, not after reading.
    fn announce(&mut self, n: usize) -> Result<(), ReadError> {
        if n > self.limits.max_elements - self.elements {
            return Err(ReadError::TooMany(self.limits.max_elements));
        }
        if n.saturating_mul(3) > self.limits.max_bytes - self.bytes {
            return Err(ReadError::TooLarge(self.limits.max_bytes));
        }
        self.elements += n;
        Ok(())
    }
}

/// An aggregate being filled.
struct Open {
    attribute: bool,
    left: usize,
    items: Vec<Value>,
}

/// Read one whole reply under `limits`. An attribute (`|`) before a value
/// is read within the bounds and dropped.
pub(crate) async fn read_reply<R: AsyncBufRead + Unpin>(
    r: &mut R,
    limits: ReplyLimits,
) -> Result<Value, ReadError> {
    let mut budget = Budget {
        limits,
        bytes: 0,
        elements: 0,
    };
    let mut stack: Vec<Open> = Vec::new();
    let mut line = Vec::new();
    loop {
        read_line(r, &mut budget, &mut line).await?;
        let Some((&kind, rest)) = line.split_first() else {
            return Err(ReadError::Invalid(
                "an empty line where a reply was expected".into(),
            ));
        };
        let mut value = match kind {
            b'+' | b'#' | b',' | b'(' => Value::Text(rest.to_vec()),
            b'-' => Value::Error(String::from_utf8_lossy(rest).into_owned()),
            b':' => Value::Int(parse_int(rest)?),
            b'_' => Value::Nil,
            b'$' | b'=' | b'!' => match parse_len(rest)? {
                None => Value::Nil,
                Some(n) => blob(kind, read_blob(r, &mut budget, n).await?),
            },
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let Some(n) = parse_len(rest)? else {
                    // RESP2's null array.
                    if let Some(v) = attach(&mut stack, Value::Nil) {
                        return Ok(v);
                    }
                    continue;
                };
                let pairs = matches!(kind, b'%' | b'|');
                let n = if pairs { n.saturating_mul(2) } else { n };
                budget.announce(n)?;
                // An empty aggregate is a level of nesting too.
                if stack.len() >= limits.max_depth {
                    return Err(ReadError::TooDeep(limits.max_depth));
                }
                if n == 0 {
                    if kind == b'|' {
                        continue;
                    }
                    Value::List(Vec::new())
                } else {
                    stack.push(Open {
                        attribute: kind == b'|',
                        left: n,
                        // The announced count is bounded, but only what
                        // arrives is stored.
                        items: Vec::with_capacity(n.min(64)),
                    });
                    continue;
                }
            }
            other => {
                return Err(ReadError::Invalid(format!(
                    "unexpected type byte {:?}",
                    std::ascii::escape_default(other).to_string()
                )));
            }
        };
        if kind == b'=' {
            value = strip_verbatim_format(value);
        }
        if let Some(v) = attach(&mut stack, value) {
            return Ok(v);
        }
    }
}

/// Put a finished value into the aggregate being filled; returns the whole
/// reply when the value finished it.
fn attach(stack: &mut Vec<Open>, mut value: Value) -> Option<Value> {
    loop {
        let Some(top) = stack.last_mut() else {
            return Some(value);
        };
        top.items.push(value);
        top.left -= 1;
        if top.left > 0 {
            return None;
        }
        let done = stack.pop()?;
        if done.attribute {
            // Dropped: the value it describes comes next.
            return None;
        }
        value = Value::List(done.items);
    }
}

fn blob(kind: u8, data: Vec<u8>) -> Value {
    if kind == b'!' {
        Value::Error(String::from_utf8_lossy(&data).into_owned())
    } else {
        Value::Text(data)
    }
}

/// `=15\r\ntxt:Some string\r\n`: the 3-byte format and its colon go.
fn strip_verbatim_format(v: Value) -> Value {
    match v {
        Value::Text(t) if t.len() >= 4 && t[3] == b':' => Value::Text(t[4..].to_vec()),
        other => other,
    }
}

/// One `\r\n`-terminated line into `line` (without the terminator), its
/// bytes counted before they are kept.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    budget: &mut Budget,
    line: &mut Vec<u8>,
) -> Result<(), ReadError> {
    line.clear();
    loop {
        let buf = r.fill_buf().await.map_err(ReadError::Io)?;
        if buf.is_empty() {
            return Err(ReadError::Closed);
        }
        let (n, done) = match buf.iter().position(|&c| c == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        budget.take_bytes(n)?;
        line.extend_from_slice(&buf[..n]);
        r.consume(n);
        if done {
            break;
        }
    }
    if !line.ends_with(b"\r\n") {
        return Err(ReadError::Invalid("a line not ended by CRLF".into()));
    }
    line.truncate(line.len() - 2);
    Ok(())
}

/// A payload of `n` bytes and its CRLF; the bound is checked before the
/// buffer is allocated.
async fn read_blob<R: AsyncBufRead + Unpin>(
    r: &mut R,
    budget: &mut Budget,
    n: usize,
) -> Result<Vec<u8>, ReadError> {
    budget.take_bytes(n.saturating_add(2))?;
    let mut data = vec![0; n + 2];
    r.read_exact(&mut data).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => ReadError::Closed,
        _ => ReadError::Io(e),
    })?;
    if !data.ends_with(b"\r\n") {
        return Err(ReadError::Invalid(format!(
            "a {n}-byte string not followed by CRLF"
        )));
    }
    data.truncate(n);
    Ok(data)
}

fn parse_int(s: &[u8]) -> Result<i64, ReadError> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ReadError::Invalid("an integer that is not a number".into()))
}

/// A length header: `None` for `-1` (RESP2's null), an error for anything
/// else that is not a count (including RESP3's streamed `?`).
fn parse_len(s: &[u8]) -> Result<Option<usize>, ReadError> {
    match parse_int(s) {
        Ok(-1) => Ok(None),
        Ok(n) if n >= 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        _ => Err(ReadError::Invalid(
            "a length that is not a count (streamed replies are not supported)".into(),
        )),
    }
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Value, ReadError> {
        read_with(bytes, ReplyLimits::default())
    }

    fn read_with(bytes: &[u8], limits: ReplyLimits) -> Result<Value, ReadError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut r = bytes;
        rt.block_on(read_reply(&mut r, limits))
    }

    fn text(s: &str) -> Value {
        Value::Text(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_every_resp2_and_resp3_type() {
        assert_eq!(read(b"+PONG\r\n").unwrap(), text("PONG"));
        assert_eq!(read(b":-12\r\n").unwrap(), Value::Int(-12));
        assert_eq!(read(b"$5\r\nab\r\nc\r\n").unwrap(), text("ab\r\nc"));
        assert_eq!(read(b"$-1\r\n").unwrap(), Value::Nil);
        assert_eq!(read(b"*-1\r\n").unwrap(), Value::Nil);
        assert_eq!(read(b"_\r\n").unwrap(), Value::Nil);
        assert_eq!(read(b"=8\r\ntxt:abcd\r\n").unwrap(), text("abcd"));
        assert_eq!(
            read(b"!9\r\nERR nope!\r\n").unwrap(),
            Value::Error("ERR nope!".into())
        );
        assert_eq!(read(b"-ERR x\r\n").unwrap(), Value::Error("ERR x".into()));
        assert_eq!(read(b"#t\r\n").unwrap(), text("t"));
        assert_eq!(read(b",1.5\r\n").unwrap(), text("1.5"));
        assert_eq!(
            read(b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n").unwrap(),
            Value::List(vec![text("save"), text("")])
        );
        assert_eq!(
            read(b"%1\r\n+save\r\n+\r\n").unwrap(),
            Value::List(vec![text("save"), text("")])
        );
        assert_eq!(
            read(b"*2\r\n$1\r\n0\r\n*1\r\n$3\r\nk:1\r\n").unwrap(),
            Value::List(vec![text("0"), Value::List(vec![text("k:1")])])
        );
        // Attributes are dropped, at the top and inside an aggregate.
        assert_eq!(read(b"|1\r\n+a\r\n+b\r\n:7\r\n").unwrap(), Value::Int(7));
        assert_eq!(
            read(b"~2\r\n|1\r\n+a\r\n+b\r\n:1\r\n>0\r\n").unwrap(),
            Value::List(vec![Value::Int(1), Value::List(vec![])])
        );
    }

    #[test]
    fn nesting_past_the_bound_fails_for_every_aggregate_type() {
        for kind in ["*1", "~1", ">1", "%1", "|1"] {
            let mut deep = format!("{kind}\r\n").repeat(10_000).into_bytes();
            deep.extend_from_slice(b":1\r\n");
            match read(&deep) {
                Err(ReadError::TooDeep(32)) => {}
                other => panic!("{kind}: {other:?}"),
            }
        }
        // An empty aggregate is a level too.
        let flat = ReplyLimits {
            max_depth: 1,
            ..ReplyLimits::default()
        };
        assert!(matches!(
            read_with(b"*1\r\n*0\r\n", flat),
            Err(ReadError::TooDeep(1))
        ));
        assert_eq!(read_with(b"*0\r\n", flat).unwrap(), Value::List(vec![]));
        // Mixed, and at the bound exactly: fine.
        let mut ok = "*1\r\n%1\r\n+k\r\n".repeat(16).into_bytes();
        ok.extend_from_slice(b":1\r\n");
        assert!(read(&ok).is_ok());
    }

    #[test]
    fn announced_sizes_past_the_bound_fail_before_reading() {
        // Nothing follows the headers: the error comes from the header alone.
        for header in [
            "$1099511627776\r\n",
            "=1099511627776\r\n",
            "!1099511627776\r\n",
            "$4194303\r\n",
        ] {
            assert!(
                matches!(read(header.as_bytes()), Err(ReadError::TooLarge(_))),
                "{header}"
            );
        }
        for header in [
            "*99999999999\r\n",
            "%99999999999\r\n",
            "~100001\r\n",
            ">9223372036854775807\r\n",
        ] {
            assert!(
                matches!(read(header.as_bytes()), Err(ReadError::TooMany(_))),
                "{header}"
            );
        }
        let small = ReplyLimits {
            max_bytes: 1000,
            ..ReplyLimits::default()
        };
        assert!(matches!(
            read_with(b"*500\r\n", small),
            Err(ReadError::TooLarge(1000))
        ));
        // A line that never ends.
        let long = vec![b'+'; 2000];
        assert!(matches!(
            read_with(&long, small),
            Err(ReadError::TooLarge(1000))
        ));
    }

    #[test]
    fn malformed_replies_are_protocol_errors() {
        for bad in [
            &b"HTTP/1.1 400 Bad Request\r\n"[..],
            b"$3\r\nabcd\r\n",
            b":x\r\n",
            b"$-2\r\n",
            b"*?\r\n",
            b"+no-crlf\n",
            b"\r\n",
        ] {
            assert!(
                matches!(read(bad), Err(ReadError::Invalid(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(read(b"*2\r\n:1\r\n"), Err(ReadError::Closed)));
        assert!(matches!(read(b"$10\r\nabc"), Err(ReadError::Closed)));
    }

    #[test]
    fn commands_are_bulk_string_arrays() {
        assert_eq!(
            encode_command(&[b"GET", b"a b"]),
            b"*2\r\n$3\r\nGET\r\n$3\r\na b\r\n"
        );
    }
}
