//! The live timeline of a run, shared by `forage run` and `forage runs watch`: follows the run's
//! event stream (replaying its history first, reconnecting where it stopped) and renders status
//! changes, LLM turns with tokens and tool calls (start and end, with server, tool, duration, error).

use anyhow::Context;
use futures::StreamExt;
use serde_json::Value;

use crate::client::ApiClient;
use crate::progress::Progress;
use crate::sse::SseParser;

/// Reconnections before giving up on a stream (each lasts up to the server's stream limit).
const MAX_CONNECTIONS: usize = 100;

/// Follows `id`'s events until its final state; returns that `task_run.state` frame's data
/// (`None` when the stream was lost first). Fails only when the first connection fails (an
/// unknown run, a wrong key, no server).
pub async fn follow(
    client: &ApiClient,
    id: &str,
    progress: &Progress,
) -> anyhow::Result<Option<Value>> {
    let mut last: Option<u64> = None;
    for attempt in 0..MAX_CONNECTIONS {
        let response = match client.events(id, last).await {
            Ok(r) => r,
            Err(e) if attempt == 0 => return Err(e).context(format!("cannot watch run {id}")),
            Err(_) => return Ok(None),
        };
        let mut parser = SseParser::default();
        let mut body = response.bytes_stream();
        let mut opening: Option<Value> = None;
        let mut first = true;
        while let Some(Ok(chunk)) = body.next().await {
            let Ok(events) = parser.push(&chunk) else {
                return Ok(None);
            };
            for event in events {
                let seq = event.id.as_deref().and_then(|i| i.parse::<u64>().ok());
                if seq.is_some() {
                    last = seq;
                }
                let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
                    continue;
                };
                // Each connection opens with the current state, then replays the history from
                // the cursor: the history tells the story, so the opening frame is kept aside.
                if std::mem::take(&mut first) && data["type"] == "task_run.state" {
                    opening = Some(data);
                    continue;
                }
                match render(progress, &data) {
                    Step::Final => return Ok(Some(data)),
                    Step::StreamError => return Ok(None),
                    Step::Go => {}
                }
            }
        }
        // The server closed the stream: a run that was already final has nothing more to say.
        if let Some(state) = opening.filter(is_final_state) {
            progress.status(status_of(&state));
            return Ok(Some(state));
        }
    }
    Ok(None)
}

/// What a frame means for the follower.
#[derive(Debug, PartialEq)]
enum Step {
    Go,
    Final,
    StreamError,
}

fn status_of(state: &Value) -> &str {
    state["run"]["status"].as_str().unwrap_or("unknown")
}

fn is_final_state(state: &Value) -> bool {
    matches!(status_of(state), "completed" | "failed" | "cancelled")
        && !state["run"]["is_active"].as_bool().unwrap_or(true)
}

/// Renders one frame's data.
fn render(progress: &Progress, data: &Value) -> Step {
    match data["type"].as_str().unwrap_or("") {
        "task_run.state" => {
            progress.status(status_of(data));
            if is_final_state(data) {
                Step::Final
            } else {
                Step::Go
            }
        }
        "error" => {
            let message = data["error"]["message"].as_str().unwrap_or("stream error");
            progress.message(&format!("error: {message}"));
            Step::StreamError
        }
        "task_run.progress_stats" => Step::Go,
        _ => {
            if let Some(line) = line(data) {
                progress.message(&line);
            }
            Step::Go
        }
    }
}

/// The timeline line of a progress frame.
pub fn line(data: &Value) -> Option<String> {
    let kind = data["type"].as_str().unwrap_or("");
    let message = data["message"].as_str().map(clean);
    if kind == "task_run.progress_msg.tool_call" && data["tool_name"].is_string() {
        return Some(tool_line(data));
    }
    if kind == "task_run.progress_msg.exec_status"
        && let Some(turn) = data["turn"].as_u64()
    {
        let calls = data["tool_calls"].as_u64().unwrap_or(0);
        return Some(format!(
            "LLM turn {turn}: {} tokens in, {} out, {calls} tool call{}{}",
            data["input_tokens"].as_u64().unwrap_or(0),
            data["output_tokens"].as_u64().unwrap_or(0),
            if calls == 1 { "" } else { "s" },
            duration(&data["duration_ms"])
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
        ));
    }
    message.filter(|m| !m.is_empty())
}

fn tool_line(data: &Value) -> String {
    let server = data["server_name"].as_str().unwrap_or("");
    let tool = clean(data["tool_name"].as_str().unwrap_or(""));
    let label = if server.is_empty() {
        tool
    } else {
        format!("{}.{tool}", clean(server))
    };
    let ended = data.get("duration_ms").is_some() || data.get("error").is_some();
    if !ended {
        let args = match &data["arguments"] {
            Value::String(s) if !s.is_empty() => format!(" {}", shorten(&clean(s), 120)),
            Value::Null => String::new(),
            other => format!(" {}", shorten(&other.to_string(), 120)),
        };
        return format!("→ tool call {label}{args}");
    }
    let took = duration(&data["duration_ms"])
        .map(|d| format!(" in {d}"))
        .unwrap_or_default();
    match data["error"].as_str().filter(|e| !e.is_empty()) {
        Some(error) => format!(
            "✗ tool call {label} failed{took}: {}",
            shorten(&clean(error), 200)
        ),
        None => format!("← tool call {label} returned{took}"),
    }
}

fn duration(ms: &Value) -> Option<String> {
    let ms = ms.as_u64()?;
    Some(if ms >= 1000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    })
}

/// Text from the server made safe for a terminal: control characters (escape sequences,
/// carriage returns) become spaces.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_calls_show_start_and_end() {
        let start = json!({"type": "task_run.progress_msg.tool_call", "message": "Calling fx.slow",
            "tool_call_id": "c1", "server_name": "fx", "tool_name": "slow", "arguments": "{\"ms\":5}"});
        assert_eq!(line(&start).unwrap(), "→ tool call fx.slow {\"ms\":5}");
        let end = json!({"type": "task_run.progress_msg.tool_call", "tool_call_id": "c1",
            "server_name": "fx", "tool_name": "slow", "duration_ms": 1520, "error": null});
        assert_eq!(line(&end).unwrap(), "← tool call fx.slow returned in 1.5 s");
        let failed = json!({"type": "task_run.progress_msg.tool_call", "server_name": "fx",
            "tool_name": "fail", "duration_ms": 3, "error": "boom\u{1b}[2J"});
        assert_eq!(
            line(&failed).unwrap(),
            "✗ tool call fx.fail failed in 3 ms: boom [2J"
        );
    }

    #[test]
    fn llm_turns_show_tokens() {
        let turn = json!({"type": "task_run.progress_msg.exec_status", "message": "x", "turn": 2,
            "input_tokens": 120, "output_tokens": 7, "tool_calls": 1, "duration_ms": 40});
        assert_eq!(
            line(&turn).unwrap(),
            "LLM turn 2: 120 tokens in, 7 out, 1 tool call (40 ms)"
        );
        let other = json!({"type": "task_run.progress_msg.plan", "message": "Planning"});
        assert_eq!(line(&other).unwrap(), "Planning");
    }

    #[test]
    fn final_states_end_the_timeline() {
        let progress = Progress::new("trun_x");
        let running =
            json!({"type": "task_run.state", "run": {"status": "running", "is_active": true}});
        assert_eq!(render(&progress, &running), Step::Go);
        let done =
            json!({"type": "task_run.state", "run": {"status": "failed", "is_active": false}});
        assert_eq!(render(&progress, &done), Step::Final);
        progress.finish();
    }
}
