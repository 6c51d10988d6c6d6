//! The list of every setting: its key in the config file, its `FORAGE_*` variable, its default.
//! One table so that loading, error messages and the README can never disagree.

/// How an environment variable's text becomes a config value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Bool,
    /// Comma-separated.
    List,
    /// A TOML table written inline (`pro = { max_turns = 20 }`).
    Table,
}

/// One setting.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// Dotted key in the TOML file.
    pub key: &'static str,
    pub env: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub doc: &'static str,
}

const fn s(
    key: &'static str,
    env: &'static str,
    kind: Kind,
    default: &'static str,
    doc: &'static str,
) -> Setting {
    Setting {
        key,
        env,
        kind,
        default,
        doc,
    }
}

use Kind::*;

/// Every setting forage reads.
pub const SETTINGS: &[Setting] = &[
    s(
        "listen",
        "FORAGE_LISTEN",
        Text,
        "127.0.0.1:8080",
        "Address the HTTP API listens on.",
    ),
    s(
        "data",
        "FORAGE_DATA",
        Text,
        "./.forage-data",
        "Directory of the SQLite database and the secret key file.",
    ),
    s(
        "api_keys",
        "FORAGE_API_KEYS",
        List,
        "(none: auth off, loopback only)",
        "API keys clients send in `x-api-key` (comma-separated in the env var).",
    ),
    s(
        "database_url",
        "FORAGE_DATABASE_URL",
        Text,
        "(none: SQLite under `data`)",
        "PostgreSQL URL (`postgres://user:pass@host:5432/db`): several nodes share one database; they must share `secret_key` too.",
    ),
    s(
        "secret_key",
        "FORAGE_SECRET_KEY",
        Text,
        "(none)",
        "Base64 32-byte key encrypting MCP header values at rest.",
    ),
    s(
        "secret_key_file",
        "FORAGE_SECRET_KEY_FILE",
        Text,
        "<data>/secret.key",
        "File holding the secret key; created (mode 0600) with a fresh key on first start.",
    ),
    s(
        "workers",
        "FORAGE_WORKERS",
        Integer,
        "8",
        "Runs executed concurrently.",
    ),
    s(
        "lease_secs",
        "FORAGE_LEASE_SECS",
        Integer,
        "30",
        "A worker's lease on a run; a dead worker's runs are re-queued after it expires.",
    ),
    s(
        "shutdown_grace_secs",
        "FORAGE_SHUTDOWN_GRACE_SECS",
        Integer,
        "30",
        "On SIGTERM/SIGINT, time in-flight runs get to finish before they are cancelled and re-queued.",
    ),
    s(
        "llm.provider",
        "FORAGE_LLM_PROVIDER",
        Text,
        "openai if llm.base_url is set, else local",
        "`openai` (any OpenAI-compatible server), `anthropic` (Anthropic's Messages API; needs `llm.api_key` and `llm.model`) or `local` (the embedded GGUF model on the CPU).",
    ),
    s(
        "llm.base_url",
        "FORAGE_LLM_BASE_URL",
        Text,
        "(none)",
        "Base URL of the chat-completions server, e.g. `http://127.0.0.1:8000/v1`; for `anthropic` it defaults to `https://api.anthropic.com`.",
    ),
    s(
        "llm.api_key",
        "FORAGE_LLM_API_KEY",
        Text,
        "(none)",
        "Sent as `Authorization: Bearer …` to the LLM server (`x-api-key` to Anthropic, where it is required).",
    ),
    s(
        "llm.model",
        "FORAGE_LLM_MODEL",
        Text,
        "default",
        "Model name sent to the LLM server (required for `anthropic`, e.g. `claude-sonnet-4-5`).",
    ),
    s(
        "llm.model_path",
        "FORAGE_LLM_MODEL_PATH",
        Text,
        "models/smollm2-135m-instruct-q4_1.gguf, then <data>/models/…",
        "GGUF model file of the `local` provider (scripts/fetch-model.sh installs the default).",
    ),
    s(
        "llm.request_timeout_secs",
        "FORAGE_LLM_REQUEST_TIMEOUT_SECS",
        Integer,
        "120",
        "Bound on one LLM request.",
    ),
    s(
        "llm.connect_timeout_secs",
        "FORAGE_LLM_CONNECT_TIMEOUT_SECS",
        Integer,
        "10",
        "Bound on connecting to the LLM server.",
    ),
    s(
        "llm.max_retries",
        "FORAGE_LLM_MAX_RETRIES",
        Integer,
        "3",
        "Retries of a failed LLM request (429, 5xx, connection errors).",
    ),
    s(
        "llm.stream",
        "FORAGE_LLM_STREAM",
        Bool,
        "true",
        "Ask the LLM server for streamed answers.",
    ),
    s(
        "llm.tool_protocol",
        "FORAGE_LLM_TOOL_PROTOCOL",
        Text,
        "native",
        "`native` (the API's own tool calling) or `prompt` (tools described in the system prompt and called as `<tool_call>` text blocks, for models served without tool calling).",
    ),
    s(
        "limits.max_body_bytes",
        "FORAGE_MAX_BODY_BYTES",
        Integer,
        "1048576",
        "Largest accepted request body.",
    ),
    s(
        "limits.max_json_depth",
        "FORAGE_MAX_JSON_DEPTH",
        Integer,
        "64",
        "Deepest accepted JSON nesting in a request.",
    ),
    s(
        "limits.max_input_chars",
        "FORAGE_MAX_INPUT_CHARS",
        Integer,
        "25000",
        "Task spec and input together, in characters.",
    ),
    s(
        "limits.max_schema_bytes",
        "FORAGE_MAX_SCHEMA_BYTES",
        Integer,
        "65536",
        "Largest input/output JSON Schema.",
    ),
    s(
        "limits.max_mcp_servers",
        "FORAGE_MAX_MCP_SERVERS",
        Integer,
        "10",
        "MCP servers per run.",
    ),
    s(
        "limits.max_metadata_entries",
        "FORAGE_MAX_METADATA_ENTRIES",
        Integer,
        "64",
        "Metadata entries per run.",
    ),
    s(
        "limits.requests_per_minute_per_key",
        "FORAGE_REQUESTS_PER_MINUTE_PER_KEY",
        Integer,
        "0",
        "API requests per key per minute (bursts up to this many, refilled evenly); more get 429 with `Retry-After`. 0: unlimited.",
    ),
    s(
        "limits.max_active_runs_per_key",
        "FORAGE_MAX_ACTIVE_RUNS_PER_KEY",
        Integer,
        "10000",
        "Unfinished (queued, running, cancelling) runs per key; creating more gets 429 with `Retry-After`. 0: unlimited.",
    ),
    s(
        "limits.max_queued_runs",
        "FORAGE_MAX_QUEUED_RUNS",
        Integer,
        "50000",
        "Runs waiting for a worker, all keys together; creating more gets 503 with `Retry-After`. 0: unlimited.",
    ),
    s(
        "network.allow_private",
        "FORAGE_ALLOW_PRIVATE_NETWORKS",
        Bool,
        "false",
        "Allow outbound requests (MCP servers, fetched pages) to loopback/private/link-local addresses.",
    ),
    s(
        "network.allow_cidrs",
        "FORAGE_ALLOW_CIDRS",
        List,
        "(none)",
        "Private ranges allowed anyway, e.g. `10.1.0.0/16`.",
    ),
    s(
        "network.allow_hosts",
        "FORAGE_ALLOW_HOSTS",
        List,
        "(none)",
        "Host names allowed whatever they resolve to.",
    ),
    s(
        "network.dns_servers",
        "FORAGE_DNS_SERVERS",
        List,
        "(none)",
        "Name servers (`IP` or `IP:port`) that outbound host names are resolved through, over UDP and TCP, instead of the system resolver (`/etc/hosts` is then not read).",
    ),
    s(
        "search.provider",
        "FORAGE_SEARCH_PROVIDER",
        Text,
        "(none: `web_search` is not offered)",
        "Web search behind the `web_search` tool: `searxng` (self-hosted, needs `search.base_url`), `brave`, `tavily` or `exa` (need `search.api_key`).",
    ),
    s(
        "search.base_url",
        "FORAGE_SEARCH_BASE_URL",
        Text,
        "(the provider's public API)",
        "Where the search provider answers, e.g. `http://searxng.internal:8080` (required for SearXNG).",
    ),
    s(
        "search.api_key",
        "FORAGE_SEARCH_API_KEY",
        Text,
        "(none)",
        "The search provider's API key (Brave, Tavily, Exa).",
    ),
    s(
        "search.timeout_secs",
        "FORAGE_SEARCH_TIMEOUT_SECS",
        Integer,
        "15",
        "Bound on one web search request.",
    ),
    s(
        "fetch.enabled",
        "FORAGE_FETCH_ENABLED",
        Bool,
        "(on when a search provider is set)",
        "Offer the `web_fetch` tool (pages and PDFs as text, through the network guard).",
    ),
    s(
        "fetch.max_bytes",
        "FORAGE_FETCH_MAX_BYTES",
        Integer,
        "5242880",
        "Bytes of one page read at most (a longer page is cut; a longer PDF is refused).",
    ),
    s(
        "fetch.timeout_secs",
        "FORAGE_FETCH_TIMEOUT_SECS",
        Integer,
        "20",
        "Bound on reading one page, robots.txt included.",
    ),
    s(
        "fetch.respect_robots",
        "FORAGE_FETCH_RESPECT_ROBOTS",
        Bool,
        "true",
        "Honour robots.txt (for the `forage` user agent, else `*`).",
    ),
    s(
        "fetch.user_agent",
        "FORAGE_FETCH_USER_AGENT",
        Text,
        "forage/<version> (self-hosted research agent)",
        "The User-Agent of page fetches.",
    ),
    s(
        "mcp.connect_timeout_secs",
        "FORAGE_MCP_CONNECT_TIMEOUT_SECS",
        Integer,
        "10",
        "Connecting to an MCP server, handshake included.",
    ),
    s(
        "mcp.list_timeout_secs",
        "FORAGE_MCP_LIST_TIMEOUT_SECS",
        Integer,
        "15",
        "Listing an MCP server's tools.",
    ),
    s(
        "mcp.call_timeout_secs",
        "FORAGE_MCP_CALL_TIMEOUT_SECS",
        Integer,
        "60",
        "One MCP tool call.",
    ),
    s(
        "mcp.servers",
        "FORAGE_MCP_SERVERS",
        Table,
        "(none)",
        "Timeouts for one MCP server, by `host` or `host:port` of its URL: `[mcp.servers.\"crm.internal:8443\"] call_timeout_secs = 300` (also `connect_timeout_secs`, `list_timeout_secs`).",
    ),
    s(
        "webhooks.initial_retry_secs",
        "FORAGE_WEBHOOKS_INITIAL_RETRY_SECS",
        Integer,
        "5",
        "Wait before the first retry of a failed webhook delivery; each later wait doubles.",
    ),
    s(
        "webhooks.max_retry_secs",
        "FORAGE_WEBHOOKS_MAX_RETRY_SECS",
        Integer,
        "3600",
        "Longest wait between two attempts of a webhook delivery.",
    ),
    s(
        "webhooks.max_age_secs",
        "FORAGE_WEBHOOKS_MAX_AGE_SECS",
        Integer,
        "172800",
        "A webhook delivery still failing this long after the run ended is given up.",
    ),
    s(
        "webhooks.timeout_secs",
        "FORAGE_WEBHOOKS_TIMEOUT_SECS",
        Integer,
        "30",
        "One webhook POST, connection included.",
    ),
    s(
        "processors",
        "FORAGE_PROCESSORS",
        Table,
        "(built-in budgets)",
        "Per-processor budget overrides (`[processors.pro] max_turns = 20`) and LLM (`[processors.pro.llm] base_url/model/api_key/provider/tool_protocol`).",
    ),
];

/// The setting a (possibly deeper) config path belongs to: `processors.pro.max_turns` → `processors`.
pub fn setting_for(path: &str) -> Option<&'static Setting> {
    SETTINGS
        .iter()
        .filter(|s| path == s.key || path.starts_with(&format!("{}.", s.key)))
        .max_by_key(|s| s.key.len())
}

/// The settings as a Markdown table (for the README).
pub fn markdown_table() -> String {
    let mut out = String::from("| file key | env var | default | meaning |\n|---|---|---|---|\n");
    for s in SETTINGS {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            s.key, s.env, s.default, s.doc
        ));
    }
    out
}
