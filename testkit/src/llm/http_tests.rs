//! Tests of the fake LLM's HTTP surface: models list, request log, error bodies, and both
//! chat-completions paths (loopback only).

use super::FakeLlm;
use serde_json::{Value, json};

#[tokio::test]
async fn serves_models_requests_and_openai_errors() {
    let fake = FakeLlm::start().await;
    let http = reqwest::Client::new();
    let root = fake.base_url.trim_end_matches("/v1").to_owned();

    let models: Value = http
        .get(format!("{}/models", fake.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "fake-model");

    let bad = http
        .post(format!("{}/chat/completions", fake.base_url))
        .header("content-type", "application/json")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let request =
        json!({"model": "m", "messages": [{"role": "user", "content": "hello [[fake:fail=503]]"}]});
    let failed = http
        .post(format!("{root}/chat/completions"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 503);
    let ok: Value = http
        .post(format!("{root}/chat/completions"))
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["object"], "chat.completion");
    assert_eq!(ok["choices"][0]["message"]["content"], "Answer: hello");
    assert!(ok["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    let log: Value = http
        .get(format!("{root}/_requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.as_array().unwrap().len(), 3);
    assert_eq!(log[2], request);
    assert_eq!(fake.requests().len(), 3);
    assert!(
        fake.request_headers()[2]
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/json")
    );
}
