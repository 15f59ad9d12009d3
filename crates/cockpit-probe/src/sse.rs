//! An incremental Server-Sent Events parser.
//!
//! [`SseParser`] takes the body of an `text/event-stream` response in
//! whatever chunks the network delivers — split anywhere, even in the middle
//! of a UTF-8 sequence or between the `\r` and `\n` of a line end — and calls
//! back once per complete event. It follows the WHATWG event-stream rules:
//! `\n`, `\r\n` and `\r` line ends; `field: value` with or without the space;
//! multi-line `data` joined with `\n`; comments (`:`) ignored; `event` and `id`
//! fields kept; unknown fields and `retry` ignored; an event is dispatched at
//! a blank line and only when it carried data. One byte order mark
//! (U+FEFF, `EF BB BF`) at the very start of the stream is skipped, as the
//! specification says, even when it arrives split across chunks.
//!
//! Memory is bounded: a line longer than the parser's limit, or an event whose
//! data grows past it, is an error ([`SseError::LineTooLong`]) rather than
//! unbounded buffering. A line that lies whole inside one chunk is parsed in
//! place; only a line split across chunks is copied. Event data is gathered
//! in a buffer that is reused from event to event.
//!
//! ```
//! use cockpit_probe::sse::SseParser;
//! let mut p = SseParser::new(1024);
//! let mut seen = Vec::new();
//! for chunk in [&b"data: {\"a\""[..], b":1}\r", b"\n\r\ndata:[DONE]\n\n"] {
//!     p.feed(chunk, |ev| seen.push(ev.data.to_string())).unwrap();
//! }
//! assert_eq!(seen, ["{\"a\":1}", "[DONE]"]);
//! ```

use std::fmt;

/// One dispatched event. Borrowed from the parser: copy what you keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field, when the event had one.
    pub event: Option<&'a str>,
    /// The `data:` lines joined with `\n`.
    pub data: &'a str,
    /// The `id:` field, when the event had one.
    pub id: Option<&'a str>,
}

/// Why a stream is not a valid event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SseError {
    /// A line (or an event's gathered data) passed `limit` bytes.
    LineTooLong { limit: usize },
    /// A field value was not UTF-8.
    InvalidUtf8,
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::LineTooLong { limit } => {
                write!(f, "an SSE line or event is longer than {limit} bytes")
            }
            SseError::InvalidUtf8 => f.write_str("an SSE field is not valid UTF-8"),
        }
    }
}

impl std::error::Error for SseError {}

/// The fields of the event being gathered.
#[derive(Debug, Default)]
struct Pending {
    data: Vec<u8>,
    has_data: bool,
    event: Vec<u8>,
    has_event: bool,
    id: Vec<u8>,
    has_id: bool,
}

/// Incremental event-stream parser; see the [module docs](self).
#[derive(Debug)]
pub struct SseParser {
    max_line: usize,
    /// The start of a line whose end has not arrived yet.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a leading `\n` belongs to that line end.
    skip_lf: bool,
    pending: Pending,
    failed: Option<SseError>,
    /// Bytes of the stream's leading byte order mark matched so far;
    /// `BOM_DONE` once the start of the stream is behind.
    bom: u8,
}

/// The UTF-8 byte order mark, skipped at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";
const BOM_DONE: u8 = u8::MAX;

impl SseParser {
    /// A parser that refuses lines (and events' data) over `max_line_bytes`.
    pub fn new(max_line_bytes: usize) -> Self {
        SseParser {
            max_line: max_line_bytes.max(1),
            line: Vec::new(),
            skip_lf: false,
            pending: Pending::default(),
            failed: None,
            bom: 0,
        }
    }

    /// Parse `chunk`, calling `on_event` for every event it completes.
    ///
    /// After an error the parser stays failed: later calls return the same
    /// error without reading.
    pub fn feed(
        &mut self,
        mut chunk: &[u8],
        mut on_event: impl FnMut(SseEvent<'_>),
    ) -> Result<(), SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.bom != BOM_DONE {
            chunk = match self.skip_bom(chunk, &mut on_event) {
                Ok(Some(rest)) => rest,
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            };
        }
        if self.skip_lf && !chunk.is_empty() {
            self.skip_lf = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        let result = self.feed_inner(chunk, &mut on_event);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// At the stream's start: match `chunk` against the byte order mark.
    /// `None` while the chunk is all (a prefix of) the mark; else the bytes
    /// after it. A partial match that turns out not to be the mark is fed
    /// as ordinary bytes.
    fn skip_bom<'c>(
        &mut self,
        chunk: &'c [u8],
        on_event: &mut impl FnMut(SseEvent<'_>),
    ) -> Result<Option<&'c [u8]>, SseError> {
        let matched = usize::from(self.bom);
        let want = &BOM[matched..];
        let n = want.len().min(chunk.len());
        if chunk[..n] == want[..n] {
            if n < want.len() {
                self.bom += n as u8;
                return Ok(None);
            }
            self.bom = BOM_DONE;
            return Ok(Some(&chunk[n..]));
        }
        self.bom = BOM_DONE;
        if matched > 0 {
            self.feed_inner(&BOM[..matched], on_event)?;
        }
        Ok(Some(chunk))
    }

    fn feed_inner(
        &mut self,
        mut chunk: &[u8],
        on_event: &mut impl FnMut(SseEvent<'_>),
    ) -> Result<(), SseError> {
        while !chunk.is_empty() {
            let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') else {
                if self.line.len() + chunk.len() > self.max_line {
                    return Err(SseError::LineTooLong {
                        limit: self.max_line,
                    });
                }
                self.line.extend_from_slice(chunk);
                return Ok(());
            };
            let (body, term) = (&chunk[..end], chunk[end]);
            let mut next = end + 1;
            if term == b'\r' {
                match chunk.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            if self.line.is_empty() {
                if body.len() > self.max_line {
                    return Err(SseError::LineTooLong {
                        limit: self.max_line,
                    });
                }
                process_line(&mut self.pending, body, self.max_line, on_event)?;
            } else {
                if self.line.len() + body.len() > self.max_line {
                    return Err(SseError::LineTooLong {
                        limit: self.max_line,
                    });
                }
                self.line.extend_from_slice(body);
                let r = process_line(&mut self.pending, &self.line, self.max_line, on_event);
                self.line.clear();
                r?;
            }
            chunk = &chunk[next..];
        }
        Ok(())
    }

    /// True when the stream so far ended in the middle of a line or an event
    /// (an event without its closing blank line is never dispatched).
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty()
            || self.pending.has_data
            || self.pending.has_event
            || self.pending.has_id
    }

    /// Bytes buffered for an unfinished line.
    pub fn buffered(&self) -> usize {
        self.line.len()
    }
}

fn process_line(
    p: &mut Pending,
    line: &[u8],
    max: usize,
    on_event: &mut impl FnMut(SseEvent<'_>),
) -> Result<(), SseError> {
    if line.is_empty() {
        return dispatch(p, on_event);
    }
    if line[0] == b':' {
        return Ok(());
    }
    let (name, value) = match line.iter().position(|&b| b == b':') {
        Some(c) => {
            let v = &line[c + 1..];
            (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
        }
        None => (line, &b""[..]),
    };
    match name {
        b"data" => {
            let extra = value.len() + usize::from(p.has_data);
            if p.data.len() + extra > max {
                return Err(SseError::LineTooLong { limit: max });
            }
            if p.has_data {
                p.data.push(b'\n');
            }
            p.data.extend_from_slice(value);
            p.has_data = true;
        }
        b"event" => {
            p.event.clear();
            p.event.extend_from_slice(value);
            p.has_event = true;
        }
        b"id" if !value.contains(&0) => {
            p.id.clear();
            p.id.extend_from_slice(value);
            p.has_id = true;
        }
        _ => {}
    }
    Ok(())
}

fn dispatch(p: &mut Pending, on_event: &mut impl FnMut(SseEvent<'_>)) -> Result<(), SseError> {
    if p.has_data {
        let data = std::str::from_utf8(&p.data).map_err(|_| SseError::InvalidUtf8)?;
        let event = if p.has_event {
            Some(std::str::from_utf8(&p.event).map_err(|_| SseError::InvalidUtf8)?)
        } else {
            None
        };
        let id = if p.has_id {
            Some(std::str::from_utf8(&p.id).map_err(|_| SseError::InvalidUtf8)?)
        } else {
            None
        };
        on_event(SseEvent { event, data, id });
    }
    p.data.clear();
    p.event.clear();
    p.id.clear();
    p.has_data = false;
    p.has_event = false;
    p.has_id = false;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Ev {
        event: Option<String>,
        data: String,
        id: Option<String>,
    }

    fn parse_chunks(chunks: &[&[u8]], max: usize) -> Result<Vec<Ev>, SseError> {
        let mut p = SseParser::new(max);
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, |e| {
                out.push(Ev {
                    event: e.event.map(str::to_string),
                    data: e.data.to_string(),
                    id: e.id.map(str::to_string),
                })
            })?;
        }
        Ok(out)
    }

    fn ev(data: &str) -> Ev {
        Ev {
            event: None,
            data: data.into(),
            id: None,
        }
    }

    const STREAM: &str = concat!(
        ": keep-alive comment\r\n",
        "event: message\r\n",
        "id: 7\r\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"héllo ✓\"}}]}\r\n",
        "\r\n",
        "data:line one\n",
        "data: line two\n",
        "\n",
        "data: cr only\r\r",
        "retry: 100\n",
        "unknown: x\n",
        "data\n",
        "\n",
        "data: [DONE]\n\n",
    );

    fn expected() -> Vec<Ev> {
        vec![
            Ev {
                event: Some("message".into()),
                data: "{\"choices\":[{\"delta\":{\"content\":\"héllo ✓\"}}]}".into(),
                id: Some("7".into()),
            },
            ev("line one\nline two"),
            ev("cr only"),
            ev(""),
            ev("[DONE]"),
        ]
    }

    #[test]
    fn whole_stream() {
        assert_eq!(
            parse_chunks(&[STREAM.as_bytes()], 1 << 20).unwrap(),
            expected()
        );
    }

    #[test]
    fn split_at_every_offset() {
        let b = STREAM.as_bytes();
        for i in 0..=b.len() {
            let got = parse_chunks(&[&b[..i], &b[i..]], 1 << 20).unwrap();
            assert_eq!(got, expected(), "split at {i}");
        }
    }

    #[test]
    fn split_at_every_pair_of_offsets() {
        let b = STREAM.as_bytes();
        for i in 0..=b.len() {
            for j in i..=b.len() {
                let got = parse_chunks(&[&b[..i], &b[i..j], &b[j..]], 1 << 20).unwrap();
                assert_eq!(got, expected(), "split at {i},{j}");
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let b = STREAM.as_bytes();
        let chunks: Vec<&[u8]> = b.chunks(1).collect();
        assert_eq!(parse_chunks(&chunks, 1 << 20).unwrap(), expected());
    }

    #[test]
    fn crlf_split_between_cr_and_lf_is_one_line_end() {
        // If the \n after a chunk-final \r were taken as a second line end, the
        // event would be dispatched early and "b" would be a separate event.
        let got = parse_chunks(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"], 64).unwrap();
        assert_eq!(got, vec![ev("a\nb")]);
    }

    #[test]
    fn event_without_data_is_not_dispatched() {
        let got = parse_chunks(&[b"event: ping\n\nid: 3\n\n: c\n\n"], 64).unwrap();
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn oversized_line_is_an_error_not_a_buffer() {
        let mut p = SseParser::new(16);
        let r = p.feed(b"data: 0123456789", |_| {});
        assert!(r.is_ok());
        let r = p.feed(b"abcdef", |_| {});
        assert_eq!(r, Err(SseError::LineTooLong { limit: 16 }));
        assert!(p.buffered() <= 16);
        // Stays failed.
        assert!(
            p.feed(b"\n\n", |_| panic!("no event after failure"))
                .is_err()
        );
    }

    #[test]
    fn oversized_line_inside_one_chunk() {
        let line = format!("data: {}\n\n", "x".repeat(100));
        assert_eq!(
            parse_chunks(&[line.as_bytes()], 50),
            Err(SseError::LineTooLong { limit: 50 })
        );
        // Exactly at the limit is fine.
        let line = format!("data: {}\n\n", "x".repeat(44));
        assert_eq!(parse_chunks(&[line.as_bytes()], 50).unwrap().len(), 1);
    }

    #[test]
    fn many_data_lines_are_bounded_too() {
        let s = "data: 0123456789\n".repeat(10);
        assert_eq!(
            parse_chunks(&[s.as_bytes()], 50),
            Err(SseError::LineTooLong { limit: 50 })
        );
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert_eq!(
            parse_chunks(&[b"data: \xff\xfe\n\n"], 64),
            Err(SseError::InvalidUtf8)
        );
    }

    #[test]
    fn utf8_split_mid_sequence() {
        let s = "data: ✓✓\n\n".as_bytes();
        // The check mark is 3 bytes starting at offset 6.
        let got = parse_chunks(&[&s[..7], &s[7..8], &s[8..]], 64).unwrap();
        assert_eq!(got, vec![ev("✓✓")]);
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped_however_it_is_split() {
        let s = "\u{feff}data: a\n\ndata: \u{feff}b\n\n".as_bytes();
        let want = vec![ev("a"), ev("\u{feff}b")];
        for i in 0..=s.len() {
            for j in i..=s.len() {
                let got = parse_chunks(&[&s[..i], &s[i..j], &s[j..]], 64).unwrap();
                assert_eq!(got, want, "split at {i},{j}");
            }
        }
        // Only one, only at the start.
        let two = "\u{feff}\u{feff}data: a\n\n".as_bytes();
        let mut p = SseParser::new(64);
        let mut n = 0;
        p.feed(two, |_| n += 1).unwrap();
        assert_eq!(n, 0, "a second mark starts a field name, not data");
        // A partial mark that is not one is kept as bytes (here: not UTF-8).
        assert_eq!(parse_chunks(&[b"\xEF\xBB", b"data: x\n\n"], 64), Ok(vec![]));
    }

    #[test]
    fn partial_state_is_reported() {
        let mut p = SseParser::new(64);
        p.feed(b"data: x\n", |_| {}).unwrap();
        assert!(p.has_partial());
        p.feed(b"\n", |_| {}).unwrap();
        assert!(!p.has_partial());
        p.feed(b"data: y", |_| {}).unwrap();
        assert!(p.has_partial());
    }
}
