//! `response_format`, `max_output_tokens` and `temperature` reach the server in OpenAI form,
//! and the schema-shaped answer comes back as JSON text.

use forage_llm::{LlmProvider, ResponseFormat};
use forage_testkit::llm::FakeLlm;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::common::{provider, request};

#[tokio::test]
async fn sends_the_json_schema_and_gets_matching_json() {
    let fake = FakeLlm::start().await;
    let schema = json!({
        "type": "object",
        "properties": {
            "founder": {"type": "string"},
            "year": {"type": "integer", "minimum": 2000},
            "confidence": {"type": "string", "enum": ["high", "low"]}
        },
        "required": ["founder", "year", "confidence"],
        "additionalProperties": false
    });
    let mut req = request("Who founded Rust?");
    req.response_format = Some(ResponseFormat {
        name: "answer".into(),
        schema: schema.clone().into(),
    });
    req.max_output_tokens = Some(512);
    req.temperature = Some(0.25);

    let response = provider(&fake)
        .chat(&req, &CancellationToken::new())
        .await
        .expect("chat");
    let answer: Value = serde_json::from_str(response.content.as_deref().unwrap()).unwrap();
    assert_eq!(answer["founder"], "Who founded Rust?");
    assert_eq!(answer["year"], 2000);
    assert_eq!(answer["confidence"], "high");

    let sent = &fake.requests()[0];
    assert_eq!(
        sent["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": false}})
    );
    assert_eq!(sent["max_tokens"], 512);
    assert_eq!(sent["temperature"], 0.25);
}
