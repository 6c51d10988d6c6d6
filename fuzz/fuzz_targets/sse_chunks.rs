//! Fuzz target: the bounded SSE parser, fed one stream whole, split at fuzzer-chosen points,
//! and byte by byte.
//!
//! Input layout: byte 0 picks the bound (`1 + 4 * byte` bytes); byte 1 the number of cuts
//! (`byte % 16`); that many bytes give the chunk lengths; the rest is the stream (what
//! follows the last cut is the last chunk).
//!
//! Properties: nothing panics; no event's data, name (unless the default `message`) or id is
//! larger than the bound; how the stream is split changes neither the events, nor whether it
//! is refused, nor the last event id and retry.

#![no_main]

use forage_mcp::fuzzing::{SseOutcome, sse_events};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let [bound, cuts, rest @ ..] = input else {
        return;
    };
    let max_event = 1 + 4 * usize::from(*bound);
    let cuts = usize::from(*cuts % 16).min(rest.len());
    let (lengths, mut stream) = rest.split_at(cuts);
    let body = stream;
    let mut chunks = Vec::with_capacity(cuts + 1);
    for &len in lengths {
        let (chunk, tail) = stream.split_at(usize::from(len).min(stream.len()));
        chunks.push(chunk);
        stream = tail;
    }
    chunks.push(stream);

    let whole = sse_events(max_event, [body]);
    check_bound(&whole, max_event);
    let split = sse_events(max_event, chunks);
    assert_eq!(split, whole, "splitting the stream changed what was parsed");
    let bytes = sse_events(max_event, body.chunks(1));
    assert_eq!(
        bytes, whole,
        "feeding the stream byte by byte changed what was parsed"
    );
});

fn check_bound(outcome: &SseOutcome, max_event: usize) {
    for (event, data, id) in &outcome.events {
        assert!(
            data.len() <= max_event,
            "data of {} bytes, bound {max_event}",
            data.len()
        );
        // An event without an `event:` field is named `message`, whatever the bound.
        assert!(
            event.len() <= max_event || event == "message",
            "event name of {} bytes, bound {max_event}",
            event.len()
        );
        let id = id.as_deref().unwrap_or("");
        assert!(
            id.len() <= max_event,
            "id of {} bytes, bound {max_event}",
            id.len()
        );
    }
}
