//! Request bodies the `api_request` fuzz target (fuzz/) found crashing the server's parsing and
//! validation, kept as regression tests: each is refused with a client error, without a panic.

use forage_api::TaskGroupRunCreate;
use forage_api::validate::{RequestLimits, Unsupported, parse_create, parse_json_body};
use serde_json::json;

/// A field name with brackets of its own (an unknown field, a metadata key) made the error's
/// location (`detail.loc`) parser slice out of bounds.
#[test]
fn field_names_with_brackets_of_their_own_are_refused_without_a_panic() {
    let limits = RequestLimits::default();
    for (body, loc) in [
        // The fuzzer's input, as found.
        (r#"{"me][]]]]ls""tkne"#, json!(["body", "me][]]]]ls"])),
        (
            r#"{"input": "x", "processor": "lite", "a[0]]": 1}"#,
            json!(["body", "a[0]]"]),
        ),
        (
            r#"{"input": "x", "processor": "lite", "metadata": {"[]]": []}}"#,
            json!(["body", "metadata", "[]]"]),
        ),
        (
            r#"{"input": "x", "processor": "lite", "metadata": {"[]]0123456789abcdef": "v"}}"#,
            json!(["body", "metadata", "[]]0123456789abcdef"]),
        ),
    ] {
        let err = parse_create(body.as_bytes(), &limits, &Unsupported::default()).unwrap_err();
        assert_eq!(err.status, 422, "{body}: {}", err.message);
        assert_eq!(err.detail.unwrap()["loc"], loc, "{body}");
    }
    let err = parse_json_body::<TaskGroupRunCreate>(br#"{"inputs": [], "x[]]": 1}"#, &limits)
        .unwrap_err();
    assert_eq!(err.status, 422, "{}", err.message);
}
