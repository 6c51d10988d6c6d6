//! Server configuration: one struct, read from a TOML file and `FORAGE_*` environment
//! variables (a variable overrides the file). `settings::SETTINGS` lists every name.

pub mod settings;
pub mod web;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use forage_api::{Processor, RequestLimits, Secret};
use forage_engine::Budget;
pub use forage_llm::ToolProtocol;
use forage_tools::NetworkPolicy;

use crate::admission::AdmissionLimits;
use serde::{Deserialize, Deserializer};

use settings::{Kind, SETTINGS, setting_for};
pub use web::{FetchSettings, SearchSettings};

/// A setting is missing, malformed or contradicts another.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("invalid setting `{key}` ({env}): {reason}")]
    Invalid {
        key: String,
        env: &'static str,
        reason: String,
    },
    #[error("{0}")]
    Other(String),
}

impl ConfigError {
    /// An error naming the setting at `path` and its environment variable.
    pub fn invalid(path: &str, reason: impl Into<String>) -> Self {
        match setting_for(path) {
            Some(setting) => ConfigError::Invalid {
                key: path.to_owned(),
                env: setting.env,
                reason: reason.into(),
            },
            None if path.is_empty() || path == "." => {
                ConfigError::Other(format!("invalid config file: {}", reason.into()))
            }
            None => ConfigError::Other(format!(
                "invalid setting `{path}` in the config file: {}",
                reason.into()
            )),
        }
    }
}

/// Every server setting. Defaults are those of `settings::SETTINGS`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `FORAGE_LISTEN`, default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// `FORAGE_DATA`, default `./.forage-data`.
    pub data: PathBuf,
    /// `FORAGE_API_KEYS` (comma-separated). None: auth off and loopback only.
    pub api_keys: Vec<Secret>,
    /// `FORAGE_DATABASE_URL`: PostgreSQL shared by several nodes (else SQLite under `data`).
    pub database_url: Option<Secret>,
    /// `FORAGE_SECRET_KEY`: base64 key encrypting secrets at rest.
    pub secret_key: Option<Secret>,
    /// `FORAGE_SECRET_KEY_FILE`, default `<data>/secret.key`.
    pub secret_key_file: Option<PathBuf>,
    /// `FORAGE_WORKERS`, default 8 concurrent runs.
    pub workers: usize,
    /// `FORAGE_LEASE_SECS`, default 30.
    pub lease_secs: u64,
    /// `FORAGE_SHUTDOWN_GRACE_SECS`, default 30.
    pub shutdown_grace_secs: u64,
    pub llm: LlmSettings,
    pub limits: LimitSettings,
    pub network: NetworkSettings,
    pub mcp: McpSettings,
    pub webhooks: WebhookSettings,
    pub search: SearchSettings,
    pub fetch: FetchSettings,
    /// `FORAGE_PROCESSORS` (inline TOML): per-processor budget and LLM.
    pub processors: BTreeMap<String, ProcessorSettings>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: PathBuf::from("./.forage-data"),
            api_keys: Vec::new(),
            database_url: None,
            secret_key: None,
            secret_key_file: None,
            workers: 8,
            lease_secs: 30,
            shutdown_grace_secs: 30,
            llm: LlmSettings::default(),
            limits: LimitSettings::default(),
            network: NetworkSettings::default(),
            mcp: McpSettings::default(),
            webhooks: WebhookSettings::default(),
            search: SearchSettings::default(),
            fetch: FetchSettings::default(),
            processors: BTreeMap::new(),
        }
    }
}

/// Which LLM serves runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible chat-completions server.
    Openai,
    /// Anthropic's Messages API (Claude).
    Anthropic,
    /// The embedded GGUF model.
    Local,
}

/// `[llm]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSettings {
    /// `FORAGE_LLM_PROVIDER`; unset: `openai` when `base_url` is set, else `local`.
    pub provider: Option<ProviderKind>,
    /// `FORAGE_LLM_BASE_URL`.
    pub base_url: Option<String>,
    /// `FORAGE_LLM_API_KEY`.
    pub api_key: Option<Secret>,
    /// `FORAGE_LLM_MODEL`, default `default`.
    pub model: String,
    /// `FORAGE_LLM_MODEL_PATH` (for `local`).
    pub model_path: Option<PathBuf>,
    /// `FORAGE_LLM_REQUEST_TIMEOUT_SECS`, default 120.
    pub request_timeout_secs: u64,
    /// `FORAGE_LLM_CONNECT_TIMEOUT_SECS`, default 10.
    pub connect_timeout_secs: u64,
    /// `FORAGE_LLM_MAX_RETRIES`, default 3.
    pub max_retries: u32,
    /// `FORAGE_LLM_STREAM`, default true.
    pub stream: bool,
    /// `FORAGE_LLM_TOOL_PROTOCOL`: `native` (default) or `prompt` (tools described in the
    /// prompt and called in text, for models served without tool calling).
    pub tool_protocol: ToolProtocol,
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            provider: None,
            base_url: None,
            api_key: None,
            model: "default".to_owned(),
            model_path: None,
            request_timeout_secs: 120,
            connect_timeout_secs: 10,
            max_retries: 3,
            stream: true,
            tool_protocol: ToolProtocol::Native,
        }
    }
}

/// `[processors.<name>.llm]`: a processor served by its own LLM.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmOverride {
    pub provider: Option<ProviderKind>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<Secret>,
    /// Unset: `llm.tool_protocol`.
    pub tool_protocol: Option<ToolProtocol>,
}

/// `[processors.<name>]`: budget fields, plus an optional `llm` table.
#[derive(Clone, Debug, Default)]
pub struct ProcessorSettings {
    /// `None` when the table sets no budget field (the built-in budget applies).
    pub budget: Option<Budget>,
    pub llm: Option<LlmOverride>,
}

impl<'de> Deserialize<'de> for ProcessorSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(deserializer)?;
        let llm = match table.remove("llm") {
            Some(value) => Some(
                LlmOverride::deserialize(value)
                    .map_err(|e| D::Error::custom(format!("llm: {e}")))?,
            ),
            None => None,
        };
        let budget = if table.is_empty() {
            None
        } else {
            Some(Budget::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)?)
        };
        Ok(ProcessorSettings { budget, llm })
    }
}

/// `[limits]`, turned into the API's `RequestLimits`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    pub max_body_bytes: usize,
    pub max_json_depth: usize,
    pub max_input_chars: usize,
    pub max_schema_bytes: usize,
    pub max_mcp_servers: usize,
    pub max_metadata_entries: usize,
    pub requests_per_minute_per_key: u32,
    pub max_active_runs_per_key: u64,
    pub max_queued_runs: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let d = RequestLimits::default();
        LimitSettings {
            max_body_bytes: d.max_body_bytes,
            max_json_depth: d.max_json_depth,
            max_input_chars: d.max_input_chars,
            max_schema_bytes: d.max_schema_bytes,
            max_mcp_servers: d.max_mcp_servers,
            max_metadata_entries: d.max_metadata_entries,
            requests_per_minute_per_key: 0,
            max_active_runs_per_key: 10_000,
            max_queued_runs: 50_000,
        }
    }
}

impl LimitSettings {
    pub fn to_admission_limits(&self) -> AdmissionLimits {
        AdmissionLimits {
            requests_per_minute_per_key: self.requests_per_minute_per_key,
            max_active_runs_per_key: self.max_active_runs_per_key,
            max_queued_runs: self.max_queued_runs,
        }
    }

    pub fn to_request_limits(&self) -> RequestLimits {
        RequestLimits {
            max_body_bytes: self.max_body_bytes,
            max_json_depth: self.max_json_depth,
            max_input_chars: self.max_input_chars,
            max_schema_bytes: self.max_schema_bytes,
            max_mcp_servers: self.max_mcp_servers,
            max_metadata_entries: self.max_metadata_entries,
        }
    }
}

/// `[network]`: the outbound guard.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSettings {
    pub allow_private: bool,
    pub allow_cidrs: Vec<String>,
    pub allow_hosts: Vec<String>,
    pub dns_servers: Vec<String>,
}

impl NetworkSettings {
    pub fn to_policy(&self) -> Result<NetworkPolicy, ConfigError> {
        let allow_cidrs = self
            .allow_cidrs
            .iter()
            .map(|c| {
                c.parse()
                    .map_err(|e: String| ConfigError::invalid("network.allow_cidrs", e))
            })
            .collect::<Result<_, _>>()?;
        let name_servers = self
            .dns_servers
            .iter()
            .map(|text| parse_name_server(text))
            .collect::<Result<_, _>>()?;
        Ok(NetworkPolicy {
            allow_private: self.allow_private,
            allow_cidrs,
            allow_hosts: self.allow_hosts.clone(),
            name_servers,
        })
    }
}

/// `IP` or `IP:port` (port 53 when absent; IPv6 with a port as `[::1]:53`).
fn parse_name_server(text: &str) -> Result<SocketAddr, ConfigError> {
    let text = text.trim();
    text.parse::<SocketAddr>()
        .or_else(|_| {
            text.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| {
            ConfigError::invalid(
                "network.dns_servers",
                format!("'{text}' is not an IP address or IP:port"),
            )
        })
}

/// `[webhooks]`: retry timing of webhook deliveries.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    pub initial_retry_secs: u64,
    pub max_retry_secs: u64,
    pub max_age_secs: u64,
    pub timeout_secs: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            initial_retry_secs: 5,
            max_retry_secs: 3600,
            max_age_secs: 48 * 3600,
            timeout_secs: 30,
        }
    }
}

impl WebhookSettings {
    fn check(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("webhooks.initial_retry_secs", self.initial_retry_secs),
            ("webhooks.max_retry_secs", self.max_retry_secs),
            ("webhooks.timeout_secs", self.timeout_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        if self.max_retry_secs < self.initial_retry_secs {
            return Err(ConfigError::invalid(
                "webhooks.max_retry_secs",
                "must be at least webhooks.initial_retry_secs",
            ));
        }
        Ok(())
    }
}

/// `[mcp]`: timeouts talking to MCP servers.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpSettings {
    pub connect_timeout_secs: u64,
    pub list_timeout_secs: u64,
    pub call_timeout_secs: u64,
    /// `[mcp.servers."host:port"]` (or `"host"`): timeouts for one server; unset ones stay the defaults above.
    pub servers: BTreeMap<String, McpServerTimeouts>,
}

/// `[mcp.servers."<host or host:port>"]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpServerTimeouts {
    pub connect_timeout_secs: Option<u64>,
    pub list_timeout_secs: Option<u64>,
    pub call_timeout_secs: Option<u64>,
}

impl Default for McpSettings {
    fn default() -> Self {
        let d = forage_mcp::Timeouts::default();
        McpSettings {
            connect_timeout_secs: d.connect.as_secs(),
            list_timeout_secs: d.list.as_secs(),
            call_timeout_secs: d.call.as_secs(),
            servers: BTreeMap::new(),
        }
    }
}

impl McpSettings {
    pub fn to_timeouts(&self) -> forage_mcp::Timeouts {
        forage_mcp::Timeouts {
            connect: Duration::from_secs(self.connect_timeout_secs),
            list: Duration::from_secs(self.list_timeout_secs),
            call: Duration::from_secs(self.call_timeout_secs),
        }
    }

    /// Timeouts per server (`host` or `host:port`), each unset value taken from the defaults.
    pub fn server_timeouts(&self) -> std::collections::HashMap<String, forage_mcp::Timeouts> {
        let base = self.to_timeouts();
        let secs =
            |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_secs);
        self.servers
            .iter()
            .map(|(server, t)| {
                let timeouts = forage_mcp::Timeouts {
                    connect: secs(t.connect_timeout_secs, base.connect),
                    list: secs(t.list_timeout_secs, base.list),
                    call: secs(t.call_timeout_secs, base.call),
                };
                (server.to_ascii_lowercase(), timeouts)
            })
            .collect()
    }

    fn check(&self) -> Result<(), ConfigError> {
        let zero = |v: u64| v == 0;
        for (key, value) in [
            ("mcp.connect_timeout_secs", self.connect_timeout_secs),
            ("mcp.list_timeout_secs", self.list_timeout_secs),
            ("mcp.call_timeout_secs", self.call_timeout_secs),
        ] {
            if zero(value) {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        for (server, t) in &self.servers {
            let values = [
                t.connect_timeout_secs,
                t.list_timeout_secs,
                t.call_timeout_secs,
            ];
            if values.into_iter().flatten().any(zero) {
                return Err(ConfigError::invalid(
                    &format!("mcp.servers.{server}"),
                    "timeouts must be at least 1 second",
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Reads `file` (if any) and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with(file, |name| std::env::var(name).ok())
    }

    /// Reads `file` (if any), then overrides with the variables `env` returns.
    pub fn load_with(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        for setting in SETTINGS {
            let Some(text) = env(setting.env).filter(|t| !t.trim().is_empty()) else {
                continue;
            };
            let value = env_value(setting, &text)?;
            insert_at(&mut table, setting.key, value)?;
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|err| {
                let path = err.path().to_string();
                ConfigError::invalid(&path, err.into_inner().to_string())
            })?;
        config.check()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    fn check(&self) -> Result<(), ConfigError> {
        if self.workers == 0 {
            return Err(ConfigError::invalid("workers", "must be at least 1"));
        }
        if self.lease_secs < 3 {
            return Err(ConfigError::invalid("lease_secs", "must be at least 3"));
        }
        if self.limits.max_body_bytes == 0 {
            return Err(ConfigError::invalid(
                "limits.max_body_bytes",
                "must be positive",
            ));
        }
        for name in self.processors.keys() {
            if name.parse::<Processor>().is_err() {
                let known: Vec<String> = Processor::all().map(|p| p.to_string()).collect();
                return Err(ConfigError::invalid(
                    &format!("processors.{name}"),
                    format!("unknown processor '{name}'; known: {}", known.join(", ")),
                ));
            }
        }
        self.network.to_policy()?;
        self.mcp.check()?;
        self.webhooks.check()?;
        Ok(())
    }

    /// The API limits.
    pub fn request_limits(&self) -> RequestLimits {
        self.limits.to_request_limits()
    }

    /// The per-processor budget overrides, keyed by processor name.
    pub fn budget_overrides(&self) -> std::collections::HashMap<String, Budget> {
        self.processors
            .iter()
            .filter_map(|(name, p)| Some((name.clone(), p.budget.clone()?)))
            .collect()
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The key file: `secret_key_file`, else `<data>/secret.key`.
    pub fn secret_key_path(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data.join("secret.key"))
    }

    /// The SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data.join("forage.db")
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    text.parse::<toml::Table>().map_err(|e| ConfigError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// An environment variable's text as the TOML value its setting takes.
fn env_value(setting: &settings::Setting, text: &str) -> Result<toml::Value, ConfigError> {
    let bad = |why: String| ConfigError::invalid(setting.key, why);
    let text = text.trim();
    Ok(match setting.kind {
        Kind::Text => toml::Value::String(text.to_owned()),
        Kind::Integer => toml::Value::Integer(
            text.parse::<i64>()
                .map_err(|_| bad(format!("'{text}' is not a whole number")))?,
        ),
        Kind::Bool => toml::Value::Boolean(match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(bad(format!("'{text}' is not true or false"))),
        }),
        Kind::List => toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| toml::Value::String(t.to_owned()))
                .collect(),
        ),
        Kind::Table => toml::Value::Table(parse_table_text(text).map_err(bad)?),
    })
}

/// A table setting given in a variable: TOML lines (`pro = { max_turns = 20 }`), or the body of an
/// inline table (`pro = { max_turns = 20 }, lite = { max_turns = 2 }`).
fn parse_table_text(text: &str) -> Result<toml::Table, String> {
    let as_document = text.parse::<toml::Table>();
    if let Ok(table) = as_document {
        return Ok(table);
    }
    format!("value = {{ {text} }}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut wrapped| match wrapped.remove("value") {
            Some(toml::Value::Table(table)) => Some(table),
            _ => None,
        })
        .ok_or_else(|| {
            format!(
                "not TOML key/value pairs such as `name = {{ key = 1 }}`: {}",
                as_document.unwrap_err()
            )
        })
}

/// Sets `key` (dotted) in `table`, creating intermediate tables.
fn insert_at(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), ConfigError> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or(key);
    let mut at = table;
    for part in parts {
        let entry = at
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        at = entry
            .as_table_mut()
            .ok_or_else(|| ConfigError::invalid(part, "must be a table"))?;
    }
    at.insert(last.to_owned(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_apply_without_file_or_env() {
        let c = Config::load_with(None, env_of(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.workers, 8);
        assert_eq!(c.lease_secs, 30);
        assert!(c.api_keys.is_empty());
        assert_eq!(
            c.secret_key_path(),
            PathBuf::from("./.forage-data/secret.key")
        );
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("forage.toml");
        std::fs::write(
            &path,
            "workers = 2\n[llm]\nmodel = \"a\"\n[processors.pro]\nmax_turns = 20\n[processors.pro.llm]\nmodel = \"big\"\n",
        )
        .unwrap();
        let c = Config::load_with(
            Some(&path),
            env_of(&[
                ("FORAGE_WORKERS", "3"),
                ("FORAGE_API_KEYS", "k1, k2,"),
                ("FORAGE_ALLOW_PRIVATE_NETWORKS", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(c.workers, 3);
        assert_eq!(c.llm.model, "a");
        assert_eq!(c.api_keys.len(), 2);
        assert!(c.network.allow_private);
        let pro = &c.processors["pro"];
        assert_eq!(pro.budget.as_ref().unwrap().max_turns, 20);
        assert_eq!(pro.llm.as_ref().unwrap().model.as_deref(), Some("big"));
    }

    #[test]
    fn mcp_timeouts_can_be_set_per_server() {
        let c = Config::load_with(
            None,
            env_of(&[
                ("FORAGE_MCP_CALL_TIMEOUT_SECS", "45"),
                (
                    "FORAGE_MCP_SERVERS",
                    r#""CRM.internal:8443" = { call_timeout_secs = 300 }, "slow.example" = { connect_timeout_secs = 30 }"#,
                ),
            ]),
        )
        .unwrap();
        let per_server = c.mcp.server_timeouts();
        let crm = per_server["crm.internal:8443"];
        assert_eq!(crm.call, Duration::from_secs(300));
        assert_eq!(
            crm.connect,
            Duration::from_secs(10),
            "unset values keep the default"
        );
        let slow = per_server["slow.example"];
        assert_eq!(slow.connect, Duration::from_secs(30));
        assert_eq!(
            slow.call,
            Duration::from_secs(45),
            "the configured default, not the built-in one"
        );

        let err = Config::load_with(
            None,
            env_of(&[("FORAGE_MCP_SERVERS", r#"x = { call_timeout_secs = 0 }"#)]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("mcp.servers.x") && err.contains("FORAGE_MCP_SERVERS"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_the_setting_and_variable() {
        let err = Config::load_with(None, env_of(&[("FORAGE_WORKERS", "many")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("workers") && err.contains("FORAGE_WORKERS"),
            "{err}"
        );
        let err = Config::load_with(None, env_of(&[("FORAGE_LISTEN", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("listen") && err.contains("FORAGE_LISTEN"),
            "{err}"
        );
        let err = Config::load_with(None, env_of(&[("FORAGE_LLM_PROVIDER", "gemini")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("FORAGE_LLM_PROVIDER"), "{err}");
        let err = Config::load_with(
            None,
            env_of(&[("FORAGE_PROCESSORS", "turbo = { max_turns = 2 }")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("processors.turbo") && err.contains("FORAGE_PROCESSORS"),
            "{err}"
        );
        let err = Config::load_with(None, env_of(&[("FORAGE_ALLOW_CIDRS", "10.0.0.0/99")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("FORAGE_ALLOW_CIDRS"), "{err}");
        let err = Config::load_with(None, env_of(&[("FORAGE_DNS_SERVERS", "ns.example")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("FORAGE_DNS_SERVERS") && err.contains("ns.example"),
            "{err}"
        );
    }

    #[test]
    fn name_servers_default_to_port_53() {
        let config = Config::load_with(
            None,
            env_of(&[("FORAGE_DNS_SERVERS", "10.0.0.2, 127.0.0.1:5353,[::1]:53")]),
        )
        .unwrap();
        let policy = config.network.to_policy().unwrap();
        let expected: Vec<SocketAddr> = ["10.0.0.2:53", "127.0.0.1:5353", "[::1]:53"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(policy.name_servers, expected);
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("forage.toml");
        std::fs::write(&path, "wokers = 2\n").unwrap();
        let err = Config::load_with(Some(&path), env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("wokers"), "{err}");
        std::fs::write(&path, "[llm]\nmodle = \"x\"\n").unwrap();
        let err = Config::load_with(Some(&path), env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("modle"), "{err}");
    }

    #[test]
    fn every_setting_has_a_distinct_variable() {
        let mut envs: Vec<_> = SETTINGS.iter().map(|s| s.env).collect();
        envs.sort();
        envs.dedup();
        assert_eq!(envs.len(), SETTINGS.len());
        assert!(settings::markdown_table().contains("FORAGE_MAX_BODY_BYTES"));
    }
}
