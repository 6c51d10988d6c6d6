//! The run's tools: connects to its MCP servers concurrently, lists their tools once, and
//! names them uniquely for the model (`server__tool`), mapping names back on calls.

use std::collections::{HashMap, HashSet};

use forage_api::{McpServer, Warning, WarningKind};
use forage_llm::{EncodedJson, ToolSpec};
use forage_mcp::{McpClient, ServerSpec, ToolInfo};

use crate::executor::ToolEnv;
use serde_json::{Value, json};

/// Most tools offered to the model in one run (OpenAI's chat API accepts no more); the rest are
/// left out with a warning.
pub const MAX_TOOLS_PER_RUN: usize = 128;
/// A tool description longer than this is cut (a server cannot fill the model's context).
pub const MAX_TOOL_DESCRIPTION_CHARS: usize = 1_024;
/// A tool whose input schema is larger than this is not offered, with a warning.
pub const MAX_TOOL_SCHEMA_BYTES: usize = 64 * 1024;

/// A tool as the model sees it, with where it really lives.
#[derive(Clone)]
pub struct RoutedTool {
    pub spec: ToolSpec,
    pub server_name: String,
    pub tool_name: String,
    pub client: McpClient,
    pub call_timeout: std::time::Duration,
}

/// Every tool offered to the model in this run.
#[derive(Clone, Default)]
pub struct Toolbox {
    tools: Vec<RoutedTool>,
    by_name: HashMap<String, usize>,
    clients: Vec<McpClient>,
}

impl Toolbox {
    /// Connects to every server and lists its tools, concurrently. A server that fails
    /// becomes a warning naming it; the run goes on with the others' tools.
    pub async fn discover(servers: &[McpServer], env: &ToolEnv) -> (Toolbox, Vec<Warning>) {
        let connections = servers.iter().map(|server| async move {
            let result = connect_and_list(server, env).await;
            (server, result)
        });
        let results = futures::future::join_all(connections).await;

        let mut toolbox = Toolbox::default();
        let mut warnings = Vec::new();
        let mut taken = HashSet::new();
        for (server, result) in results {
            match result {
                Ok((client, tools, call_timeout)) => {
                    let mut left_out: Vec<String> = Vec::new();
                    for tool in tools {
                        if toolbox.tools.len() >= MAX_TOOLS_PER_RUN {
                            left_out.push(format!(
                                "{} (the run already offers {MAX_TOOLS_PER_RUN} tools, the most it can)",
                                tool.name
                            ));
                            continue;
                        }
                        // Encoded here once for every request of the run that offers it.
                        let parameters = EncodedJson::new(parameters_schema(&tool.input_schema));
                        let schema_bytes = parameters.encoded().get().len();
                        if schema_bytes > MAX_TOOL_SCHEMA_BYTES {
                            left_out.push(format!(
                                "{} (its input schema is {schema_bytes} bytes; the limit is {MAX_TOOL_SCHEMA_BYTES})",
                                tool.name
                            ));
                            continue;
                        }
                        let name = unique_name(&server.name, &tool.name, &mut taken);
                        toolbox.by_name.insert(name.clone(), toolbox.tools.len());
                        toolbox.tools.push(RoutedTool {
                            spec: ToolSpec {
                                name,
                                description: describe(&server.name, &tool),
                                parameters,
                            },
                            server_name: server.name.clone(),
                            tool_name: tool.name,
                            client: client.clone(),
                            call_timeout,
                        });
                    }
                    toolbox.clients.push(client);
                    if !left_out.is_empty() {
                        let mut warning = Warning::new(
                            WarningKind::Warning,
                            format!(
                                "MCP server {}: {} tool(s) not offered to the model: {}",
                                server.name,
                                left_out.len(),
                                summarise(&left_out)
                            ),
                        );
                        warning.detail = Some(json!({"server_name": server.name}));
                        warnings.push(warning);
                    }
                }
                Err(reason) => {
                    let reference = uuid::Uuid::new_v4();
                    let mut warning = Warning::new(
                        WarningKind::Warning,
                        format!(
                            "Error listing tools from MCP server {}: {reason}. Reference ID: {reference}",
                            server.name
                        ),
                    );
                    warning.detail = Some(json!({"server_name": server.name}));
                    warnings.push(warning);
                }
            }
        }
        (toolbox, warnings)
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    pub fn len(&self) -> usize {
        self.tools.len()
    }

    pub fn server_count(&self) -> usize {
        self.clients.len()
    }

    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|t| t.spec.clone()).collect()
    }

    pub fn route(&self, model_name: &str) -> Option<&RoutedTool> {
        self.by_name.get(model_name).map(|&i| &self.tools[i])
    }

    /// Ends the run's MCP sessions.
    pub async fn close(&self) {
        futures::future::join_all(self.clients.iter().map(McpClient::close)).await;
    }
}

/// A connected server, its tools, and the timeout of one call to it.
type Listed = (McpClient, Vec<ToolInfo>, std::time::Duration);

async fn connect_and_list(server: &McpServer, env: &ToolEnv) -> Result<Listed, String> {
    let url = url::Url::parse(&server.url).map_err(|e| format!("invalid URL: {e}"))?;
    env.network.check_url(&url).map_err(|e| e.to_string())?;
    let timeouts = env.timeouts_for(&url);
    let spec = ServerSpec {
        name: server.name.clone(),
        url,
        headers: server
            .headers
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        allowed_tools: server.allowed_tools.clone(),
        timeouts,
    };
    let client = McpClient::connect(&spec, env.mcp_http.clone())
        .await
        .map_err(|e| e.to_string())?;
    match client.list_tools().await {
        Ok(tools) => Ok((client, tools, timeouts.call)),
        Err(e) => {
            client.close().await;
            Err(e.to_string())
        }
    }
}

/// The first few entries, and how many more.
fn summarise(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = items[..items.len().min(SHOWN)].join("; ");
    if items.len() > SHOWN {
        text.push_str(&format!("; and {} more", items.len() - SHOWN));
    }
    text
}

/// The description the model reads: the server named, cut to [`MAX_TOOL_DESCRIPTION_CHARS`].
fn describe(server: &str, tool: &ToolInfo) -> String {
    let text = match tool.description.as_deref().map(str::trim) {
        Some(d) if !d.is_empty() => format!("[MCP server {server}] {d}"),
        _ => format!("[MCP server {server}] Tool {}", tool.name),
    };
    match text.char_indices().nth(MAX_TOOL_DESCRIPTION_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The tool's input schema as given, made an object schema where a provider requires one.
fn parameters_schema(input_schema: &Value) -> Value {
    match input_schema {
        Value::Object(object) if object.get("type").is_some() => input_schema.clone(),
        Value::Object(object) => {
            let mut object = object.clone();
            object.insert("type".into(), json!("object"));
            object.entry("properties").or_insert_with(|| json!({}));
            Value::Object(object)
        }
        _ => json!({"type": "object", "properties": {}}),
    }
}

/// `server__tool` limited to the characters and length providers accept, unique in the run.
pub fn unique_name(server: &str, tool: &str, taken: &mut HashSet<String>) -> String {
    const MAX: usize = 64;
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let base: String = format!("{}__{}", clean(server), clean(tool))
        .chars()
        .take(MAX)
        .collect();
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        let suffix = format!("_{n}");
        name = format!("{}{suffix}", &base[..base.len().min(MAX - suffix.len())]);
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_clean_bounded_and_unique() {
        let mut taken = HashSet::new();
        assert_eq!(
            unique_name("crm", "get.contact", &mut taken),
            "crm__get_contact"
        );
        assert_eq!(
            unique_name("crm", "get contact", &mut taken),
            "crm__get_contact_2"
        );
        let long = unique_name(&"s".repeat(80), "t", &mut taken);
        assert_eq!(long.len(), 64);
        let long2 = unique_name(&"s".repeat(80), "t", &mut taken);
        assert_eq!(long2.len(), 64);
        assert_ne!(long, long2);
    }

    #[test]
    fn parameter_schemas_are_passed_on_faithfully() {
        let schema = json!({"type": "object", "properties": {"q": {"type": "string", "minLength": 2}}, "required": ["q"]});
        assert_eq!(parameters_schema(&schema), schema);
        assert_eq!(
            parameters_schema(&json!({})),
            json!({"type": "object", "properties": {}})
        );
    }
}
