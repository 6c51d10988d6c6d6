//! `task_spec`: the output schema (json / text / auto, or a bare description string) and the input schema.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// What the run must produce.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OutputSchema {
    /// An object matching a JSON Schema.
    Json { json_schema: Value },
    /// Free text, optionally described.
    Text {
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// The model chooses the fields; the result carries the schema it used.
    Auto,
}

/// What the run's input looks like.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum InputSchema {
    Json {
        json_schema: Value,
    },
    Text {
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
}

/// `task_spec` of a create request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub output_schema: OutputSchema,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<InputSchema>,
}

impl Default for TaskSpec {
    /// No task spec means `{"output_schema": {"type": "auto"}}`.
    fn default() -> Self {
        TaskSpec {
            output_schema: OutputSchema::Auto,
            input_schema: None,
        }
    }
}

/// The shapes both schema kinds accept: a bare string, or an object with an optional `type`.
#[derive(Deserialize)]
#[serde(untagged)]
enum SchemaWire {
    Description(String),
    Object(serde_json::Map<String, Value>),
}

/// Splits an object form into its `type` and the remaining fields, refusing unknown fields.
fn schema_kind(
    mut object: serde_json::Map<String, Value>,
    allowed: &[&str],
) -> Result<(String, serde_json::Map<String, Value>), String> {
    let kind = match object.remove("type") {
        None | Some(Value::Null) if object.contains_key("json_schema") => "json".to_owned(),
        None | Some(Value::Null) => return Err("missing field `type`".to_owned()),
        Some(Value::String(kind)) => kind,
        Some(other) => return Err(format!("`type` must be a string, got {other}")),
    };
    if !allowed.contains(&kind.as_str()) {
        return Err(format!(
            "unknown schema type '{kind}', expected one of: {}",
            allowed.join(", ")
        ));
    }
    let known: &[&str] = match kind.as_str() {
        "json" => &["json_schema"],
        "text" => &["description"],
        _ => &[],
    };
    if let Some(field) = object.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("unknown field `{field}` for schema type '{kind}'"));
    }
    Ok((kind, object))
}

fn description(object: &mut serde_json::Map<String, Value>) -> Result<Option<String>, String> {
    match object.remove("description") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err("`description` must be a string".to_owned()),
    }
}

fn json_schema(object: &mut serde_json::Map<String, Value>) -> Result<Value, String> {
    match object.remove("json_schema") {
        Some(schema @ Value::Object(_)) => Ok(schema),
        Some(_) => Err("`json_schema` must be a JSON Schema object".to_owned()),
        None => Err("missing field `json_schema`".to_owned()),
    }
}

impl<'de> Deserialize<'de> for OutputSchema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match SchemaWire::deserialize(deserializer).map_err(|_| {
            D::Error::custom("output_schema must be a string or an object with a `type`")
        })? {
            SchemaWire::Description(text) => Ok(OutputSchema::Text {
                description: Some(text),
            }),
            SchemaWire::Object(object) => {
                let (kind, mut rest) =
                    schema_kind(object, &["json", "text", "auto"]).map_err(D::Error::custom)?;
                match kind.as_str() {
                    "json" => Ok(OutputSchema::Json {
                        json_schema: json_schema(&mut rest).map_err(D::Error::custom)?,
                    }),
                    "text" => Ok(OutputSchema::Text {
                        description: description(&mut rest).map_err(D::Error::custom)?,
                    }),
                    _ => Ok(OutputSchema::Auto),
                }
            }
        }
    }
}

impl<'de> Deserialize<'de> for InputSchema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match SchemaWire::deserialize(deserializer).map_err(|_| {
            D::Error::custom("input_schema must be a string or an object with a `type`")
        })? {
            SchemaWire::Description(text) => Ok(InputSchema::Text {
                description: Some(text),
            }),
            SchemaWire::Object(object) => {
                let (kind, mut rest) =
                    schema_kind(object, &["json", "text"]).map_err(D::Error::custom)?;
                match kind.as_str() {
                    "json" => Ok(InputSchema::Json {
                        json_schema: json_schema(&mut rest).map_err(D::Error::custom)?,
                    }),
                    _ => Ok(InputSchema::Text {
                        description: description(&mut rest).map_err(D::Error::custom)?,
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn output(value: Value) -> Result<OutputSchema, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn bare_string_is_a_text_description() {
        assert_eq!(
            output(json!("GDP of the country")).unwrap(),
            OutputSchema::Text {
                description: Some("GDP of the country".into())
            }
        );
    }

    #[test]
    fn object_forms_parse() {
        assert_eq!(output(json!({"type": "auto"})).unwrap(), OutputSchema::Auto);
        assert_eq!(
            output(json!({"type": "text"})).unwrap(),
            OutputSchema::Text { description: None }
        );
        let schema = json!({"type": "object"});
        assert_eq!(
            output(json!({"json_schema": schema})).unwrap(),
            OutputSchema::Json {
                json_schema: schema.clone()
            }
        );
        assert_eq!(
            output(json!({"type": "json", "json_schema": schema})).unwrap(),
            OutputSchema::Json {
                json_schema: schema
            }
        );
    }

    #[test]
    fn wrong_forms_say_what_is_wrong() {
        let err = output(json!({"type": "yaml"})).unwrap_err().to_string();
        assert!(err.contains("unknown schema type 'yaml'"), "{err}");
        let err = output(json!({"type": "json"})).unwrap_err().to_string();
        assert!(err.contains("json_schema"), "{err}");
        let err = output(json!({"type": "text", "colour": 1}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
        assert!(output(json!(42)).is_err());
        let err = serde_json::from_value::<InputSchema>(json!({"type": "auto"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("'auto'"), "{err}");
    }

    #[test]
    fn serializes_in_the_tagged_wire_form() {
        let spec = TaskSpec::default();
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({"output_schema": {"type": "auto"}})
        );
    }
}
