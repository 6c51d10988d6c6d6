//! `ToolInfo`: a tool as the engine sees it, and the `allowed_tools` filter.

use rmcp::model::Tool;

/// One tool a server offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolInfo {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: serde_json::Value,
    pub output_schema: Option<serde_json::Value>,
}

impl From<Tool> for ToolInfo {
    fn from(tool: Tool) -> Self {
        ToolInfo {
            name: tool.name.into_owned(),
            description: tool.description.map(|d| d.into_owned()),
            input_schema: serde_json::Value::Object((*tool.input_schema).clone()),
            output_schema: tool
                .output_schema
                .map(|s| serde_json::Value::Object((*s).clone())),
        }
    }
}

/// Keeps only the tools the task allowed (all of them when `allowed` is `None`).
pub(crate) fn filter_allowed(tools: Vec<ToolInfo>, allowed: Option<&[String]>) -> Vec<ToolInfo> {
    match allowed {
        None => tools,
        Some(allowed) => tools
            .into_iter()
            .filter(|t| allowed.iter().any(|a| a == &t.name))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> ToolInfo {
        ToolInfo {
            name: name.into(),
            description: None,
            input_schema: serde_json::json!({"type": "object"}),
            output_schema: None,
        }
    }

    #[test]
    fn filter_keeps_only_allowed() {
        let tools = vec![tool("a"), tool("b"), tool("c")];
        let allowed = vec!["c".to_string(), "a".to_string(), "zzz".to_string()];
        let kept: Vec<_> = filter_allowed(tools.clone(), Some(&allowed))
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(kept, ["a", "c"]);
        assert_eq!(filter_allowed(tools, None).len(), 3);
    }
}
