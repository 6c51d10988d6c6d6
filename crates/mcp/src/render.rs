//! Renders a `tools/call` result into the text the model reads (`ToolOutput`).

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

/// A tool's result, ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The server flagged the result as a tool error (`isError: true`).
    pub is_error: bool,
    /// All content rendered as text (see [`render`]); never truncated here.
    pub text: String,
    /// The result's `structuredContent`, as sent.
    pub structured: Option<serde_json::Value>,
    /// Size of `text` in bytes (truncation is the engine's job; this is the full size).
    pub bytes: usize,
}

impl From<CallToolResult> for ToolOutput {
    fn from(result: CallToolResult) -> Self {
        let text = render(&result.content, result.structured_content.as_ref());
        ToolOutput {
            is_error: result.is_error.unwrap_or(false),
            bytes: text.len(),
            text,
            structured: result.structured_content,
        }
    }
}

/// Text parts as they are; binary parts as a short placeholder; joined with `\n`.
/// With no text part at all, `structuredContent` (when present) is rendered as JSON first.
pub(crate) fn render(content: &[ContentBlock], structured: Option<&serde_json::Value>) -> String {
    let has_text = content.iter().any(|block| {
        matches!(block, ContentBlock::Text(_))
            || matches!(block, ContentBlock::Resource(r)
                if matches!(r.resource, ResourceContents::TextResourceContents { .. }))
    });
    let mut parts: Vec<String> = Vec::with_capacity(content.len() + 1);
    if !has_text && let Some(value) = structured {
        parts.push(value.to_string());
    }
    parts.extend(content.iter().map(render_block));
    parts.join("\n")
}

fn render_block(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => {
            format!(
                "[image: {}, {} bytes base64]",
                image.mime_type,
                image.data.len()
            )
        }
        ContentBlock::Audio(audio) => {
            format!(
                "[audio: {}, {} bytes base64]",
                audio.mime_type,
                audio.data.len()
            )
        }
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { text, .. } => text.clone(),
            ResourceContents::BlobResourceContents {
                uri,
                mime_type,
                blob,
                ..
            } => format!(
                "[resource {uri} ({}), {} bytes]",
                mime_type.as_deref().unwrap_or("application/octet-stream"),
                decoded_len(blob)
            ),
            _ => "[resource: unsupported contents]".into(),
        },
        ContentBlock::ResourceLink(link) => format!("[resource link: {}]", link.uri),
        other => format!(
            "[unsupported content: {}]",
            serde_json::to_value(other)
                .ok()
                .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
                .unwrap_or_else(|| "unknown".into())
        ),
    }
}

/// Bytes a base64 string decodes to (without decoding it).
fn decoded_len(b64: &str) -> usize {
    let trimmed = b64.trim_end_matches('=');
    trimmed.len() * 3 / 4
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn output(value: serde_json::Value) -> ToolOutput {
        serde_json::from_value::<CallToolResult>(value)
            .unwrap()
            .into()
    }

    #[test]
    fn joins_text_parts() {
        let out = output(
            json!({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}),
        );
        assert_eq!(out.text, "a\nb");
        assert_eq!(out.bytes, 3);
        assert!(!out.is_error);
    }

    #[test]
    fn structured_only_renders_json() {
        let out = output(json!({"content": [], "structuredContent": {"x": 1}}));
        assert_eq!(out.text, r#"{"x":1}"#);
        assert_eq!(out.structured, Some(json!({"x": 1})));
    }

    #[test]
    fn text_wins_over_structured() {
        let out = output(
            json!({"content": [{"type": "text", "text": "t"}], "structuredContent": {"x": 1}}),
        );
        assert_eq!(out.text, "t");
    }

    #[test]
    fn binary_parts_become_placeholders() {
        let out = output(json!({"isError": true, "content": [
            {"type": "image", "data": "AAAA", "mimeType": "image/png"},
            {"type": "audio", "data": "AAAAAA==", "mimeType": "audio/wav"},
            {"type": "resource", "resource": {"uri": "file:///a.txt", "text": "inside"}},
            {"type": "resource", "resource": {"uri": "file:///b.bin", "mimeType": "application/zip", "blob": "AAAA"}},
            {"type": "resource_link", "uri": "file:///c", "name": "c"}
        ]}));
        assert!(out.is_error);
        assert_eq!(
            out.text,
            "[image: image/png, 4 bytes base64]\n[audio: audio/wav, 8 bytes base64]\ninside\n\
             [resource file:///b.bin (application/zip), 3 bytes]\n[resource link: file:///c]"
        );
    }
}
