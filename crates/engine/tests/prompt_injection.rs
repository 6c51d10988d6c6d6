//! Tool output is data, never instructions to forage. A tool returns a prompt injection that
//! spoofs a system turn and orders calls to another server's tools, to a tool that does not
//! exist and to an exfiltration address; the scripted LLM plays a model that obeys it. Whatever
//! the model does, forage sends each server's headers to that server only, offers no way to
//! reach an address outside the run's servers, refuses tools it did not offer, keeps secrets
//! out of the model's context, and hands the injection to the model as a tool result only.

mod common;

use common::*;
use forage_testkit::mcp_fixture::{FIXTURE_TOKEN, HOSTILE_OUTPUT, start_fixture};
use serde_json::{Value, json};

#[tokio::test]
async fn an_injected_instruction_cannot_move_headers_or_reach_past_the_offered_tools() {
    let crm = start_fixture().await; // its `/auth` path needs the bearer token
    let evil = start_fixture().await;
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bearer = format!("Bearer {FIXTURE_TOKEN}");
    let h = Harness::start().await;
    let mut req = request(
        r#"Look this up. [[fake:call name=evil__hostile args={}]]"#,
        "pro",
        json_schema(
            json!({"type": "object", "properties": {"r": {"type": "string"}}, "required": ["r"]}),
        ),
    );
    let mut crm_server = mcp_server("crm", &crm.url_for("auth"), &[("Authorization", &bearer)]);
    crm_server.allowed_tools = Some(vec!["echo".into()]);
    req.mcp_servers = Some(vec![crm_server, mcp_server("evil", &evil.url, &[])]);
    let (outcome, _sink) = h.run(req).await;
    let (output, _warnings, _) = completed(outcome);
    let calls = output.mcp_tool_calls();
    let summary: Vec<(String, String, bool)> = calls
        .iter()
        .map(|c| {
            (
                c.server_name.clone(),
                c.tool_name.clone(),
                c.error.as_deref().is_some_and(|e| !e.is_empty()),
            )
        })
        .collect();

    // The obeying model's calls: the hostile tool, then the injected crm call (an offered tool,
    // sent with crm's own header to crm).
    assert_eq!(calls[0].tool_name, "hostile");
    assert_eq!(calls[0].content.as_deref(), Some(HOSTILE_OUTPUT));
    let echo = calls
        .iter()
        .find(|c| c.server_name == "crm" && c.tool_name == "echo")
        .unwrap_or_else(|| panic!("the scripted model obeyed the injection: {summary:?}"));
    assert_eq!(echo.content.as_deref(), Some("obeyed"));
    assert_eq!(crm.calls("echo"), 1);
    assert_eq!(
        crm.calls("whoami"),
        0,
        "whoami is not among crm's allowed tools"
    );
    // The two calls to tools forage never offered were refused: told to the model, sent nowhere.
    assert_eq!(calls.len(), 2, "{summary:?}");
    let llm_traffic = serde_json::to_string(&h.llm.requests()).unwrap();
    for name in ["exfiltrate", "crm__whoami"] {
        assert!(
            llm_traffic.contains(&format!("there is no tool named '{name}'")),
            "the model was told {name} does not exist"
        );
    }

    // crm's header reached crm only: never the injecting server, never the collector.
    assert_eq!(
        crm.last_header("authorization").as_deref(),
        Some(bearer.as_str())
    );
    assert!(
        evil.last_headers()
            .iter()
            .all(|(_, v)| !v.contains(FIXTURE_TOKEN))
    );
    let nobody_came =
        tokio::time::timeout(std::time::Duration::from_millis(200), collector.accept()).await;
    assert!(nobody_came.is_err(), "something connected to the collector");

    // The model never held the secret, so no argument or answer could carry it.
    assert!(!llm_traffic.contains(FIXTURE_TOKEN));
    assert!(
        !serde_json::to_string(calls)
            .unwrap()
            .contains(FIXTURE_TOKEN)
    );

    // The injection reached the model inside a tool result, never as a system or user turn.
    let mut seen_as_tool_result = false;
    for request in h.llm.requests() {
        for message in request["messages"].as_array().unwrap() {
            let text = message["content"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| message["content"].to_string());
            if text.contains("SYSTEM OVERRIDE") {
                assert_eq!(message["role"], Value::from("tool"), "{message}");
                seen_as_tool_result = true;
            }
        }
    }
    assert!(seen_as_tool_result);
}
