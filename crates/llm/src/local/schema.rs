//! The JSON Schema one generation step decodes under: `anyOf` of one branch per offered tool,
//! `{"tool": NAME, "arguments": PARAMETERS}`, and the final answer `{"final": ANSWER}`.
//!
//! The sub-schemas (tool parameters, the response format) are embedded as they are; local
//! `$ref`s inside them are rewritten to point at their new place in the combined document.

use serde_json::{Value, json};

use crate::{ResponseFormat, ToolSpec};

/// What the final answer of this step looks like.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AnswerShape {
    /// JSON text matching this schema (the request's response format).
    Json(Value),
    /// Plain text (no response format was asked for).
    Text,
}

/// The shapes a reply to one request may take.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepShape {
    /// Offered tools: name and arguments schema.
    pub tools: Vec<(String, Value)>,
    pub answer: AnswerShape,
}

impl StepShape {
    pub(crate) fn from_request(tools: &[ToolSpec], format: Option<&ResponseFormat>) -> StepShape {
        StepShape {
            tools: tools
                .iter()
                .map(|t| (t.name.clone(), arguments_schema(&t.parameters)))
                .collect(),
            answer: match format {
                Some(f) => AnswerShape::Json(f.schema.value().clone()),
                None => AnswerShape::Text,
            },
        }
    }

    /// Whether decoding needs a grammar at all: a plain-text answer with no tools does not.
    pub(crate) fn is_constrained(&self) -> bool {
        !self.tools.is_empty() || matches!(self.answer, AnswerShape::Json(_))
    }

    /// The schema of the answer value inside `{"final": ...}`.
    pub(crate) fn answer_schema(&self) -> Value {
        match &self.answer {
            AnswerShape::Json(schema) => schema.clone(),
            AnswerShape::Text => json!({"type": "string"}),
        }
    }

    /// The combined schema of this step, with every sub-schema as given.
    pub(crate) fn schema(&self) -> Value {
        let tools: Vec<&Value> = self.tools.iter().map(|(_, s)| s).collect();
        let answer = self.answer_schema();
        self.combine(&tools, &answer)
    }

    /// The combined schema with the sub-schemas replaced (same order as `self.tools`).
    pub(crate) fn combine(&self, tool_args: &[&Value], answer: &Value) -> Value {
        let mut branches = Vec::with_capacity(self.tools.len() + 1);
        for (i, ((name, _), args)) in self.tools.iter().zip(tool_args).enumerate() {
            let pointer = format!("/anyOf/{i}/properties/arguments");
            branches.push(json!({
                "type": "object",
                "properties": {
                    "tool": {"const": name},
                    "arguments": embed(args, &pointer),
                },
                "required": ["tool", "arguments"],
                "additionalProperties": false,
            }));
        }
        let pointer = format!("/anyOf/{}/properties/final", branches.len());
        branches.push(json!({
            "type": "object",
            "properties": {"final": embed(answer, &pointer)},
            "required": ["final"],
            "additionalProperties": false,
        }));
        json!({ "anyOf": branches })
    }
}

/// A tool's parameters schema, or "any object" when it gives none.
fn arguments_schema(parameters: &Value) -> Value {
    match parameters {
        Value::Null => json!({"type": "object"}),
        Value::Object(m) if m.is_empty() => json!({"type": "object"}),
        other => other.clone(),
    }
}

/// `schema` ready to sit at JSON pointer `pointer` of a larger document: local references
/// (`#...`) are re-rooted there, and `$id`/`$schema` (which would change how references
/// resolve) are dropped. Objects that list their `properties` but say nothing of others are
/// closed for decoding: a small model otherwise invents extra keys without end. Every instance
/// of the closed schema is still an instance of the original (outside `allOf`, left open).
pub(crate) fn embed(schema: &Value, pointer: &str) -> Value {
    let mut out = schema.clone();
    rewrite(&mut out, pointer, true);
    out
}

fn rewrite(value: &mut Value, pointer: &str, close: bool) {
    match value {
        Value::Object(map) => {
            map.remove("$id");
            map.remove("$schema");
            // Left open when other keywords say more about its properties (or may add some).
            let open_ended = [
                "additionalProperties",
                "patternProperties",
                "unevaluatedProperties",
                "allOf",
                "anyOf",
                "oneOf",
                "if",
                "dependentSchemas",
                "$ref",
            ]
            .iter()
            .any(|k| map.contains_key(*k));
            if close && map.contains_key("properties") && !open_ended {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(rest) = r.strip_prefix('#')
            {
                *r = format!("#{pointer}{rest}");
            }
            for (key, child) in map.iter_mut() {
                match key.as_str() {
                    "$ref" | "const" | "enum" | "default" | "examples" | "description"
                    | "title" | "required" => {}
                    // Maps from names to schemas: the names are not keywords.
                    "properties" | "patternProperties" | "$defs" | "definitions"
                    | "dependentSchemas" => {
                        if let Value::Object(named) = child {
                            named.values_mut().for_each(|s| rewrite(s, pointer, true));
                        }
                    }
                    // Closing each branch of an allOf would refuse what the whole accepts.
                    "allOf" => rewrite(child, pointer, false),
                    _ => rewrite(child, pointer, true),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, pointer, close)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_and_answer_become_branches() {
        let shape = StepShape::from_request(
            &[ToolSpec {
                name: "search".into(),
                description: "d".into(),
                parameters: json!({"type": "object", "properties": {"q": {"type": "string"}}})
                    .into(),
            }],
            None,
        );
        let s = shape.schema();
        let branches = s["anyOf"].as_array().unwrap();
        assert_eq!(branches.len(), 2);
        assert_eq!(branches[0]["properties"]["tool"]["const"], "search");
        assert_eq!(
            branches[1]["properties"]["final"],
            json!({"type": "string"})
        );
        // "tool" comes before "arguments" in the generated text.
        let keys: Vec<_> = branches[0]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys, ["tool", "arguments"]);
    }

    #[test]
    fn local_refs_are_rerooted() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": {"n": {"type": "integer"}},
            "properties": {
                "a": {"$ref": "#/$defs/n"},
                "self": {"$ref": "#"},
                "description": {"$ref": "#/$defs/n"}
            },
            "enum_holder": {"enum": [{"$ref": "#/x"}]}
        });
        let out = embed(&schema, "/anyOf/0/properties/arguments");
        assert_eq!(
            out["properties"]["a"]["$ref"],
            "#/anyOf/0/properties/arguments/$defs/n"
        );
        assert_eq!(
            out["properties"]["self"]["$ref"],
            "#/anyOf/0/properties/arguments"
        );
        assert_eq!(
            out["properties"]["description"]["$ref"],
            "#/anyOf/0/properties/arguments/$defs/n"
        );
        assert!(out.get("$schema").is_none());
        assert_eq!(out["enum_holder"]["enum"][0]["$ref"], "#/x");
    }

    #[test]
    fn objects_are_closed_for_decoding_except_in_all_of() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "string"},
                "b": {"type": "object", "properties": {"c": {}}},
                "f": {"properties": {"g": {}}, "allOf": [{"properties": {"h": {}}}]}
            },
            "$defs": {"open": {"properties": {"e": {}}, "additionalProperties": true}}
        });
        let out = embed(&schema, "/x");
        assert_eq!(out["additionalProperties"], json!(false));
        assert_eq!(out["properties"]["b"]["additionalProperties"], json!(false));
        let f = &out["properties"]["f"];
        assert!(
            f.get("additionalProperties").is_none(),
            "allOf may add properties: {f}"
        );
        assert!(f["allOf"][0].get("additionalProperties").is_none());
        assert_eq!(out["$defs"]["open"]["additionalProperties"], json!(true));
        // An instance of the closed schema is one of the original, and extra keys are refused.
        let instance = json!({"a": "x", "b": {"c": 1}, "f": {"g": 1, "h": 2}});
        assert!(jsonschema::is_valid(&out, &instance));
        assert!(jsonschema::is_valid(&schema, &instance));
        assert!(!jsonschema::is_valid(
            &out,
            &json!({"a": "x", "invented": 1})
        ));
    }

    #[test]
    fn no_tools_and_no_format_needs_no_grammar() {
        assert!(!StepShape::from_request(&[], None).is_constrained());
    }
}
