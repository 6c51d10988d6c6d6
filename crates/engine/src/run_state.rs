//! A run's agent state: what the engine checkpoints after each LLM turn and each tool call, and
//! what a run resumes from after a crash, so that no finished tool call is sent twice.

use forage_api::{McpToolCall, TokenUsage, Warning};
use forage_llm::{AsSerialized, ChatMessage, Conversation, EncodedItems, EncodedList, ToolCall};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::saved_texts::{self, SavedItem, SavedList};
use crate::sources::Source;

/// Everything the agent loop needs to carry on from where it stopped. Saved as [`SavedState`].
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RunState {
    /// The conversation so far (system prompt included), but for a prelude left out of the
    /// checkpoint this state was read from (see `prelude`). Saved as `messages_after_prelude`
    /// when the prelude is left out, so that a forage that does not know of preludes finds no
    /// conversation, and starts the run over rather than carry on without its task.
    #[serde(alias = "messages_after_prelude")]
    pub messages: Conversation,
    /// The conversation's first messages, which the run's request determines: the system
    /// prompt and the task. Checkpoints leave them out, since the request is stored anyway (a
    /// long input would otherwise be written again with every checkpoint), and a resumed run
    /// rebuilds them.
    #[serde(default, rename = "prelude_left_out", deserialize_with = "left_out")]
    pub prelude: Prelude,
    /// Every finished MCP tool call, in the model's order.
    pub trace: Trace,
    /// What the run read: tool outputs, pages and search results (citations are checked
    /// against them).
    #[serde(default, deserialize_with = "crate::sources::deserialize_sources")]
    pub sources: Vec<Source>,
    pub warnings: Vec<Warning>,
    pub usage: TokenUsage,
    pub tool_calls_used: u32,
    /// LLM replies handled so far.
    pub turn: u32,
    pub repairs: u32,
    pub told_to_answer: bool,
    /// Whether the run's MCP servers were discovered and announced.
    pub discovered: bool,
    /// The tool calls of the last LLM reply while they run.
    pub batch: Option<Batch>,
    /// The model's accepted final answer (the run only has to be recorded).
    pub final_answer: Option<String>,
    /// Whether the research plan was asked for (processors that plan first).
    #[serde(default)]
    pub planned: bool,
    /// Whether the model was asked to check its answer against its sources.
    #[serde(default)]
    pub self_checked: bool,
    /// The acceptable answer given before the self-check; it stands if the checked one fails.
    #[serde(default)]
    pub draft_answer: Option<String>,
    /// URLs `web_fetch` read (the page budget counts them, across a restart too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetched_pages: Vec<String>,
}

impl RunState {
    /// Reads a saved state back (as [`SavedState`] wrote it, or as an older forage did).
    pub fn from_saved(mut saved: Value) -> Result<RunState, serde_json::Error> {
        saved_texts::put_back_in_state(&mut saved)?;
        serde_json::from_value(saved)
    }

    /// The state as it is saved, with `batch` and `fetched_pages` in place of its own: while a
    /// batch's calls run, the batch and the pages fetched live outside the state.
    pub fn saved<'a>(
        &'a self,
        batch: Option<&'a Batch>,
        fetched_pages: &'a [String],
    ) -> SavedState<'a> {
        // Every field is named (no `..`), so a new field cannot be left out of checkpoints.
        let RunState {
            messages,
            prelude,
            trace,
            sources,
            warnings,
            usage,
            tool_calls_used,
            turn,
            repairs,
            told_to_answer,
            discovered,
            batch: _,
            final_answer,
            planned,
            self_checked,
            draft_answer,
            fetched_pages: _,
        } = self;
        let (messages, prelude_left_out) = match *prelude {
            Prelude::Held(count) => (messages.get(count..).unwrap_or_default(), count),
            Prelude::LeftOut(count) => (&messages[..], count),
        };
        let whole = prelude_left_out == 0;
        let messages = SavedList {
            items: messages,
            trace: &trace[..],
        };
        let (messages, messages_after_prelude) = match whole {
            true => (Some(messages), None),
            false => (None, Some(messages)),
        };
        SavedState {
            messages,
            messages_after_prelude,
            prelude_left_out,
            trace: trace.encoded(),
            sources: SavedList {
                items: sources,
                trace: &trace[..],
            },
            warnings,
            usage,
            tool_calls_used: *tool_calls_used,
            turn: *turn,
            repairs: *repairs,
            told_to_answer: *told_to_answer,
            discovered: *discovered,
            batch,
            final_answer: final_answer.as_deref(),
            planned: *planned,
            self_checked: *self_checked,
            draft_answer: draft_answer.as_deref(),
            fetched_pages,
        }
    }

    /// Whether the conversation still needs its prelude: at a run's start, or after reading a
    /// checkpoint that left it out.
    pub fn needs_prelude(&self) -> bool {
        matches!(self.prelude, Prelude::LeftOut(_)) || self.messages.is_empty()
    }

    /// Puts `prelude` in front of the conversation. `rebuilt`: whether a resumed run rebuilds
    /// the same prelude from its request, so that checkpoints may leave it out; else they keep
    /// it, like the rest of the conversation.
    pub fn begin_with(&mut self, prelude: Vec<ChatMessage>, rebuilt: bool) {
        let count = if rebuilt { prelude.len() } else { 0 };
        self.messages.prepend(prelude);
        self.prelude = Prelude::Held(count);
    }

    /// Puts a batch saved after this state (as its calls finished) in place of the state's own.
    /// A batch of another turn is not this state's (the save of its turn's state failed): it is
    /// refused, and the state stands as it is.
    pub fn carry_on_with(&mut self, saved: LoadedBatch) -> Result<(), OtherTurn> {
        if saved.turn != self.turn {
            return Err(OtherTurn {
                state: self.turn,
                batch: saved.turn,
            });
        }
        self.batch = Some(saved.batch);
        self.fetched_pages = saved.fetched_pages;
        Ok(())
    }
}

/// A run's finished MCP tool calls. Every checkpoint saves the whole trace again and copies the
/// texts of the entries an earlier one saved (the first checkpoint that saves the trace keeps
/// none; see [`EncodedList`]).
pub type Trace = EncodedList<McpToolCall, AsSerialized>;

/// Where a conversation's prelude is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prelude {
    /// The first `n` messages are the prelude.
    Held(usize),
    /// The checkpoint the state was read from left out a prelude of `n` messages; the
    /// conversation lacks it until [`RunState::begin_with`].
    LeftOut(usize),
}

impl Default for Prelude {
    /// A new conversation, or one read from a checkpoint that kept its whole conversation.
    fn default() -> Self {
        Prelude::Held(0)
    }
}

fn left_out<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Prelude, D::Error> {
    let count = usize::deserialize(deserializer)?;
    Ok(if count == 0 {
        Prelude::Held(0)
    } else {
        Prelude::LeftOut(count)
    })
}

impl Serialize for RunState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.saved(self.batch.as_ref(), &self.fetched_pages)
            .serialize(serializer)
    }
}

/// A [`RunState`] by reference, encoded straight to a checkpoint's JSON text (field for field
/// what [`RunState::from_saved`] reads back). Tool outputs the trace holds are saved once (see
/// [`crate::saved_texts`]).
#[derive(Serialize)]
pub struct SavedState<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<SavedList<'a, ChatMessage>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages_after_prelude: Option<SavedList<'a, ChatMessage>>,
    #[serde(skip_serializing_if = "is_zero")]
    prelude_left_out: usize,
    /// The texts of entries that an earlier checkpoint saved are copied.
    trace: EncodedItems<'a, McpToolCall, AsSerialized>,
    sources: SavedList<'a, Source>,
    warnings: &'a [Warning],
    usage: &'a TokenUsage,
    tool_calls_used: u32,
    turn: u32,
    repairs: u32,
    told_to_answer: bool,
    discovered: bool,
    batch: Option<&'a Batch>,
    final_answer: Option<&'a str>,
    planned: bool,
    self_checked: bool,
    draft_answer: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    fetched_pages: &'a [String],
}

/// The batch of tool calls in progress, with the pages fetched so far: what is saved as each
/// call of a batch finishes, in place of the whole state. Read back as [`LoadedBatch`].
#[derive(Serialize)]
pub struct SavedBatch<'a> {
    /// The state's turn: the batch belongs to the state saved with the same turn.
    pub turn: u32,
    pub batch: &'a Batch,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub fetched_pages: &'a [String],
}

/// A saved batch that belongs to another turn than the state it was saved over.
#[derive(Debug, thiserror::Error)]
#[error("the checkpoint's batch belongs to turn {batch}, its state to turn {state}")]
pub struct OtherTurn {
    pub state: u32,
    pub batch: u32,
}

/// A [`SavedBatch`] read back.
#[derive(Debug, Deserialize)]
pub struct LoadedBatch {
    turn: u32,
    batch: Batch,
    #[serde(default)]
    fetched_pages: Vec<String>,
}

impl LoadedBatch {
    /// Reads a [`SavedBatch`] back.
    pub fn from_saved(mut saved: Value) -> Result<LoadedBatch, serde_json::Error> {
        saved_texts::put_back_in_saved_batch(&mut saved)?;
        serde_json::from_value(saved)
    }
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// The tool calls of one LLM reply: those to make, those refused, and how far they got.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Batch {
    /// Calls to make, in the model's order.
    pub calls: Vec<ToolCall>,
    /// Calls refused because the tool-call budget is used up.
    pub refused: Vec<ToolCall>,
    /// Ids of the calls announced as started (`tool_call.started` events).
    pub started: Vec<String>,
    /// Calls that finished, in the order they finished, kept with their texts as `Trace` is:
    /// each call of a batch saves the batch again as it finishes.
    #[serde(serialize_with = "encoded_items")]
    pub finished: EncodedList<CallOutcome, AsSerialized>,
}

/// A list as its items' kept texts (see [`EncodedList::encoded`]).
fn encoded_items<T: Serialize, S: Serializer>(
    list: &EncodedList<T, AsSerialized>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    list.encoded().serialize(serializer)
}

impl Batch {
    /// The calls that have no result yet.
    pub fn unfinished(&self) -> Vec<ToolCall> {
        self.calls
            .iter()
            .filter(|call| !self.finished.iter().any(|done| done.call_id == call.id))
            .cloned()
            .collect()
    }
}

/// What one tool call produced. Saved with its reply and sources by reference to its trace entry
/// where that holds the same text (see [`crate::saved_texts`]).
#[derive(Clone, Debug, Deserialize)]
pub struct CallOutcome {
    pub call_id: String,
    /// The trace entry, when the call reached (or was meant for) an MCP server.
    pub trace: Option<McpToolCall>,
    /// The reply to the model for this call id.
    pub message: ChatMessage,
    /// What the call read (for citation checks): an MCP tool's full output, a fetched page,
    /// search results. Older checkpoints hold a tool's output as a plain string.
    #[serde(
        default,
        alias = "source_text",
        deserialize_with = "crate::run_state::deserialize_read"
    )]
    pub read: Vec<Source>,
    /// What to tell watchers when the call finishes (built-in tools, which have no trace entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Serialize for CallOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct SavedOutcome<'a> {
            call_id: &'a str,
            trace: &'a Option<McpToolCall>,
            message: SavedItem<'a, ChatMessage>,
            read: SavedList<'a, Source>,
            #[serde(skip_serializing_if = "Option::is_none")]
            note: &'a Option<String>,
        }
        let CallOutcome {
            call_id,
            trace,
            message,
            read,
            note,
        } = self;
        SavedOutcome {
            call_id,
            trace,
            message: SavedItem {
                item: message,
                trace: trace.as_slice(),
            },
            read: SavedList {
                items: read,
                trace: trace.as_slice(),
            },
            note,
        }
        .serialize(serializer)
    }
}

impl CallOutcome {
    /// Whether the tool answered: an MCP server replied (with a result or a tool error), or a
    /// built-in tool read something. A call cut short, refused or failed on the way did not.
    pub fn answered(&self) -> bool {
        self.trace
            .as_ref()
            .is_some_and(|trace| trace.content_bytes.is_some())
            || !self.read.is_empty()
    }
}

/// `read` of a call outcome: a list of sources, or (older checkpoints) one tool output or null.
pub fn deserialize_read<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Source>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Nothing(()),
        Text(String),
        #[serde(deserialize_with = "crate::sources::deserialize_sources")]
        List(Vec<Source>),
    }
    Ok(match Stored::deserialize(deserializer)? {
        Stored::Nothing(()) => Vec::new(),
        Stored::Text(text) => vec![Source::tool_output(text)],
        Stored::List(list) => list,
    })
}

#[cfg(test)]
mod tests {
    use forage_api::WarningKind;
    use serde_json::{Value, json};

    use super::*;

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "crm__lookup".into(),
            arguments: r#"{"q":"acme"}"#.into(),
        }
    }

    fn trace(id: &str) -> McpToolCall {
        McpToolCall {
            tool_call_id: id.into(),
            server_name: "crm".into(),
            tool_name: "lookup".into(),
            arguments: r#"{"q":"acme"}"#.into(),
            content: Some("ACME Corp".into()),
            error: Some(String::new()),
            started_at: None,
            duration_ms: Some(3),
            content_bytes: Some(9),
            truncated: Some(false),
        }
    }

    fn batch() -> Batch {
        Batch {
            calls: vec![call("call-2"), call("call-3")],
            refused: vec![call("call-4")],
            started: vec!["call-2".into(), "call-3".into()],
            finished: EncodedList::from(vec![CallOutcome {
                call_id: "call-3".into(),
                trace: Some(trace("call-3")),
                message: ChatMessage::tool("call-3".to_owned(), "ACME Corp".to_owned()),
                read: vec![Source::tool_output("ACME Corp".into())],
                note: Some("looked up".into()),
            }]),
        }
    }

    /// A state with no field left at its default (its prelude is the first two messages).
    fn full_state() -> RunState {
        RunState {
            messages: vec![
                ChatMessage::system("be brief".to_owned()),
                ChatMessage::user("who is acme?".to_owned()),
                ChatMessage::assistant("Looking it up.".to_owned()),
                ChatMessage::tool("call-1".to_owned(), "ACME Corp".to_owned()),
            ]
            .into(),
            prelude: Prelude::Held(2),
            trace: vec![trace("call-1")].into(),
            sources: vec![Source::tool_output("ACME Corp".into())],
            warnings: vec![Warning::new(WarningKind::Warning, "slow tool")],
            usage: TokenUsage {
                input_tokens: 10,
                output_tokens: 5,
                llm_calls: 2,
            },
            tool_calls_used: 3,
            turn: 2,
            repairs: 1,
            told_to_answer: true,
            discovered: true,
            batch: Some(batch()),
            final_answer: Some("ACME is a company".into()),
            planned: true,
            self_checked: true,
            draft_answer: Some("ACME".into()),
            fetched_pages: vec!["https://acme.example/".into()],
        }
    }

    fn json_of(value: &impl Serialize) -> Value {
        serde_json::to_value(value).unwrap()
    }

    /// Reads `text` back and puts the prelude back as a resumed run does.
    fn resumed(text: &str, prelude: &[ChatMessage]) -> RunState {
        let mut back = RunState::from_saved(serde_json::from_str(text).unwrap()).unwrap();
        assert!(back.needs_prelude());
        back.begin_with(prelude.to_vec(), true);
        back
    }

    #[test]
    fn a_saved_state_reads_back_field_for_field() {
        let state = full_state();
        let text = serde_json::to_string(&state).unwrap();
        let back = resumed(&text, &state.messages[..2]);
        assert_eq!(json_of(&back), json_of(&state));
        assert_eq!(json_of(&back.messages), json_of(&state.messages));
        assert_eq!(back.prelude, Prelude::Held(2));
        assert_eq!(back.fetched_pages, state.fetched_pages);
        assert_eq!(back.batch.unwrap().finished.len(), 1);
    }

    #[test]
    fn a_state_saved_again_after_more_calls_holds_every_call() {
        let mut state = full_state();
        let first = serde_json::to_string(&state).unwrap();
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            first,
            "kept as it was"
        );
        let mut later = trace("call-5");
        later.content = Some("a \"quoted\"\nreply, é".into());
        state.trace.push(later.clone());
        let second = serde_json::to_string(&state).unwrap();
        // The first entry's text is copied from the save that kept it; the new one is encoded.
        let saved: Value = serde_json::from_str(&second).unwrap();
        assert_eq!(saved["trace"], json_of(&vec![trace("call-1"), later]));
        let back = resumed(&second, &state.messages[..2]);
        assert_eq!(json_of(&back.trace), saved["trace"]);
        assert_ne!(first, second);
    }

    #[test]
    fn a_checkpoint_leaves_the_prelude_out() {
        let state = full_state();
        let saved = json_of(&state);
        assert_eq!(saved["prelude_left_out"], 2);
        assert_eq!(saved["messages_after_prelude"].as_array().unwrap().len(), 2);
        assert!(!saved.to_string().contains("who is acme?"));
        // A forage that does not know of preludes finds no conversation and starts over.
        assert!(saved.get("messages").is_none());
        // Saved again before the prelude is back (a resumed run's first checkpoint), it still
        // says what was left out.
        let back = RunState::from_saved(saved.clone()).unwrap();
        assert_eq!(back.prelude, Prelude::LeftOut(2));
        assert_eq!(json_of(&back), saved);
    }

    #[test]
    fn a_prelude_that_would_not_be_rebuilt_the_same_is_kept() {
        let mut state = RunState::default();
        assert!(state.needs_prelude());
        state.begin_with(full_state().messages[..2].to_vec(), false);
        let saved = json_of(&state);
        assert!(saved.get("prelude_left_out").is_none());
        assert_eq!(
            saved["messages"],
            json_of(&full_state().messages[..2].to_vec())
        );
    }

    #[test]
    fn a_checkpoint_that_kept_its_whole_conversation_reads_back_whole() {
        let mut saved = json_of(&full_state());
        let fields = saved.as_object_mut().unwrap();
        fields.remove("prelude_left_out");
        fields.remove("messages_after_prelude");
        saved["messages"] = json_of(&full_state().messages);
        let back = RunState::from_saved(saved).unwrap();
        assert_eq!(back.prelude, Prelude::Held(0));
        assert!(!back.needs_prelude());
        assert_eq!(back.messages.len(), 4);
    }

    #[test]
    fn a_state_saved_with_a_batch_in_progress_reads_back_with_that_batch() {
        let whole = full_state();
        let mut apart = whole.clone();
        let batch = apart.batch.take().unwrap();
        let pages = std::mem::take(&mut apart.fetched_pages);
        let saved = serde_json::to_string(&apart.saved(Some(&batch), &pages)).unwrap();
        let back = resumed(&saved, &whole.messages[..2]);
        assert_eq!(json_of(&back), json_of(&whole));
        assert_eq!(json_of(&back.messages), json_of(&whole.messages));
    }

    #[test]
    fn a_batch_saved_again_as_its_next_call_finishes_holds_both_calls() {
        let mut batch = batch();
        let save = |batch: &Batch| {
            let text = serde_json::to_string(&SavedBatch {
                turn: 2,
                batch,
                fetched_pages: &[],
            })
            .unwrap();
            LoadedBatch::from_saved(serde_json::from_str(&text).unwrap()).expect("read back")
        };
        // Saved twice, the first call's text is kept; the save after the next call copies it.
        for _ in 0..2 {
            assert_eq!(save(&batch).batch.finished.len(), 1);
        }
        batch.finished.push(CallOutcome {
            call_id: "call-2".into(),
            trace: Some(trace("call-2")),
            message: ChatMessage::tool("call-2".to_owned(), "ACME Corp".to_owned()),
            read: vec![Source::tool_output("ACME Corp".into())],
            note: None,
        });
        let loaded = save(&batch);
        assert_eq!(json_of(&loaded.batch), json_of(&batch));
        let ids: Vec<_> = loaded
            .batch
            .finished
            .iter()
            .map(|done| &done.call_id)
            .collect();
        assert_eq!(ids, ["call-3", "call-2"]);
    }

    #[test]
    fn a_batch_saved_over_the_state_of_its_turn_takes_the_place_of_the_states_own() {
        let mut state = full_state();
        state.batch = Some(Batch {
            calls: vec![call("call-2"), call("call-3")],
            started: vec!["call-2".into(), "call-3".into()],
            ..Batch::default()
        });
        let fetched = vec!["https://acme.example/about".to_owned()];
        let saved = serde_json::to_string(&SavedBatch {
            turn: state.turn,
            batch: &batch(),
            fetched_pages: &fetched,
        })
        .unwrap();
        let loaded =
            LoadedBatch::from_saved(serde_json::from_str(&saved).unwrap()).expect("read back");
        state.carry_on_with(loaded).expect("the same turn");
        assert_eq!(json_of(&state.batch), json_of(&Some(batch())));
        assert_eq!(state.fetched_pages, fetched);

        // A batch of another turn (its turn's state was not saved) leaves the state as it is.
        let before = json_of(&state);
        let other = serde_json::to_string(&SavedBatch {
            turn: state.turn + 1,
            batch: &Batch::default(),
            fetched_pages: &[],
        })
        .unwrap();
        let refused = state
            .carry_on_with(
                LoadedBatch::from_saved(serde_json::from_str(&other).unwrap()).expect("read back"),
            )
            .expect_err("another turn");
        assert_eq!((refused.state, refused.batch), (2, 3));
        assert_eq!(json_of(&state), before);
    }

    /// A state whose one tool call answered `output`, shown to the model as `shown`, with a
    /// batch in progress whose finished call answered the same.
    fn state_with_output(output: &str, shown: &str) -> RunState {
        let mut traced = trace("call-1");
        traced.content = Some(shown.to_owned());
        let mut state = full_state();
        let mut messages = std::mem::take(&mut state.messages).into_items();
        messages[3] = ChatMessage::tool("call-1".to_owned(), shown.to_owned());
        state.messages = messages.into();
        state.trace = vec![traced.clone()].into();
        state.sources = vec![
            Source {
                url: Some("https://acme.example/".into()),
                title: None,
                text: "a page".into(),
            },
            Source::tool_output(output.to_owned()),
        ];
        traced.tool_call_id = "call-3".into();
        state.batch = Some(Batch {
            finished: EncodedList::from(vec![CallOutcome {
                call_id: "call-3".into(),
                trace: Some(traced),
                message: ChatMessage::tool("call-3".to_owned(), shown.to_owned()),
                read: vec![Source::tool_output(output.to_owned())],
                note: None,
            }]),
            ..batch()
        });
        state
    }

    #[test]
    fn a_tool_output_is_saved_once_beside_its_trace_entry() {
        let output = "ACME Corp makes anvils. ".repeat(40);
        let state = state_with_output(&output, &output);
        let text = serde_json::to_string(&state).unwrap();
        // Once in the state's trace, once in the finished call's trace entry.
        assert_eq!(text.matches(&output).count(), 2, "{text}");
        let back = resumed(&text, &state.messages[..2]);
        assert_eq!(json_of(&back), json_of(&state));
        assert_eq!(back.messages, state.messages);
        assert_eq!(back.sources, state.sources);
        let finished = &back.batch.unwrap().finished[0];
        assert_eq!(
            finished.message,
            state.batch.as_ref().unwrap().finished[0].message
        );
        assert_eq!(
            finished.read,
            state.batch.as_ref().unwrap().finished[0].read
        );

        // A forage that does not know of these references cannot read the state, and starts
        // the run over rather than carry on without the outputs.
        assert!(serde_json::from_str::<RunState>(&text).is_err());
    }

    #[test]
    fn an_output_cut_for_the_model_keeps_its_full_text_in_the_sources() {
        let output = "ACME Corp makes anvils. ".repeat(40);
        let shown = format!("{}\n[output truncated]", &output[..100]);
        let state = state_with_output(&output, &shown);
        let text = serde_json::to_string(&state).unwrap();
        // The full output is saved with the sources (state and batch), the cut one with the trace.
        assert_eq!(text.matches(&output).count(), 2, "{text}");
        assert_eq!(text.matches("[output truncated]").count(), 2, "{text}");
        let back = resumed(&text, &state.messages[..2]);
        assert_eq!(back.messages, state.messages);
        assert_eq!(back.sources, state.sources);
    }

    #[test]
    fn a_reference_to_an_output_the_checkpoint_lacks_makes_it_unreadable() {
        let mut saved = json_of(&state_with_output("ACME", "ACME"));
        saved["trace"] = json!([]);
        let err = RunState::from_saved(saved).expect_err("no trace entry to refer to");
        assert!(err.to_string().contains("trace entry 0"), "{err}");
    }
}
