//! The tools offered to the model with a request. A run offers the same tools on every turn, so
//! each wire format's encoding of them is made on the first request and copied into the later
//! ones instead of escaping every name and description again.

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::ToolSpec;
use crate::encoded_json::raw_json;

/// The wire formats that send tools as JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ToolWire {
    OpenAi = 0,
    Anthropic = 1,
}

/// A list of tools, read as a slice of [`ToolSpec`]. It cannot be changed once made, so its
/// encodings never go stale; clones keep the encodings made so far.
#[derive(Clone, Default)]
pub struct ToolList {
    specs: Vec<ToolSpec>,
    /// Indexed by [`ToolWire`].
    encodings: [OnceLock<Box<RawValue>>; 2],
}

impl ToolList {
    /// The tools as `wire` sends them: on the first call for that wire, the JSON array of
    /// `tool`'s form of each spec; the same text after.
    pub(crate) fn encoded<'a, T: Serialize>(
        &'a self,
        wire: ToolWire,
        tool: impl Fn(&'a ToolSpec) -> T,
    ) -> &'a RawValue {
        self.encodings[wire as usize]
            .get_or_init(|| raw_json(&self.specs.iter().map(tool).collect::<Vec<_>>()))
    }
}

impl Deref for ToolList {
    type Target = [ToolSpec];

    fn deref(&self) -> &[ToolSpec] {
        &self.specs
    }
}

impl From<Vec<ToolSpec>> for ToolList {
    fn from(specs: Vec<ToolSpec>) -> Self {
        ToolList {
            specs,
            encodings: Default::default(),
        }
    }
}

impl<'a> IntoIterator for &'a ToolList {
    type Item = &'a ToolSpec;
    type IntoIter = std::slice::Iter<'a, ToolSpec>;

    fn into_iter(self) -> Self::IntoIter {
        self.specs.iter()
    }
}

impl PartialEq for ToolList {
    fn eq(&self, other: &Self) -> bool {
        self.specs == other.specs
    }
}

impl fmt::Debug for ToolList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.specs.fmt(f)
    }
}

/// As the list of specs.
impl Serialize for ToolList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.specs.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ToolList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<ToolSpec>::deserialize(deserializer).map(ToolList::from)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use serde_json::json;

    use super::*;

    fn spec(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: format!("the \"{name}\" tool"),
            parameters: json!({"type": "object"}).into(),
        }
    }

    #[test]
    fn each_wire_encodes_once_and_clones_keep_the_encoding() {
        let tools: ToolList = vec![spec("a"), spec("b")].into();
        let encoded = Cell::new(0);
        let name = |spec: &ToolSpec| {
            encoded.set(encoded.get() + 1);
            spec.name.clone()
        };
        assert_eq!(tools.encoded(ToolWire::OpenAi, name).get(), r#"["a","b"]"#);
        assert_eq!(tools.encoded(ToolWire::OpenAi, name).get(), r#"["a","b"]"#);
        assert_eq!(encoded.get(), 2, "each tool encoded once");
        let copy = tools.clone();
        assert_eq!(copy.encoded(ToolWire::OpenAi, name).get(), r#"["a","b"]"#);
        assert_eq!(encoded.get(), 2);
        // Another wire has its own encoding.
        assert_eq!(
            copy.encoded(ToolWire::Anthropic, name).get(),
            r#"["a","b"]"#
        );
        assert_eq!(encoded.get(), 4);
    }

    #[test]
    fn reads_and_serializes_as_its_specs() {
        let specs = vec![spec("a"), spec("b")];
        let tools: ToolList = specs.clone().into();
        assert_eq!(&tools[..], &specs[..]);
        assert_eq!(
            serde_json::to_value(&tools).unwrap(),
            serde_json::to_value(&specs).unwrap()
        );
        let back: ToolList = serde_json::from_value(serde_json::to_value(&specs).unwrap()).unwrap();
        assert_eq!(back, tools);
        assert_eq!(&back[..], &specs[..]);
    }
}
