//! A run's events in Parallel's SSE shapes: `task_run.state` and `task_run.progress_msg.<kind>`
//! (with forage's extra tool-call fields). Pure functions; never carries header values.

use axum::response::sse::Event;
use chrono::{DateTime, Utc};
use forage_api::run::format_timestamp;
use forage_api::{ProgressKind, RunEvent, RunStatus, TaskOutput, TaskRun};
use serde_json::{Value, json};

/// One SSE frame: `event:` is `kind`, `data:` is `data` (whose `type` equals `kind`).
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub id: Option<u64>,
    pub kind: String,
    pub data: Value,
}

/// The frame as an SSE event, encoded.
pub fn sse_event(frame: Frame) -> Event {
    let event = Event::default()
        .event(frame.kind)
        .data(serde_json::to_string(&frame.data).unwrap_or_else(|_| "{}".to_owned()));
    match frame.id {
        Some(id) => event.id(id.to_string()),
        None => event,
    }
}

/// `task_run.state` with the run (and its output when completed).
pub fn state_frame(id: Option<u64>, run: &TaskRun, output: Option<&TaskOutput>) -> Frame {
    Frame {
        id,
        kind: "task_run.state".to_owned(),
        data: json!({
            "type": "task_run.state",
            "event_id": null,
            "run": run,
            "input": null,
            "output": output,
        }),
    }
}

/// The run as it was when it entered `status` (for replayed status changes).
pub fn run_at_status(current: &TaskRun, status: RunStatus, at: DateTime<Utc>) -> TaskRun {
    TaskRun {
        status,
        is_active: status.is_active(),
        modified_at: at,
        ..current.clone()
    }
}

/// `{"type":"error","error":ErrorObject}`: the stream cannot go on.
pub fn error_frame(message: &str) -> Frame {
    Frame {
        id: None,
        kind: "error".to_owned(),
        data: json!({"type": "error", "error": forage_api::ErrorObject::new(message)}),
    }
}

fn kind_name(kind: ProgressKind) -> &'static str {
    match kind {
        ProgressKind::Plan => "plan",
        ProgressKind::Search => "search",
        ProgressKind::Result => "result",
        ProgressKind::ToolCall => "tool_call",
        ProgressKind::ExecStatus => "exec_status",
        ProgressKind::Extract => "extract",
    }
}

/// `server.tool`, or just `tool` for built-in tools.
fn tool_label(server: &str, tool: &str) -> String {
    if server.is_empty() {
        tool.to_owned()
    } else {
        format!("{server}.{tool}")
    }
}

/// A progress frame for a logged event; `None` for status changes (those are state frames).
pub fn progress_frame(seq: u64, at: &DateTime<Utc>, event: &RunEvent) -> Option<Frame> {
    let timestamp = format_timestamp(at);
    let (kind, mut data) = match event {
        RunEvent::Status { .. } => return None,
        RunEvent::Progress { progress, message } => {
            (kind_name(*progress), json!({"message": message}))
        }
        RunEvent::ToolCallStarted {
            tool_call_id,
            server_name,
            tool_name,
            arguments,
        } => (
            "tool_call",
            json!({
                "message": format!("Calling {}", tool_label(server_name, tool_name)),
                "tool_call_id": tool_call_id,
                "server_name": server_name,
                "tool_name": tool_name,
                "arguments": arguments,
            }),
        ),
        RunEvent::ToolCallFinished { call } => {
            let label = tool_label(&call.server_name, &call.tool_name);
            let error = call.error.as_deref().filter(|e| !e.is_empty());
            let took = call
                .duration_ms
                .map(|ms| format!(" in {ms} ms"))
                .unwrap_or_default();
            let message = match error {
                Some(e) => format!("{label} failed{took}: {e}"),
                None => format!("{label} returned{took}"),
            };
            (
                "tool_call",
                json!({
                    "message": message,
                    "tool_call_id": call.tool_call_id,
                    "server_name": call.server_name,
                    "tool_name": call.tool_name,
                    "duration_ms": call.duration_ms,
                    "error": error,
                }),
            )
        }
        RunEvent::LlmTurn {
            turn,
            input_tokens,
            output_tokens,
            duration_ms,
            tool_calls,
        } => (
            "exec_status",
            json!({
                "message": format!(
                    "LLM turn {turn}: {input_tokens} tokens in, {output_tokens} out, {tool_calls} tool call{} ({:.1} s)",
                    if *tool_calls == 1 { "" } else { "s" },
                    *duration_ms as f64 / 1000.0
                ),
                "turn": turn,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "tool_calls": tool_calls,
                "duration_ms": duration_ms,
            }),
        ),
        RunEvent::Warning { warning } => (
            "exec_status",
            json!({"message": format!("Warning: {}", warning.message)}),
        ),
    };
    let kind = format!("task_run.progress_msg.{kind}");
    if let Value::Object(map) = &mut data {
        map.insert("type".to_owned(), Value::from(kind.clone()));
        map.insert("timestamp".to_owned(), Value::from(timestamp));
    }
    Some(Frame {
        id: Some(seq),
        kind,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use forage_api::McpToolCall;

    #[test]
    fn tool_calls_read_well_and_carry_forage_fields() {
        let at = Utc::now();
        let started = RunEvent::ToolCallStarted {
            tool_call_id: "call_1".into(),
            server_name: "crm".into(),
            tool_name: "lookup".into(),
            arguments: "{\"q\":\"x\"}".into(),
        };
        let frame = progress_frame(3, &at, &started).unwrap();
        assert_eq!(frame.kind, "task_run.progress_msg.tool_call");
        assert_eq!(frame.data["type"], frame.kind);
        assert_eq!(frame.data["message"], "Calling crm.lookup");
        assert_eq!(frame.data["arguments"], "{\"q\":\"x\"}");
        assert_eq!(frame.id, Some(3));
        let finished = RunEvent::ToolCallFinished {
            call: McpToolCall {
                tool_call_id: "call_1".into(),
                server_name: "crm".into(),
                tool_name: "lookup".into(),
                arguments: "{}".into(),
                content: None,
                error: Some("boom".into()),
                started_at: None,
                duration_ms: Some(12),
                content_bytes: None,
                truncated: None,
            },
        };
        let frame = progress_frame(4, &at, &finished).unwrap();
        assert_eq!(frame.data["message"], "crm.lookup failed in 12 ms: boom");
        assert_eq!(frame.data["duration_ms"], 12);
        assert_eq!(frame.data["error"], "boom");
    }

    #[test]
    fn progress_kinds_map_to_parallel_types() {
        let event = RunEvent::Progress {
            progress: ProgressKind::Plan,
            message: "Planning".into(),
        };
        let frame = progress_frame(1, &Utc::now(), &event).unwrap();
        assert_eq!(frame.kind, "task_run.progress_msg.plan");
        assert!(frame.data["timestamp"].is_string());
        assert!(
            progress_frame(
                1,
                &Utc::now(),
                &RunEvent::Status {
                    status: RunStatus::Running
                }
            )
            .is_none()
        );
    }
}
