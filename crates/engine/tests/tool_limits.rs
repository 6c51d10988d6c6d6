//! What a server lists is bounded before the model sees it: at most `MAX_TOOLS_PER_RUN` tools,
//! no tool whose input schema is over `MAX_TOOL_SCHEMA_BYTES`, descriptions cut at
//! `MAX_TOOL_DESCRIPTION_CHARS`; what is left out is named in a warning and the run goes on.

mod common;

use common::*;
use forage_engine::toolbox::{MAX_TOOL_DESCRIPTION_CHARS, MAX_TOOLS_PER_RUN};
use forage_testkit::mcp_fixture::{CROWDED_TOOLS, start_fixture};
use serde_json::json;

#[tokio::test]
async fn a_crowded_server_is_cut_down_to_what_the_model_can_take() {
    let fixture = start_fixture().await;
    let h = Harness::start().await;
    let mut req = request(
        "Use t000. [[fake:call name=crowded__t000 args={\"q\": \"x\"}]]",
        "pro",
        json_schema(
            json!({"type": "object", "properties": {"r": {"type": "string"}}, "required": ["r"]}),
        ),
    );
    req.mcp_servers = Some(vec![mcp_server(
        "crowded",
        &fixture.url_for("crowded"),
        &[],
    )]);
    let (outcome, _) = h.run(req).await;
    let (output, warnings, _) = completed(outcome);
    assert_eq!(output.mcp_tool_calls()[0].content.as_deref(), Some("t000"));

    let first = &first_offering_tools(&h.llm.requests());
    let tools = first["tools"].as_array().expect("tools were offered");
    assert_eq!(tools.len(), MAX_TOOLS_PER_RUN);
    let names: Vec<&str> = tools
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"crowded__t001"),
        "the tool with a 100 KB schema is left out"
    );
    assert!(names.contains(&"crowded__t002"));
    let long = tools
        .iter()
        .find(|t| t["function"]["name"] == "crowded__t002")
        .unwrap();
    let description = long["function"]["description"].as_str().unwrap();
    assert!(
        description.chars().count() <= MAX_TOOL_DESCRIPTION_CHARS + 1,
        "{}",
        description.len()
    );
    assert!(description.ends_with('…'));

    let warning = warnings
        .iter()
        .find(|w| w.message.contains("not offered"))
        .unwrap_or_else(|| panic!("a warning names what was left out: {warnings:?}"));
    let left_out = CROWDED_TOOLS - MAX_TOOLS_PER_RUN;
    assert!(
        warning
            .message
            .contains(&format!("{left_out} tool(s) not offered")),
        "{}",
        warning.message
    );
    assert!(
        warning.message.contains("t001 (its input schema is"),
        "{}",
        warning.message
    );
    assert_eq!(warning.detail, Some(json!({"server_name": "crowded"})));
    let request_bytes = serde_json::to_string(first).unwrap().len();
    assert!(
        request_bytes < 200_000,
        "the model's request stays small: {request_bytes} bytes"
    );
}
