//! Resume, don't repeat: forage is SIGKILLed at 100 random moments while tool-calling runs go
//! through it, and restarted each time on the same data directory. Every run completes; no tool
//! call is sent again once forage recorded its result (the MCP fixture logs when each call
//! arrived, the event log when each result was recorded); no event is lost or duplicated.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{ForageServer, ServerOpts};
use forage_testkit::llm::FakeLlm;
use forage_testkit::mcp_fixture::{FixtureHandle, start_fixture};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KILLS: usize = 100;
/// The `counter` calls each run makes, by tool turn.
const KEYS: [(&str, u32); 4] = [("a", 0), ("b", 0), ("c", 1), ("d", 2)];

/// A run's input: two calls at once, then one with a slow call beside it, then one more.
fn input(run: usize) -> String {
    let mut text = format!("Chaos run {run} [[fake:delay_ms=40]]");
    for (key, turn) in KEYS {
        text.push_str(&format!(
            r#" [[fake:call name=counter args={{"key": "r{run}-{key}"}} turn={turn}]]"#
        ));
    }
    text.push_str(r#" [[fake:call name=slow args={"ms": 60} turn=1]]"#);
    text
}

/// Pseudo-random numbers from a fixed seed (the moments of the kills), printed for replays.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_never_repeats_a_recorded_tool_call() {
    let fixture = start_fixture().await;
    let llm = FakeLlm::start().await;
    let mut server =
        ForageServer::start(ServerOpts::new(&llm.base_url).env("FORAGE_WORKERS", 4)).await;
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill moments seed: {seed}");
    let mut moments = Moments(seed);

    let mut runs = Vec::new();
    let started = Instant::now();
    for kill in 0..KILLS {
        // One or two new runs per life, so the workload spans every kill.
        for _ in 0..(1 + kill % 2) {
            runs.push(create(&server, &fixture, runs.len()).await);
        }
        tokio::time::sleep(Duration::from_millis(20 + moments.next_ms(400))).await;
        server.restart().await;
    }
    println!(
        "{KILLS} kills in {:.1} s over {} runs",
        started.elapsed().as_secs_f64(),
        runs.len()
    );

    // Every run completes.
    let api = server.api();
    let mut unfinished = Vec::new();
    for id in &runs {
        let reply = api.result(id, 120).await;
        if reply.status != StatusCode::OK {
            let run = api.run(id).await;
            unfinished.push(format!("{id}: {} {}", reply.status, run.text));
        }
    }
    assert!(
        unfinished.is_empty(),
        "runs that did not complete:\n{}",
        unfinished.join("\n")
    );
    server.kill_9();

    let log = EventLog::read(server.data_dir());
    let mut resumed_runs = 0;
    let mut resent_unrecorded = 0;
    let mut problems = Vec::new();
    for (index, id) in runs.iter().enumerate() {
        let events = log.of(id);
        problems.extend(event_problems(id, &events));
        if events.iter().any(|(_, e)| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Resuming after a restart"))
        }) {
            resumed_runs += 1;
        }
        for (key, _) in KEYS {
            let key = format!("r{index}-{key}");
            let arrivals = fixture.counter_calls(&key);
            let recorded: Vec<SystemTime> = events
                .iter()
                .filter(|(_, e)| {
                    e["kind"] == "tool_call_finished"
                        && e["call"]["arguments"]
                            .as_str()
                            .is_some_and(|a| a.contains(&format!("\"{key}\"")))
                })
                .map(|(at, _)| *at)
                .collect();
            match recorded.as_slice() {
                [at] => {
                    let after: Vec<&SystemTime> = arrivals.iter().filter(|t| *t > at).collect();
                    if !after.is_empty() {
                        problems.push(format!("{id}: counter({key}) was sent {} time(s) after its result was recorded", after.len()));
                    }
                    if arrivals.is_empty() {
                        problems.push(format!("{id}: counter({key}) recorded but never called"));
                    }
                    resent_unrecorded += arrivals.len().saturating_sub(1);
                }
                other => problems.push(format!(
                    "{id}: counter({key}) has {} tool_call.finished events",
                    other.len()
                )),
            }
        }
    }
    println!(
        "{resumed_runs} of {} runs resumed from a checkpoint; {resent_unrecorded} call(s) sent again because the kill came before their result was recorded",
        runs.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        resumed_runs >= 10,
        "too few runs were interrupted to show anything ({resumed_runs})"
    );
}

async fn create(server: &ForageServer, fixture: &FixtureHandle, index: usize) -> String {
    let body = json!({
        "input": input(index),
        "processor": "pro",
        "mcp_servers": [{"type": "url", "name": "fixture", "url": fixture.url}],
        "task_spec": {"output_schema": {"type": "json", "json_schema": {
            "type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]
        }}},
    });
    let run = server.api().create(&body).await;
    run["run_id"].as_str().expect("run_id").to_owned()
}

/// The problems in one run's event log: gaps or repeats in the sequence, a status announced
/// twice, a tool call or LLM turn announced twice.
fn event_problems(id: &str, events: &[(SystemTime, Value)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut statuses = BTreeMap::new();
    let mut seen = HashSet::new();
    for (_, event) in events {
        let what = match event["kind"].as_str().unwrap_or_default() {
            "status" => {
                *statuses.entry(event["status"].to_string()).or_insert(0) += 1;
                continue;
            }
            "tool_call_started" => format!("started {}", event["tool_call_id"]),
            "tool_call_finished" => format!("finished {}", event["call"]["tool_call_id"]),
            "llm_turn" => format!("turn {}", event["turn"]),
            _ => continue,
        };
        if !seen.insert(what.clone()) {
            problems.push(format!("{id}: event '{what}' appears twice"));
        }
    }
    for (status, count) in statuses {
        if count != 1 {
            problems.push(format!("{id}: status {status} announced {count} times"));
        }
    }
    let last = events.last().map(|(_, e)| e.clone()).unwrap_or_default();
    if last["kind"] != "status" || last["status"] != "completed" {
        problems.push(format!(
            "{id}: the log does not end with the completed status: {last}"
        ));
    }
    problems
}

/// The event log as stored: each run's events in sequence, with when each was recorded.
struct EventLog {
    by_run: BTreeMap<String, Vec<(u64, SystemTime, Value)>>,
}

impl EventLog {
    fn read(data: &std::path::Path) -> EventLog {
        let db = rusqlite::Connection::open(data.join("forage.db")).expect("open the database");
        let mut stmt = db
            .prepare(
                "SELECT r.id, e.seq, e.at, e.body FROM events e JOIN runs r ON r.seq = e.run_seq \
                 ORDER BY r.id, e.seq",
            )
            .unwrap();
        let mut by_run: BTreeMap<String, Vec<(u64, SystemTime, Value)>> = BTreeMap::new();
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })
            .unwrap();
        for row in rows {
            let (run, seq, at_us, body) = row.unwrap();
            let at = UNIX_EPOCH + Duration::from_micros(at_us as u64);
            by_run.entry(run).or_default().push((
                seq as u64,
                at,
                serde_json::from_str(&body).unwrap(),
            ));
        }
        EventLog { by_run }
    }

    /// A run's events, checked to be numbered 1, 2, 3 … without gaps.
    fn of(&self, run: &str) -> Vec<(SystemTime, Value)> {
        let events = self.by_run.get(run).cloned().unwrap_or_default();
        for (expected, (seq, _, _)) in (1..).zip(&events) {
            assert_eq!(
                *seq, expected,
                "run {run}: event sequence has a gap or repeat"
            );
        }
        events.into_iter().map(|(_, at, e)| (at, e)).collect()
    }
}
