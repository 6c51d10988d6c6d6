//! Bad requests against the real binary, table-driven: each gets the documented 4xx status, a
//! JSON body in Parallel's error shape with a ref_id, and a message that says what is wrong
//! (naming the field); none is a 5xx or a dropped connection, and the server keeps serving.

mod common;

use std::time::Duration;

use common::{API_KEY, Api, ForageServer, Reply, ServerOpts, error_shape_problems};
use forage_testkit::llm::FakeLlm;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What to send.
enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>),
}

/// One row of the table.
struct Case {
    name: String,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    key: Option<&'static str>,
    body: Body,
    /// Acceptable statuses (the first is the one the contract names).
    statuses: Vec<u16>,
    /// Substrings the error message must contain (lower-cased; `a|b` = either).
    must: Vec<&'static str>,
}

impl Case {
    fn new(
        name: &str,
        method: Method,
        path: &str,
        statuses: &[u16],
        must: &[&'static str],
    ) -> Case {
        Case {
            name: name.to_owned(),
            method,
            path: path.to_owned(),
            content_type: Some("application/json"),
            key: Some(API_KEY),
            body: Body::None,
            statuses: statuses.to_vec(),
            must: must.to_vec(),
        }
    }

    /// `POST /v1/tasks/runs` with a JSON body.
    fn create(name: &str, body: Value, statuses: &[u16], must: &[&'static str]) -> Case {
        let mut case = Case::new(name, Method::POST, "/v1/tasks/runs", statuses, must);
        case.body = Body::Json(body);
        case
    }

    /// `POST /v1/tasks/runs` with raw bytes.
    fn create_raw(name: &str, body: &[u8], statuses: &[u16], must: &[&'static str]) -> Case {
        let mut case = Case::new(name, Method::POST, "/v1/tasks/runs", statuses, must);
        case.body = Body::Raw(body.to_vec());
        case
    }

    fn content_type(mut self, ct: Option<&'static str>) -> Case {
        self.content_type = ct;
        self
    }

    fn key(mut self, key: Option<&'static str>) -> Case {
        self.key = key;
        self
    }
}

/// A valid body with `patch` merged in at the top level.
fn valid_with(patch: Value) -> Value {
    let mut body = json!({"input": "What is 2+2? [[fake:no_tools]]", "processor": "lite"});
    for (k, v) in patch.as_object().expect("patch is an object") {
        body[k] = v.clone();
    }
    body
}

fn mcp(name: &str, url: &str) -> Value {
    json!({"type": "url", "name": name, "url": url})
}

fn json_spec(schema: Value) -> Value {
    json!({"output_schema": {"type": "json", "json_schema": schema}})
}

fn table(run_id: &str) -> Vec<Case> {
    let l422 = &[422u16][..];
    let syntax = &[400u16, 422][..];
    let company_schema = json!({
        "type": "object",
        "properties": {"company": {"type": "string"}},
        "required": ["company"]
    });
    let mut deep = String::from(r#"{"processor":"lite","input":{"a":"#);
    deep.push_str(&"[".repeat(10_000));
    deep.push_str(&"]".repeat(10_000));
    deep.push_str("}}");
    let big_input = "x".repeat(2 * 1024 * 1024);
    let long_input = "y".repeat(30_000);
    let eleven: Vec<Value> = (0..11)
        .map(|i| mcp(&format!("s{i}"), &format!("http://127.0.0.1:9/{i}")))
        .collect();

    vec![
        // --- Body syntax and shape
        Case::create_raw(
            "malformed JSON",
            br#"{"input": "x" "processor": "lite"}"#,
            syntax,
            &["json"],
        ),
        Case::create_raw(
            "truncated JSON",
            br#"{"input": "x", "processor": "li"#,
            syntax,
            &["json|eof|end"],
        ),
        Case::create_raw("empty body", b"", syntax, &["empty|body"]),
        Case::create_raw("JSON array body", b"[1, 2]", syntax, &["object"]),
        Case::create_raw("JSON string body", br#""hello""#, syntax, &["object"]),
        Case::create_raw("JSON number body", b"42", syntax, &["object"]),
        Case::create_raw("JSON null body", b"null", syntax, &["object"]),
        Case::create_raw(
            "invalid UTF-8 in body",
            b"{\"input\": \"caf\xff\xfe\", \"processor\": \"lite\"}",
            syntax,
            &["utf|unicode"],
        ),
        Case::create_raw(
            "nesting 10,000 deep",
            deep.as_bytes(),
            &[400, 413, 422],
            &["nest|deep|depth"],
        ),
        Case::create(
            "body over the size limit",
            json!({"input": big_input, "processor": "lite"}),
            &[413],
            &["large|limit|size"],
        ),
        // --- Required fields and types
        Case::create(
            "missing input",
            json!({"processor": "lite"}),
            l422,
            &["input"],
        ),
        Case::create(
            "missing processor",
            json!({"input": "x"}),
            l422,
            &["processor"],
        ),
        Case::create(
            "input is a number",
            json!({"input": 5, "processor": "lite"}),
            l422,
            &["input"],
        ),
        Case::create(
            "input is an array",
            json!({"input": ["a"], "processor": "lite"}),
            l422,
            &["input"],
        ),
        Case::create(
            "processor is a number",
            json!({"input": "x", "processor": 5}),
            l422,
            &["processor"],
        ),
        Case::create(
            "task_spec is a number",
            valid_with(json!({"task_spec": 5})),
            l422,
            &["task_spec"],
        ),
        Case::create(
            "output_schema is a number",
            valid_with(json!({"task_spec": {"output_schema": 5}})),
            l422,
            &["output_schema"],
        ),
        Case::create(
            "metadata is an array",
            valid_with(json!({"metadata": ["a"]})),
            l422,
            &["metadata"],
        ),
        Case::create(
            "mcp_servers is an object",
            valid_with(json!({"mcp_servers": {"a": 1}})),
            l422,
            &["mcp_servers"],
        ),
        Case::create(
            "enable_events is a string",
            valid_with(json!({"enable_events": "yes"})),
            l422,
            &["enable_events"],
        ),
        Case::create(
            "previous_interaction_id is a number",
            valid_with(json!({"previous_interaction_id": 7})),
            l422,
            &["previous_interaction_id"],
        ),
        Case::create(
            "unknown top-level field",
            valid_with(json!({"colour": "blue"})),
            l422,
            &["colour"],
        ),
        Case::create(
            "unknown field inside task_spec",
            valid_with(json!({"task_spec": {"output_schema": {"type": "text"}, "flavour": 1}})),
            l422,
            &["flavour"],
        ),
        // --- Processor and schemas
        Case::create(
            "unknown processor",
            valid_with(json!({"processor": "turbo9000"})),
            &[403],
            &["processor", "turbo9000"],
        ),
        Case::create(
            "output_schema of unknown type",
            valid_with(json!({"task_spec": {"output_schema": {"type": "xml"}}})),
            l422,
            &["output_schema", "xml"],
        ),
        Case::create(
            "json output_schema without json_schema",
            valid_with(json!({"task_spec": {"output_schema": {"type": "json"}}})),
            l422,
            &["json_schema"],
        ),
        Case::create(
            "json_schema is not valid JSON Schema",
            valid_with(
                json!({"task_spec": json_spec(json!({"type": "object", "properties": {"a": {"type": 12}}}))}),
            ),
            l422,
            &["json_schema"],
        ),
        Case::create(
            "json_schema root is not an object schema",
            valid_with(
                json!({"task_spec": json_spec(json!({"type": "array", "items": {"type": "string"}}))}),
            ),
            l422,
            &["json_schema", "object"],
        ),
        Case::create(
            "input violates input_schema",
            json!({"input": {"company": 5}, "processor": "lite", "task_spec": {
                "output_schema": {"type": "text"},
                "input_schema": {"type": "json", "json_schema": company_schema.clone()}}}),
            l422,
            &["input", "company|string"],
        ),
        Case::create(
            "string input with a json input_schema",
            json!({"input": "ACME", "processor": "lite", "task_spec": {
                "output_schema": {"type": "text"},
                "input_schema": {"type": "json", "json_schema": company_schema}}}),
            l422,
            &["input"],
        ),
        Case::create(
            "input over 25,000 characters",
            json!({"input": long_input, "processor": "lite"}),
            l422,
            &["input"],
        ),
        // --- Metadata
        Case::create(
            "metadata key over 16 chars",
            valid_with(json!({"metadata": {"a_very_long_key_name": "v"}})),
            l422,
            &["metadata"],
        ),
        Case::create(
            "metadata value over 512 chars",
            valid_with(json!({"metadata": {"k": "v".repeat(513)}})),
            l422,
            &["metadata"],
        ),
        Case::create(
            "metadata value is an object",
            valid_with(json!({"metadata": {"k": {"nested": true}}})),
            l422,
            &["metadata"],
        ),
        // --- MCP servers
        Case::create(
            "more than 10 mcp_servers",
            valid_with(json!({"mcp_servers": eleven})),
            l422,
            &["mcp_servers", "10"],
        ),
        Case::create(
            "duplicate mcp server names",
            valid_with(
                json!({"mcp_servers": [mcp("dup", "http://127.0.0.1:9/a"), mcp("dup", "http://127.0.0.1:9/b")]}),
            ),
            l422,
            &["mcp_servers", "unique|duplicate|twice"],
        ),
        Case::create(
            "mcp url is not http(s)",
            valid_with(json!({"mcp_servers": [mcp("files", "ftp://example.com/mcp")]})),
            l422,
            &["mcp_servers", "url|scheme"],
        ),
        Case::create(
            "mcp url is malformed",
            valid_with(json!({"mcp_servers": [mcp("bad", "not a url")]})),
            l422,
            &["mcp_servers", "url"],
        ),
        Case::create(
            "mcp url missing",
            valid_with(json!({"mcp_servers": [{"type": "url", "name": "nourl"}]})),
            l422,
            &["url"],
        ),
        Case::create(
            "mcp header value is not a string",
            valid_with(
                json!({"mcp_servers": [{"type": "url", "name": "h", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": 5}}]}),
            ),
            l422,
            &["headers|authorization"],
        ),
        Case::create(
            "mcp type other than url",
            valid_with(
                json!({"mcp_servers": [{"type": "stdio", "name": "s", "url": "http://127.0.0.1:9/mcp"}]}),
            ),
            l422,
            &["type", "stdio|url"],
        ),
        Case::create(
            "webhook url not http(s)",
            valid_with(json!({"webhook": {"url": "ftp://example.com/hook"}})),
            l422,
            &["webhook.url", "ftp"],
        ),
        Case::create(
            "webhook event type unknown",
            valid_with(
                json!({"webhook": {"url": "https://example.com/hook", "event_types": ["task_run.progress"]}}),
            ),
            l422,
            &["webhook.event_types", "task_run.status"],
        ),
        Case::create(
            "source_policy.after_date not a date",
            valid_with(
                json!({"source_policy": {"include_domains": ["example.com"], "after_date": "2024-13-45"}}),
            ),
            l422,
            &["source_policy.after_date", "yyyy-mm-dd"],
        ),
        Case::create(
            "source_policy entry naming no domain",
            valid_with(json!({"source_policy": {"include_domains": ["example.com", "https:///"]}})),
            l422,
            &["source_policy.include_domains[1]", "names no domain"],
        ),
        Case::create(
            "source_policy with 201 domains",
            valid_with(
                json!({"source_policy": {"exclude_domains": (0..201).map(|i| format!("d{i}.example")).collect::<Vec<_>>()}}),
            ),
            l422,
            &["source_policy", "limit is 200"],
        ),
        // --- Features refused in this version
        Case::create(
            "memory_scope_key set",
            valid_with(json!({"memory_scope_key": "team-a"})),
            l422,
            &["memory_scope_key"],
        ),
        Case::create(
            "advanced_settings set",
            valid_with(json!({"advanced_settings": {"location": "US"}})),
            l422,
            &["advanced_settings"],
        ),
        Case::create(
            "previous_interaction_id unknown",
            valid_with(json!({"previous_interaction_id": "trun_ffffffffffffffffffffffffffffffff"})),
            l422,
            &["previous_interaction_id"],
        ),
        // --- Headers
        Case::create(
            "wrong Content-Type",
            valid_with(json!({})),
            &[415],
            &["application/json|content-type|content type"],
        )
        .content_type(Some("text/plain")),
        Case::create(
            "no Content-Type",
            valid_with(json!({})),
            &[415],
            &["application/json|content-type|content type"],
        )
        .content_type(None),
        Case::create(
            "no API key",
            valid_with(json!({})),
            &[401],
            &["unauthorized|credentials|api key"],
        )
        .key(None),
        Case::create(
            "wrong API key",
            valid_with(json!({})),
            &[401],
            &["unauthorized|credentials|api key"],
        )
        .key(Some("wrong-key")),
        // --- Methods and paths
        Case::new(
            "DELETE on POST-only /v1/tasks/runs",
            Method::DELETE,
            "/v1/tasks/runs",
            &[405],
            &["method"],
        ),
        Case::new(
            "PUT on POST-only /v1/tasks/runs",
            Method::PUT,
            "/v1/tasks/runs",
            &[405],
            &["method"],
        ),
        Case::new(
            "PATCH on POST-only /v1/tasks/runs",
            Method::PATCH,
            "/v1/tasks/runs",
            &[405],
            &["method"],
        ),
        Case::new(
            "POST on GET-only run path",
            Method::POST,
            &format!("/v1/tasks/runs/{run_id}"),
            &[405],
            &["method"],
        ),
        Case::new(
            "DELETE on GET-only result path",
            Method::DELETE,
            &format!("/v1/tasks/runs/{run_id}/result"),
            &[405],
            &["method"],
        ),
        Case::new(
            "unknown path",
            Method::GET,
            "/v1/no/such/thing",
            &[404],
            &["not found|unknown|no route"],
        ),
        Case::new(
            "unknown run id",
            Method::GET,
            "/v1/tasks/runs/trun_00000000000000000000000000000000",
            &[404],
            &["not found"],
        ),
        Case::new(
            "malformed run id",
            Method::GET,
            "/v1/tasks/runs/not-a-run-id",
            &[404],
            &["not found"],
        ),
        Case::new(
            "result of unknown run",
            Method::GET,
            "/v1/tasks/runs/trun_00000000000000000000000000000000/result?timeout=1",
            &[404],
            &["not found"],
        ),
        Case::new(
            "input of unknown run",
            Method::GET,
            "/v1/tasks/runs/trun_00000000000000000000000000000000/input",
            &[404],
            &["not found"],
        ),
        Case::new(
            "events of unknown run",
            Method::GET,
            "/v1/tasks/runs/trun_00000000000000000000000000000000/events",
            &[404],
            &["not found"],
        ),
        // --- Query parameters
        Case::new(
            "result?timeout=abc",
            Method::GET,
            &format!("/v1/tasks/runs/{run_id}/result?timeout=abc"),
            l422,
            &["timeout"],
        ),
        Case::new(
            "result?timeout=-5",
            Method::GET,
            &format!("/v1/tasks/runs/{run_id}/result?timeout=-5"),
            l422,
            &["timeout"],
        ),
        Case::new(
            "result?timeout=NaN",
            Method::GET,
            &format!("/v1/tasks/runs/{run_id}/result?timeout=NaN"),
            l422,
            &["timeout"],
        ),
    ]
}

/// One row's outcome.
struct Row {
    name: String,
    expected: Vec<u16>,
    got: u16,
    message: String,
    problems: Vec<String>,
}

async fn send(api: &Api, case: &Case) -> Reply {
    let mut req = api.http.request(case.method.clone(), api.url(&case.path));
    if let Some(key) = case.key {
        req = req.header("x-api-key", key);
    }
    match &case.body {
        Body::None => {}
        Body::Json(v) => req = req.body(serde_json::to_vec(v).expect("serialize")),
        Body::Raw(bytes) => req = req.body(bytes.clone()),
    }
    if !matches!(case.body, Body::None)
        && let Some(ct) = case.content_type
    {
        req = req.header("content-type", ct);
    }
    Api::send(req).await
}

fn judge(name: &str, statuses: &[u16], must: &[&str], reply: &Reply, check_shape: bool) -> Row {
    let got = reply.status.as_u16();
    let message = reply.body["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| common::tail(&reply.text, 200).to_owned());
    let mut problems = Vec::new();
    if !statuses.contains(&got) {
        problems.push(format!("status {got}, expected {statuses:?}"));
    }
    if check_shape {
        problems.extend(error_shape_problems(reply));
    }
    let lower = message.to_lowercase();
    for want in must {
        if !want.split('|').any(|alt| lower.contains(alt)) {
            problems.push(format!("message lacks {want:?}"));
        }
    }
    Row {
        name: name.to_owned(),
        expected: statuses.to_vec(),
        got,
        message,
        problems,
    }
}

/// A raw HTTP/1.1 exchange over TCP (for requests reqwest will not send). Returns the
/// status (0 when the connection closed without a response) and the reply.
async fn raw_exchange(addr: std::net::SocketAddr, request: Vec<u8>, half_close: bool) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        // The server may answer and close before it has read everything: ignore write errors.
        let _ = write.write_all(&request).await;
        if half_close {
            let _ = write.shutdown().await;
            return None;
        }
        Some(write)
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), read.read_to_end(&mut buf)).await;
    let _keep_open = writer.await;
    parse_raw_response(&buf)
}

fn parse_raw_response(buf: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(buf).into_owned();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Reply {
            status: StatusCode::from_u16(599).expect("status"),
            content_type: None,
            body: Value::String(format!("no HTTP response (read {} bytes)", buf.len())),
            text,
        };
    };
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::from_u16(599).expect("status"));
    let mut content_type = None;
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            if name == "content-type" {
                content_type = Some(value.trim().to_owned());
            }
            if name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
        }
    }
    let body_text = if chunked {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_owned()
    };
    Reply {
        status,
        content_type,
        body: serde_json::from_str(&body_text).unwrap_or(Value::String(body_text.clone())),
        text: body_text,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_get_clear_4xx_errors_and_the_server_survives() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    let api = server.api();

    // A real run for the rows that need one (timeout parsing must not depend on a 404 first).
    let run = api
        .create(&json!({"input": "Seed run [[fake:no_tools]]", "processor": "lite"}))
        .await;
    let run_id = run["run_id"].as_str().expect("run_id").to_owned();

    let mut rows = Vec::new();
    let cases = table(&run_id);
    assert!(cases.len() >= 30, "the table should hold at least 30 rows");
    for case in &cases {
        let reply = send(&api, case).await;
        rows.push(judge(&case.name, &case.statuses, &case.must, &reply, true));
    }

    // Raw TCP rows: what reqwest will not send.
    let huge_header = format!(
        "POST /v1/tasks/runs HTTP/1.1\r\nHost: {}\r\nx-api-key: {API_KEY}\r\ncontent-type: application/json\r\nx-huge: {}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}",
        server.addr,
        "h".repeat(1024 * 1024)
    );
    let reply = raw_exchange(server.addr, huge_header.into_bytes(), false).await;
    // hyper answers an oversized head itself (431, no body): the shape check cannot apply.
    rows.push(judge(
        "huge header (1 MiB), raw TCP",
        &[431, 400, 413],
        &[],
        &reply,
        false,
    ));

    let lying_length = format!(
        "POST /v1/tasks/runs HTTP/1.1\r\nHost: {}\r\nx-api-key: {API_KEY}\r\ncontent-type: application/json\r\ncontent-length: 500\r\nconnection: close\r\n\r\n{{\"input\": \"x\", \"proc",
        server.addr
    );
    let reply = raw_exchange(server.addr, lying_length.into_bytes(), true).await;
    rows.push(judge(
        "content-length longer than the body, raw TCP",
        &[400],
        &["body|incomplete|length"],
        &reply,
        true,
    ));

    let body = r#"{"input": "hi [[fake:no_tools]]", "processor": 1}"#;
    let bad_header = format!(
        "POST /v1/tasks/runs HTTP/1.1\r\nHost: {}\r\nx-api-key: {API_KEY}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        server.addr,
        body.len()
    );
    let reply = raw_exchange(server.addr, bad_header.into_bytes(), false).await;
    rows.push(judge(
        "processor number with a charset in Content-Type, raw TCP",
        &[422],
        &["processor"],
        &reply,
        true,
    ));

    // Print the table.
    println!(
        "\n{:<58} {:>10} {:>4}  result / message",
        "case", "expected", "got"
    );
    for row in &rows {
        let verdict = if row.problems.is_empty() {
            "ok".to_owned()
        } else {
            format!("FAIL {:?}", row.problems)
        };
        let exp = row
            .expected
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join("/");
        println!(
            "{:<58} {:>10} {:>4}  {verdict} | {}",
            row.name,
            exp,
            row.got,
            common::tail(&row.message, 160)
        );
    }

    // The server is alive and still takes work.
    let health = api.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK, "/healthz after the table");
    let run = api
        .create(&json!({"input": "Still alive? [[fake:no_tools]]", "processor": "lite"}))
        .await;
    assert_eq!(
        run["status"],
        json!("queued"),
        "a valid create after the table: {run}"
    );

    let five_xx: Vec<&Row> = rows.iter().filter(|r| r.got >= 500).collect();
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.problems.is_empty())
        .map(|r| {
            format!(
                "{} (got {}): {:?} — {}",
                r.name, r.got, r.problems, r.message
            )
        })
        .collect();
    assert!(
        five_xx.is_empty(),
        "{} requests got a 5xx or no response: {:?}",
        five_xx.len(),
        five_xx.iter().map(|r| &r.name).collect::<Vec<_>>()
    );
    assert!(
        failed.is_empty(),
        "{} of {} rows failed:\n{}",
        failed.len(),
        rows.len(),
        failed.join("\n")
    );
}
