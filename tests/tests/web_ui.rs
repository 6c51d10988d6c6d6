//! The web UI in headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `testkit/node`): the real `forage` binary with an API key, the fake LLM and the rmcp MCP
//! fixture; each `tests/ui/*.cjs` script drives one story (sign-in and list, wrong key, live
//! timeline of a slow tool call, hostile tool output shown as text). Screenshots go to a
//! temporary directory, kept (and printed) when a script fails.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{API_KEY, ForageServer, ServerOpts, e2e_root, run_program};
use forage_testkit::llm::FakeLlm;
use forage_testkit::mcp_fixture::{FixtureHandle, start_fixture};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";

struct Setup {
    _llm: FakeLlm,
    fixture: FixtureHandle,
    server: ForageServer,
}

async fn setup() -> Setup {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/install-test-deps.sh (Debian package chromium)"
    );
    let llm = FakeLlm::start().await;
    let fixture = start_fixture().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    Setup {
        _llm: llm,
        fixture,
        server,
    }
}

/// Creates a run whose input calls fixture tools (`[[fake:…]]` directives).
async fn create(setup: &Setup, input: &str) -> String {
    let body = json!({
        "input": input,
        "processor": "base",
        "task_spec": {"output_schema": {"type": "text"}},
        "mcp_servers": [{"type": "url", "name": "fx", "url": setup.fixture.url}],
        "enable_events": true,
    });
    let run: Value = setup.server.api().create(&body).await;
    run["run_id"].as_str().expect("run_id").to_owned()
}

/// Runs `tests/ui/<script>` with node; panics with its output (and keeps the screenshots) on failure.
async fn browser_script(setup: &Setup, script: &str, env: &[(&str, String)]) {
    let shots = tempfile::Builder::new()
        .prefix("forage-ui-shots-")
        .tempdir()
        .expect("screenshot dir");
    let mut all = vec![
        ("FORAGE_URL", setup.server.base_url.clone()),
        ("FORAGE_API_KEY", API_KEY.to_owned()),
        (
            "FORAGE_NODE_DIR",
            forage_testkit::peers::node_dir().display().to_string(),
        ),
        ("SCREENSHOT_DIR", shots.path().display().to_string()),
    ];
    all.extend(env.iter().cloned());
    let path = e2e_root().join("ui").join(script);
    let out = run_program(
        Path::new("node"),
        &[path.to_str().expect("utf-8 path")],
        &all,
        Duration::from_secs(150),
    )
    .await;
    if !out.status.success() {
        let kept = shots.keep();
        panic!(
            "{script} failed ({}); screenshots in {}\n{}\n{}",
            out.status,
            kept.display(),
            out.stdout,
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_lists_runs_with_filter_and_paging() {
    let setup = setup().await;
    let api = setup.server.api();
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = create(&setup, &format!("list run {i} [[fake:no_tools]]")).await;
        api.wait_done(&id, Duration::from_secs(60)).await;
        ids.push(id);
    }
    ids.reverse(); // newest first
    browser_script(
        &setup,
        "login_and_list.cjs",
        &[("RUN_IDS", serde_json::to_string(&ids).unwrap())],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_key_is_refused() {
    let setup = setup().await;
    browser_script(&setup, "wrong_key.cjs", &[]).await;
    let log = setup.server.log();
    assert!(
        !log.contains("not-the-key"),
        "the presented key is not logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_timeline_grows_live_while_a_slow_tool_runs() {
    let setup = setup().await;
    let id = create(
        &setup,
        r#"Wait for it. [[fake:delay_ms=1500]] [[fake:call name=slow args={"ms": 4000}]]"#,
    )
    .await;
    browser_script(&setup, "live_timeline.cjs", &[("SLOW_RUN", id.clone())]).await;
    assert_eq!(setup.fixture.calls("slow"), 1, "the slow tool ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_tool_output_is_shown_as_text() {
    let setup = setup().await;
    let id = create(
        &setup,
        r#"Echo this. [[fake:call name=echo args={"text": "<img src=x onerror=alert(1)>"}]] <img src=x onerror=alert(1)>"#,
    )
    .await;
    setup
        .server
        .api()
        .wait_done(&id, Duration::from_secs(60))
        .await;
    browser_script(&setup, "escaping.cjs", &[("XSS_RUN", id)]).await;
}
