//! Property tests of the SSE parser (outside input, byte by byte from the
//! network): arbitrary bytes split at arbitrary places never panic, give
//! the same events and the same first error however they are split, and
//! never buffer past the line bound. A bounded number of cases (CI runs
//! them every time); `PROPTEST_CASES` raises it.

use cockpit_probe::sse::{SseError, SseParser};
use proptest::prelude::*;

/// Events as owned `(event, data, id)`, and the first error.
type Parsed = (
    Vec<(Option<String>, String, Option<String>)>,
    Option<SseError>,
);

/// Feed `bytes` cut at `cuts` (positions, any order) into a parser
/// bounded at `limit`; checks the buffer bound after every chunk.
fn parse(bytes: &[u8], cuts: &[usize], limit: usize) -> Parsed {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    let mut p = SseParser::new(limit);
    let mut events = Vec::new();
    let mut error = None;
    for w in points.windows(2) {
        let r = p.feed(&bytes[w[0]..w[1]], |e| {
            events.push((
                e.event.map(str::to_string),
                e.data.to_string(),
                e.id.map(str::to_string),
            ))
        });
        // An unfinished line never grows past the bound (a few bytes of
        // a line ending aside) before the parser refuses it.
        assert!(
            p.buffered() <= limit + 4,
            "buffered {} with a {limit}-byte bound",
            p.buffered()
        );
        if let Err(e) = r {
            error = Some(e);
            break;
        }
    }
    (events, error)
}

/// Bytes that look like an event stream: field lines, comments, blank
/// lines, every line ending, a byte order mark, and raw noise.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b"event: delta".to_vec()),
        Just(b"id: 7".to_vec()),
        Just(b": keep-alive".to_vec()),
        Just(b"retry: 10".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just("\u{feff}".as_bytes().to_vec()),
        Just(b"{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}".to_vec()),
        Just(b"[DONE]".to_vec()),
        Just("é漢".as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..24),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn splitting_never_changes_what_is_parsed(
        bytes in stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        limit in 8usize..256,
    ) {
        let whole = parse(&bytes, &[], limit);
        let split = parse(&bytes, &cuts, limit);
        prop_assert_eq!(&whole, &split);
        // Byte by byte, the hardest split.
        let every: Vec<usize> = (0..=bytes.len()).collect();
        prop_assert_eq!(&whole, &parse(&bytes, &every, limit));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..32),
        limit in 1usize..64,
    ) {
        let (events, _) = parse(&bytes, &cuts, limit);
        for (_, data, _) in &events {
            prop_assert!(data.len() <= limit, "data of {} bytes past {limit}", data.len());
        }
    }
}
