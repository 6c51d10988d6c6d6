//! The result of a completed run: output content, per-field basis, and the MCP tool-call trace.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::run::TaskRun;

/// How sure the run is of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn parse(text: &str) -> Option<Confidence> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Confidence::Low),
            "medium" => Some(Confidence::Medium),
            "high" => Some(Confidence::High),
            _ => None,
        }
    }
}

/// A source backing a field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    pub url: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub excerpts: Option<Vec<String>>,
}

/// Why the run believes one output field (`field` is a dotted path: `ceo`, `executives.0`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldBasis {
    pub field: String,
    pub reasoning: String,
    #[serde(default)]
    pub citations: Option<Vec<Citation>>,
    #[serde(default)]
    pub confidence: Option<Confidence>,
}

/// One MCP tool call in the run's trace. Parallel's fields first; forage's additions after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpToolCall {
    pub tool_call_id: String,
    pub server_name: String,
    /// The tool's name as the server names it.
    pub tool_name: String,
    /// The arguments, JSON-encoded.
    pub arguments: String,
    #[serde(default)]
    pub content: Option<String>,
    /// Empty on success, as Parallel sends it.
    #[serde(default)]
    pub error: Option<String>,
    /// forage: when the call started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// forage: how long the call took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// forage: size of the full output in bytes, before truncation for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_bytes: Option<u64>,
    /// forage: whether `content` was cut to the model's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

/// The output of a completed run, discriminated by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TaskOutput {
    Text {
        content: String,
        basis: Vec<FieldBasis>,
        #[serde(default)]
        mcp_tool_calls: Option<Vec<McpToolCall>>,
        #[serde(default)]
        beta_fields: Option<Value>,
    },
    Json {
        content: Value,
        basis: Vec<FieldBasis>,
        #[serde(default)]
        mcp_tool_calls: Option<Vec<McpToolCall>>,
        /// The schema the model chose, for auto-schema runs.
        #[serde(default)]
        output_schema: Option<Value>,
        #[serde(default)]
        beta_fields: Option<Value>,
    },
}

impl TaskOutput {
    pub fn mcp_tool_calls(&self) -> &[McpToolCall] {
        match self {
            TaskOutput::Text { mcp_tool_calls, .. } | TaskOutput::Json { mcp_tool_calls, .. } => {
                mcp_tool_calls.as_deref().unwrap_or(&[])
            }
        }
    }
}

/// `GET …/result` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRunResult {
    pub run: TaskRun,
    pub output: TaskOutput,
}

/// Tokens a run used, by model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub llm_calls: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_output_wire_shape() {
        let out = TaskOutput::Json {
            content: json!({"gdp": "$3.1 trillion"}),
            basis: vec![FieldBasis {
                field: "gdp".into(),
                reasoning: "From the tool.".into(),
                citations: None,
                confidence: Some(Confidence::High),
            }],
            mcp_tool_calls: None,
            output_schema: None,
            beta_fields: None,
        };
        let wire = serde_json::to_value(&out).unwrap();
        assert_eq!(wire["type"], "json");
        assert_eq!(wire["basis"][0]["confidence"], "high");
        assert_eq!(serde_json::from_value::<TaskOutput>(wire).unwrap(), out);
    }
}
