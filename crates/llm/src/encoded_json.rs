//! A JSON document encoded once and sent many times: a run's tool schemas and answer schema go
//! out with each of its LLM requests, which copy their text instead of encoding the tree again.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON value and its encoded text, made together and never changed; clones share both.
/// It reads as the value (`Deref`); the wire encoders send [`EncodedJson::encoded`].
#[derive(Clone)]
pub struct EncodedJson(Arc<Encoded>);

struct Encoded {
    value: Value,
    text: Box<RawValue>,
}

impl EncodedJson {
    pub fn new(value: Value) -> Self {
        let text = raw_json(&value);
        EncodedJson(Arc::new(Encoded { value, text }))
    }

    pub fn value(&self) -> &Value {
        &self.0.value
    }

    /// The compact JSON text of the value, as `serde_json` writes it.
    pub fn encoded(&self) -> &RawValue {
        &self.0.text
    }
}

/// `value` encoded as compact JSON text. Encoding plain data with text keys into memory
/// cannot fail; were it to, the document would go out as `null`, which the provider refuses
/// with a clear error.
pub(crate) fn raw_json<T: Serialize + ?Sized>(value: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|err| {
        tracing::error!(error = %err, "could not encode a JSON document");
        RawValue::NULL.to_owned()
    })
}

impl Deref for EncodedJson {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0.value
    }
}

impl From<Value> for EncodedJson {
    fn from(value: Value) -> Self {
        EncodedJson::new(value)
    }
}

impl PartialEq for EncodedJson {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.value == other.0.value
    }
}

impl fmt::Debug for EncodedJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.value.fmt(f)
    }
}

/// As the value, for any format (the wire encoders copy the text instead).
impl Serialize for EncodedJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EncodedJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(EncodedJson::new)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_text_is_the_value_encoded() {
        let value = json!({"type": "object", "properties": {"q": {"type": "string", "description": "a \"quoted\" é"}}});
        let doc = EncodedJson::new(value.clone());
        assert_eq!(doc.encoded().get(), serde_json::to_string(&value).unwrap());
        assert_eq!(*doc, value);
        assert_eq!(doc.value()["properties"]["q"]["type"], "string");
    }

    #[test]
    fn it_serializes_and_reads_back_as_its_value() {
        let doc = EncodedJson::from(json!({"a": [1, 2, {"b": null}]}));
        let text = serde_json::to_string(&doc).unwrap();
        assert_eq!(text, r#"{"a":[1,2,{"b":null}]}"#);
        let back: EncodedJson = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
        assert_eq!(back.encoded().get(), doc.encoded().get());
    }
}
