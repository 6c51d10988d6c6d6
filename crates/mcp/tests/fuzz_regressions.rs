//! Server messages the `mcp_message` and `sse_chunks` fuzz targets (fuzz/) found mishandled,
//! kept as regression tests through the same entry points (`forage_mcp::fuzzing`).

use forage_mcp::fuzzing::{Routed, route_server_message, sse_events};
use serde_json::{Value, json};

/// The answer to a server request whose method has a quote, a non-ASCII letter or a control
/// character in it was not JSON (the name was escaped the Rust way: `\'`, `\u{e9}`).
#[test]
fn the_answer_to_any_server_request_is_json_rpc() {
    for method in [
        "it's",
        "caf\u{e9}",
        "tab\there",
        "quote\"back\\slash",
        "\u{1f}",
    ] {
        let message = json!({"jsonrpc": "2.0", "id": 9, "method": method}).to_string();
        let Routed::Answer(answer) = route_server_message(message.as_bytes(), r#""forage-1""#)
        else {
            panic!("a server request must be answered: {message}");
        };
        let answer: Value =
            serde_json::from_str(&answer).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"));
        assert_eq!(
            answer,
            json!({"jsonrpc": "2.0", "id": 9, "error": {
                "code": -32601, "message": format!("forage does not offer {method}")}})
        );
    }
    let Routed::Answer(answer) =
        route_server_message(br#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#, r#""x""#)
    else {
        panic!("a ping must be answered");
    };
    assert_eq!(answer, r#"{"jsonrpc":"2.0","id":"p","result":{}}"#);
}

/// A JSON array was read as a message (serde reads a struct from an array, field by field), so
/// `["id", "method"]` got an answer as if it were a request. The fuzzer's input, as found.
#[test]
fn an_array_is_no_json_rpc_message() {
    for message in [
        "[\"js4B\",\n\"cot\",1] \n\n",
        r#"["forage-7", null, {"content": []}]"#,
    ] {
        match route_server_message(message.as_bytes(), r#""forage-7""#) {
            Routed::Reply(Err(error)) => assert!(error.contains("not a JSON object"), "{error}"),
            other => panic!("{message:?} must be refused, got {other:?}"),
        }
    }
}

/// Invalid UTF-8 grew three-fold when decoded, so an event within the bound as bytes was
/// dispatched larger than the bound. The fuzzer's input, as found (bound 129 bytes).
#[test]
fn no_event_larger_than_the_bound_from_invalid_utf8() {
    let mut stream = b"event: e".to_vec();
    stream.extend_from_slice(&[0xff; 47]);
    stream.extend_from_slice(b"ndpoint\ndata: /messages?s/epsion_id=abc\n\n");
    let outcome = sse_events(129, [stream.as_slice()]);
    assert!(outcome.refused);
    assert!(outcome.events.is_empty(), "{:?}", outcome.events);
}
