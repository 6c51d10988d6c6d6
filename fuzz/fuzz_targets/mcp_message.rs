//! Fuzz target: JSON-RPC messages from an MCP server, as a direct `tools/call` routes them
//! (its reply, notifications, requests from the server), the rendering of a `tools/call`
//! result for the model, and the legacy SSE transport's message parsing.
//!
//! Properties: nothing panics; the answer to a server request is well-formed JSON-RPC that
//! echoes the request's id and names its method; a rendered result's size is its text's.

#![no_main]

use forage_mcp::fuzzing::{Routed, parse_server_message, render_call_result, route_server_message};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The id of the call the message is routed for, as the client numbers them.
const CALL_ID: &str = r#""forage-7""#;

/// A server request, read as far as the answer must mirror it.
#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    method: String,
}

/// The answer forage posts back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer<'a> {
    jsonrpc: String,
    #[serde(borrow)]
    id: &'a RawValue,
    #[serde(default)]
    result: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    error: Option<AnswerError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerError {
    code: i64,
    message: String,
}

fuzz_target!(|message: &[u8]| {
    match route_server_message(message, CALL_ID) {
        Routed::Reply(Ok(output)) => assert_eq!(output.bytes, output.text.len()),
        Routed::Reply(Err(error)) => assert!(!error.is_empty()),
        Routed::Answer(answer) => check_answer(message, &answer),
        Routed::Continue => {}
    }
    if let Some(output) = render_call_result(message) {
        assert_eq!(output.bytes, output.text.len());
    }
    if let Ok(text) = std::str::from_utf8(message) {
        parse_server_message(text);
    }
});

fn check_answer(message: &[u8], answer: &str) {
    // Only a JSON object with an id and a method (a request) is answered.
    assert!(
        message.trim_ascii_start().starts_with(b"{"),
        "only a JSON object is answered"
    );
    let request: Request = serde_json::from_slice(message)
        .expect("only a request with an id and a method is answered");
    let (id, method) = (request.id, request.method);
    let answer: Answer = match serde_json::from_str(answer) {
        Ok(answer) => answer,
        Err(e) => panic!("the answer is not JSON-RPC ({e}): {answer}"),
    };
    assert_eq!(answer.jsonrpc, "2.0");
    assert_eq!(answer.id.get(), id.get(), "the answer must echo the id");
    match (answer.result, answer.error) {
        (Some(result), None) => {
            assert_eq!(method, "ping");
            assert!(result.is_empty());
        }
        (None, Some(error)) => {
            assert_ne!(method, "ping");
            assert_eq!(error.code, -32601);
            assert_eq!(error.message, format!("forage does not offer {method}"));
        }
        _ => panic!("an answer carries a result or an error"),
    }
}
