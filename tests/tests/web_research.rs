//! Web research against the real binary: a server configured with a search provider (the fake
//! Brave API over the fixture web) and the DNS double searches, reads pages, holds the run to its
//! source policy and returns only citations it can verify; the search key stays secret; a
//! provider without its key stops the server with an error that names the setting.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ForageServer, ServerOpts, bin, sse_data};
use forage_testkit::dns::DnsDouble;
use forage_testkit::llm::FakeLlm;
use forage_testkit::search::FakeSearch;
use forage_testkit::web::FixtureWeb;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SEARCH_KEY: &str = "brave-key-5e4c1a0f9b";
const ARTICLE: &str = "/2025/03/acme-names-new-ceo.html";
const EXCERPT: &str = "Acme Corp has appointed Dana Whitfield as its chief executive officer";

/// Every file under `dir`, read whole.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                found.push((path.display().to_string(), bytes));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_searches_reads_and_cites_only_what_it_read() {
    let llm = FakeLlm::start().await;
    let dns = DnsDouble::start().await;
    let web = FixtureWeb::start().await;
    web.register(&dns);
    let search = FakeSearch::start(web.pages()).await;
    let server = ForageServer::start(
        ServerOpts::new(&llm.base_url)
            .env("FORAGE_SEARCH_PROVIDER", "brave")
            .env("FORAGE_SEARCH_BASE_URL", search.base_url())
            .env("FORAGE_SEARCH_API_KEY", SEARCH_KEY)
            .env("FORAGE_DNS_SERVERS", dns.addr()),
    )
    .await;
    let api = server.api();
    let article = web.url("news.test", ARTICLE);
    let answer = json!({
        "output": {"ceo": "Dana Whitfield"},
        "basis": [{"field": "ceo", "reasoning": "The news story names her.", "confidence": "high",
                   "citations": [{"url": article, "excerpts": [EXCERPT]},
                                 {"url": web.url("acme.example.test", "/about"), "excerpts": ["Dana Whitfield"]}]}]
    });
    let input = format!(
        r#"Who runs Acme Corp? [[fake:call name=web_search args={{"query": "Acme Corp chief executive"}}]] [[fake:call name=web_fetch args={{"url": "{article}"}} turn=1]] [[fake:answer={answer}]]"#
    );
    let run = api
        .create(&json!({
            "input": input,
            "processor": "core",
            "task_spec": {"output_schema": {"type": "json", "json_schema": {
                "type": "object", "properties": {"ceo": {"type": "string"}}, "required": ["ceo"]}}},
            "source_policy": {"include_domains": ["news.test"]}
        }))
        .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let result = api.result(&run_id, 60).await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.text);
    let output = &result.body["output"];
    assert_eq!(output["content"], json!({"ceo": "Dana Whitfield"}));
    let basis = output["basis"].as_array().unwrap();
    let citations = basis[0]["citations"].as_array().unwrap();
    // The page read stays; the about page, outside the policy and never read, is dropped.
    assert_eq!(citations.len(), 1, "{citations:?}");
    assert_eq!(citations[0]["url"], article.as_str());
    assert_eq!(citations[0]["excerpts"], json!([EXCERPT]));
    assert_eq!(basis[0]["confidence"], "medium");
    let warnings = result.body["run"]["warnings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        warnings.iter().any(|w| w["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1 citation(s) dropped")),
        "{warnings:?}"
    );
    assert_eq!(web.hits("acme.example.test", "/about"), 0);
    assert_eq!(web.hits("news.test", ARTICLE), 1);

    // The provider got the key in its header; watchers saw the search and the read.
    let asked = search.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].provider, "brave");
    assert_eq!(asked[0].header("x-subscription-token"), Some(SEARCH_KEY));
    let (_, stream) = api
        .read_sse(
            &format!("/v1beta/tasks/runs/{run_id}/events"),
            Duration::from_secs(10),
        )
        .await;
    let messages: Vec<String> = sse_data(&stream)
        .iter()
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m == "Searching the web for \"Acme Corp chief executive\""),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("Read http://news.test:")),
        "{messages:?}"
    );

    // The search key appears in no log line, no stored byte, no response.
    assert!(!server.log().contains(SEARCH_KEY));
    assert!(!result.text.contains(SEARCH_KEY) && !stream.contains(SEARCH_KEY));
    for (path, bytes) in files_under(server.data_dir()) {
        assert!(
            !bytes
                .windows(SEARCH_KEY.len())
                .any(|w| w == SEARCH_KEY.as_bytes()),
            "the search key is in {path}"
        );
    }
}

#[test]
fn a_search_provider_without_its_key_stops_the_server_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut cmd = Command::new(bin("forage"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir.path());
    for (name, _) in std::env::vars() {
        if name.starts_with("FORAGE_") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd
        .env("FORAGE_LLM_BASE_URL", "http://127.0.0.1:9/v1")
        .env("FORAGE_SEARCH_PROVIDER", "tavily")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("forage serve started without a search key");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("FORAGE_SEARCH_API_KEY"), "{stderr}");
    assert!(
        stderr.contains("search.provider") || stderr.contains("tavily"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_web_settings_the_tools_are_not_offered() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    let api = server.api();
    let run = api
        .create(&json!({"input": "Acme?", "processor": "lite"}))
        .await;
    let done = api
        .wait_done(run["run_id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "completed");
    let offered: Vec<Value> = llm
        .requests()
        .iter()
        .filter_map(|r| r.get("tools").cloned())
        .collect();
    assert!(offered.is_empty(), "{offered:?}");
}
