//! The final-answer envelope: the schema the model answers in (`{"output", "basis"}`),
//! and turning the model's reply into validated content and per-field basis.

use std::sync::OnceLock;

use forage_api::{Citation, Confidence, FieldBasis, OutputSchema};
use forage_llm::EncodedJson;
use serde_json::{Map, Value, json};

use crate::infer_schema::infer_schema;
use crate::sources::{Checked, ReadSources};

/// The kind of answer a run wants, ready to check replies against.
pub struct AnswerSpec {
    kind: AnswerKind,
}

enum AnswerKind {
    Json {
        schema: Value,
        validator: Box<jsonschema::Validator>,
    },
    Text,
    Auto,
}

/// A reply that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub content: Value,
    pub basis: Vec<FieldBasis>,
    /// For auto runs: the schema the answer follows.
    pub inferred_schema: Option<Value>,
    /// Citations dropped: the run read nothing at their URL, or none of their excerpts.
    pub dropped_citations: usize,
    /// Excerpts dropped from kept citations because the source does not contain them.
    pub dropped_excerpts: usize,
}

/// Why a reply is not an acceptable answer; said back to the model for repair.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct AnswerProblem(pub String);

impl AnswerSpec {
    /// Fails only when the output schema does not compile (validation already refused those).
    pub fn new(output: &OutputSchema) -> Result<AnswerSpec, String> {
        let kind = match output {
            OutputSchema::Json { json_schema } => AnswerKind::Json {
                validator: Box::new(
                    jsonschema::validator_for(json_schema).map_err(|e| e.to_string())?,
                ),
                schema: json_schema.clone(),
            },
            OutputSchema::Text { .. } => AnswerKind::Text,
            OutputSchema::Auto => AnswerKind::Auto,
        };
        Ok(AnswerSpec { kind })
    }

    pub fn is_text(&self) -> bool {
        matches!(self.kind, AnswerKind::Text)
    }

    /// The JSON Schema of the envelope the model is asked to reply with, encoded once for all
    /// the run's requests. Text and auto answers have one envelope each, built once and shared
    /// by every run.
    pub fn envelope_schema(&self) -> EncodedJson {
        static TEXT: OnceLock<EncodedJson> = OnceLock::new();
        static AUTO: OnceLock<EncodedJson> = OnceLock::new();
        let shared = match self.kind {
            AnswerKind::Json { .. } => return EncodedJson::new(self.build_envelope()),
            AnswerKind::Text => &TEXT,
            AnswerKind::Auto => &AUTO,
        };
        shared
            .get_or_init(|| EncodedJson::new(self.build_envelope()))
            .clone()
    }

    fn build_envelope(&self) -> Value {
        let mut envelope = json!({
            "type": "object",
            "properties": {
                "output": {},
                // Bounded, so a model cannot spend its whole token budget on the basis.
                "basis": {
                    "type": "array",
                    "maxItems": 100,
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string", "maxLength": 200},
                            "reasoning": {"type": "string", "maxLength": 1000},
                            "confidence": {"type": "string", "enum": ["low", "medium", "high"]},
                            "citations": {
                                "type": "array",
                                "maxItems": 10,
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "url": {"type": "string", "maxLength": 2000},
                                        "title": {"type": "string", "maxLength": 300},
                                        "excerpts": {
                                            "type": "array",
                                            "maxItems": 5,
                                            "items": {"type": "string", "maxLength": 1000}
                                        }
                                    },
                                    "required": ["url"],
                                    "additionalProperties": false
                                }
                            }
                        },
                        "required": ["field", "reasoning", "confidence"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["output", "basis"],
            "additionalProperties": false
        });
        let output = match &self.kind {
            AnswerKind::Json { schema, .. } => {
                let mut inner = schema.clone();
                // Definitions move to the envelope's root so `#/$defs/…` references still resolve.
                if let Some(object) = inner.as_object_mut() {
                    object.remove("$schema");
                    object.remove("$id");
                    for key in ["$defs", "definitions"] {
                        if let Some(defs) = object.remove(key) {
                            envelope[key] = defs;
                        }
                    }
                }
                inner
            }
            AnswerKind::Text => json!({"type": "string"}),
            AnswerKind::Auto => json!({"type": "object", "minProperties": 1}),
        };
        envelope["properties"]["output"] = output;
        // One basis entry per field (list elements as `field.N`), naming fields that exist.
        let fields = self.field_names();
        let basis = &mut envelope["properties"]["basis"];
        basis["maxItems"] = json!(if fields.is_empty() {
            40
        } else {
            fields.len() * 2
        });
        if !fields.is_empty() {
            let names: Vec<String> = fields.iter().map(|f| regex_escape(f)).collect();
            basis["items"]["properties"]["field"]["pattern"] =
                json!(format!("^({})(\\.[0-9]+)?$", names.join("|")));
        }
        envelope
    }

    /// The top-level fields an answer has: the schema's properties, `output` for text, none known for auto.
    fn field_names(&self) -> Vec<String> {
        match &self.kind {
            AnswerKind::Json { schema, .. } => schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default(),
            AnswerKind::Text => vec!["output".to_owned()],
            AnswerKind::Auto => Vec::new(),
        }
    }

    /// Checks a reply and extracts the answer. `sources` is everything the run read, against
    /// which citations are verified.
    pub fn accept(&self, reply: &str, sources: &ReadSources) -> Result<Answer, AnswerProblem> {
        let parsed = extract_json(reply);
        let (output, basis) = match parsed {
            Some(Value::Object(mut object)) if object.contains_key("output") => {
                let output = object.remove("output").unwrap_or(Value::Null);
                let basis = object.remove("basis").unwrap_or(Value::Null);
                (output, basis)
            }
            Some(other) => (other, Value::Null),
            None if self.is_text() && !reply.trim().is_empty() => {
                (Value::String(reply.trim().to_owned()), Value::Null)
            }
            None => {
                return Err(AnswerProblem(
                    "the reply is not valid JSON; reply with one JSON object {\"output\": …, \"basis\": […]}"
                        .into(),
                ));
            }
        };
        let (content, inferred_schema) = match &self.kind {
            AnswerKind::Json { validator, .. } => {
                let problems: Vec<String> = validator
                    .iter_errors(&output)
                    .take(8)
                    .map(|e| forage_api::validate::describe_schema_error(&e))
                    .collect();
                if !problems.is_empty() {
                    return Err(AnswerProblem(format!(
                        "`output` does not match the required JSON Schema: {}",
                        problems.join("; ")
                    )));
                }
                (output, None)
            }
            AnswerKind::Text => match output {
                Value::String(text) if !text.trim().is_empty() => (Value::String(text), None),
                Value::String(_) => {
                    return Err(AnswerProblem("`output` is empty; write the answer".into()));
                }
                other => (Value::String(other.to_string()), None),
            },
            AnswerKind::Auto => match output {
                Value::Object(object) if !object.is_empty() => {
                    let content = Value::Object(object);
                    let schema = infer_schema(&content);
                    (content, Some(schema))
                }
                _ => {
                    return Err(AnswerProblem(
                        "`output` must be a non-empty JSON object whose fields hold the answer"
                            .into(),
                    ));
                }
            },
        };
        let checked = build_basis(&content, &basis, self.is_text(), sources);
        Ok(Answer {
            content,
            basis: checked.basis,
            inferred_schema,
            dropped_citations: checked.dropped_citations,
            dropped_excerpts: checked.dropped_excerpts,
        })
    }
}

/// `text` with the regular-expression metacharacters escaped.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Finds the JSON object in a reply: the whole text, a fenced block, or the outermost braces.
pub fn extract_json(reply: &str) -> Option<Value> {
    let text = reply.trim();
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Some(value);
    }
    let unfenced = text
        .strip_prefix("```json")
        .or_else(|| text.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"));
    if let Some(inner) = unfenced
        && let Ok(value) = serde_json::from_str::<Value>(inner.trim())
    {
        return Some(value);
    }
    let (start, end) = (text.find('{')?, text.rfind('}')?);
    (start < end)
        .then(|| serde_json::from_str::<Value>(&text[start..=end]).ok())
        .flatten()
        .filter(Value::is_object)
}

/// The basis of an answer, with what the citation check left out.
struct CheckedBasis {
    basis: Vec<FieldBasis>,
    dropped_citations: usize,
    dropped_excerpts: usize,
}

/// One basis entry per top-level field (per-element entries such as `items.0` kept when given),
/// built from what the model said. Citations are checked against what the run read: a citation
/// of something not read, or whose excerpts are not in it, is dropped, and a field that lost a
/// citation or an excerpt is marked one step less confident.
fn build_basis(
    content: &Value,
    model_basis: &Value,
    is_text: bool,
    sources: &ReadSources,
) -> CheckedBasis {
    let fields: Vec<String> = match content {
        Value::Object(object) if !is_text => object.keys().cloned().collect(),
        _ => vec!["output".to_owned()],
    };
    let given: Vec<&Map<String, Value>> = model_basis
        .as_array()
        .map(|entries| entries.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let mut dropped_citations = 0;
    let mut dropped_excerpts = 0;
    let mut entry_for = |field: &str, raw: Option<&Map<String, Value>>| -> FieldBasis {
        let reasoning = raw
            .and_then(|r| r.get("reasoning"))
            .and_then(Value::as_str)
            .filter(|r| !r.trim().is_empty())
            .unwrap_or("The model gave no reasoning for this field.")
            .to_owned();
        let mut confidence = raw
            .and_then(|r| r.get("confidence"))
            .and_then(Value::as_str)
            .and_then(Confidence::parse);
        let mut lost = false;
        let citations: Vec<Citation> = raw
            .and_then(|r| r.get("citations"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| serde_json::from_value::<Citation>(c.clone()).ok())
            .filter_map(|c| match sources.check(&c) {
                Checked::Kept {
                    citation,
                    dropped_excerpts: 0,
                } => Some(citation),
                Checked::Kept {
                    citation,
                    dropped_excerpts: n,
                } => {
                    dropped_excerpts += n;
                    lost = true;
                    Some(citation)
                }
                Checked::Dropped => {
                    dropped_citations += 1;
                    lost = true;
                    None
                }
            })
            .collect();
        if lost {
            confidence = confidence.map(|c| match c {
                Confidence::High => Confidence::Medium,
                _ => Confidence::Low,
            });
        }
        FieldBasis {
            field: field.to_owned(),
            reasoning,
            citations: (!citations.is_empty()).then_some(citations),
            confidence,
        }
    };
    let find = |field: &str| {
        given
            .iter()
            .copied()
            .find(|r| r.get("field").and_then(Value::as_str) == Some(field))
    };
    let mut basis: Vec<FieldBasis> = fields.iter().map(|f| entry_for(f, find(f))).collect();
    // Per-element entries (`executives.0`) the model gave for list fields.
    for raw in &given {
        let Some(field) = raw.get("field").and_then(Value::as_str) else {
            continue;
        };
        if let Some((head, index)) = field.split_once('.')
            && fields.iter().any(|f| f == head)
            && let Ok(index) = index.parse::<usize>()
            && content[head].as_array().is_some_and(|a| index < a.len())
        {
            basis.push(entry_for(field, Some(raw)));
        }
    }
    CheckedBasis {
        basis,
        dropped_citations,
        dropped_excerpts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Source;

    fn nothing() -> ReadSources<'static> {
        ReadSources::new([])
    }

    fn json_spec(schema: Value) -> AnswerSpec {
        AnswerSpec::new(&OutputSchema::Json {
            json_schema: schema,
        })
        .unwrap()
    }

    #[test]
    fn accepts_a_valid_envelope_with_basis() {
        let spec = json_spec(
            json!({"type": "object", "properties": {"ceo": {"type": "string"}}, "required": ["ceo"]}),
        );
        let reply = r#"{"output": {"ceo": "Ada"}, "basis": [{"field": "ceo", "reasoning": "From the CRM tool.", "confidence": "high",
                        "citations": [{"url": "https://crm.example/ada"}, {"url": "https://made.up/"}]}]}"#;
        let read = [Source::tool_output(
            "record at https://crm.example/ada".to_owned(),
        )];
        let answer = spec.accept(reply, &ReadSources::new(&read)).unwrap();
        assert_eq!(answer.content, json!({"ceo": "Ada"}));
        assert_eq!(answer.basis.len(), 1);
        // A citation was dropped: the field is marked one step less confident.
        assert_eq!(answer.basis[0].confidence, Some(Confidence::Medium));
        assert_eq!(answer.basis[0].citations.as_ref().unwrap().len(), 1);
        assert_eq!(answer.dropped_citations, 1);
    }

    #[test]
    fn schema_violation_says_where() {
        let spec = json_spec(
            json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
        );
        let err = spec
            .accept(r#"{"output": {"n": "five"}, "basis": []}"#, &nothing())
            .unwrap_err();
        assert!(err.0.contains("/n"), "{err}");
        let err = spec.accept("not json at all", &nothing()).unwrap_err();
        assert!(err.0.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn bare_answers_and_fences_are_accepted() {
        let spec = json_spec(json!({"type": "object", "properties": {"n": {"type": "integer"}}}));
        let answer = spec.accept("```json\n{\"n\": 5}\n```", &nothing()).unwrap();
        assert_eq!(answer.content, json!({"n": 5}));
        assert_eq!(answer.basis[0].field, "n");
    }

    #[test]
    fn text_answers_may_be_plain_text() {
        let spec = AnswerSpec::new(&OutputSchema::Text { description: None }).unwrap();
        let answer = spec.accept("Paris is the capital.", &nothing()).unwrap();
        assert_eq!(answer.content, json!("Paris is the capital."));
        assert_eq!(answer.basis[0].field, "output");
    }

    #[test]
    fn auto_answers_carry_an_inferred_schema() {
        let spec = AnswerSpec::new(&OutputSchema::Auto).unwrap();
        let answer = spec
            .accept(
                r#"{"output": {"gdp": "3.1T", "year": 2023}, "basis": []}"#,
                &nothing(),
            )
            .unwrap();
        assert_eq!(
            answer.inferred_schema.unwrap()["properties"]["year"]["type"],
            "integer"
        );
        assert!(
            spec.accept(r#"{"output": {}, "basis": []}"#, &nothing())
                .is_err()
        );
    }

    #[test]
    fn definitions_move_to_the_envelope_root() {
        let spec = json_spec(json!({"type": "object", "$defs": {"P": {"type": "string"}},
                                    "properties": {"p": {"$ref": "#/$defs/P"}}}));
        let envelope = spec.envelope_schema();
        assert!(envelope["$defs"]["P"].is_object());
        let valid = json!({"output": {"p": "x"}, "basis": []});
        assert!(jsonschema::is_valid(&envelope, &valid));
        assert!(!jsonschema::is_valid(
            &envelope,
            &json!({"output": {"p": 1}, "basis": []})
        ));
    }

    #[test]
    fn basis_entries_are_bounded_by_the_fields() {
        let spec = json_spec(json!({"type": "object", "properties": {"ceo": {}, "a.b": {}}}));
        let envelope = spec.envelope_schema();
        let basis = &envelope["properties"]["basis"];
        assert_eq!(basis["maxItems"], 4);
        let good = json!({"output": {}, "basis": [{"field": "ceo", "reasoning": "r", "confidence": "low"},
                                                   {"field": "a.b.3", "reasoning": "r", "confidence": "low"}]});
        assert!(jsonschema::is_valid(&envelope, &good));
        let invented = json!({"output": {}, "basis": [{"field": "cfo", "reasoning": "r", "confidence": "low"}]});
        assert!(!jsonschema::is_valid(&envelope, &invented));
        let auto = AnswerSpec::new(&OutputSchema::Auto)
            .unwrap()
            .envelope_schema();
        assert!(
            auto["properties"]["basis"]["items"]["properties"]["field"]
                .get("pattern")
                .is_none()
        );
        assert_eq!(auto["properties"]["basis"]["maxItems"], 40);
    }

    #[test]
    fn per_element_basis_entries_are_kept() {
        let spec = json_spec(json!({"type": "object", "properties": {"execs": {"type": "array"}}}));
        let reply = r#"{"output": {"execs": ["a", "b"]}, "basis": [{"field": "execs", "reasoning": "r", "confidence": "low"},
                       {"field": "execs.1", "reasoning": "r1", "confidence": "medium"}, {"field": "execs.7", "reasoning": "x", "confidence": "low"}]}"#;
        let answer = spec.accept(reply, &nothing()).unwrap();
        let fields: Vec<&str> = answer.basis.iter().map(|b| b.field.as_str()).collect();
        assert_eq!(fields, ["execs", "execs.1"]);
    }
}
