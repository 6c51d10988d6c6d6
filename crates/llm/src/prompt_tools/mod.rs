//! The prompt-level tool protocol: tool calling for models served without native tool calls.
//!
//! [`PromptToolProtocol`] wraps any provider. A request that offers tools goes out with none:
//! the system prompt describes each tool and the exact reply format for calling them
//! (`<tool_call>{"name": …, "arguments": {…}}</tool_call>`, one block per call), earlier
//! calls are written back in that form and their results sent as user text
//! (`<tool_result id=… name=…>…</tool_result>`), and the reply's blocks are parsed back into
//! [`ToolCall`](crate::ToolCall)s. A request without tools, and without tool calls in its
//! history, passes through unchanged.

mod parse;
mod render;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{ChatMessage, ChatRequest, ChatResponse, LlmError, LlmProvider};

pub use parse::{ParsedReply, parse_reply};
pub use render::{CALL_CLOSE, CALL_OPEN, tool_instructions};

/// How tool calls travel between forage and a model (`"native"` or `"prompt"` in config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolProtocol {
    /// The API's own tool calling (`tools` / `tool_calls`, `tool_use` blocks).
    #[default]
    Native,
    /// Tools described in the prompt and called in text ([`PromptToolProtocol`]).
    Prompt,
}

/// A provider whose tools are offered and called in text rather than natively.
#[derive(Debug, Clone)]
pub struct PromptToolProtocol<P: LlmProvider> {
    inner: P,
}

impl<P: LlmProvider> PromptToolProtocol<P> {
    pub fn new(inner: P) -> Self {
        Self { inner }
    }

    pub fn inner(&self) -> &P {
        &self.inner
    }
}

/// The request the inner provider gets instead of `request`: tools in the system prompt and
/// every tool call and result in text; `None` when `request` needs no rewriting (no tools on
/// offer and none in its history).
pub fn rewrite_request(request: &ChatRequest) -> Option<ChatRequest> {
    let history_has_tools = request.messages.iter().any(|m| match m {
        ChatMessage::Assistant { tool_calls, .. } => !tool_calls.is_empty(),
        ChatMessage::Tool { .. } => true,
        _ => false,
    });
    if request.tools.is_empty() && !history_has_tools {
        return None;
    }
    Some(render::rewrite(request))
}

#[async_trait]
impl<P: LlmProvider> LlmProvider for PromptToolProtocol<P> {
    async fn chat(
        &self,
        request: &ChatRequest,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        let Some(rewritten) = rewrite_request(request) else {
            return self.inner.chat(request, cancel).await;
        };
        let mut response = self.inner.chat(&rewritten, cancel).await?;
        if request.tools.is_empty() {
            return Ok(response);
        }
        let turn = request
            .messages
            .iter()
            .filter(|m| matches!(m, ChatMessage::Assistant { .. }))
            .count();
        let parsed = parse_reply(response.content.as_deref().unwrap_or(""), turn);
        if !parsed.tool_calls.is_empty() {
            response.finish_reason = Some("tool_calls".to_owned());
        }
        response.tool_calls.extend(parsed.tool_calls);
        response.content = parsed.content;
        if response.content.is_none() && response.tool_calls.is_empty() {
            return Err(LlmError::InvalidResponse(
                "the reply has neither text nor tool calls".to_owned(),
            ));
        }
        Ok(response)
    }

    fn describe(&self) -> String {
        format!("{} (prompt tool protocol)", self.inner.describe())
    }
}

/// `provider` as configured: itself for [`ToolProtocol::Native`], wrapped in a
/// [`PromptToolProtocol`] for [`ToolProtocol::Prompt`].
pub fn with_tool_protocol(
    provider: std::sync::Arc<dyn LlmProvider>,
    protocol: ToolProtocol,
) -> std::sync::Arc<dyn LlmProvider> {
    match protocol {
        ToolProtocol::Native => provider,
        ToolProtocol::Prompt => std::sync::Arc::new(PromptToolProtocol::new(provider)),
    }
}
