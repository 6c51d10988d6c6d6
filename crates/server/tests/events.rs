//! The SSE events stream: state first, progress in order, final state with output, then close.

mod common;

use serde_json::{Value, json};

/// `(event name, id, data)` of each frame of a complete stream.
fn parse_frames(text: &str) -> Vec<(String, Option<u64>, Value)> {
    text.split("\n\n")
        .filter(|block| block.lines().any(|l| l.starts_with("data:")))
        .map(|block| {
            let mut event = String::new();
            let mut id = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            (event, id, serde_json::from_str(&data).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn stream_is_state_progress_then_final_state_with_output() {
    let server = common::start(&[]).await;
    let (_, run) = server
        .create(
            None,
            &json!({"input": "q [[fake:stall_ms=300]]", "processor": "lite"}),
        )
        .await;
    let id = run["run_id"].as_str().unwrap().to_owned();
    let response = server
        .http
        .get(server.url(&format!("/v1/tasks/runs/{id}/events")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = tokio::time::timeout(std::time::Duration::from_secs(60), response.text())
        .await
        .expect("the stream closes after the final state")
        .unwrap();
    let frames = parse_frames(&text);
    assert!(frames.len() >= 2, "{text}");
    for (event, _, data) in &frames {
        assert_eq!(data["type"], event.as_str(), "{text}");
    }
    let (first, _, first_data) = &frames[0];
    assert_eq!(first, "task_run.state");
    assert_eq!(first_data["run"]["run_id"], id.as_str());
    let (last, _, last_data) = frames.last().unwrap();
    assert_eq!(last, "task_run.state");
    assert_eq!(last_data["run"]["status"], "completed");
    assert!(
        last_data["output"]["content"].is_string() || last_data["output"]["content"].is_object(),
        "{last_data}"
    );
    let ids: Vec<u64> = frames.iter().filter_map(|(_, id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let running = frames
        .iter()
        .any(|(e, _, d)| e == "task_run.state" && d["run"]["status"] == "running");
    assert!(running, "{text}");

    // Reconnecting after the last id replays nothing but the current state, then the end.
    let last_id = *ids.last().unwrap();
    let again = server
        .http
        .get(server.url(&format!("/v1/tasks/runs/{id}/events")))
        .header("last-event-id", (last_id - 1).to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let again = parse_frames(&again);
    assert_eq!(again.first().unwrap().2["run"]["status"], "completed");
    assert_eq!(again.last().unwrap().1, Some(last_id));
}
