//! Synthesizes JSON instances from a JSON Schema: valid ones (tool arguments, final answers)
//! and deliberately invalid ones (to exercise schema repair).
//!
//! Handles type (incl. type arrays and `nullable`), properties, required, enum, const, items,
//! prefixItems, min/maxItems, uniqueItems, minimum/maximum (incl. exclusive), multipleOf,
//! min/maxLength, format, anyOf/oneOf (first non-null option), allOf (merged), `$ref` to
//! `$defs`/`definitions` (any local JSON pointer), additionalProperties and minProperties.

use std::borrow::Cow;

use serde_json::{Map, Number, Value, json};

/// How strings are filled and which properties appear.
#[derive(Debug, Clone, Default)]
pub struct Fill {
    /// Only required properties (tool arguments); otherwise every declared property too.
    pub required_only: bool,
    /// Text for the first free-text string field (e.g. the latest tool result).
    pub lead_text: Option<String>,
    /// Text for every other free-text string field; `"test"` when empty.
    pub filler: String,
}

impl Fill {
    /// Tool-argument style: required properties only, strings `"test"`.
    pub fn arguments() -> Self {
        Fill {
            required_only: true,
            ..Fill::default()
        }
    }
}

/// Nesting deeper than this yields `null` (guards recursive schemas).
const MAX_DEPTH: usize = 24;
/// Below this depth optional properties are left out even when `required_only` is false.
const OPTIONAL_DEPTH: usize = 6;

/// An instance of `schema` that validates against it.
pub fn instance(schema: &Value, fill: &Fill) -> Value {
    let mut synth = Synth {
        root: schema,
        fill,
        lead_used: false,
    };
    synth.generate(schema, 0, 0)
}

/// Well-formed JSON that does NOT validate against `schema` (best effort: a required field
/// of the root object is left out, or the root gets the wrong type).
pub fn violation(schema: &Value, fill: &Fill) -> Value {
    let valid = instance(schema, fill);
    let root = resolve_root(schema, schema, 0);
    if let (Value::Object(mut object), Some(Value::Array(required))) = (valid, root.get("required"))
        && let Some(Value::String(first)) = required.first()
    {
        object.remove(first);
        return Value::Object(object);
    }
    match kind(root) {
        "object" => json!(["not an object"]),
        "array" => json!({"not": "an array"}),
        "string" => json!(12345),
        "null" => json!("not null"),
        _ => json!("not the right type"),
    }
}

/// Follows `$ref`s at the top of `schema`.
fn resolve_root<'a>(root: &'a Value, schema: &'a Value, depth: usize) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) if depth < MAX_DEPTH => match pointer(root, r) {
            Some(target) => resolve_root(root, target, depth + 1),
            None => schema,
        },
        _ => schema,
    }
}

/// The schema a local `$ref` (`#`, `#/$defs/x`, `#/definitions/x`, ...) points at.
fn pointer<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let fragment = reference.strip_prefix('#')?;
    if fragment.is_empty() {
        return Some(root);
    }
    let decoded = fragment.replace("%25", "%").replace("%22", "\"");
    root.pointer(&decoded)
}

/// The type to produce: the first non-null declared type, or one inferred from keywords.
fn kind(schema: &Value) -> &str {
    match schema.get("type") {
        Some(Value::String(t)) => return t.as_str(),
        Some(Value::Array(types)) => {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            return names
                .iter()
                .find(|t| **t != "null")
                .or(names.first())
                .copied()
                .unwrap_or("string");
        }
        _ => {}
    }
    let has = |keys: &[&str]| keys.iter().any(|k| schema.get(*k).is_some());
    if has(&[
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "minProperties",
    ]) {
        "object"
    } else if has(&["items", "prefixItems", "minItems", "maxItems", "contains"]) {
        "array"
    } else if has(&[
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
    ]) {
        "number"
    } else {
        "string"
    }
}

struct Synth<'a> {
    root: &'a Value,
    fill: &'a Fill,
    lead_used: bool,
}

impl Synth<'_> {
    /// `variant` > 0 asks for a value distinct from variant 0 (for `uniqueItems`).
    fn generate(&mut self, schema: &Value, depth: usize, variant: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        let Value::Object(object) = schema else {
            // `true` accepts anything; `false` accepts nothing, so anything is as good.
            return json!("test");
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str)
            && let Some(target) = pointer(self.root, reference)
        {
            return self.generate(target, depth + 1, variant);
        }
        if let Some(value) = object.get("const") {
            return value.clone();
        }
        if let Some(Value::Array(options)) = object.get("enum")
            && !options.is_empty()
        {
            return options[variant % options.len()].clone();
        }
        if let Some(Value::Array(parts)) = object.get("allOf") {
            let merged = self.merge_all_of(object, parts);
            return self.generate(&merged, depth + 1, variant);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(options)) = object.get(key)
                && let Some(choice) = options
                    .iter()
                    .find(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                    .or(options.first())
            {
                let choice = Self::with_siblings(self.root, object, choice);
                return self.generate(&choice, depth + 1, variant);
            }
        }
        match kind(schema) {
            "object" => self.object(object, depth, variant),
            "array" => self.array(object, depth, variant),
            "integer" => integer(object, variant),
            "number" => number(object, variant),
            "boolean" => Value::Bool(variant.is_multiple_of(2)),
            "null" => Value::Null,
            _ => self.string(object, variant),
        }
    }

    /// `option` of an anyOf/oneOf with the parent's other object keywords folded in.
    fn with_siblings<'s>(
        root: &'s Value,
        parent: &Map<String, Value>,
        option: &'s Value,
    ) -> Cow<'s, Value> {
        let resolved = resolve_root(root, option, 0);
        let siblings: Map<String, Value> = parent
            .iter()
            .filter(|(k, _)| {
                matches!(
                    k.as_str(),
                    "properties" | "required" | "additionalProperties"
                )
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if siblings.is_empty() {
            return Cow::Borrowed(resolved);
        }
        Cow::Owned(merge_into(Value::Object(siblings), resolved))
    }

    /// One schema equivalent (for generation) to the parent's keywords plus all `allOf` parts.
    fn merge_all_of(&self, parent: &Map<String, Value>, parts: &[Value]) -> Value {
        let mut base = parent.clone();
        base.remove("allOf");
        let mut merged = Value::Object(base);
        for part in parts {
            let part = resolve_root(self.root, part, 0);
            merged = merge_into(merged, part);
        }
        merged
    }

    fn object(&mut self, object: &Map<String, Value>, depth: usize, variant: usize) -> Value {
        let empty = Map::new();
        let properties = object
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let required: Vec<&str> = object
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let additional = object.get("additionalProperties");
        let any = Value::Object(Map::new());
        let extra_schema = match additional {
            Some(schema @ Value::Object(_)) => schema,
            _ => &any,
        };
        let mut out = Map::new();
        // Required properties first, in the order the schema lists them.
        for name in &required {
            let sub = properties.get(*name).unwrap_or(extra_schema);
            let value = self.generate(sub, depth + 1, variant);
            out.insert((*name).to_owned(), value);
        }
        let include_optional = !self.fill.required_only && depth < OPTIONAL_DEPTH;
        let min_properties = object
            .get("minProperties")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        for (name, sub) in properties {
            if out.contains_key(name) || !(include_optional || out.len() < min_properties) {
                continue;
            }
            let value = self.generate(sub, depth + 1, variant);
            out.insert(name.clone(), value);
        }
        let mut extra = 0;
        while out.len() < min_properties && additional != Some(&Value::Bool(false)) {
            extra += 1;
            let value = self.generate(extra_schema, depth + 1, variant);
            out.insert(format!("extra_{extra}"), value);
        }
        Value::Object(out)
    }

    fn array(&mut self, object: &Map<String, Value>, depth: usize, variant: usize) -> Value {
        let min = object.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = object
            .get("maxItems")
            .and_then(Value::as_u64)
            .map(|m| m as usize);
        let unique = object.get("uniqueItems") == Some(&Value::Bool(true));
        let prefix: &[Value] = match (object.get("prefixItems"), object.get("items")) {
            (Some(Value::Array(p)), _) | (None, Some(Value::Array(p))) => p,
            _ => &[],
        };
        let rest = match (object.get("prefixItems"), object.get("items")) {
            (Some(_), Some(items)) if !items.is_array() => Some(items),
            (None, Some(Value::Array(_))) => object.get("additionalItems"),
            (None, Some(items)) => Some(items),
            _ => None,
        };
        let mut count = min.max(1);
        if let Some(max) = max {
            count = count.min(max);
        }
        if rest == Some(&Value::Bool(false)) || (rest.is_none() && !prefix.is_empty()) {
            count = count.min(prefix.len());
        }
        let any = Value::Object(Map::new());
        (0..count)
            .map(|i| {
                let item_variant = if unique { variant + i } else { variant };
                let sub = prefix.get(i).or(rest).unwrap_or(&any);
                self.generate(sub, depth + 1, item_variant)
            })
            .collect()
    }

    fn string(&mut self, object: &Map<String, Value>, variant: usize) -> Value {
        if let Some(format) = object.get("format").and_then(Value::as_str)
            && let Some(text) = formatted(format, variant)
        {
            return Value::String(text);
        }
        let mut text = match (&self.fill.lead_text, self.lead_used) {
            (Some(lead), false) => {
                self.lead_used = true;
                truncate_chars(lead, 200)
            }
            _ if self.fill.filler.trim().is_empty() => "test".to_owned(),
            _ => truncate_chars(self.fill.filler.trim(), 60),
        };
        if text.is_empty() {
            text = "test".to_owned();
        }
        if variant > 0 {
            text = format!("{variant} {text}");
        }
        if let Some(max) = object.get("maxLength").and_then(Value::as_u64) {
            text = truncate_chars(&text, max as usize);
            if variant > 0 && max > 0 {
                // Keep distinct values distinct even when cut short.
                let tag = variant.to_string();
                let keep = (max as usize).saturating_sub(tag.chars().count());
                text = format!("{}{}", truncate_chars(&text, keep), tag);
                text = truncate_chars(&text, max as usize);
            }
        }
        let min = object.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        while text.chars().count() < min {
            text.push('x');
        }
        Value::String(text)
    }
}

/// A value for a well-known string format.
fn formatted(format: &str, variant: usize) -> Option<String> {
    Some(match format {
        "uri" | "url" | "iri" | "uri-reference" | "iri-reference" => {
            if variant == 0 {
                "https://example.com/".to_owned()
            } else {
                format!("https://example.com/{variant}")
            }
        }
        "email" | "idn-email" => format!("test{variant}@example.com"),
        "date-time" => format!("2024-01-{:02}T00:00:00Z", 1 + variant % 28),
        "date" => format!("2024-01-{:02}", 1 + variant % 28),
        "time" => format!("00:00:{:02}Z", variant % 60),
        "uuid" => format!("00000000-0000-4000-8000-{:012}", variant),
        "hostname" | "idn-hostname" => format!("host{variant}.example.com"),
        "ipv4" => format!("127.0.0.{}", 1 + variant % 250),
        "ipv6" => format!("::{}", 1 + variant % 250),
        "duration" => format!("P{}D", 1 + variant),
        _ => return None,
    })
}

fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn bounds(object: &Map<String, Value>) -> (Option<f64>, bool, Option<f64>, bool) {
    let num = |k: &str| object.get(k).and_then(Value::as_f64);
    let mut lo = num("minimum");
    let mut lo_exclusive = false;
    let mut hi = num("maximum");
    let mut hi_exclusive = false;
    match object.get("exclusiveMinimum") {
        Some(Value::Bool(true)) => lo_exclusive = true,
        Some(Value::Number(n)) => {
            let n = n.as_f64().unwrap_or(0.0);
            if lo.is_none_or(|l| n >= l) {
                lo = Some(n);
                lo_exclusive = true;
            }
        }
        _ => {}
    }
    match object.get("exclusiveMaximum") {
        Some(Value::Bool(true)) => hi_exclusive = true,
        Some(Value::Number(n)) => {
            let n = n.as_f64().unwrap_or(0.0);
            if hi.is_none_or(|h| n <= h) {
                hi = Some(n);
                hi_exclusive = true;
            }
        }
        _ => {}
    }
    (lo, lo_exclusive, hi, hi_exclusive)
}

fn integer(object: &Map<String, Value>, variant: usize) -> Value {
    let (lo, lo_x, hi, hi_x) = bounds(object);
    let lo = lo.map(|l| if lo_x { l.floor() + 1.0 } else { l.ceil() });
    let hi = hi.map(|h| if hi_x { h.ceil() - 1.0 } else { h.floor() });
    let mut v = lo.unwrap_or(1.0) + variant as f64;
    if let Some(h) = hi
        && v > h
    {
        v = h;
    }
    if let Some(m) = object.get("multipleOf").and_then(Value::as_f64)
        && m > 0.0
    {
        let up = (v / m).ceil() * m;
        v = match hi {
            Some(h) if up > h => (h / m).floor() * m,
            _ => up,
        };
    }
    json!(v as i64)
}

fn number(object: &Map<String, Value>, variant: usize) -> Value {
    let (lo, lo_x, hi, hi_x) = bounds(object);
    let mut v = match (lo, hi) {
        (Some(l), Some(h)) if lo_x || hi_x => l + (h - l) / 2.0,
        (Some(l), _) if lo_x => l + 1.0,
        (Some(l), _) => l.max(1.0).min(hi.unwrap_or(f64::MAX)),
        (None, Some(h)) if hi_x => (h - 1.0).min(1.0),
        (None, Some(h)) => h.min(1.0),
        (None, None) => 1.0,
    };
    if variant > 0 {
        let step = match (lo, hi) {
            (Some(l), Some(h)) => (h - l) / (2.0 + variant as f64),
            _ => variant as f64,
        };
        let candidate = v + step;
        if hi.is_none_or(|h| candidate < h || (!hi_x && candidate <= h)) {
            v = candidate;
        }
    }
    if let Some(m) = object.get("multipleOf").and_then(Value::as_f64)
        && m > 0.0
    {
        let up = (v / m).ceil() * m;
        v = match hi {
            Some(h) if up > h || (hi_x && up >= h) => (h / m).floor() * m,
            _ => up,
        };
    }
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        Number::from_f64(v).map_or(json!(1), Value::Number)
    }
}

/// `extra`'s keywords folded into `base`: properties and required unite, the rest of
/// `base` wins when both set a keyword.
fn merge_into(base: Value, extra: &Value) -> Value {
    let (mut base, extra) = match (base, extra) {
        (Value::Object(base), Value::Object(extra)) => (base, extra),
        (base, _) => return base,
    };
    for (key, value) in extra {
        match (key.as_str(), base.get_mut(key)) {
            ("properties", Some(Value::Object(props))) => {
                if let Value::Object(more) = value {
                    for (k, v) in more {
                        props.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            ("required", Some(Value::Array(req))) => {
                if let Value::Array(more) = value {
                    for v in more {
                        if !req.contains(v) {
                            req.push(v.clone());
                        }
                    }
                }
            }
            (_, Some(_)) => {}
            (_, None) => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_valid(schema: &Value, fill: &Fill) -> Value {
        let value = instance(schema, fill);
        let validator = jsonschema::validator_for(schema).expect("schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{value} does not validate against {schema}: {errors:?}"
        );
        value
    }

    fn answer_fill() -> Fill {
        Fill {
            required_only: false,
            lead_text: Some("Tool said: Rust was started by Graydon Hoare.".into()),
            filler: "Who started Rust?".into(),
        }
    }

    #[test]
    fn tool_arguments_use_required_properties_only() {
        let schema = json!({
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "limit": {"type": "integer"},
                "ratio": {"type": "number"},
                "exact": {"type": "boolean"},
                "mode": {"enum": ["fast", "slow"]},
                "filter": {"type": "object", "properties": {"site": {"type": "string"}, "x": {"type": "string"}}, "required": ["site"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "optional": {"type": "string"}
            },
            "required": ["query", "limit", "ratio", "exact", "mode", "filter", "tags"]
        });
        let value = assert_valid(&schema, &Fill::arguments());
        assert_eq!(
            value,
            json!({"query": "test", "limit": 1, "ratio": 1, "exact": true, "mode": "fast",
                   "filter": {"site": "test"}, "tags": ["test"]})
        );
    }

    #[test]
    fn answers_carry_the_tool_text_then_the_input() {
        let schema = json!({
            "type": "object",
            "properties": {
                "answer": {"type": "string"},
                "source": {"type": "string", "format": "uri"},
                "notes": {"type": "string", "maxLength": 5},
                "confidence": {"type": "string", "enum": ["high", "medium", "low"]}
            },
            "required": ["answer", "source", "confidence"],
            "additionalProperties": false
        });
        let value = assert_valid(&schema, &answer_fill());
        assert_eq!(
            value["answer"],
            "Tool said: Rust was started by Graydon Hoare."
        );
        assert_eq!(value["source"], "https://example.com/");
        assert_eq!(value["notes"], "Who s");
        assert_eq!(value["confidence"], "high");
    }

    #[test]
    fn handles_refs_combinators_and_nullable_types() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": {
                "person": {"type": "object", "properties": {"name": {"type": ["string", "null"]},
                            "age": {"type": "integer", "minimum": 18, "maximum": 99}},
                           "required": ["name", "age"]},
                "tree": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}}
            },
            "type": "object",
            "properties": {
                "people": {"type": "array", "items": {"$ref": "#/$defs/person"}, "minItems": 2, "uniqueItems": true},
                "choice": {"anyOf": [{"type": "null"}, {"type": "integer", "exclusiveMinimum": 5, "multipleOf": 3}]},
                "one": {"oneOf": [{"type": "string", "minLength": 12}, {"type": "integer"}]},
                "both": {"allOf": [{"type": "object", "properties": {"a": {"const": 7}}, "required": ["a"]},
                                   {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]},
                "score": {"type": "number", "minimum": 0, "maximum": 1},
                "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "tree": {"$ref": "#/$defs/tree"},
                "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false},
                "map": {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 1},
                "nullable": {"type": "string", "nullable": true},
                "when": {"type": "string", "format": "date-time"}
            },
            "required": ["people", "choice", "one", "both", "score", "ratio", "tree", "pair", "map"]
        });
        let value = assert_valid(&schema, &answer_fill());
        assert_eq!(value["people"].as_array().unwrap().len(), 2);
        assert_eq!(value["choice"], 6);
        assert_eq!(value["both"]["a"], 7);
    }

    #[test]
    fn handles_draft7_definitions_and_tuple_items() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {"item": {"type": "string", "enum": ["a", "b", "c"]}},
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/definitions/item"}, "minItems": 3, "uniqueItems": true},
                "tuple": {"type": "array", "items": [{"type": "integer"}, {"type": "boolean"}], "additionalItems": false, "minItems": 2},
                "small": {"type": "integer", "maximum": -5},
                "empty": {"type": "array", "maxItems": 0}
            },
            "required": ["items", "tuple", "small", "empty"]
        });
        let value = assert_valid(&schema, &Fill::arguments());
        assert_eq!(value["items"], json!(["a", "b", "c"]));
        assert_eq!(value["small"], -5);
        assert_eq!(value["empty"], json!([]));
    }

    #[test]
    fn respects_length_bounds_and_scalar_roots() {
        for schema in [
            json!({"type": "string", "minLength": 300}),
            json!({"type": "string", "maxLength": 3}),
            json!({"type": "array", "items": {"type": "string", "maxLength": 1}, "minItems": 3, "uniqueItems": true}),
            json!({"type": "integer", "minimum": 10, "maximum": 20, "multipleOf": 7}),
            json!({"type": "number", "maximum": 0.5}),
            json!({"type": "boolean"}),
            json!({"type": "null"}),
            json!({}),
            json!(true),
            json!({"type": ["null", "object"], "properties": {"x": {"type": "string"}}}),
        ] {
            assert_valid(&schema, &answer_fill());
        }
    }

    #[test]
    fn violations_do_not_validate() {
        for schema in [
            json!({"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}),
            json!({"type": "object", "properties": {"answer": {"type": "string"}}}),
            json!({"type": "array", "items": {"type": "string"}}),
            json!({"type": "string"}),
            json!({"type": "integer"}),
            json!({"$defs": {"o": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}, "$ref": "#/$defs/o"}),
        ] {
            let bad = violation(&schema, &answer_fill());
            assert!(
                !jsonschema::is_valid(&schema, &bad),
                "{bad} should not validate against {schema}"
            );
        }
    }
}
