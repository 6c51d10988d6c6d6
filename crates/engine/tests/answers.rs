//! The engine answers text, json and auto tasks with validated content and a basis per field.

mod common;

use common::*;
use forage_api::{OutputSchema, TaskOutput};
use serde_json::json;

#[tokio::test]
async fn text_task_gets_a_text_answer_with_an_output_basis() {
    let h = Harness::start().await;
    let (outcome, sink) = h
        .run(request(
            "What is the capital of France?",
            "lite",
            OutputSchema::Text { description: None },
        ))
        .await;
    let (output, warnings, usage) = completed(outcome);
    let TaskOutput::Text {
        content,
        basis,
        mcp_tool_calls,
        ..
    } = output
    else {
        panic!("expected text output");
    };
    assert!(!content.trim().is_empty());
    assert_eq!(basis.len(), 1);
    assert_eq!(basis[0].field, "output");
    assert!(mcp_tool_calls.is_none());
    assert!(warnings.is_empty());
    assert_eq!(usage.llm_calls, 1);
    assert!(usage.input_tokens > 0);
    assert!(
        sink.all()
            .iter()
            .any(|e| matches!(e, forage_api::RunEvent::LlmTurn { .. }))
    );
}

#[tokio::test]
async fn json_task_answer_validates_against_the_schema() {
    let schema = json!({
        "type": "object",
        "properties": {
            "country": {"type": "string"},
            "gdp_trillions": {"type": "number", "minimum": 0},
            "currency": {"type": "string", "enum": ["EUR", "USD"]},
            "sources": {"type": "array", "items": {"type": "string"}, "minItems": 1}
        },
        "required": ["country", "gdp_trillions", "currency"],
        "additionalProperties": false
    });
    let h = Harness::start().await;
    let (outcome, _) = h
        .run(request(
            "France (2023)",
            "core",
            json_schema(schema.clone()),
        ))
        .await;
    let (output, _, _) = completed(outcome);
    let TaskOutput::Json {
        content,
        basis,
        output_schema,
        ..
    } = output
    else {
        panic!("expected json output");
    };
    assert!(jsonschema::is_valid(&schema, &content), "{content}");
    let fields: Vec<&str> = basis.iter().map(|b| b.field.as_str()).collect();
    for key in content.as_object().unwrap().keys() {
        assert!(fields.contains(&key.as_str()), "no basis for {key}");
    }
    assert!(
        output_schema.is_none(),
        "only auto runs return their schema"
    );
    // The model was asked for the envelope carrying the user's schema.
    let sent = &h.llm.requests()[0];
    assert_eq!(
        sent["response_format"]["json_schema"]["schema"]["properties"]["output"],
        schema
    );
}

#[tokio::test]
async fn draft_07_schemas_with_definitions_work() {
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "definitions": {"Person": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
        "properties": {"ceo": {"$ref": "#/definitions/Person"}},
        "required": ["ceo"]
    });
    let h = Harness::start().await;
    let (outcome, _) = h
        .run(request(
            "Who runs ACME?",
            "base",
            json_schema(schema.clone()),
        ))
        .await;
    let (output, _, _) = completed(outcome);
    let TaskOutput::Json { content, .. } = output else {
        panic!()
    };
    assert!(jsonschema::is_valid(&schema, &content), "{content}");
}

#[tokio::test]
async fn auto_task_returns_the_schema_it_used() {
    let h = Harness::start().await;
    let (outcome, _) = h
        .run(request("Tell me about ACME", "base", OutputSchema::Auto))
        .await;
    let (output, _, _) = completed(outcome);
    let TaskOutput::Json {
        content,
        output_schema,
        ..
    } = output
    else {
        panic!()
    };
    let schema = output_schema.expect("auto runs carry their schema");
    assert!(jsonschema::is_valid(&schema, &content));
    assert!(!content.as_object().unwrap().is_empty());
}
