//! A run resumed from its last checkpoint carries on where it stopped: tool calls that finished
//! are not sent again, an interrupted call is made again, and the trace is whole and in order.

mod common;

use std::time::{Duration, Instant};

use common::*;
use forage_api::{RunEvent, TaskOutput};
use forage_engine::{EngineOutcome, RunState};
use forage_testkit::mcp_fixture::start_fixture;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const INPUT: &str = r#"Count and wait [[fake:call name=counter args={"key": "a"}]] [[fake:call name=slow args={"ms": 1500}]] [[fake:call name=counter args={"key": "b"} turn=1]]"#;

#[tokio::test]
async fn finished_calls_are_not_repeated_after_a_resume() {
    let fixture = start_fixture().await;
    let h = std::sync::Arc::new(Harness::start().await);
    let mut req = request(
        INPUT,
        "pro",
        json_schema(
            json!({"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]}),
        ),
    );
    req.mcp_servers = Some(vec![mcp_server("fixture", &fixture.url, &[])]);

    // First attempt: stopped once the quick call has finished and the slow one still runs.
    let cancel = CancellationToken::new();
    let sink = std::sync::Arc::new(RecordingSink::default());
    let job = forage_engine::RunJob {
        run_id: forage_api::RunId::generate(),
        processor: "pro".parse().unwrap(),
        request: req.clone(),
        previous_transcript: None,
        resume: None,
    };
    let first = {
        let (h, sink, cancel) = (h.clone(), sink.clone(), cancel.clone());
        tokio::spawn(async move { h.engine.execute(job, sink, cancel).await })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let checkpoint = loop {
        let saved = sink.checkpoint.lock().unwrap().clone();
        if let Some(checkpoint) = saved {
            let resumed = checkpoint.resumed();
            if resumed
                .batch
                .as_ref()
                .is_some_and(|b| b.finished.len() == 1)
            {
                break checkpoint;
            }
        }
        assert!(Instant::now() < deadline, "the quick call never finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    cancel.cancel();
    assert!(matches!(
        first.await.unwrap(),
        EngineOutcome::Cancelled { .. }
    ));
    assert_eq!(fixture.counter("a"), 1);
    assert_eq!(fixture.calls("slow"), 1);
    assert_eq!(fixture.counter("b"), 0);
    // The finished call was saved as the batch alone, after the reply's state: the
    // conversation (the plan in it, say) was not written again.
    let batch = checkpoint
        .batch
        .as_ref()
        .expect("a batch saved after the state");
    assert!(batch.get("messages_after_prelude").is_none(), "{batch}");
    assert!(!batch.to_string().contains("research plan"), "{batch}");
    assert!(
        checkpoint.state["messages_after_prelude"]
            .to_string()
            .contains("research plan")
    );
    // The state leaves out what the request determines (system prompt and task).
    assert_eq!(checkpoint.state["prelude_left_out"], 2);
    let saved_messages = checkpoint.state["messages_after_prelude"]
        .as_array()
        .expect("messages");
    assert!(
        saved_messages.iter().all(|m| m["role"] != "system"
            && !m["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("Task input:"))),
        "{saved_messages:?}"
    );
    // The finished call's reply is saved once, by reference to its trace entry.
    let finished = &batch["batch"]["finished"][0];
    let quick_output = finished["trace"]["content"]
        .as_str()
        .expect("the quick call's output")
        .to_owned();
    assert!(finished["message"].get("content").is_none(), "{finished}");
    assert_eq!(finished["message"]["content_of_trace"], 0, "{finished}");
    let asked_before = h.llm.requests().len();

    // Second attempt, from the checkpoint.
    let (outcome, resumed) = h
        .resume(req, None, Some(checkpoint), CancellationToken::new())
        .await;
    // It asks the model with the conversation rebuilt in front: the same system prompt and
    // task, then the saved rest (the plan, the reply with its calls, their results).
    let requests = h.llm.requests();
    let (first_ask, resumed_ask) = (
        &requests[0]["messages"],
        &requests[asked_before]["messages"],
    );
    assert_eq!(resumed_ask[0], first_ask[0], "the system prompt");
    assert_eq!(resumed_ask[1], first_ask[1], "the task");
    assert!(resumed_ask[1].to_string().contains("Count and wait"));
    let plan = resumed_ask[2]["content"].as_str().unwrap_or_default();
    assert!(plan.starts_with("Your research plan"), "{resumed_ask}");
    assert_eq!(resumed_ask[3]["role"], "assistant", "{resumed_ask}");
    // The reply saved by reference is back in full.
    assert!(
        resumed_ask
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m["role"] == "tool" && m["content"] == quick_output.as_str()),
        "{resumed_ask}"
    );
    let (output, _, _) = completed(outcome);
    assert_eq!(fixture.counter("a"), 1, "a finished call was sent again");
    assert_eq!(
        fixture.calls("slow"),
        2,
        "the interrupted call is made again"
    );
    assert_eq!(fixture.counter("b"), 1);

    let TaskOutput::Json { mcp_tool_calls, .. } = output else {
        panic!("json output")
    };
    let trace: Vec<(String, String)> = mcp_tool_calls
        .expect("a trace")
        .iter()
        .map(|c| (c.tool_name.clone(), c.arguments.clone()))
        .collect();
    assert_eq!(
        trace,
        [
            ("counter".to_owned(), r#"{"key":"a"}"#.to_owned()),
            ("slow".to_owned(), r#"{"ms":1500}"#.to_owned()),
            ("counter".to_owned(), r#"{"key":"b"}"#.to_owned()),
        ]
    );

    // The resumed attempt announces only what it does itself.
    let events = resumed.all();
    assert!(events.iter().any(|e| matches!(e, RunEvent::Progress { message, .. } if message.starts_with("Resuming after a restart"))));
    let started: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::ToolCallStarted { arguments, .. } => Some(arguments.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        [r#"{"key":"b"}"#],
        "calls announced before the restart are not announced again"
    );
    let finished: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::ToolCallFinished { call } => Some(call.tool_name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(finished, ["slow", "counter"]);
}

#[tokio::test]
async fn an_accepted_answer_ends_the_run_with_its_turn_and_is_not_asked_for_again() {
    let h = Harness::start().await;
    let req = request(
        "Answer briefly [[fake:no_tools]]",
        "lite",
        json_schema(
            json!({"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]}),
        ),
    );
    let (outcome, sink) = h.run(req.clone()).await;
    let EngineOutcome::Completed {
        events, transcript, ..
    } = &outcome
    else {
        panic!("{outcome:?}")
    };
    // The answering turn is recorded with the outcome, in the run's last write: a run that
    // only asked the model saves no checkpoint at all (not its start, not its answer).
    assert!(
        matches!(events.as_slice(), [RunEvent::LlmTurn { .. }]),
        "{events:?}"
    );
    assert!(sink.checkpoint.lock().unwrap().is_none());
    let answer = transcript
        .as_array()
        .and_then(|messages| messages.last())
        .and_then(|last| last["content"].as_str())
        .expect("the answer in the transcript")
        .to_owned();
    let (first, _, _) = completed(outcome);

    // A checkpoint that holds an accepted answer (the answer before a self-check) resumes to
    // that answer without asking the model again.
    let mut state = serde_json::to_value(RunState::default()).expect("state");
    state["final_answer"] = Value::String(answer);
    let requests_before = h.llm.requests().len();
    let (outcome, _) = h
        .resume(
            req,
            None,
            Some(StoredCheckpoint::of_state(1, state)),
            CancellationToken::new(),
        )
        .await;
    let (again, _, _) = completed(outcome);
    assert_eq!(
        h.llm.requests().len(),
        requests_before,
        "the model was asked again"
    );
    assert_eq!(again, first);
}

#[tokio::test]
async fn a_run_stopped_after_a_batchs_last_call_resumes_with_every_result_of_the_batch() {
    let fixture = start_fixture().await;
    let h = Harness::start().await;
    let mut req = request(
        r#"Count [[fake:call name=counter args={"key": "a"}]] [[fake:call name=counter args={"key": "b"}]] [[fake:call name=counter args={"key": "c"} turn=1]]"#,
        "pro",
        json_schema(
            json!({"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]}),
        ),
    );
    req.mcp_servers = Some(vec![mcp_server("fixture", &fixture.url, &[])]);
    let (outcome, sink) = h.run(req.clone()).await;
    let (output, _, _) = completed(outcome);

    // The first batch is finished in the checkpoint of its last call: that checkpoint is the
    // only record of it until the next reply's, so a run that stops in between resumes there.
    let saved = sink.saved.lock().unwrap().clone();
    let states: Vec<RunState> = saved.iter().map(StoredCheckpoint::resumed).collect();
    let at = states
        .iter()
        .position(|state| {
            state
                .batch
                .as_ref()
                .is_some_and(|b| b.calls.len() == 2 && b.finished.len() == 2)
        })
        .expect("a checkpoint with the first batch finished");
    let next = &states[at + 1];
    assert_eq!(
        next.trace.len(),
        2,
        "the checkpoint after the finished batch is the next reply's"
    );
    assert!(next.batch.as_ref().is_some_and(|b| b.calls.len() == 1));

    let (outcome, _) = h
        .resume(req, None, Some(saved[at].clone()), CancellationToken::new())
        .await;
    let (again, _, _) = completed(outcome);
    assert_eq!(fixture.counter("a"), 1, "a finished call was sent again");
    assert_eq!(fixture.counter("b"), 1, "a finished call was sent again");
    assert_eq!(
        fixture.counter("c"),
        2,
        "the next turn's call is made again"
    );
    let tools = |output: &TaskOutput| -> Vec<String> {
        let TaskOutput::Json { mcp_tool_calls, .. } = output else {
            panic!("json output")
        };
        mcp_tool_calls
            .iter()
            .flatten()
            .map(|c| c.arguments.clone())
            .collect()
    };
    assert_eq!(
        tools(&again),
        [r#"{"key":"a"}"#, r#"{"key":"b"}"#, r#"{"key":"c"}"#]
    );
    assert_eq!(tools(&again), tools(&output));
}

/// A follow-up's checkpoints keep the whole conversation, the earlier interaction included: its
/// interaction's latest completed run may be another one by the time it resumes.
#[tokio::test]
async fn a_follow_ups_checkpoints_keep_the_earlier_interaction() {
    let fixture = start_fixture().await;
    let h = Harness::start().await;
    let text = forage_api::OutputSchema::Text { description: None };
    let (first, _) = h
        .run(request("My company is ACME-ZETA.", "lite", text.clone()))
        .await;
    let EngineOutcome::Completed { transcript, .. } = first else {
        panic!("{first:?}")
    };
    let mut follow_up = request(
        r#"Count for my company [[fake:call name=counter args={"key": "z"}]]"#,
        "lite",
        text,
    );
    follow_up.mcp_servers = Some(vec![mcp_server("fixture", &fixture.url, &[])]);
    let (outcome, sink) = h
        .run_with(follow_up, Some(transcript), CancellationToken::new())
        .await;
    completed(outcome);
    let saved = sink.saved.lock().unwrap().clone();
    assert!(!saved.is_empty(), "the tool call was checkpointed");
    for StoredCheckpoint { version, state, .. } in saved {
        assert!(
            state.get("prelude_left_out").is_none(),
            "checkpoint {version}"
        );
        let messages = state["messages"].to_string();
        assert!(
            messages.contains("ACME-ZETA"),
            "checkpoint {version}: {messages}"
        );
        assert!(
            messages.contains("Count for my company"),
            "checkpoint {version}"
        );
    }
}

/// A run whose checkpoint cannot be read (written by a newer forage, or damaged) starts over,
/// and its own checkpoints replace the unreadable one, so a second resume carries on from them.
#[tokio::test]
async fn a_run_starting_over_from_an_unreadable_checkpoint_saves_its_own() {
    let fixture = start_fixture().await;
    let h = Harness::start().await;
    let mut req = request(
        r#"Count [[fake:call name=counter args={"key": "u"}]]"#,
        "pro",
        json_schema(
            json!({"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]}),
        ),
    );
    req.mcp_servers = Some(vec![mcp_server("fixture", &fixture.url, &[])]);
    let unreadable = StoredCheckpoint::of_state(7, json!({"messages": "not a conversation"}));
    let sink = std::sync::Arc::new(RecordingSink::default());
    *sink.checkpoint.lock().unwrap() = Some(unreadable.clone());
    let job = forage_engine::RunJob {
        run_id: forage_api::RunId::generate(),
        processor: "pro".parse().unwrap(),
        request: req,
        previous_transcript: None,
        resume: Some(unreadable.to_resume()),
    };
    let outcome = h
        .engine
        .execute(job, sink.clone(), CancellationToken::new())
        .await;
    assert!(
        matches!(outcome, EngineOutcome::Completed { .. }),
        "{outcome:?}"
    );
    assert_eq!(fixture.counter("u"), 1);
    let saved = sink.saved.lock().unwrap().clone();
    assert!(
        !saved.is_empty(),
        "every checkpoint of the new attempt was refused as older than the unreadable one"
    );
    assert!(saved.iter().all(|checkpoint| checkpoint.version > 7));
    let last = saved.last().expect("a checkpoint");
    let resumed = last.resumed();
    let calls = resumed.trace.len() + resumed.batch.as_ref().map_or(0, |b| b.finished.len());
    assert_eq!(calls, 1, "the call, saved for a second resume");
}
