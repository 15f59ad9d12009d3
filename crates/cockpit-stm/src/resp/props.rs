//! Property tests of the reply reader: arbitrary bytes (raw, RESP-shaped
//! with announced sizes up to `i64::MAX`, valid replies mutated or cut
//! short) split into arbitrary chunks, read under arbitrary small limits.
//! The reader never panics; reads every valid reply as the value it
//! encodes; reads the same replies — and the same first error — however
//! the bytes are split; and what it returns keeps (the capacities of its
//! buffers, measured) no more than [`ReplyLimits::memory_bound`]. An
//! allocation sized by an announcement before the bound is checked would
//! ask for up to 9 EB and abort the test. Each turn of the reader's loop
//! consumes at least one byte, so finite input always ends (at worst as
//! `Closed`).

use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use proptest::collection::vec;
use proptest::prelude::*;
use tokio::io::{AsyncRead, BufReader, ReadBuf};

use super::{ReadError, ReplyLimits, Value, read_reply};

/// Bytes handed out in chunks of the given sizes (cycled), as a socket
/// might: a reply's lines and payloads split anywhere.
struct Chunked {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    next: usize,
}

impl AsyncRead for Chunked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = &mut *self;
        let size = me.sizes[me.next % me.sizes.len()];
        me.next += 1;
        let n = size.min(me.data.len() - me.at).min(buf.remaining());
        buf.put_slice(&me.data[me.at..me.at + n]);
        me.at += n;
        Poll::Ready(Ok(()))
    }
}

/// Up to 8 replies read from `data` split by `sizes` through a buffer of
/// `capacity`, up to and including the first error (as its message).
fn read_all(
    data: &[u8],
    sizes: &[usize],
    capacity: usize,
    limits: ReplyLimits,
) -> Vec<Result<Value, String>> {
    let mut r = BufReader::with_capacity(
        capacity,
        Chunked {
            data: data.to_vec(),
            at: 0,
            sizes: sizes.to_vec(),
            next: 0,
        },
    );
    let mut out = Vec::with_capacity(8);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..8 {
        // The reader never waits on this source: one poll finishes it.
        let result = match pin!(read_reply(&mut r, limits)).poll(&mut cx) {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("the reader waited on a source that never blocks"),
        };
        let stop = result.is_err();
        out.push(result.map_err(|e| e.to_string()));
        if stop {
            break;
        }
    }
    out
}

/// The heap memory a reply keeps: its buffers' capacities.
fn kept(v: &Value) -> usize {
    match v {
        Value::Nil | Value::Int(_) => 0,
        Value::Text(t) => t.capacity(),
        Value::Error(e) => e.capacity(),
        Value::List(l) => {
            l.capacity() * std::mem::size_of::<Value>() + l.iter().map(kept).sum::<usize>()
        }
    }
}

/// The nesting of a reply (a flat list is 1) and its elements.
fn shape(v: &Value) -> (usize, usize) {
    match v {
        Value::List(l) => l
            .iter()
            .map(shape)
            .fold((1, l.len()), |(d, n), (cd, cn)| (d.max(cd + 1), n + cn)),
        _ => (0, 0),
    }
}

/// A valid reply and the value it reads as.
fn reply() -> impl Strategy<Value = (Vec<u8>, Value)> {
    let leaf = prop_oneof![
        "[ -~]{0,12}".prop_map(|s| (
            format!("+{s}\r\n").into_bytes(),
            Value::Text(s.into_bytes())
        )),
        "[ -~]{0,12}".prop_map(|s| (format!("-{s}\r\n").into_bytes(), Value::Error(s))),
        any::<i64>().prop_map(|i| (format!(":{i}\r\n").into_bytes(), Value::Int(i))),
        vec(any::<u8>(), 0..24).prop_map(|b| (blob(b'$', &b), Value::Text(b))),
        "[a-z]{0,12}".prop_map(|s| {
            (
                blob(b'=', format!("txt:{s}").as_bytes()),
                Value::Text(s.into_bytes()),
            )
        }),
        "[ -~]{0,12}".prop_map(|s| (blob(b'!', s.as_bytes()), Value::Error(s))),
        prop_oneof![Just("_"), Just("$-1"), Just("*-1")]
            .prop_map(|s| (format!("{s}\r\n").into_bytes(), Value::Nil)),
        prop_oneof![Just("#t"), Just(",1.5"), Just("(12345678901234567890")]
            .prop_map(|s| (format!("{s}\r\n").into_bytes(), Value::Text(s[1..].into()))),
    ];
    leaf.prop_recursive(4, 48, 4, |inner| {
        prop_oneof![
            (
                prop_oneof![Just(b'*'), Just(b'~'), Just(b'>')],
                vec(inner.clone(), 0..4)
            )
                .prop_map(|(kind, items)| {
                    let mut b = format!("{}{}\r\n", kind as char, items.len()).into_bytes();
                    let mut values = Vec::new();
                    for (bytes, v) in items {
                        b.extend(bytes);
                        values.push(v);
                    }
                    (b, Value::List(values))
                }),
            vec((inner.clone(), inner.clone()), 0..3).prop_map(|pairs| {
                let mut b = format!("%{}\r\n", pairs.len()).into_bytes();
                let mut values = Vec::new();
                for ((kb, k), (vb, v)) in pairs {
                    b.extend(kb);
                    b.extend(vb);
                    values.extend([k, v]);
                }
                (b, Value::List(values))
            }),
            // An attribute is read and dropped: the value after it is the reply.
            (inner.clone(), inner.clone(), inner).prop_map(|((kb, _), (vb, _), (b, v))| {
                let mut out = b"|1\r\n".to_vec();
                out.extend(kb);
                out.extend(vb);
                out.extend(b);
                (out, v)
            }),
        ]
    })
}

fn blob(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = format!("{}{}\r\n", kind as char, payload.len()).into_bytes();
    b.extend_from_slice(payload);
    b.extend_from_slice(b"\r\n");
    b
}

/// Pieces a hostile or broken server might send.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (
            prop_oneof![
                Just(b'*'),
                Just(b'~'),
                Just(b'>'),
                Just(b'%'),
                Just(b'|'),
                Just(b'$'),
                Just(b'='),
                Just(b'!'),
                Just(b':')
            ],
            prop_oneof![
                Just(-2i64),
                Just(-1),
                0i64..8,
                Just(99_999_999_999),
                Just(i64::MAX)
            ]
        )
            .prop_map(|(k, n)| format!("{}{n}\r\n", k as char).into_bytes()),
        prop::sample::select(vec![
            &b"\r\n"[..],
            b"\n",
            b"\r",
            b"+OK",
            b"_\r\n",
            b"*?\r\n",
            b"$3\r\nabcd\r\n",
        ])
        .prop_map(<[u8]>::to_vec),
        vec(any::<u8>(), 0..8),
        reply().prop_map(|(b, _)| b),
    ]
}

/// Arbitrary input: raw bytes, RESP-shaped fragments, pipelined valid
/// replies, and valid replies with a byte changed or cut short.
fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..128),
        vec(fragment(), 0..12).prop_map(|f| f.concat()),
        vec(reply(), 1..4).prop_map(|r| r.into_iter().flat_map(|(b, _)| b).collect()),
        (reply(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|((mut b, _), i, x)| {
            let at = i.index(b.len());
            b[at] = x;
            b
        }),
        (reply(), any::<prop::sample::Index>())
            .prop_map(|((b, _), i)| b[..i.index(b.len())].to_vec()),
    ]
}

fn limits() -> impl Strategy<Value = ReplyLimits> {
    prop_oneof![
        Just(ReplyLimits::default()),
        (1usize..600, 0usize..8, 0usize..80).prop_map(|(max_bytes, max_depth, max_elements)| {
            ReplyLimits {
                max_bytes,
                max_depth,
                max_elements,
            }
        }),
    ]
}

proptest! {
    // Bounded so CI stays fast; each case reads in memory.
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_any_split_read_the_same_within_the_limits(
        data in input(),
        sizes in vec(1usize..40, 1..8),
        capacity in 1usize..64,
        limits in limits(),
    ) {
        let whole = read_all(&data, &[usize::MAX], 8192, limits);
        let split = read_all(&data, &sizes, capacity, limits);
        prop_assert_eq!(&whole, &split);
        for v in whole.iter().flatten() {
            let (depth, elements) = shape(v);
            prop_assert!(depth <= limits.max_depth, "{:?}", v);
            prop_assert!(elements <= limits.max_elements, "{:?}", v);
            prop_assert!(kept(v) <= limits.memory_bound(), "{:?}", v);
        }
    }

    #[test]
    fn every_valid_reply_reads_as_what_it_encodes(
        (bytes, value) in reply(),
        sizes in vec(1usize..16, 1..6),
    ) {
        let read = read_all(&bytes, &sizes, 16, ReplyLimits::default());
        prop_assert_eq!(&read[0], &Ok(value));
        // Nothing is left over: the next read finds the end.
        prop_assert_eq!(&read[1], &Err(ReadError::Closed.to_string()));
    }
}

#[test]
fn the_largest_replies_the_limits_allow_keep_within_the_bound() {
    let limits = ReplyLimits {
        max_bytes: 1 << 16,
        max_depth: 8,
        max_elements: 2000,
    };
    let mut most_elements = b"*2000\r\n".to_vec();
    most_elements.extend(b"$1\r\nx\r\n".repeat(2000));
    let mut deepest = b"*1\r\n".repeat(8);
    deepest.extend(b":1\r\n");
    for data in [blob(b'=', &[b'x'; (1 << 16) - 10]), most_elements, deepest] {
        let read = read_all(&data, &[7], 5, limits);
        let v = read[0].as_ref().expect("within the limits");
        assert!(
            kept(v) <= limits.memory_bound(),
            "{} > {}",
            kept(v),
            limits.memory_bound()
        );
    }
    // One more element, byte or level is refused.
    let mut too_many = b"*2001\r\n".to_vec();
    too_many.extend(b"_\r\n".repeat(2001));
    let mut too_deep = b"*1\r\n".repeat(9);
    too_deep.extend(b":1\r\n");
    for data in [blob(b'$', &[b'x'; (1 << 16) - 7]), too_many, too_deep] {
        assert!(read_all(&data, &[7], 5, limits)[0].is_err());
    }
}
