//! Runs the tool calls of one model turn concurrently, each with its timeout and the run's
//! cancellation, and turns each into a trace entry and the message the model reads.

use std::time::Instant;

use async_trait::async_trait;
use forage_api::{McpToolCall, ProgressKind, RunEvent};
use forage_llm::{ChatMessage, ToolCall};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use crate::run_state::CallOutcome;
use crate::sources::Source;
use crate::toolbox::Toolbox;
use crate::web_tools::RunWeb;

/// Told of each call as it finishes (to record it before the others are done).
#[async_trait]
pub trait CallObserver: Sync {
    async fn finished(&self, outcome: &CallOutcome);
}

/// The tools a run can call: its MCP servers' and the built-in web tools.
#[derive(Clone, Copy)]
pub struct RunTools<'a> {
    pub toolbox: &'a Toolbox,
    pub web: &'a RunWeb,
}

/// Runs `calls` concurrently, at most `max_parallel` at a time; results come back in the model's order. `observer` hears of each
/// call as it finishes, so watchers see a call's result while the others still run.
pub async fn run_calls(
    calls: &[ToolCall],
    tools: RunTools<'_>,
    max_parallel: u32,
    max_output_chars: usize,
    cancel: &CancellationToken,
    observer: &dyn CallObserver,
) -> Vec<CallOutcome> {
    let slots = tokio::sync::Semaphore::new(max_parallel.max(1) as usize);
    let slots = &slots;
    let futures = calls.iter().map(|call| async move {
        // Never closed, so acquiring only waits.
        let _slot = slots.acquire().await.ok();
        let outcome = if tools.web.offers(&call.name) {
            tools.web.call(call, max_output_chars, cancel).await
        } else {
            run_one(call, tools.toolbox, max_output_chars, cancel).await
        };
        observer.finished(&outcome).await;
        outcome
    });
    futures::future::join_all(futures).await
}

/// Tells the model a call it asked for will not run, and why.
pub fn refused(call: &ToolCall, why: &str) -> CallOutcome {
    CallOutcome {
        call_id: call.id.clone(),
        trace: None,
        message: ChatMessage::tool(call.id.clone(), format!("Error: {why}")),
        read: Vec::new(),
        note: None,
    }
}

/// The events that announce a call before it is sent (none for a tool that does not exist).
pub fn started_events(call: &ToolCall, tools: RunTools<'_>) -> Vec<RunEvent> {
    if tools.web.offers(&call.name) {
        return tools
            .web
            .started_note(call)
            .map(|message| RunEvent::Progress {
                progress: ProgressKind::ToolCall,
                message,
            })
            .into_iter()
            .collect();
    }
    let Some(tool) = tools.toolbox.route(&call.name) else {
        return Vec::new();
    };
    vec![
        RunEvent::Progress {
            progress: ProgressKind::ToolCall,
            message: format!(
                "Calling {} on MCP server {}",
                tool.tool_name, tool.server_name
            ),
        },
        RunEvent::ToolCallStarted {
            tool_call_id: call.id.clone(),
            server_name: tool.server_name.clone(),
            tool_name: tool.tool_name.clone(),
            arguments: arguments_text(&call.arguments),
        },
    ]
}

/// The arguments as the trace shows them: normalised JSON, or the raw text when invalid.
fn arguments_text(raw: &str) -> String {
    match parse_arguments(raw) {
        Ok(map) => serde_json::to_string(&map).unwrap_or_default(),
        Err(_) => raw.to_owned(),
    }
}

async fn run_one(
    call: &ToolCall,
    toolbox: &Toolbox,
    max_output_chars: usize,
    cancel: &CancellationToken,
) -> CallOutcome {
    let Some(tool) = toolbox.route(&call.name) else {
        return refused(
            call,
            &format!(
                "there is no tool named '{}'; use one of the offered tools",
                call.name
            ),
        );
    };
    let started_at = chrono::Utc::now();
    let arguments = parse_arguments(&call.arguments);
    let clock = Instant::now();
    let result = match arguments {
        Ok(map) => tool
            .client
            .call_tool(
                &tool.tool_name,
                map,
                tool.call_timeout,
                cancel.child_token(),
            )
            .await
            .map_err(|e| e.to_string()),
        Err(problem) => Err(problem),
    };
    let duration_ms = clock.elapsed().as_millis() as u64;

    let mut trace = McpToolCall {
        tool_call_id: call.id.clone(),
        server_name: tool.server_name.clone(),
        tool_name: tool.tool_name.clone(),
        arguments: arguments_text(&call.arguments),
        content: None,
        error: None,
        started_at: Some(forage_api::run::format_timestamp(&started_at)),
        duration_ms: Some(duration_ms),
        content_bytes: None,
        truncated: None,
    };
    let (model_text, read) = match result {
        Ok(output) => {
            let (shown, cut) = truncate_for_model(&output.text, output.bytes, max_output_chars);
            trace.content_bytes = Some(output.bytes as u64);
            trace.truncated = Some(cut);
            if output.is_error {
                trace.error = Some(shown.clone());
                (format!("The tool reported an error: {shown}"), Vec::new())
            } else {
                trace.content = Some(shown.clone());
                trace.error = Some(String::new());
                (shown, vec![Source::tool_output(output.text)])
            }
        }
        Err(message) => {
            trace.error = Some(message.clone());
            (
                format!("Error: the tool call failed: {message}"),
                Vec::new(),
            )
        }
    };
    CallOutcome {
        call_id: call.id.clone(),
        trace: Some(trace),
        message: ChatMessage::tool(call.id.clone(), model_text),
        read,
        note: None,
    }
}

/// Arguments must be a JSON object (an empty string means no arguments).
fn parse_arguments(raw: &str) -> Result<serde_json::Map<String, Value>, String> {
    if raw.trim().is_empty() {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(serde_json::Map::new()),
        Ok(other) => Err(format!(
            "the arguments must be a JSON object, got {}",
            type_name(&other)
        )),
        Err(e) => Err(format!("the arguments are not valid JSON: {e}")),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Cuts tool output to the model's limit, saying so.
pub fn truncate_for_model(text: &str, full_bytes: usize, max_chars: usize) -> (String, bool) {
    match text.char_indices().nth(max_chars) {
        None if full_bytes <= text.len() => (text.to_owned(), false),
        None => (
            format!(
                "{text}\n[output truncated: showing {} of {full_bytes} bytes]",
                text.len()
            ),
            true,
        ),
        Some((cut, _)) => (
            format!(
                "{}\n[output truncated: showing {cut} of {} bytes]",
                &text[..cut],
                full_bytes.max(text.len())
            ),
            true,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_an_object() {
        assert!(parse_arguments("").unwrap().is_empty());
        assert_eq!(parse_arguments(r#"{"a":1}"#).unwrap()["a"], 1);
        assert!(parse_arguments("[1]").unwrap_err().contains("an array"));
        assert!(
            parse_arguments("{oops")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn truncation_says_how_much_was_cut() {
        assert_eq!(
            truncate_for_model("short", 5, 100),
            ("short".to_owned(), false)
        );
        let (shown, cut) = truncate_for_model(&"é".repeat(50), 100, 10);
        assert!(cut);
        assert!(shown.starts_with(&"é".repeat(10)));
        assert!(shown.contains("showing 20 of 100 bytes"), "{shown}");
    }
}
