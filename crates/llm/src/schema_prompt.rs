//! Asking for a schema-shaped answer in words, for APIs and protocols that cannot enforce a
//! `response_format` (Anthropic's stable Messages API, the prompt-level tool protocol).
//!
//! The engine validates every answer against the schema and asks for repairs, so the words
//! only need to make a valid answer likely.

use crate::ResponseFormat;

/// The instruction that asks for an answer matching `format`'s schema. The schema is the last
/// ```` ```json ```` block of the text (the fake LLM in `forage-testkit` finds it there).
pub fn schema_instruction(format: &ResponseFormat) -> String {
    let schema =
        serde_json::to_string_pretty(&format.schema).unwrap_or_else(|_| format.schema.to_string());
    format!(
        "When you give your final answer (a reply without tool calls), reply with only a JSON \
         value that matches the JSON Schema `{}` below: no text before or after it, and no code \
         fence around it.\n```json\n{schema}\n```",
        format.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ends_with_the_schema_in_a_json_fence() {
        let text = schema_instruction(&ResponseFormat {
            name: "answer".into(),
            schema: json!({"type": "object", "required": ["a"]}).into(),
        });
        assert!(text.contains("`answer`"));
        let fenced = text.rsplit("```json\n").next().unwrap();
        let schema = fenced.trim_end().trim_end_matches("```");
        let parsed: serde_json::Value = serde_json::from_str(schema).unwrap();
        assert_eq!(parsed["required"][0], "a");
    }
}
