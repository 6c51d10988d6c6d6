//! Every secret a whole workload uses appears nowhere in clear. The workload: two client API
//! keys, the LLM API key, the at-rest key (`FORAGE_SECRET_KEY`), MCP header values sent to a
//! server that accepts them, one that refuses them and one that cannot be reached, the webhook
//! signing secret; runs that call tools, fail auth, get cancelled, run in a group, survive a
//! SIGKILL and resume. Searched: every file of the data directory (bytes), the server's debug
//! log, every API response and event stream, the webhook deliveries, and what the LLM was sent.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine;
use common::{
    Api, ForageServer, ServerOpts, VaultServer, contains_bytes, files_containing, unique_hex,
};
use forage_testkit::llm::FakeLlm;
use forage_testkit::mcp_fixture::start_fixture;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;

/// Everything a webhook receiver was sent, headers and bodies, as text.
async fn start_receiver() -> (String, Arc<Mutex<String>>, tokio::task::JoinHandle<()>) {
    async fn receive(
        State(seen): State<Arc<Mutex<String>>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        let mut seen = seen.lock().unwrap();
        seen.push_str(&format!(
            "{headers:?}\n{}\n",
            String::from_utf8_lossy(&body)
        ));
        "ok"
    }
    let seen = Arc::new(Mutex::new(String::new()));
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    (url, seen, task)
}

/// The MCP servers of every run: each with a header value that is a secret.
fn mcp_servers(
    vault_url: &str,
    vault_token: &str,
    wrong_token: &str,
    fixture_url: &str,
    tenant_secret: &str,
    unreachable_secret: &str,
) -> Value {
    json!([
        {"type": "url", "name": "vault", "url": vault_url,
         "headers": {"Authorization": format!("Bearer {vault_token}")},
         "allowed_tools": ["get_secret_code"]},
        {"type": "url", "name": "vault_wrong", "url": vault_url,
         "headers": {"Authorization": format!("Bearer {wrong_token}")}},
        {"type": "url", "name": "fixture", "url": fixture_url,
         "headers": {"X-Tenant-Secret": tenant_secret},
         "allowed_tools": ["echo"]},
        {"type": "url", "name": "gone", "url": "http://127.0.0.1:9/mcp",
         "headers": {"Authorization": format!("Bearer {unreachable_secret}")}},
    ])
}

/// Everything the API shows about one run.
async fn run_views(api: &Api, run_id: &str, out: &mut String) {
    for path in [
        format!("/v1/tasks/runs/{run_id}"),
        format!("/v1/tasks/runs/{run_id}/input"),
        format!("/v1/tasks/runs/{run_id}/result?timeout=60"),
    ] {
        let reply = api.get(&path).await;
        out.push_str(&format!("GET {path}: {}\n", reply.text));
    }
    let (status, events) = api
        .read_sse(
            &format!("/v1/tasks/runs/{run_id}/events"),
            Duration::from_secs(3),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    out.push_str(&events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_of_a_whole_workload_appears_in_clear_anywhere() {
    let tag = unique_hex();
    let key_a = format!("client-key-a-{tag}");
    let key_b = format!("client-key-b-{tag}");
    let llm_key = format!("llm-api-key-{tag}");
    let at_rest_key_bytes = sha2::Sha256::digest(format!("at-rest-{tag}")).to_vec();
    let at_rest_key = base64::engine::general_purpose::STANDARD.encode(&at_rest_key_bytes);
    let vault_token = format!("vault-token-{tag}");
    let wrong_token = format!("wrong-token-{tag}");
    let tenant_secret = format!("tenant-secret-{tag}");
    let unreachable_secret = format!("unreachable-secret-{tag}");

    let vault = VaultServer::start(&vault_token);
    let fixture = start_fixture().await;
    let llm = FakeLlm::start().await;
    let (hook_url, deliveries, _receiver) = start_receiver().await;
    let mut opts = ServerOpts::new(&llm.base_url)
        .env("FORAGE_LLM_API_KEY", &llm_key)
        .env("FORAGE_SECRET_KEY", &at_rest_key)
        .env("RUST_LOG", "debug")
        .env("FORAGE_WORKERS", 2);
    opts.api_keys = vec![key_a.clone(), key_b.clone()];
    let mut server = ForageServer::start(opts).await;
    let api = Api::new(&server.base_url, Some(&key_a));
    let servers = mcp_servers(
        &vault.url,
        &vault_token,
        &wrong_token,
        &fixture.url,
        &tenant_secret,
        &unreachable_secret,
    );
    let mut shown = String::new(); // every response body and event stream read below
    let mut run_ids = Vec::new();

    // A run that calls tools on every server it can reach, with a webhook.
    let run = api
        .create(&json!({
            "input": "What is ACME's secret code?",
            "processor": "base",
            "task_spec": {"output_schema": {"type": "json", "json_schema": {
                "type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}}},
            "mcp_servers": servers,
            "webhook": {"url": hook_url, "event_types": ["task_run.status"]},
        }))
        .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let result = api.result(&run_id, 120).await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.text);
    let calls = result.body["output"]["mcp_tool_calls"].as_array().unwrap();
    let vault_call = calls.iter().find(|c| c["server_name"] == "vault").unwrap();
    assert_eq!(
        vault_call["error"], "",
        "the vault accepted the token: {vault_call}"
    );
    assert!(
        vault_call["content"]
            .as_str()
            .is_some_and(|c| c.contains('-')),
        "{vault_call}"
    );
    assert_eq!(
        fixture.last_header("x-tenant-secret").as_deref(),
        Some(tenant_secret.as_str())
    );
    let warnings = result.body["run"]["warnings"].to_string();
    assert!(
        warnings.contains("gone"),
        "the unreachable server is a warning: {warnings}"
    );
    let refused = calls
        .iter()
        .find(|c| c["server_name"] == "vault_wrong")
        .unwrap_or_else(|| panic!("the refusing server's tool was called: {calls:?}"));
    assert_ne!(
        refused["error"], "",
        "the wrong token was refused: {refused}"
    );
    run_ids.push(run_id);

    // A run cancelled while it holds its headers.
    let run = api
        .create(
            &json!({"input": "hold on [[fake:stall_ms=30000]]", "processor": "lite",
                        "mcp_servers": servers}),
        )
        .await;
    let cancelled = run["run_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reply = api
        .post_json(&format!("/v1/tasks/runs/{cancelled}/cancel"), &json!({}))
        .await;
    assert!(reply.status.is_success(), "{}", reply.text);
    api.wait_done(&cancelled, Duration::from_secs(30)).await;
    run_ids.push(cancelled);

    // A group run.
    let group = api.post_json("/v1/tasks/groups", &json!({})).await;
    let group_id = group.body["taskgroup_id"].as_str().unwrap().to_owned();
    let added = api
        .post_json(
            &format!("/v1/tasks/groups/{group_id}/runs"),
            &json!({"inputs": [{"input": "group member", "processor": "lite", "mcp_servers": servers}]}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    let member = added.body["run_ids"][0].as_str().unwrap().to_owned();
    api.wait_done(&member, Duration::from_secs(60)).await;
    run_ids.push(member);
    for path in [
        format!("/v1/tasks/groups/{group_id}"),
        format!("/v1/tasks/groups/{group_id}/runs"),
    ] {
        shown.push_str(&api.get(&path).await.text);
    }
    let (_, group_events) = api
        .read_sse(
            &format!("/v1/tasks/groups/{group_id}/events"),
            Duration::from_secs(3),
        )
        .await;
    shown.push_str(&group_events);

    // A run in flight when the server is killed: it resumes with its headers after the restart.
    let run = api
        .create(
            &json!({"input": "survive [[fake:stall_ms=1500]]", "processor": "lite",
                        "mcp_servers": servers}),
        )
        .await;
    let resumed = run["run_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.restart().await;
    let api = Api::new(&server.base_url, Some(&key_a));
    let done = api.wait_done(&resumed, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "{done}");
    run_ids.push(resumed);

    for id in &run_ids {
        run_views(&api, id, &mut shown).await;
    }
    shown.push_str(&api.get("/v1/tasks/runs?limit=100").await.text);
    // The other key sees nothing, and its refusals say nothing either.
    let api_b = Api::new(&server.base_url, Some(&key_b));
    for id in &run_ids {
        shown.push_str(&api_b.get(&format!("/v1/tasks/runs/{id}/input")).await.text);
    }
    shown.push_str(
        &Api::new(&server.base_url, Some("not-a-key"))
            .get("/v1/tasks/runs")
            .await
            .text,
    );
    // The signing secret is shown to its owner on purpose, by that one endpoint only.
    let webhook_secret = api.get("/v1/forage/webhook-secret").await.body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let delivered = deliveries.lock().unwrap().clone();
    assert!(
        delivered.contains(&run_ids[0]),
        "the webhook was delivered: {delivered}"
    );

    let log = server.log_bytes();
    let llm_traffic = serde_json::to_string(&llm.requests()).unwrap();
    let secrets = [
        ("client API key A", key_a.as_bytes()),
        ("client API key B", key_b.as_bytes()),
        ("LLM API key", llm_key.as_bytes()),
        ("at-rest key (base64)", at_rest_key.as_bytes()),
        ("at-rest key (bytes)", &at_rest_key_bytes),
        ("vault bearer token", vault_token.as_bytes()),
        ("refused bearer token", wrong_token.as_bytes()),
        ("tenant header value", tenant_secret.as_bytes()),
        ("unreachable server's token", unreachable_secret.as_bytes()),
        ("webhook signing secret", webhook_secret.as_bytes()),
    ];
    let mut leaks = Vec::new();
    for (what, secret) in secrets {
        for file in files_containing(server.data_dir(), secret) {
            leaks.push(format!("{what} in data file {}", file.display()));
        }
        for (place, text) in [
            ("the server log", log.as_slice()),
            ("API responses and event streams", shown.as_bytes()),
            ("webhook deliveries", delivered.as_bytes()),
            ("requests to the LLM", llm_traffic.as_bytes()),
        ] {
            if contains_bytes(text, secret) {
                leaks.push(format!("{what} in {place}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets in clear: {leaks:#?}");

    // The searches see what is there: run ids are in the store, the log and the responses,
    // and the debug log is the verbose one.
    for id in &run_ids {
        assert!(
            !files_containing(server.data_dir(), id.as_bytes()).is_empty(),
            "{id} in the store"
        );
        assert!(contains_bytes(&log, id.as_bytes()), "{id} in the log");
        assert!(shown.contains(id.as_str()), "{id} in the responses");
    }
    assert!(
        contains_bytes(&log, b"DEBUG"),
        "the server logged at debug level"
    );
    assert!(
        shown.contains("vault_wrong"),
        "the responses name the refusing server"
    );
}
