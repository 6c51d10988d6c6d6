//! Checkpoints hold each tool output once: a tool reply or a source whose text a trace entry of
//! the same checkpoint holds is saved as that entry's index (`content_of_trace`), and the text
//! is put back when the checkpoint is read. Without this, an output would be written three
//! times: in the conversation, in the trace and in the sources.
//!
//! A forage that does not know of these references cannot read such a checkpoint (a tool
//! reply lacks its `content`), so it starts the run over rather than carry on without them.

use std::cell::Cell;

use forage_api::McpToolCall;
use forage_llm::ChatMessage;
use serde::de::Error as _;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::sources::Source;

/// The field that names the trace entry holding a saved text.
const CONTENT_OF_TRACE: &str = "content_of_trace";

/// Finds the trace entry that holds a text, looking first after the last one found (tool
/// replies and their sources come in the order of the trace).
struct TraceTexts<'a> {
    trace: &'a [McpToolCall],
    next: Cell<usize>,
}

impl<'a> TraceTexts<'a> {
    fn new(trace: &'a [McpToolCall]) -> Self {
        TraceTexts {
            trace,
            next: Cell::new(0),
        }
    }

    fn find(&self, text: &str) -> Option<usize> {
        let start = self.next.get().min(self.trace.len());
        let found = (start..self.trace.len())
            .chain(0..start)
            .find(|&index| self.trace[index].content.as_deref() == Some(text))?;
        self.next.set(found + 1);
        Some(found)
    }
}

/// Something a checkpoint may save by reference to the trace entry that holds its text.
pub trait HeldInTrace: Serialize {
    /// The text a trace entry may hold for this item; `None`: it is always saved whole.
    fn text(&self) -> Option<&str>;
    /// The item saved as a reference to trace entry `content_of_trace`.
    fn save_as_reference<S: Serializer>(
        &self,
        content_of_trace: usize,
        serializer: S,
    ) -> Result<S::Ok, S::Error>;
}

impl HeldInTrace for ChatMessage {
    /// A tool reply's content.
    fn text(&self) -> Option<&str> {
        match self {
            ChatMessage::Tool { content, .. } => Some(content),
            _ => None,
        }
    }

    /// `{role, tool_call_id, content_of_trace}`.
    fn save_as_reference<S: Serializer>(
        &self,
        content_of_trace: usize,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct ToolReplyInTrace<'a> {
            role: &'static str,
            tool_call_id: &'a str,
            content_of_trace: usize,
        }
        let tool_call_id = match self {
            ChatMessage::Tool { tool_call_id, .. } => tool_call_id,
            _ => return self.serialize(serializer),
        };
        ToolReplyInTrace {
            role: "tool",
            tool_call_id,
            content_of_trace,
        }
        .serialize(serializer)
    }
}

impl HeldInTrace for Source {
    /// A tool's output (no URL, no title).
    fn text(&self) -> Option<&str> {
        (self.url.is_none() && self.title.is_none()).then_some(self.text.as_str())
    }

    /// `{content_of_trace}`.
    fn save_as_reference<S: Serializer>(
        &self,
        content_of_trace: usize,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct SourceInTrace {
            content_of_trace: usize,
        }
        SourceInTrace { content_of_trace }.serialize(serializer)
    }
}

impl TraceTexts<'_> {
    /// Saves `item` by reference when a trace entry holds its text, else whole.
    fn save<T: HeldInTrace, S: Serializer>(
        &self,
        item: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match item.text().and_then(|text| self.find(text)) {
            Some(index) => item.save_as_reference(index, serializer),
            None => item.serialize(serializer),
        }
    }
}

/// A list (conversation, sources) as a checkpoint saves it, beside `trace`.
pub struct SavedList<'a, T> {
    pub items: &'a [T],
    pub trace: &'a [McpToolCall],
}

impl<T: HeldInTrace> Serialize for SavedList<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let texts = TraceTexts::new(self.trace);
        serializer.collect_seq(self.items.iter().map(|item| WithTexts {
            item,
            texts: &texts,
        }))
    }
}

/// One item as a checkpoint saves it, beside `trace`.
pub struct SavedItem<'a, T> {
    pub item: &'a T,
    pub trace: &'a [McpToolCall],
}

impl<T: HeldInTrace> Serialize for SavedItem<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TraceTexts::new(self.trace).save(self.item, serializer)
    }
}

/// An item of a saved list, with the texts of the trace it may refer to.
struct WithTexts<'t, 'a, T> {
    item: &'a T,
    texts: &'t TraceTexts<'a>,
}

impl<T: HeldInTrace> Serialize for WithTexts<'_, '_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.texts.save(self.item, serializer)
    }
}

/// Puts back the texts a saved state holds by reference: in its conversation, its sources and
/// its batch's finished calls.
pub fn put_back_in_state(state: &mut Value) -> Result<(), serde_json::Error> {
    let Some(state) = state.as_object_mut() else {
        return Ok(());
    };
    // Taken out while the texts it holds are copied into the rest of the state.
    let trace = state.remove("trace");
    let put_back = |state: &mut Map<String, Value>| {
        let texts = texts_of(trace.as_ref().and_then(Value::as_array).map(Vec::as_slice));
        for key in ["messages", "messages_after_prelude"] {
            for message in items(state, key) {
                put_back_message(message, &texts)?;
            }
        }
        for source in items(state, "sources") {
            put_back_source(source, &texts)?;
        }
        match state.get_mut("batch").and_then(Value::as_object_mut) {
            Some(batch) => put_back_in_batch(batch),
            None => Ok(()),
        }
    };
    let done = put_back(state);
    if let Some(trace) = trace {
        state.insert("trace".into(), trace);
    }
    done
}

/// Puts back the texts a saved batch (`{"turn", "batch", "fetched_pages"}`) holds by
/// reference.
pub fn put_back_in_saved_batch(saved: &mut Value) -> Result<(), serde_json::Error> {
    match saved.get_mut("batch").and_then(Value::as_object_mut) {
        Some(batch) => put_back_in_batch(batch),
        None => Ok(()),
    }
}

/// Each finished call's reply and sources refer to the call's own trace entry (index 0).
fn put_back_in_batch(batch: &mut Map<String, Value>) -> Result<(), serde_json::Error> {
    for outcome in items(batch, "finished") {
        let Some(outcome) = outcome.as_object_mut() else {
            continue;
        };
        let Some(trace) = outcome.remove("trace") else {
            continue;
        };
        let texts = texts_of(Some(std::slice::from_ref(&trace)));
        if let Some(message) = outcome.get_mut("message") {
            put_back_message(message, &texts)?;
        }
        for source in items(outcome, "read") {
            put_back_source(source, &texts)?;
        }
        outcome.insert("trace".into(), trace);
    }
    Ok(())
}

/// The `content` of each trace entry, by index.
fn texts_of(trace: Option<&[Value]>) -> Vec<Option<&str>> {
    trace
        .unwrap_or_default()
        .iter()
        .map(|entry| entry.get("content").and_then(Value::as_str))
        .collect()
}

/// The elements of the list at `key` (none if there is no list).
fn items<'a>(object: &'a mut Map<String, Value>, key: &str) -> &'a mut [Value] {
    object
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .map(Vec::as_mut_slice)
        .unwrap_or_default()
}

/// The text a reference names, or an error saying the checkpoint does not hold it.
fn referred(reference: &Value, texts: &[Option<&str>]) -> Result<String, serde_json::Error> {
    let text = reference
        .as_u64()
        .and_then(|index| texts.get(usize::try_from(index).ok()?).copied().flatten());
    text.map(str::to_owned).ok_or_else(|| {
        serde_json::Error::custom(format!(
            "the checkpoint refers to the output of trace entry {reference}, which it does not hold"
        ))
    })
}

fn put_back_message(message: &mut Value, texts: &[Option<&str>]) -> Result<(), serde_json::Error> {
    let Some(message) = message.as_object_mut() else {
        return Ok(());
    };
    if let Some(reference) = message.remove(CONTENT_OF_TRACE) {
        let text = referred(&reference, texts)?;
        message.insert("content".into(), Value::String(text));
    }
    Ok(())
}

/// A source held by reference becomes the plain text of a tool output.
fn put_back_source(source: &mut Value, texts: &[Option<&str>]) -> Result<(), serde_json::Error> {
    if let Some(reference) = source.get(CONTENT_OF_TRACE) {
        *source = Value::String(referred(reference, texts)?);
    }
    Ok(())
}
