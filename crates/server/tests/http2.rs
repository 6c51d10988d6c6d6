//! forage speaks HTTP/2 without TLS to clients that know it does (prior knowledge, as a reverse
//! proxy that multiplexes does), on the same port as HTTP/1.1: many long-polls and event streams
//! then share one connection.

mod common;

use serde_json::{Value, json};

#[tokio::test]
async fn long_polls_and_event_streams_share_one_http2_connection() {
    let server = common::start(&[]).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut runs = Vec::new();
    for i in 0..5 {
        let created = h2
            .post(server.url("/v1/tasks/runs"))
            .json(&json!({"input": format!("q{i} [[fake:stall_ms=300]]"), "processor": "lite"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.version(), reqwest::Version::HTTP_2);
        assert_eq!(created.status(), 202);
        let run: Value = created.json().await.unwrap();
        runs.push(run["run_id"].as_str().unwrap().to_owned());
    }
    // Every run's long-poll and event stream open at once, on the one connection.
    let watchers = runs.iter().map(|id| {
        let h2 = h2.clone();
        let result = server.url(&format!("/v1/tasks/runs/{id}/result?timeout=60"));
        let events = server.url(&format!("/v1/tasks/runs/{id}/events"));
        async move {
            let (result, events) = tokio::join!(
                h2.get(result).send(),
                h2.get(events).header("accept", "text/event-stream").send()
            );
            let (result, events) = (result.unwrap(), events.unwrap());
            assert_eq!(result.version(), reqwest::Version::HTTP_2);
            assert_eq!(events.version(), reqwest::Version::HTTP_2);
            let (result, events) = tokio::join!(result.json::<Value>(), events.text());
            (result.unwrap(), events.unwrap())
        }
    });
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        futures::future::join_all(watchers),
    )
    .await
    .expect("every run ends");
    for (id, (result, events)) in runs.iter().zip(done) {
        assert_eq!(result["run"]["run_id"], id.as_str());
        assert_eq!(result["run"]["status"], "completed", "{result}");
        assert!(
            events.contains("\"status\":\"completed\""),
            "the stream ends with the completed run: {events}"
        );
    }
    // The same port still serves HTTP/1.1.
    let plain = server
        .http
        .get(server.url(&format!("/v1/tasks/runs/{}", runs[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.version(), reqwest::Version::HTTP_11);
    assert_eq!(plain.status(), 200);
}
