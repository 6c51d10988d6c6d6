//! An answer that is not valid JSON or breaks the schema goes back to the model, a bounded number of times.

mod common;

use std::collections::HashMap;

use common::*;
use forage_api::{TaskOutput, Tier};
use forage_engine::{Budget, EngineOutcome};
use serde_json::json;

fn schema() -> serde_json::Value {
    json!({"type": "object", "properties": {"n": {"type": "integer"}, "name": {"type": "string"}}, "required": ["n", "name"]})
}

#[tokio::test]
async fn malformed_json_is_repaired() {
    let h = Harness::start().await;
    let (outcome, _) = h
        .run(request(
            "Count it [[fake:invalid_json times=1]]",
            "core",
            json_schema(schema()),
        ))
        .await;
    let (output, _, usage) = completed(outcome);
    let TaskOutput::Json { content, .. } = output else {
        panic!()
    };
    assert!(jsonschema::is_valid(&schema(), &content));
    assert_eq!(usage.llm_calls, 2);
    let second = &h.llm.requests()[1];
    let last = second["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["role"], "user");
    assert!(
        last["content"].as_str().unwrap().contains("not valid JSON"),
        "{last}"
    );
}

#[tokio::test]
async fn schema_violations_are_repaired_with_the_reason() {
    let h = Harness::start().await;
    let (outcome, _) = h
        .run(request(
            "Count it [[fake:schema_violation times=2]]",
            "core",
            json_schema(schema()),
        ))
        .await;
    let (_, _, usage) = completed(outcome);
    assert_eq!(usage.llm_calls, 3);
    let repair = h.llm.requests()[1]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        repair["content"]
            .as_str()
            .unwrap()
            .contains("does not match the required JSON Schema"),
        "{repair}"
    );
}

#[tokio::test]
async fn repairs_are_bounded_and_the_failure_says_why() {
    let mut budgets = HashMap::new();
    budgets.insert(
        "core".to_owned(),
        Budget {
            max_repairs: 1,
            ..Budget::for_tier(Tier::Core, false)
        },
    );
    let h = Harness::with(HarnessOptions {
        budgets,
        ..Default::default()
    })
    .await;
    let (outcome, _) = h
        .run(request(
            "Count it [[fake:schema_violation times=9]]",
            "core",
            json_schema(schema()),
        ))
        .await;
    let EngineOutcome::Failed { message, usage, .. } = outcome else {
        panic!("expected failure, got {outcome:?}");
    };
    assert!(message.contains("after 1 repair attempt"), "{message}");
    assert!(message.contains("JSON Schema"), "{message}");
    assert_eq!(usage.llm_calls, 2);
}
