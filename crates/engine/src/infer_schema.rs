//! Infers a JSON Schema from an answer, for auto-schema runs (the result carries the schema used).

use serde_json::{Map, Value, json};

/// The schema an `auto` answer follows: types of every field, all present fields required.
pub fn infer_schema(instance: &Value) -> Value {
    match instance {
        Value::Null => json!({"type": "null"}),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"type": "integer"}),
        Value::Number(_) => json!({"type": "number"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(items) => match items.first() {
            Some(first) => json!({"type": "array", "items": infer_schema(first)}),
            None => json!({"type": "array"}),
        },
        Value::Object(object) => {
            let properties: Map<String, Value> = object
                .iter()
                .map(|(k, v)| (k.clone(), infer_schema(v)))
                .collect();
            let required: Vec<&String> = object.keys().collect();
            json!({"type": "object", "properties": properties, "required": required})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inferred_schema_accepts_its_instance() {
        let answer = json!({"name": "ACME", "employees": 120, "revenue": 1.5,
                            "public": false, "offices": [{"city": "Paris"}], "tags": []});
        let schema = infer_schema(&answer);
        assert!(jsonschema::is_valid(&schema, &answer));
        assert_eq!(schema["properties"]["employees"]["type"], "integer");
        assert_eq!(
            schema["properties"]["offices"]["items"]["properties"]["city"]["type"],
            "string"
        );
        assert!(!jsonschema::is_valid(&schema, &json!({"name": "ACME"})));
    }
}
