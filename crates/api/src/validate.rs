//! Validation of a create-run request: body parsing with field paths, limits, schemas, MCP servers.

use std::collections::HashSet;

use serde_json::Value;

use crate::create::{Input, McpServer, Metadata, MetadataValue, TaskRunCreate};
use crate::error::ApiError;
use crate::processor::Processor;
use crate::run::{Warning, WarningKind};
use crate::spec::{InputSchema, OutputSchema, TaskSpec};

/// Limits on what a client may send. Defaults follow Parallel where it documents one.
#[derive(Clone, Debug)]
pub struct RequestLimits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Deepest accepted JSON nesting.
    pub max_json_depth: usize,
    /// Task spec and input together, in characters (Parallel: 25,000).
    pub max_input_chars: usize,
    /// Largest output/input JSON Schema, serialized.
    pub max_schema_bytes: usize,
    pub max_mcp_servers: usize,
    pub max_metadata_entries: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_body_bytes: 1024 * 1024,
            max_json_depth: 64,
            max_input_chars: 25_000,
            max_schema_bytes: 64 * 1024,
            max_mcp_servers: 10,
            max_metadata_entries: 64,
        }
    }
}

/// A create request that passed validation, with what validation worked out.
#[derive(Clone, Debug)]
pub struct ValidatedCreate {
    pub request: TaskRunCreate,
    pub processor: Processor,
    pub task_spec: TaskSpec,
    /// Spec warnings to attach to the run (e.g. basis-like output field names).
    pub warnings: Vec<Warning>,
}

/// Fields forage parses and validates but whose feature this build does not serve yet.
/// Each is refused with a 422 naming the field rather than silently ignored.
#[derive(Clone, Debug, Default)]
pub struct Unsupported {
    pub fields: Vec<(&'static str, &'static str)>,
}

/// Parses and validates a create-run body.
pub fn parse_create(
    body: &[u8],
    limits: &RequestLimits,
    unsupported: &Unsupported,
) -> Result<ValidatedCreate, ApiError> {
    let request: TaskRunCreate = parse_json_body(body, limits)?;
    validate_create(request, limits, unsupported)
}

/// Parses a JSON body into `T`, reporting the path of the offending field.
pub fn parse_json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    limits: &RequestLimits,
) -> Result<T, ApiError> {
    if body.len() > limits.max_body_bytes {
        return Err(ApiError::payload_too_large(limits.max_body_bytes));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "Request body is empty: send a JSON object",
        ));
    }
    check_depth(body, limits.max_json_depth)?;
    check_root_is_object(body)?;
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("Malformed JSON in request body: {inner}"))
        } else {
            let field = if path == "." { String::new() } else { path };
            ApiError::invalid_field(&field, humanize(&strip_position(&inner.to_string())))
        }
    })
}

/// serde's messages name Rust types (`expected struct TaskSpec`); a client needs JSON words.
fn humanize(message: &str) -> String {
    if message.starts_with("data did not match any variant") {
        return "has an unexpected form".to_owned();
    }
    match message.find(", expected struct ") {
        Some(at) => format!("{}, expected an object", &message[..at]),
        None => message
            .replace("expected a map", "expected an object")
            .replace("expected a sequence", "expected an array"),
    }
}

/// serde_json appends " at line L column C"; the field path says more to a client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// Refuses a body whose top level is not a JSON object, naming what it is instead.
fn check_root_is_object(body: &[u8]) -> Result<(), ApiError> {
    let found = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => return Ok(()),
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b'-' | b'0'..=b'9') => "a number",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        // Not JSON at all: the parser's message says where.
        _ => return Ok(()),
    };
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Err(ApiError::bad_request(format!(
            "Malformed JSON in request body: {e}"
        )));
    }
    Err(ApiError::invalid_field(
        "",
        format!("the request body must be a JSON object, got {found}"),
    ))
}

/// Refuses JSON nested deeper than `max_depth`, before parsing it.
fn check_depth(body: &[u8], max_depth: usize) -> Result<(), ApiError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return Err(ApiError::bad_request(format!(
                        "Request body is nested too deeply: the limit is {max_depth} levels"
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Validates a parsed create request.
pub fn validate_create(
    request: TaskRunCreate,
    limits: &RequestLimits,
    unsupported: &Unsupported,
) -> Result<ValidatedCreate, ApiError> {
    let processor: Processor = request
        .processor
        .parse()
        .map_err(|_| ApiError::invalid_processor(&request.processor))?;
    for (field, why) in &unsupported.fields {
        if is_set(&request, field) {
            return Err(ApiError::invalid_field(field, *why));
        }
    }
    let task_spec = request.task_spec.clone().unwrap_or_default();
    let mut warnings = Vec::new();

    validate_input_size(&request.input, &task_spec, limits)?;
    if let Some(metadata) = &request.metadata {
        validate_metadata(metadata, limits)?;
    }
    validate_output_schema(&task_spec.output_schema, limits, &mut warnings)?;
    if let Some(input_schema) = &task_spec.input_schema {
        validate_input_against(input_schema, &request.input, limits)?;
    }
    if let Some(servers) = &request.mcp_servers {
        validate_mcp_servers(servers, limits)?;
    }
    if let Some(webhook) = &request.webhook {
        validate_http_url("webhook.url", &webhook.url)?;
        for (i, kind) in webhook.event_types.iter().flatten().enumerate() {
            if kind != "task_run.status" {
                return Err(ApiError::invalid_field(
                    &format!("webhook.event_types[{i}]"),
                    format!("unknown event type '{kind}', expected 'task_run.status'"),
                ));
            }
        }
    }
    if let Some(policy) = &request.source_policy {
        let count = policy.include_domains.iter().flatten().count()
            + policy.exclude_domains.iter().flatten().count();
        if count > 200 {
            return Err(ApiError::invalid_field(
                "source_policy",
                format!("{count} domains listed; the limit is 200 in all"),
            ));
        }
        for (list, entries) in [
            ("include_domains", &policy.include_domains),
            ("exclude_domains", &policy.exclude_domains),
        ] {
            for (i, entry) in entries.iter().flatten().enumerate() {
                if let Some(problem) = domain_entry_problem(entry) {
                    return Err(ApiError::invalid_field(
                        &format!("source_policy.{list}[{i}]"),
                        format!(
                            "'{}' {problem}",
                            entry.chars().take(100).collect::<String>()
                        ),
                    ));
                }
            }
        }
        if let Some(date) = &policy.after_date
            && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err()
        {
            return Err(ApiError::invalid_field(
                "source_policy.after_date",
                format!("'{date}' is not a date in the form YYYY-MM-DD"),
            ));
        }
    }
    if let Some(previous) = &request.previous_interaction_id
        && previous.trim().is_empty()
    {
        return Err(ApiError::invalid_field(
            "previous_interaction_id",
            "must not be empty",
        ));
    }
    Ok(ValidatedCreate {
        request,
        processor,
        task_spec,
        warnings,
    })
}

/// What is wrong with a source-policy entry (`example.com`, `example.com/blog`, `.gov`), if
/// anything: an entry that names no domain would otherwise be ignored, and an include list of
/// such entries would restrict nothing.
fn domain_entry_problem(entry: &str) -> Option<&'static str> {
    let text = entry.trim();
    let text = text.split_once("://").map_or(text, |(_, rest)| rest);
    let host = text
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    if text.len() > 300 {
        Some("is longer than 300 characters")
    } else if text.chars().any(char::is_whitespace) {
        Some("contains whitespace; give a domain such as example.com")
    } else if host.is_empty() || !host.chars().next().is_some_and(char::is_alphanumeric) {
        Some("names no domain; give a domain such as example.com, example.com/blog or .gov")
    } else {
        None
    }
}

fn is_set(request: &TaskRunCreate, field: &str) -> bool {
    match field {
        "mcp_servers" => request.mcp_servers.as_ref().is_some_and(|s| !s.is_empty()),
        "webhook" => request.webhook.is_some(),
        "source_policy" => request.source_policy.is_some(),
        "enable_events" => request.enable_events == Some(true),
        "memory_scope_key" => request.memory_scope_key.is_some(),
        "advanced_settings" => request
            .advanced_settings
            .as_ref()
            .is_some_and(|v| !v.is_null()),
        _ => false,
    }
}

fn validate_input_size(
    input: &Input,
    spec: &TaskSpec,
    limits: &RequestLimits,
) -> Result<(), ApiError> {
    let spec_chars = serde_json::to_string(spec).map_or(0, |s| s.chars().count());
    let total = input.char_len() + spec_chars;
    if total > limits.max_input_chars {
        return Err(ApiError::invalid_field(
            "input",
            format!(
                "task spec and input together are {total} characters; the limit is {}",
                limits.max_input_chars
            ),
        ));
    }
    Ok(())
}

fn validate_metadata(metadata: &Metadata, limits: &RequestLimits) -> Result<(), ApiError> {
    if metadata.len() > limits.max_metadata_entries {
        return Err(ApiError::invalid_field(
            "metadata",
            format!(
                "{} entries; the limit is {}",
                metadata.len(),
                limits.max_metadata_entries
            ),
        ));
    }
    for (key, value) in metadata {
        if key.is_empty() || key.chars().count() > 16 {
            return Err(ApiError::invalid_field(
                &format!("metadata.{key}"),
                "keys must be 1 to 16 characters",
            ));
        }
        let len = match value {
            MetadataValue::String(s) => s.chars().count(),
            MetadataValue::Number(n) => n.to_string().len(),
            MetadataValue::Bool(_) => 0,
        };
        if len > 512 {
            return Err(ApiError::invalid_field(
                &format!("metadata.{key}"),
                "values must be at most 512 characters",
            ));
        }
    }
    Ok(())
}

/// Field names that duplicate what `basis` already carries.
const BASIS_LIKE_FIELDS: [&str; 7] = [
    "citations",
    "confidence",
    "evidence",
    "reasoning",
    "source",
    "sources",
    "source_urls",
];

fn validate_output_schema(
    schema: &OutputSchema,
    limits: &RequestLimits,
    warnings: &mut Vec<Warning>,
) -> Result<(), ApiError> {
    let OutputSchema::Json { json_schema } = schema else {
        return Ok(());
    };
    let field = "task_spec.output_schema.json_schema";
    compile_schema(field, json_schema, limits)?;
    if json_schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(ApiError::invalid_field(
            field,
            "the root of an output schema must be `\"type\": \"object\"`",
        ));
    }
    if let Some(properties) = json_schema.get("properties").and_then(Value::as_object) {
        for name in properties.keys() {
            if BASIS_LIKE_FIELDS.contains(&name.as_str()) {
                warnings.push(Warning::new(
                    WarningKind::SpecValidationWarning,
                    format!(
                        "Output field '{name}' duplicates what the run's basis already provides (citations, reasoning, confidence per field)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn validate_input_against(
    schema: &InputSchema,
    input: &Input,
    limits: &RequestLimits,
) -> Result<(), ApiError> {
    let InputSchema::Json { json_schema } = schema else {
        return Ok(());
    };
    let field = "task_spec.input_schema.json_schema";
    let validator = compile_schema(field, json_schema, limits)?;
    let instance = match input {
        Input::Object(object) => Value::Object(object.clone()),
        Input::Text(_) => {
            return Err(ApiError::invalid_field(
                "input",
                "the task spec has a JSON input schema, so input must be an object matching it",
            ));
        }
    };
    let problems: Vec<String> = validator
        .iter_errors(&instance)
        .take(5)
        .map(|e| describe_schema_error(&e))
        .collect();
    if !problems.is_empty() {
        return Err(ApiError::invalid_field(
            "input",
            format!("does not match input_schema: {}", problems.join("; ")),
        ));
    }
    Ok(())
}

/// One validation failure in words: where it is and what is wrong.
pub fn describe_schema_error(error: &jsonschema::ValidationError<'_>) -> String {
    let at = error.instance_path().to_string();
    if at.is_empty() {
        error.to_string()
    } else {
        format!("at {at}: {error}")
    }
}

/// Compiles a JSON Schema (draft from `$schema`, else 2020-12; draft-07 works too).
pub fn compile_schema(
    field: &str,
    schema: &Value,
    limits: &RequestLimits,
) -> Result<jsonschema::Validator, ApiError> {
    let size = serde_json::to_string(schema).map_or(0, |s| s.len());
    if size > limits.max_schema_bytes {
        return Err(ApiError::invalid_field(
            field,
            format!(
                "schema is {size} bytes; the limit is {}",
                limits.max_schema_bytes
            ),
        ));
    }
    if !schema.is_object() {
        return Err(ApiError::invalid_field(
            field,
            "must be a JSON Schema object",
        ));
    }
    jsonschema::validator_for(schema)
        .map_err(|e| ApiError::invalid_field(field, format!("invalid JSON Schema: {e}")))
}

fn validate_mcp_servers(servers: &[McpServer], limits: &RequestLimits) -> Result<(), ApiError> {
    if servers.len() > limits.max_mcp_servers {
        return Err(ApiError::invalid_field(
            "mcp_servers",
            format!(
                "{} servers given; the limit is {}",
                servers.len(),
                limits.max_mcp_servers
            ),
        ));
    }
    let mut names = HashSet::new();
    for (i, server) in servers.iter().enumerate() {
        let at = |field: &str| format!("mcp_servers[{i}].{field}");
        if server.server_type != "url" {
            return Err(ApiError::invalid_field(
                &at("type"),
                format!(
                    "'{}' is not supported; the only type is 'url'",
                    server.server_type
                ),
            ));
        }
        let name = server.name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(ApiError::invalid_field(
                &at("name"),
                "must be 1 to 64 characters",
            ));
        }
        if !names.insert(name.to_owned()) {
            return Err(ApiError::invalid_field(
                &at("name"),
                format!("'{name}' names two servers; names must be unique"),
            ));
        }
        validate_http_url(&at("url"), &server.url)?;
        for (header, value) in server.headers.iter().flatten() {
            let valid_name = !header.is_empty()
                && header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid_name {
                return Err(ApiError::invalid_field(
                    &at("headers"),
                    format!("'{header}' is not a valid HTTP header name"),
                ));
            }
            if value
                .expose()
                .bytes()
                .any(|b| b == b'\r' || b == b'\n' || b == 0)
            {
                return Err(ApiError::invalid_field(
                    &format!("mcp_servers[{i}].headers.{header}"),
                    "header values must not contain line breaks or NUL",
                ));
            }
        }
        for (j, tool) in server.allowed_tools.iter().flatten().enumerate() {
            if tool.trim().is_empty() {
                return Err(ApiError::invalid_field(
                    &at(&format!("allowed_tools[{j}]")),
                    "tool names must not be empty",
                ));
            }
        }
    }
    Ok(())
}

fn validate_http_url(field: &str, text: &str) -> Result<(), ApiError> {
    let url = url::Url::parse(text)
        .map_err(|e| ApiError::invalid_field(field, format!("'{text}' is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::invalid_field(
            field,
            format!(
                "scheme '{}' is not allowed; use http or https",
                url.scheme()
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::invalid_field(field, "the URL has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<ValidatedCreate, ApiError> {
        parse_create(
            body.as_bytes(),
            &RequestLimits::default(),
            &Unsupported::default(),
        )
    }

    #[test]
    fn source_policy_entries_must_name_a_domain() {
        for good in [
            "example.com",
            "https://www.example.com/blog/",
            ".gov",
            "*.edu",
            "bücher.example",
        ] {
            let body = format!(
                r#"{{"input": "q", "processor": "lite", "source_policy": {{"include_domains": ["{good}"]}}}}"#
            );
            assert!(parse(&body).is_ok(), "{good} is refused");
        }
        for bad in ["", "   ", "/blog", "https://", ".", "exa mple.com", "-"] {
            let body = format!(
                r#"{{"input": "q", "processor": "lite", "source_policy": {{"exclude_domains": ["ok.com", "{bad}"]}}}}"#
            );
            let err = parse(&body).expect_err(bad);
            assert!(
                err.to_string().contains("source_policy.exclude_domains[1]"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_says_what_it_is() {
        for (body, kind) in [
            ("[1, 2]", "an array"),
            ("\"hello\"", "a string"),
            ("42", "a number"),
            ("null", "null"),
            ("true", "a boolean"),
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.status, 422, "{body}");
            assert!(
                err.message
                    .contains(&format!("must be a JSON object, got {kind}")),
                "{body}: {}",
                err.message
            );
        }
        assert_eq!(
            parse("[1, 2").unwrap_err().status,
            400,
            "malformed JSON stays a 400"
        );
    }

    #[test]
    fn wrong_kinds_of_input_and_metadata_are_named() {
        let err = parse(r#"{"input": [1], "processor": "lite"}"#).unwrap_err();
        assert!(
            err.message
                .contains("input: must be a string or a JSON object, got an array"),
            "{}",
            err.message
        );
        let err = parse(r#"{"input": "x", "processor": "lite", "metadata": {"k": {"a": 1}}}"#)
            .unwrap_err();
        assert!(
            err.message
                .contains("metadata.k: metadata values must be a string, number or boolean"),
            "{}",
            err.message
        );
    }

    #[test]
    fn error_messages_never_name_rust_types() {
        for body in [
            r#"{"input": 5, "processor": "lite"}"#,
            r#"{"input": "x", "processor": 5}"#,
            r#"{"input": "x", "processor": "lite", "task_spec": 3}"#,
        ] {
            let err = parse(body).unwrap_err();
            assert!(
                !err.message.contains("struct") && !err.message.contains("enum"),
                "{body}: {}",
                err.message
            );
        }
    }
}
