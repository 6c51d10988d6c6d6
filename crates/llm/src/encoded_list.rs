//! A list that only grows and keeps each item's JSON text once it is made. A run sends its
//! whole conversation with each LLM request and saves its whole trace with each checkpoint;
//! with this, only the items a turn added are encoded, and the others' text is copied.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::encoded_json::raw_json;

/// How a list's items are encoded. A list has one form, fixed by its type, so a kept text is
/// always the text its item would be encoded to now.
pub trait ItemForm<T> {
    /// An item as it is encoded.
    type Form<'a>: Serialize
    where
        T: 'a;

    fn form(item: &T) -> Self::Form<'_>;
}

/// Items encoded as they serialize themselves.
pub struct AsSerialized;

impl<T: Serialize> ItemForm<T> for AsSerialized {
    type Form<'a>
        = &'a T
    where
        T: 'a;

    fn form(item: &T) -> &T {
        item
    }
}

/// A list read as a slice of its items, which can be added to but not changed, so its texts
/// never go stale. Clones keep the texts made so far.
///
/// The texts made by the list's first encoding are not kept, only those made after: a list
/// encoded once (the conversation of a run waiting on the model's first answer) holds no
/// texts beside its items.
pub struct EncodedList<T, F> {
    items: Vec<T>,
    /// One per item, made when the item is encoded (after the list's first encoding).
    texts: Vec<OnceLock<Box<RawValue>>>,
    /// Whether the list was encoded before.
    encoded_before: AtomicBool,
    form: PhantomData<fn() -> F>,
}

impl<T, F: ItemForm<T>> EncodedList<T, F> {
    pub fn push(&mut self, item: T) {
        self.items.push(item);
        self.texts.push(OnceLock::new());
    }

    /// Puts `front` before the items (a conversation's prelude, rebuilt after a restart); the
    /// texts made of the others are kept.
    pub fn prepend(&mut self, front: Vec<T>) {
        let count = front.len();
        self.items.splice(0..0, front);
        self.texts.splice(0..0, (0..count).map(|_| OnceLock::new()));
    }

    /// The list as a JSON array of its items' texts: serializing it copies the texts kept
    /// before and encodes the other items, keeping their texts unless this is the list's first
    /// encoding (then they are written in place, with no text made). For `serde_json`
    /// serializers.
    pub fn encoded(&self) -> EncodedItems<'_, T, F> {
        EncodedItems(self)
    }

    pub fn into_items(self) -> Vec<T> {
        self.items
    }
}

/// An [`EncodedList`] serialized as its items' texts (see [`EncodedList::encoded`]).
pub struct EncodedItems<'a, T, F>(&'a EncodedList<T, F>);

impl<T, F: ItemForm<T>> Serialize for EncodedItems<'_, T, F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let list = self.0;
        let keep = list.encoded_before.swap(true, Ordering::Relaxed);
        serializer.collect_seq(list.items.iter().zip(&list.texts).map(|(item, text)| {
            match text.get() {
                Some(text) => ItemText::Kept(text),
                None if keep => ItemText::Kept(text.get_or_init(|| raw_json(&F::form(item)))),
                None => ItemText::InPlace(F::form(item)),
            }
        }))
    }
}

/// An item as it is written: its kept text, or its form encoded in place.
enum ItemText<'a, T> {
    Kept(&'a RawValue),
    InPlace(T),
}

impl<T: Serialize> Serialize for ItemText<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ItemText::Kept(text) => text.serialize(serializer),
            ItemText::InPlace(form) => form.serialize(serializer),
        }
    }
}

impl<T, F> Deref for EncodedList<T, F> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T, F> From<Vec<T>> for EncodedList<T, F> {
    fn from(items: Vec<T>) -> Self {
        let texts = items.iter().map(|_| OnceLock::new()).collect();
        EncodedList {
            items,
            texts,
            encoded_before: AtomicBool::new(false),
            form: PhantomData,
        }
    }
}

impl<T, F> Default for EncodedList<T, F> {
    fn default() -> Self {
        Self::from(Vec::new())
    }
}

impl<T, F: ItemForm<T>> Extend<T> for EncodedList<T, F> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        for item in items {
            self.push(item);
        }
    }
}

impl<'a, T, F> IntoIterator for &'a EncodedList<T, F> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<T: Clone, F> Clone for EncodedList<T, F> {
    fn clone(&self) -> Self {
        EncodedList {
            items: self.items.clone(),
            texts: self.texts.clone(),
            encoded_before: AtomicBool::new(self.encoded_before.load(Ordering::Relaxed)),
            form: PhantomData,
        }
    }
}

impl<T: PartialEq, F> PartialEq for EncodedList<T, F> {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}

impl<T: fmt::Debug, F> fmt::Debug for EncodedList<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.items.fmt(f)
    }
}

/// As the list of items, for any format ([`EncodedList::encoded`] copies the kept texts).
impl<T: Serialize, F> Serialize for EncodedList<T, F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.items.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>, F> Deserialize<'de> for EncodedList<T, F> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use serde_json::json;

    use super::*;

    thread_local! {
        static ENCODED: Cell<usize> = const { Cell::new(0) };
    }

    /// Counts the items it encodes (per thread: tests run side by side).
    struct Counted;

    impl ItemForm<String> for Counted {
        type Form<'a> = String;

        fn form(item: &String) -> String {
            ENCODED.with(|count| count.set(count.get() + 1));
            format!("<{item}>")
        }
    }

    /// Items encoded on this thread so far.
    fn encoded_count() -> usize {
        ENCODED.with(Cell::get)
    }

    fn text(list: &EncodedList<String, Counted>) -> String {
        serde_json::to_string(&list.encoded()).unwrap()
    }

    #[test]
    fn texts_are_kept_after_the_first_encoding_and_clones_keep_them() {
        let start = encoded_count();
        let encoded = || encoded_count() - start;
        let mut list: EncodedList<String, Counted> = vec!["a".to_owned(), "b".to_owned()].into();
        assert_eq!(encoded(), 0, "nothing is encoded before it is needed");
        assert_eq!(text(&list), r#"["<a>","<b>"]"#);
        assert_eq!(encoded(), 2, "the first encoding keeps nothing");
        assert_eq!(text(&list), r#"["<a>","<b>"]"#);
        assert_eq!(encoded(), 4, "encoded again, and kept");
        assert_eq!(text(&list), r#"["<a>","<b>"]"#);
        assert_eq!(encoded(), 4, "copied");
        list.push("c".to_owned());
        assert_eq!(text(&list), r#"["<a>","<b>","<c>"]"#);
        assert_eq!(text(&list), r#"["<a>","<b>","<c>"]"#);
        assert_eq!(encoded(), 5, "only the new item is encoded, once");
        let mut copy = list.clone();
        copy.extend(["d".to_owned()]);
        assert_eq!(text(&copy), r#"["<a>","<b>","<c>","<d>"]"#);
        assert_eq!(text(&copy), r#"["<a>","<b>","<c>","<d>"]"#);
        assert_eq!(encoded(), 6, "a clone keeps the texts");
        assert_eq!(
            text(&list),
            r#"["<a>","<b>","<c>"]"#,
            "the original is as it was"
        );
        assert_eq!(encoded(), 6);
    }

    #[test]
    fn prepended_items_are_encoded_in_their_place() {
        let start = encoded_count();
        let mut list: EncodedList<String, Counted> = vec!["b".to_owned()].into();
        assert_eq!(text(&list), r#"["<b>"]"#);
        assert_eq!(text(&list), r#"["<b>"]"#);
        list.prepend(vec!["x".to_owned(), "y".to_owned()]);
        assert_eq!(&list[..], ["x", "y", "b"]);
        for _ in 0..3 {
            assert_eq!(text(&list), r#"["<x>","<y>","<b>"]"#);
        }
        assert_eq!(
            encoded_count() - start,
            4,
            "the item after them kept its text"
        );
    }

    #[test]
    fn as_serialized_texts_are_serde_json_encoding() {
        let items = vec![json!({"text": "a \"quoted\" line\n", "n": 1}), json!("é ✓")];
        let list: EncodedList<serde_json::Value, AsSerialized> = items.clone().into();
        // Written in place, then encoded and kept, then copied: the same text each time.
        for _ in 0..3 {
            assert_eq!(
                serde_json::to_string(&list.encoded()).unwrap(),
                serde_json::to_string(&items).unwrap()
            );
        }
    }

    #[test]
    fn reads_serializes_and_deserializes_as_its_items() {
        let items = vec!["a".to_owned(), "b".to_owned()];
        let list: EncodedList<String, Counted> = items.clone().into();
        assert_eq!(&list[..], &items[..]);
        assert_eq!(serde_json::to_string(&list).unwrap(), r#"["a","b"]"#);
        let back: EncodedList<String, Counted> = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(back, list);
        assert_eq!(back.into_items(), items);
    }
}
