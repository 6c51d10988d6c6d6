//! Fuzz target: request bodies of the Task API (create a run, create a task group, add runs to
//! a group) through the parsing and validation the server applies to them.
//!
//! Properties: nothing panics; a refused body gets a client error (4xx) with a message; an
//! accepted create request re-serialises, parses back to the same request (as echoed, secrets
//! redacted) and validates again.

#![no_main]

use forage_api::validate::{
    RequestLimits, Unsupported, ValidatedCreate, parse_create, parse_json_body, validate_create,
};
use forage_api::{ApiError, TaskGroupCreate, TaskGroupRunCreate, TaskRunCreate};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|body: &[u8]| {
    let limits = RequestLimits::default();
    // Everything validated, and the fields the server refuses as not available yet.
    let open = Unsupported::default();
    let server = Unsupported {
        fields: vec![
            ("source_policy", "not available"),
            ("memory_scope_key", "not available"),
            ("advanced_settings", "not available"),
        ],
    };
    for unsupported in [&open, &server] {
        match parse_create(body, &limits, unsupported) {
            Ok(valid) => check_accepted(&valid, &limits, unsupported),
            Err(err) => check_refused(&err),
        }
    }
    check_group_create(body, &limits, &open);
    check_group_runs(body, &limits, &open);
});

fn check_refused(err: &ApiError) {
    assert!(
        matches!(err.status, 400 | 403 | 413 | 422),
        "a refused body must get a client error, got {}: {}",
        err.status,
        err.message
    );
    assert!(!err.message.is_empty(), "an error without a message");
    serde_json::to_vec(&err.to_response()).expect("the error response serialises");
}

fn check_accepted(valid: &ValidatedCreate, limits: &RequestLimits, unsupported: &Unsupported) {
    let text = serde_json::to_vec(&valid.request).expect("an accepted request serialises");
    let again: TaskRunCreate =
        serde_json::from_slice(&text).expect("a serialised request parses back");
    assert!(
        same_json(&again.to_echo(), &valid.request.to_echo()),
        "the request changed through serialisation: {:?} became {:?}",
        valid.request.to_echo(),
        again.to_echo()
    );
    if let Err(err) = validate_create(again, limits, unsupported) {
        panic!("a re-serialised valid request is refused: {}", err.message);
    }
    serde_json::to_vec(&valid.task_spec).expect("the task spec serialises");
}

/// `POST /v1/tasks/groups`: the body, then its metadata validated as a run's would be.
fn check_group_create(body: &[u8], limits: &RequestLimits, unsupported: &Unsupported) {
    match parse_json_body::<TaskGroupCreate>(body, limits) {
        Ok(request) => {
            if let Some(metadata) = &request.metadata {
                let probe = json!({"input": "x", "processor": "lite", "metadata": metadata});
                let probe: TaskRunCreate =
                    serde_json::from_value(probe).expect("group metadata fits a run's");
                if let Err(err) = validate_create(probe, limits, unsupported) {
                    check_refused(&err);
                }
            }
        }
        Err(err) => check_refused(&err),
    }
}

/// `POST /v1/tasks/groups/{id}/runs`: the body, then each input (with the default task spec
/// where it has none) validated as a create request.
fn check_group_runs(body: &[u8], limits: &RequestLimits, unsupported: &Unsupported) {
    let request = match parse_json_body::<TaskGroupRunCreate>(body, limits) {
        Ok(request) => request,
        Err(err) => return check_refused(&err),
    };
    let default_spec = request
        .default_task_spec
        .as_ref()
        .map(|spec| serde_json::to_value(spec).expect("a task spec serialises"));
    for mut input in request.inputs.into_iter().take(64) {
        if let (Some(spec), Value::Object(fields)) = (&default_spec, &mut input)
            && fields.get("task_spec").is_none_or(Value::is_null)
        {
            fields.insert("task_spec".into(), spec.clone());
        }
        if let Ok(run) = serde_json::from_value::<TaskRunCreate>(input) {
            match validate_create(run, limits, unsupported) {
                Ok(valid) => check_accepted(&valid, limits, unsupported),
                Err(err) => check_refused(&err),
            }
        }
    }
}

/// JSON equality, with floating-point numbers compared as equal when they differ by rounding
/// only (serde_json's default float parsing is not exactly round-trip).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= f64::EPSILON * 4.0 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same_json(vx, vy))
        }
        _ => a == b,
    }
}
