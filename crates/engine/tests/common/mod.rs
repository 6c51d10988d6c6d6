//! Shared set-up for the engine's behaviour tests: an engine on the scripted fake LLM, a recording sink.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use forage_api::{
    McpServer, OutputSchema, Processor, RunEvent, RunId, Secret, TaskRunCreate, TaskSpec,
};
use forage_engine::run_state::LoadedBatch;
use forage_engine::web_tools::WebEnv;
use forage_engine::{
    Budget, Engine, EngineOutcome, EventSink, ProcessorTable, Resume, RunJob, RunState, SavedPart,
    ToolEnv,
};
use forage_llm::{OpenAiConfig, OpenAiProvider};
use forage_mcp::Timeouts;
use forage_testkit::llm::FakeLlm;
use forage_tools::NetworkPolicy;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Records every event the engine emits, and keeps its checkpoint as a store does.
#[derive(Default)]
pub struct RecordingSink {
    pub events: Mutex<Vec<RunEvent>>,
    /// The checkpoint as stored now.
    pub checkpoint: Mutex<Option<StoredCheckpoint>>,
    /// The stored checkpoint after each save that changed it, in order.
    pub saved: Mutex<Vec<StoredCheckpoint>>,
}

/// A checkpoint as a store keeps it: the last state saved, and the batch saved after it.
#[derive(Clone, Debug)]
pub struct StoredCheckpoint {
    pub version: u64,
    pub state: Value,
    pub batch: Option<Value>,
}

impl StoredCheckpoint {
    pub fn of_state(version: u64, state: Value) -> Self {
        StoredCheckpoint {
            version,
            state,
            batch: None,
        }
    }

    /// The state a run resumed from this checkpoint carries on from.
    pub fn resumed(&self) -> RunState {
        let mut state = RunState::from_saved(self.state.clone()).expect("a run state");
        if let Some(batch) = &self.batch {
            state
                .carry_on_with(LoadedBatch::from_saved(batch.clone()).expect("a saved batch"))
                .expect("the batch of the state's turn");
        }
        state
    }

    pub fn to_resume(&self) -> Resume {
        let raw = |value: &Value| serde_json::value::to_raw_value(value).unwrap();
        Resume {
            version: self.version,
            state: raw(&self.state),
            batch: self.batch.as_ref().map(raw),
        }
    }
}

#[async_trait]
impl EventSink for RecordingSink {
    async fn emit(&self, events: Vec<RunEvent>) {
        self.events.lock().unwrap().extend(events);
    }

    /// Keeps the part as the stores do: a newer state replaces the checkpoint, a newer batch
    /// replaces its batch; an older part is ignored.
    async fn checkpoint(&self, version: u64, part: SavedPart, events: Vec<RunEvent>) {
        {
            let mut stored = self.checkpoint.lock().unwrap();
            let newer = stored.as_ref().is_none_or(|c| c.version < version);
            let changed = match part {
                SavedPart::State(state) if newer => {
                    let state = serde_json::from_str(state.get()).expect("a checkpoint is JSON");
                    *stored = Some(StoredCheckpoint::of_state(version, state));
                    true
                }
                SavedPart::Batch(batch) if newer => match stored.as_mut() {
                    Some(checkpoint) => {
                        checkpoint.version = version;
                        checkpoint.batch =
                            Some(serde_json::from_str(batch.get()).expect("a batch is JSON"));
                        true
                    }
                    None => false,
                },
                _ => false,
            };
            if changed {
                self.saved.lock().unwrap().extend(stored.clone());
            }
        }
        self.emit(events).await;
    }
}

impl RecordingSink {
    pub fn all(&self) -> Vec<RunEvent> {
        self.events.lock().unwrap().clone()
    }
}

pub struct Harness {
    pub llm: FakeLlm,
    pub engine: Engine,
}

pub struct HarnessOptions {
    pub budgets: HashMap<String, Budget>,
    pub request_timeout: Duration,
    /// Per-server timeout overrides, keyed by `host:port` or `host`.
    pub server_timeouts: HashMap<String, Timeouts>,
    /// The built-in web tools (none by default).
    pub web: WebEnv,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        HarnessOptions {
            budgets: HashMap::new(),
            request_timeout: Duration::from_secs(20),
            server_timeouts: HashMap::new(),
            web: WebEnv::default(),
        }
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Self::with(HarnessOptions::default()).await
    }

    pub async fn with(options: HarnessOptions) -> Harness {
        let llm = FakeLlm::start().await;
        let provider = OpenAiProvider::new(OpenAiConfig {
            base_url: llm.base_url.clone(),
            api_key: Some(Secret::new("llm-key-for-tests")),
            request_timeout: options.request_timeout,
            connect_timeout: Duration::from_secs(5),
            max_retries: 3,
            initial_backoff: Duration::from_millis(20),
            stream: true,
        })
        .unwrap();
        let processors =
            ProcessorTable::uniform(Arc::new(provider), "fake-model", &options.budgets);
        let network = NetworkPolicy {
            allow_private: true,
            ..Default::default()
        };
        let tools = ToolEnv {
            mcp_http: network.apply(reqwest::Client::builder()).build().unwrap(),
            network,
            mcp_timeouts: Timeouts::default(),
            mcp_server_timeouts: options.server_timeouts,
            web: options.web,
        };
        Harness {
            llm,
            engine: Engine::new(processors, tools),
        }
    }

    pub async fn run(&self, request: TaskRunCreate) -> (EngineOutcome, Arc<RecordingSink>) {
        self.run_with(request, None, CancellationToken::new()).await
    }

    pub async fn run_with(
        &self,
        request: TaskRunCreate,
        previous_transcript: Option<Value>,
        cancel: CancellationToken,
    ) -> (EngineOutcome, Arc<RecordingSink>) {
        self.resume(request, previous_transcript, None, cancel)
            .await
    }

    /// Runs `request`, resuming from `checkpoint` (version and state) when given.
    pub async fn resume(
        &self,
        request: TaskRunCreate,
        previous_transcript: Option<Value>,
        checkpoint: Option<StoredCheckpoint>,
        cancel: CancellationToken,
    ) -> (EngineOutcome, Arc<RecordingSink>) {
        let sink = Arc::new(RecordingSink::default());
        let job = RunJob {
            run_id: RunId::generate(),
            processor: request.processor.parse::<Processor>().unwrap(),
            request,
            previous_transcript,
            resume: checkpoint.as_ref().map(StoredCheckpoint::to_resume),
        };
        let outcome = self.engine.execute(job, sink.clone(), cancel).await;
        // The answering turn's events come with the outcome; a store records them with it.
        if let EngineOutcome::Completed { events, .. } = &outcome {
            sink.emit(events.clone()).await;
        }
        (outcome, sink)
    }
}

/// A request with the given input and output schema.
pub fn request(input: &str, processor: &str, output: OutputSchema) -> TaskRunCreate {
    serde_json::from_value::<TaskRunCreate>(json!({"input": input, "processor": processor}))
        .map(|mut r| {
            r.task_spec = Some(TaskSpec {
                output_schema: output,
                input_schema: None,
            });
            r
        })
        .unwrap()
}

pub fn json_schema(schema: Value) -> OutputSchema {
    OutputSchema::Json {
        json_schema: schema,
    }
}

pub fn mcp_server(name: &str, url: &str, headers: &[(&str, &str)]) -> McpServer {
    McpServer {
        server_type: "url".into(),
        name: name.into(),
        url: url.into(),
        headers: (!headers.is_empty()).then(|| {
            headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Secret::new(*v)))
                .collect()
        }),
        allowed_tools: None,
    }
}

/// Unwraps a completed outcome or shows why it is not one.
pub fn completed(
    outcome: EngineOutcome,
) -> (
    forage_api::TaskOutput,
    Vec<forage_api::Warning>,
    forage_api::TokenUsage,
) {
    match outcome {
        EngineOutcome::Completed {
            output,
            warnings,
            usage,
            ..
        } => (*output, warnings, usage),
        other => panic!("expected a completed run, got {other:?}"),
    }
}

/// The first LLM request that offered tools (processors that plan first ask for the plan with none).
pub fn first_offering_tools(requests: &[Value]) -> Value {
    requests
        .iter()
        .find(|r| r.get("tools").is_some())
        .cloned()
        .expect("a request offered tools")
}

/// A budget override for one processor (`HarnessOptions::budgets`).
pub fn budget_for(processor: &str, budget: Budget) -> HashMap<String, Budget> {
    HashMap::from([(processor.to_owned(), budget)])
}
