//! The create-run request body (`TaskRunCreateParams`), also echoed by `GET …/input`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Secret;
use crate::spec::TaskSpec;

/// A run's input: free text or a JSON object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Input {
    Text(String),
    Object(serde_json::Map<String, Value>),
}

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(Input::Text(text)),
            Value::Object(object) => Ok(Input::Object(object)),
            other => Err(serde::de::Error::custom(format!(
                "must be a string or a JSON object, got {}",
                json_kind(&other)
            ))),
        }
    }
}

/// "an array", "a number", … for messages about a value of the wrong kind.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Input {
    /// The input as the model reads it.
    pub fn to_prompt_text(&self) -> String {
        match self {
            Input::Text(text) => text.clone(),
            Input::Object(object) => {
                serde_json::to_string_pretty(object).unwrap_or_else(|_| format!("{object:?}"))
            }
        }
    }

    pub fn char_len(&self) -> usize {
        match self {
            Input::Text(text) => text.chars().count(),
            Input::Object(object) => serde_json::to_string(object).map_or(0, |s| s.chars().count()),
        }
    }
}

/// A metadata value: Parallel allows strings, numbers and booleans.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MetadataValue {
    String(String),
    Number(serde_json::Number),
    Bool(bool),
}

impl<'de> Deserialize<'de> for MetadataValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(MetadataValue::String(text)),
            Value::Number(number) => Ok(MetadataValue::Number(number)),
            Value::Bool(flag) => Ok(MetadataValue::Bool(flag)),
            other => Err(serde::de::Error::custom(format!(
                "metadata values must be a string, number or boolean, got {}",
                json_kind(&other)
            ))),
        }
    }
}

pub type Metadata = BTreeMap<String, MetadataValue>;

/// One remote MCP server the run may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServer {
    #[serde(rename = "type", default = "McpServer::default_type")]
    pub server_type: String,
    pub name: String,
    pub url: String,
    /// Sent on every request to this server and nowhere else. Secret: redacted when echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
}

impl McpServer {
    fn default_type() -> String {
        "url".to_owned()
    }
}

/// Where to announce the run's end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    /// Accepted for compatibility with an older documented form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
}

/// Which web sources the run may use.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcePolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_domains: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_domains: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_date: Option<String>,
}

/// `POST /v1/tasks/runs` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRunCreate {
    pub input: Input,
    pub processor: String,
    #[serde(default)]
    pub task_spec: Option<TaskSpec>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub source_policy: Option<SourcePolicy>,
    #[serde(default)]
    pub mcp_servers: Option<Vec<McpServer>>,
    #[serde(default)]
    pub webhook: Option<Webhook>,
    #[serde(default)]
    pub enable_events: Option<bool>,
    #[serde(default)]
    pub previous_interaction_id: Option<String>,
    #[serde(default)]
    pub memory_scope_key: Option<String>,
    #[serde(default)]
    pub advanced_settings: Option<Value>,
}

impl TaskRunCreate {
    /// The echo of `GET …/input`: the request as sent, secrets redacted.
    pub fn to_echo(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The MCP header values in clear, per server name, for encrypted storage.
    pub fn mcp_header_secrets(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.mcp_servers
            .iter()
            .flatten()
            .filter_map(|server| {
                let headers = server.headers.as_ref()?;
                Some((
                    server.name.clone(),
                    headers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                        .collect(),
                ))
            })
            .collect()
    }

    /// Puts header values read back from encrypted storage into the servers.
    pub fn restore_mcp_header_secrets(
        &mut self,
        secrets: &BTreeMap<String, BTreeMap<String, String>>,
    ) {
        for server in self.mcp_servers.iter_mut().flatten() {
            if let Some(headers) = secrets.get(&server.name) {
                server.headers = Some(
                    headers
                        .iter()
                        .map(|(k, v)| (k.clone(), Secret::new(v.clone())))
                        .collect(),
                );
            }
        }
    }
}
