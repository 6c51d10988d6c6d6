//! The agent loop of one run: discover tools, then LLM turns and tool calls until a valid
//! answer, within the processor's budget; every step reported to the event sink.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use forage_api::{
    McpToolCall, OutputSchema, Processor, ProgressKind, RunEvent, RunId, TaskOutput, TaskRunCreate,
    TokenUsage, Warning, WarningKind,
};
use forage_llm::{ChatMessage, ChatRequest, ResponseFormat, ToolList};
use forage_mcp::Timeouts;
use forage_tools::NetworkPolicy;
use serde_json::value::RawValue;
use tokio::time::Instant as TokioInstant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info_span};

use std::sync::Mutex;

use crate::budget::{ProcessorProfile, ProcessorTable};
use crate::checkpoint::{self, Checkpointer};
use crate::envelope::{Answer, AnswerSpec};
use crate::events::{EventSink, SavedPart};
use crate::prompt;
use crate::run_state::{Batch, CallOutcome, LoadedBatch, RunState, SavedBatch};
use crate::sources::ReadSources;
use crate::text::first_chars;
use crate::tool_calls::{CallObserver, RunTools, refused, run_calls, started_events};
use crate::toolbox::Toolbox;
use crate::web_tools::{RunWeb, WebEnv};

/// What the engine needs to reach tools.
#[derive(Clone)]
pub struct ToolEnv {
    /// HTTP client for MCP servers, built with the network guard (`NetworkPolicy::apply`).
    pub mcp_http: reqwest::Client,
    /// Checks MCP URLs whose host is an IP literal.
    pub network: NetworkPolicy,
    /// Timeouts for every MCP server, unless overridden below.
    pub mcp_timeouts: Timeouts,
    /// Timeouts for particular servers, keyed by `host` or `host:port` of their URL.
    pub mcp_server_timeouts: HashMap<String, Timeouts>,
    /// The built-in web tools (search and fetch), where configured.
    pub web: WebEnv,
}

impl ToolEnv {
    /// The timeouts that apply to an MCP server at `url`: `host:port`, then `host`, then the default.
    pub fn timeouts_for(&self, url: &url::Url) -> Timeouts {
        let host = url.host_str().unwrap_or_default();
        let with_port = url
            .port_or_known_default()
            .map(|port| format!("{host}:{port}"));
        with_port
            .and_then(|key| self.mcp_server_timeouts.get(&key))
            .or_else(|| self.mcp_server_timeouts.get(host))
            .copied()
            .unwrap_or(self.mcp_timeouts)
    }
}

/// One run to execute.
#[derive(Clone, Debug)]
pub struct RunJob {
    pub run_id: RunId,
    pub processor: Processor,
    /// The request, MCP header values in clear.
    pub request: TaskRunCreate,
    /// The conversation of the interaction this run continues.
    pub previous_transcript: Option<serde_json::Value>,
    /// Where an earlier attempt of this run got to: its last checkpoint.
    pub resume: Option<Resume>,
}

/// The last checkpoint of an earlier attempt of a run, as its [`SavedPart`]s left it.
#[derive(Clone, Debug)]
pub struct Resume {
    pub version: u64,
    /// The last state saved (JSON text).
    pub state: Box<RawValue>,
    /// The batch of tool calls saved after the state, if any (JSON text).
    pub batch: Option<Box<RawValue>>,
}

/// How a run ended.
#[derive(Clone, Debug)]
pub enum EngineOutcome {
    Completed {
        /// Boxed: the answer is large beside the other outcomes.
        output: Box<TaskOutput>,
        warnings: Vec<Warning>,
        usage: TokenUsage,
        transcript: serde_json::Value,
        /// The answering turn's events: recorded by the caller with the outcome, in the same
        /// step, before the final status (no checkpoint is saved between answer and end).
        events: Vec<RunEvent>,
    },
    Failed {
        message: String,
        warnings: Vec<Warning>,
        usage: TokenUsage,
    },
    Cancelled {
        warnings: Vec<Warning>,
        usage: TokenUsage,
    },
}

/// Runs tasks. Cheap to share; holds no per-run state.
pub struct Engine {
    processors: ProcessorTable,
    tools: ToolEnv,
}

/// Why the loop stopped without an answer.
enum Stop {
    Failed(String),
    Cancelled,
}

impl Engine {
    pub fn new(processors: ProcessorTable, tools: ToolEnv) -> Engine {
        Engine { processors, tools }
    }

    /// Executes a run to its end. Never panics on bad model or tool behaviour: every
    /// problem becomes a failed outcome that says what went wrong.
    pub fn execute(
        &self,
        job: RunJob,
        sink: Arc<dyn EventSink>,
        cancel: CancellationToken,
    ) -> impl Future<Output = EngineOutcome> + Send + '_ {
        let span = info_span!("run", run_id = %job.run_id, processor = %job.processor);
        // Boxed: the run's future holds one pointer to the job at each step, not a copy.
        self.execute_inner(Box::new(job), sink, cancel)
            .instrument(span)
    }

    async fn execute_inner(
        &self,
        job: Box<RunJob>,
        sink: Arc<dyn EventSink>,
        cancel: CancellationToken,
    ) -> EngineOutcome {
        let profile = self.processors.get(job.processor).clone();
        let deadline = TokioInstant::now() + profile.budget.deadline();
        let task_spec = job.request.task_spec.clone().unwrap_or_default();
        let answer_spec = match AnswerSpec::new(&task_spec.output_schema) {
            Ok(spec) => spec,
            Err(e) => {
                return EngineOutcome::Failed {
                    message: format!("the output schema cannot be used: {e}"),
                    warnings: Vec::new(),
                    usage: TokenUsage::default(),
                };
            }
        };
        let (mut state, checkpoints) = match resumed_state(&job) {
            Some((version, state)) => {
                let checkpoints = Checkpointer::new(&*sink, version);
                checkpoints
                    .save(
                        &state,
                        vec![RunEvent::Progress {
                            progress: ProgressKind::ExecStatus,
                            message: format!(
                                "Resuming after a restart: {} LLM turn(s) and {} tool call(s) already done",
                                state.turn,
                                state.trace.len()
                            ),
                        }],
                    )
                    .await;
                (state, checkpoints)
            }
            None => {
                // A fresh state needs no checkpoint: a run resumed without one starts over. Its
                // checkpoints count on from a stored one it could not read, which they replace
                // (counted from 0, the store would refuse them all as older).
                sink.emit(vec![RunEvent::Progress {
                    progress: ProgressKind::ExecStatus,
                    message: format!("Starting research with processor {}", job.processor),
                }])
                .await;
                let stored = job.resume.as_ref().map_or(0, |resume| resume.version);
                (RunState::default(), Checkpointer::new(&*sink, stored))
            }
        };

        let web = RunWeb::new(
            &self.tools.web,
            job.request.source_policy.as_ref(),
            profile.budget.max_fetched_pages,
        );
        web.remember_fetched(&state.fetched_pages);
        let web_tools = web.specs().len();
        if job.request.source_policy.is_some()
            && web.is_empty()
            && state.turn == 0
            && !state.discovered
        {
            state.warnings.push(Warning::new(
                WarningKind::Warning,
                "source_policy has no effect: web search and fetch are not configured on this server",
            ));
        }
        let servers = job.request.mcp_servers.clone().unwrap_or_default();
        let toolbox = if servers.is_empty() {
            Toolbox::default()
        } else {
            let (toolbox, warnings) = tokio::select! {
                found = Toolbox::discover(&servers, &self.tools) => found,
                () = cancel.cancelled() => return EngineOutcome::Cancelled { warnings: state.warnings, usage: state.usage },
            };
            if !state.discovered {
                let mut events: Vec<RunEvent> = warnings
                    .iter()
                    .map(|w| RunEvent::Warning { warning: w.clone() })
                    .collect();
                events.push(RunEvent::Progress {
                    progress: ProgressKind::Plan,
                    message: format!(
                        "Found {} tools on {} of {} MCP servers",
                        toolbox.len(),
                        toolbox.server_count(),
                        servers.len()
                    ),
                });
                state.warnings.extend(warnings);
                state.discovered = true;
                let prelude = initial_messages(&job, &task_spec, toolbox.len() + web_tools);
                state.begin_with(prelude, prelude_is_rebuilt(&job));
                checkpoints.save(&state, events).await;
            }
            toolbox
        };
        // A fresh run, or one resumed from a checkpoint that left the prelude out.
        if state.needs_prelude() {
            let prelude = initial_messages(&job, &task_spec, toolbox.len() + web_tools);
            state.begin_with(prelude, prelude_is_rebuilt(&job));
            state.discovered = true;
        }

        let tools = RunTools {
            toolbox: &toolbox,
            web: &web,
        };
        let mut closing_events = Vec::new();
        let result = self
            .agent_loop(
                &profile,
                &answer_spec,
                tools,
                &mut state,
                &checkpoints,
                deadline,
                &cancel,
                &mut closing_events,
            )
            .await;
        toolbox.close().await;

        match result {
            Ok(answer) => {
                if answer.dropped_citations > 0 || answer.dropped_excerpts > 0 {
                    state.warnings.push(Warning::new(
                        WarningKind::Warning,
                        format!(
                            "Citations checked against what the run read: {} citation(s) dropped (their page was not read, or none of their excerpts is in it) and {} excerpt(s) dropped (not found in the page); the fields concerned are marked less confident",
                            answer.dropped_citations, answer.dropped_excerpts
                        ),
                    ));
                }
                let output =
                    build_output(&task_spec.output_schema, answer, state.trace.into_items());
                let transcript = serde_json::to_value(
                    state
                        .messages
                        .iter()
                        .filter(|m| !matches!(m, ChatMessage::System { .. }))
                        .collect::<Vec<_>>(),
                )
                .unwrap_or_default();
                EngineOutcome::Completed {
                    output: Box::new(output),
                    warnings: state.warnings,
                    usage: state.usage,
                    transcript,
                    events: closing_events,
                }
            }
            Err(Stop::Cancelled) => EngineOutcome::Cancelled {
                warnings: state.warnings,
                usage: state.usage,
            },
            Err(Stop::Failed(message)) => EngineOutcome::Failed {
                message,
                warnings: state.warnings,
                usage: state.usage,
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn agent_loop(
        &self,
        profile: &ProcessorProfile,
        answer_spec: &AnswerSpec,
        tools: RunTools<'_>,
        state: &mut RunState,
        checkpoints: &Checkpointer<'_>,
        deadline: TokioInstant,
        cancel: &CancellationToken,
        closing_events: &mut Vec<RunEvent>,
    ) -> Result<Answer, Stop> {
        let budget = &profile.budget;
        let mut response_format = Some(ResponseFormat {
            name: "forage_answer".into(),
            schema: answer_spec.envelope_schema(),
        });
        let has_tools = !tools.toolbox.is_empty() || !tools.web.is_empty();
        // The tools offered to the model, built once per run and lent to each request (which
        // encodes them on the first and copies that text after).
        let mut offered: ToolList = if has_tools {
            let mut specs = tools.toolbox.specs();
            specs.extend(tools.web.specs());
            specs.into()
        } else {
            ToolList::default()
        };
        let answer_by = deadline - budget.answer_reserve();
        let max_turns = budget.max_turns.max(1);
        // One more turn for the self-check, when the processor makes one.
        let turn_limit = max_turns + budget.max_repairs + u32::from(budget.self_check);
        while state.turn < turn_limit {
            // An answer accepted just before a restart stands.
            if let Some(content) = &state.final_answer {
                return answer_spec
                    .accept(content, &ReadSources::new(&state.sources))
                    .map_err(|problem| {
                        Stop::Failed(format!("the saved answer is not acceptable: {problem}"))
                    });
            }
            // A batch of tool calls interrupted by a restart is finished first.
            if state.batch.is_some() {
                self.finish_batch(tools, budget, state, checkpoints, cancel)
                    .await;
                if cancel.is_cancelled() {
                    return Err(Stop::Cancelled);
                }
                continue;
            }
            if has_tools && budget.plan_first && !state.planned {
                self.plan(profile, state, checkpoints, deadline, cancel)
                    .await?;
                continue;
            }
            let turn = state.turn;
            if has_tools
                && !state.told_to_answer
                && let Some(end) = research_end(state, budget, max_turns, answer_by)
            {
                state.messages.push(ChatMessage::user(prompt::ANSWER_NOW));
                state.told_to_answer = true;
                if end.cut_short {
                    state.warnings.push(Warning::new(
                        WarningKind::Warning,
                        format!(
                            "The run stopped researching because {}; the answer uses what it had found by then",
                            end.why
                        ),
                    ));
                }
            }
            let offer_tools = has_tools && !state.told_to_answer;
            // The conversation, the tools and the answer's schema are lent to the request, not
            // copied: a run in flight holds one of each while the model answers.
            let request = ChatRequest {
                model: profile.model.clone(),
                messages: std::mem::take(&mut state.messages),
                tools: if offer_tools {
                    std::mem::take(&mut offered)
                } else {
                    ToolList::default()
                },
                response_format: response_format.take(),
                max_output_tokens: Some(budget.max_output_tokens),
                temperature: None,
            };
            let clock = Instant::now();
            let reply = self.ask(profile, &request, deadline, cancel).await;
            state.messages = request.messages;
            response_format = request.response_format;
            if offer_tools {
                offered = request.tools;
            }
            let reply = reply?;
            state.usage.input_tokens += reply.usage.input_tokens;
            state.usage.output_tokens += reply.usage.output_tokens;
            state.usage.llm_calls += 1;
            let turn_event = RunEvent::LlmTurn {
                turn: turn + 1,
                input_tokens: reply.usage.input_tokens,
                output_tokens: reply.usage.output_tokens,
                duration_ms: clock.elapsed().as_millis() as u64,
                tool_calls: reply.tool_calls.len() as u32,
            };

            if !reply.tool_calls.is_empty() {
                state.messages.push(ChatMessage::Assistant {
                    content: reply.content.clone(),
                    tool_calls: reply.tool_calls.clone(),
                });
                let allowed = if offer_tools {
                    (budget.max_tool_calls.saturating_sub(state.tool_calls_used)) as usize
                } else {
                    0
                };
                let (run_now, over_budget) = reply
                    .tool_calls
                    .split_at(allowed.min(reply.tool_calls.len()));
                if !over_budget.is_empty() {
                    state.warnings.push(Warning::new(
                        WarningKind::Warning,
                        format!(
                            "{} tool call(s) not made: the processor's budget allows {} per run",
                            over_budget.len(),
                            budget.max_tool_calls
                        ),
                    ));
                }
                state.tool_calls_used += run_now.len() as u32;
                // The reply and the announcement of its calls are saved in one checkpoint.
                let mut events = vec![turn_event];
                events.extend(run_now.iter().flat_map(|call| started_events(call, tools)));
                state.batch = Some(Batch {
                    calls: run_now.to_vec(),
                    refused: over_budget.to_vec(),
                    started: run_now.iter().map(|call| call.id.clone()).collect(),
                    ..Batch::default()
                });
                checkpoints.save(state, events).await;
                continue;
            }

            let content = reply.content.unwrap_or_default();
            match answer_spec.accept(&content, &ReadSources::new(&state.sources)) {
                Ok(answer) => {
                    state.messages.push(ChatMessage::assistant(content.clone()));
                    if budget.self_check && !state.self_checked && !state.sources.is_empty() {
                        // Checked once against the sources before it stands; the draft is kept
                        // in case the checked answer is not acceptable.
                        state.self_checked = true;
                        state.draft_answer = Some(content);
                        state.turn += 1;
                        state.messages.push(ChatMessage::user(prompt::SELF_CHECK));
                        let notice = RunEvent::Progress {
                            progress: ProgressKind::ExecStatus,
                            message: "Checking the answer against the sources read".into(),
                        };
                        checkpoints.save(state, vec![turn_event, notice]).await;
                        continue;
                    }
                    state.final_answer = Some(content);
                    // Recorded with the run's outcome, in one write with its end.
                    closing_events.push(turn_event);
                    return Ok(answer);
                }
                Err(_) if state.draft_answer.is_some() => {
                    // The checked answer is not acceptable: the draft, which was, stands.
                    let draft = state.draft_answer.take().unwrap_or_default();
                    state.messages.push(ChatMessage::assistant(content));
                    state.warnings.push(Warning::new(
                        WarningKind::Warning,
                        "The model's self-check produced an answer that is not acceptable; the answer before the check stands",
                    ));
                    state.final_answer = Some(draft);
                    checkpoints.save(state, vec![turn_event]).await;
                }
                Err(problem) if state.repairs < budget.max_repairs => {
                    state.repairs += 1;
                    state.turn += 1;
                    let repairs = state.repairs;
                    state.messages.push(ChatMessage::assistant(content));
                    state
                        .messages
                        .push(ChatMessage::user(prompt::repair_message(
                            &problem.0,
                            repairs,
                            budget.max_repairs,
                        )));
                    let notice = RunEvent::Progress {
                        progress: ProgressKind::ExecStatus,
                        message: format!(
                            "The answer was not acceptable ({problem}); asking the model to repair it ({repairs}/{})",
                            budget.max_repairs
                        ),
                    };
                    checkpoints.save(state, vec![turn_event, notice]).await;
                }
                Err(problem) => {
                    checkpoints.sink().emit(vec![turn_event]).await;
                    return Err(Stop::Failed(format!(
                        "the model's answer was still not acceptable after {} repair attempt(s): {problem}",
                        budget.max_repairs
                    )));
                }
            }
        }
        if let Some(draft) = state.draft_answer.take() {
            return answer_spec
                .accept(&draft, &ReadSources::new(&state.sources))
                .map_err(|problem| {
                    Stop::Failed(format!("the answer is not acceptable: {problem}"))
                });
        }
        Err(Stop::Failed(format!(
            "the model gave no final answer within the processor's {turn_limit} turns"
        )))
    }

    /// One chat request, bounded by the run's deadline and cancellation.
    async fn ask(
        &self,
        profile: &ProcessorProfile,
        request: &ChatRequest,
        deadline: TokioInstant,
        cancel: &CancellationToken,
    ) -> Result<forage_llm::ChatResponse, Stop> {
        let reply = tokio::select! {
            reply = profile.llm.chat(request, cancel) => reply,
            () = tokio::time::sleep_until(deadline) => {
                return Err(Stop::Failed(format!(
                    "the run exceeded its deadline of {} s (processor budget)", profile.budget.deadline_secs
                )));
            }
            () = cancel.cancelled() => return Err(Stop::Cancelled),
        };
        match reply {
            Ok(reply) => Ok(reply),
            Err(forage_llm::LlmError::Cancelled) => Err(Stop::Cancelled),
            Err(e) => Err(Stop::Failed(format!("the LLM request failed: {e}"))),
        }
    }

    /// Asks the model for a research plan (no tools, free text) and adds it to the conversation
    /// as context for the research turns.
    async fn plan(
        &self,
        profile: &ProcessorProfile,
        state: &mut RunState,
        checkpoints: &Checkpointer<'_>,
        deadline: TokioInstant,
        cancel: &CancellationToken,
    ) -> Result<(), Stop> {
        let mut messages = state.messages.clone();
        messages.push(ChatMessage::user(prompt::PLAN_REQUEST));
        let request = ChatRequest {
            model: profile.model.clone(),
            messages,
            tools: ToolList::default(),
            response_format: None,
            max_output_tokens: Some(profile.budget.max_output_tokens.min(1_024)),
            temperature: None,
        };
        let clock = Instant::now();
        let reply = self.ask(profile, &request, deadline, cancel).await?;
        state.usage.input_tokens += reply.usage.input_tokens;
        state.usage.output_tokens += reply.usage.output_tokens;
        state.usage.llm_calls += 1;
        state.planned = true;
        // The plan is an LLM turn like the others (it counts against the processor's turns).
        state.turn += 1;
        let plan = reply.content.unwrap_or_default();
        let plan = plan.trim();
        let mut events = vec![RunEvent::LlmTurn {
            turn: state.turn,
            input_tokens: reply.usage.input_tokens,
            output_tokens: reply.usage.output_tokens,
            duration_ms: clock.elapsed().as_millis() as u64,
            tool_calls: 0,
        }];
        if !plan.is_empty() {
            state
                .messages
                .push(ChatMessage::user(prompt::plan_context(plan)));
            events.push(RunEvent::Progress {
                progress: ProgressKind::Plan,
                message: format!("Research plan: {}", first_chars(plan, 500)),
            });
        }
        checkpoints.save(state, events).await;
        Ok(())
    }

    /// Makes the calls of the current batch that have no result yet (each checkpointed as it
    /// finishes), then adds every result to the conversation in the model's order.
    async fn finish_batch(
        &self,
        tools: RunTools<'_>,
        budget: &crate::Budget,
        state: &mut RunState,
        checkpoints: &Checkpointer<'_>,
        cancel: &CancellationToken,
    ) {
        let Some(mut batch) = state.batch.take() else {
            return;
        };
        let to_announce: Vec<&forage_llm::ToolCall> = batch
            .calls
            .iter()
            .filter(|call| !batch.started.contains(&call.id))
            .collect();
        if !to_announce.is_empty() {
            let events = to_announce
                .iter()
                .flat_map(|call| started_events(call, tools))
                .collect();
            batch
                .started
                .extend(to_announce.iter().map(|call| call.id.clone()));
            state.batch = Some(batch);
            checkpoints.save(state, events).await;
            batch = state.batch.take().unwrap_or_default();
        }

        let pending = batch.unfinished();
        let recorder = BatchRecorder {
            turn: state.turn,
            batch: Mutex::new(batch),
            web: tools.web,
            checkpoints,
            cancel,
        };
        run_calls(
            &pending,
            tools,
            budget.max_parallel_calls,
            budget.max_tool_output_chars,
            cancel,
            &recorder,
        )
        .await;
        let batch = recorder
            .batch
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        if cancel.is_cancelled() {
            // Interrupted: keep the batch as it stands, so a resumed run finishes it.
            state.batch = Some(batch);
            return;
        }
        let Batch {
            calls,
            refused: over_budget,
            finished,
            ..
        } = batch;
        let mut finished = finished.into_items();
        for call in &calls {
            if let Some(at) = finished.iter().position(|done| done.call_id == call.id) {
                let outcome = finished.swap_remove(at);
                state.trace.extend(outcome.trace);
                state.sources.extend(outcome.read);
                state.messages.push(outcome.message);
            }
        }
        state.fetched_pages = tools.web.fetched_urls();
        for call in &over_budget {
            state.messages.push(
                refused(
                    call,
                    "the tool-call budget of this task is used up; answer from what you have",
                )
                .message,
            );
        }
        state.turn += 1;
        // Not saved here: the last call's checkpoint holds the finished batch, which a resumed
        // run adds to the conversation the same way; the next reply's checkpoint saves the rest.
    }
}

/// Records each finished call of a batch in the run's checkpoint, with its event.
struct BatchRecorder<'a> {
    /// The turn of the state the batch belongs to.
    turn: u32,
    /// The run's batch while its calls run (the state's own is empty meanwhile).
    batch: Mutex<Batch>,
    /// The run's web tools, whose fetched pages are saved with each call.
    web: &'a RunWeb,
    checkpoints: &'a Checkpointer<'a>,
    cancel: &'a CancellationToken,
}

#[async_trait::async_trait]
impl CallObserver for BatchRecorder<'_> {
    async fn finished(&self, outcome: &CallOutcome) {
        // A call cut short by cancellation did not finish: a resumed run makes it again. One
        // that the tool answered as the run was being cancelled is kept, so it is not repeated.
        if self.cancel.is_cancelled() && !outcome.answered() {
            return;
        }
        // Only the batch is saved: the rest of the state is as the reply's checkpoint saved it.
        let (version, snapshot) = self.checkpoints.snapshot(|| {
            let mut batch = self.batch.lock().unwrap_or_else(|p| p.into_inner());
            batch.finished.push(outcome.clone());
            let fetched_pages = self.web.fetched_urls();
            checkpoint::encode(&SavedBatch {
                turn: self.turn,
                batch: &batch,
                fetched_pages: &fetched_pages,
            })
        });
        let mut events: Vec<RunEvent> = outcome
            .trace
            .iter()
            .map(|call| RunEvent::ToolCallFinished { call: call.clone() })
            .collect();
        if let Some(note) = &outcome.note {
            events.push(RunEvent::Progress {
                progress: ProgressKind::ToolCall,
                message: note.clone(),
            });
        }
        self.checkpoints
            .sink()
            .checkpoint(version, SavedPart::Batch(snapshot), events)
            .await;
    }
}

/// The state of an earlier attempt, when the run resumes from a checkpoint it can read.
fn resumed_state(job: &RunJob) -> Option<(u64, RunState)> {
    let resume = job.resume.as_ref()?;
    let read = || -> Result<RunState, serde_json::Error> {
        let mut state = RunState::from_saved(serde_json::from_str(resume.state.get())?)?;
        if let Some(batch) = &resume.batch {
            let batch = LoadedBatch::from_saved(serde_json::from_str(batch.get())?)?;
            if let Err(err) = state.carry_on_with(batch) {
                tracing::warn!(run_id = %job.run_id, error = %err, "resuming from the checkpoint's state without its batch");
            }
        }
        Ok(state)
    };
    match read() {
        Ok(state) => Some((resume.version, state)),
        Err(err) => {
            tracing::warn!(run_id = %job.run_id, error = %err, "the run's checkpoint cannot be read; starting the run over");
            None
        }
    }
}

/// Whether a resumed run rebuilds the same prelude from its request. A follow-up's prelude
/// holds its interaction's latest completed run, which may be another one by the time the
/// run resumes: its checkpoints keep the prelude.
fn prelude_is_rebuilt(job: &RunJob) -> bool {
    job.previous_transcript.is_none()
}

fn initial_messages(
    job: &RunJob,
    spec: &forage_api::TaskSpec,
    tool_count: usize,
) -> Vec<ChatMessage> {
    let mut messages = vec![ChatMessage::system(prompt::system_prompt(spec, tool_count))];
    if let Some(previous) = &job.previous_transcript
        && let Ok(earlier) = serde_json::from_value::<Vec<ChatMessage>>(previous.clone())
    {
        messages.extend(
            earlier
                .into_iter()
                .filter(|m| !matches!(m, ChatMessage::System { .. })),
        );
    }
    messages.push(ChatMessage::user(prompt::task_message(
        &job.request.input,
        spec,
    )));
    messages
}

fn build_output(schema: &OutputSchema, answer: Answer, trace: Vec<McpToolCall>) -> TaskOutput {
    let mcp_tool_calls = (!trace.is_empty()).then_some(trace);
    match schema {
        OutputSchema::Text { .. } => TaskOutput::Text {
            content: answer.content.as_str().unwrap_or_default().to_owned(),
            basis: answer.basis,
            mcp_tool_calls,
            beta_fields: None,
        },
        OutputSchema::Json { .. } | OutputSchema::Auto => TaskOutput::Json {
            content: answer.content,
            basis: answer.basis,
            mcp_tool_calls,
            output_schema: answer.inferred_schema,
            beta_fields: None,
        },
    }
}

/// Why a run stops calling tools and answers.
struct ResearchEnd {
    why: String,
    /// Tokens or time ran out, so the research may be unfinished (turns and tool calls running
    /// out is the budget doing its job).
    cut_short: bool,
}

/// Whether the run must answer now rather than call more tools, and why.
fn research_end(
    state: &RunState,
    budget: &crate::Budget,
    max_turns: u32,
    answer_by: TokioInstant,
) -> Option<ResearchEnd> {
    let end = |why: String, cut_short: bool| Some(ResearchEnd { why, cut_short });
    if state.tool_calls_used >= budget.max_tool_calls {
        end(
            format!(
                "its tool-call budget ({} calls) is used up",
                budget.max_tool_calls
            ),
            false,
        )
    } else if state.turn + 1 >= max_turns {
        end(format!("it reached its last turn ({max_turns})"), false)
    } else if budget.tokens_spent(state.usage.input_tokens + state.usage.output_tokens) {
        end(
            format!(
                "it used its token budget ({} tokens)",
                budget.max_total_tokens
            ),
            true,
        )
    } else if TokioInstant::now() >= answer_by {
        end(
            format!("its deadline ({} s) is near", budget.deadline_secs),
            true,
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use forage_api::{McpToolCall, RunEvent};
    use forage_llm::ToolCall;

    use super::*;

    /// Counts the checkpoints saved.
    #[derive(Default)]
    struct CountingSink {
        checkpoints: Mutex<u32>,
    }

    #[async_trait]
    impl EventSink for CountingSink {
        async fn emit(&self, _events: Vec<RunEvent>) {}

        async fn checkpoint(&self, _version: u64, _part: SavedPart, _events: Vec<RunEvent>) {
            *self.checkpoints.lock().unwrap() += 1;
        }
    }

    fn call() -> ToolCall {
        ToolCall {
            id: "call-1".into(),
            name: "crm__lookup".into(),
            arguments: "{}".into(),
        }
    }

    fn answered() -> CallOutcome {
        CallOutcome {
            call_id: "call-1".into(),
            trace: Some(McpToolCall {
                tool_call_id: "call-1".into(),
                server_name: "crm".into(),
                tool_name: "lookup".into(),
                arguments: "{}".into(),
                content: Some("ACME".into()),
                error: Some(String::new()),
                started_at: None,
                duration_ms: Some(3),
                content_bytes: Some(4),
                truncated: Some(false),
            }),
            message: ChatMessage::tool("call-1".to_owned(), "ACME".to_owned()),
            read: Vec::new(),
            note: None,
        }
    }

    /// Saves `outcome` through a batch recorder whose run was cancelled; the checkpoints saved.
    async fn recorded_after_cancel(outcome: &CallOutcome) -> u32 {
        let sink = CountingSink::default();
        let checkpoints = Checkpointer::new(&sink, 0);
        let cancel = CancellationToken::new();
        cancel.cancel();
        let recorder = BatchRecorder {
            turn: 0,
            batch: Mutex::new(Batch {
                calls: vec![call()],
                ..Batch::default()
            }),
            web: &RunWeb::none(),
            checkpoints: &checkpoints,
            cancel: &cancel,
        };
        recorder.finished(outcome).await;
        *sink.checkpoints.lock().unwrap()
    }

    #[tokio::test]
    async fn a_call_answered_as_the_run_is_cancelled_is_still_recorded() {
        assert_eq!(recorded_after_cancel(&answered()).await, 1);
    }

    #[tokio::test]
    async fn a_call_cut_short_by_the_cancellation_is_not_recorded() {
        let cut_short = refused(&call(), "the run was cancelled");
        assert_eq!(recorded_after_cancel(&cut_short).await, 0);
    }
}
