//! Decides the fake's reply to one request from its directives and conversation state:
//! a scripted failure, tool calls, or a final answer (text or schema-shaped JSON).

use std::time::Duration;

use serde_json::{Value, json};

use super::conversation::Conversation;
use super::directives::Directive;
use super::schema::{self, Fill};

/// Most tools called at once by default.
const MAX_DEFAULT_CALLS: usize = 8;
/// Characters of tool result or input quoted in an answer.
const QUOTE_CHARS: usize = 200;

/// A tool call the fake makes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCall {
    pub id: String,
    pub name: String,
    /// JSON text.
    pub arguments: String,
}

/// What to answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// An HTTP error status, as failure `attempt` (1-based) of `times`.
    Fail {
        status: u16,
        attempt: u32,
        times: u32,
    },
    /// A completion.
    Reply {
        content: Option<String>,
        tool_calls: Vec<PlannedCall>,
    },
}

/// The plan plus how long to wait before carrying it out.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub stall: Option<Duration>,
    pub plan: Plan,
}

/// The reply to `conversation`, which has seen `prior_requests` earlier requests.
pub fn decide(conversation: &Conversation, prior_requests: u32) -> Script {
    let directives = conversation.directives();
    let stall = directives.iter().find_map(|d| match d {
        Directive::Stall { ms } => Some(Duration::from_millis(*ms)),
        _ => None,
    });
    let fail = directives.iter().find_map(|d| match d {
        Directive::Fail { status, times } => Some((*status, *times)),
        _ => None,
    });
    if let Some((status, times)) = fail
        && prior_requests < times
    {
        return Script {
            stall,
            plan: Plan::Fail {
                status,
                attempt: prior_requests + 1,
                times,
            },
        };
    }
    let tool_calls = plan_calls(conversation, &directives);
    let plan = if tool_calls.is_empty() {
        Plan::Reply {
            content: Some(final_answer(conversation, &directives)),
            tool_calls,
        }
    } else {
        Plan::Reply {
            content: None,
            tool_calls,
        }
    };
    Script { stall, plan }
}

/// The tool calls of this turn (none means: answer).
fn plan_calls(conversation: &Conversation, directives: &[Directive]) -> Vec<PlannedCall> {
    if conversation.tools.is_empty() || directives.contains(&Directive::NoTools) {
        return Vec::new();
    }
    let turn = conversation.tool_turns();
    let scripted: Vec<(&String, &Option<Value>, u32)> = directives
        .iter()
        .filter_map(|d| match d {
            Directive::Call { name, args, turn } => Some((name, args, *turn)),
            _ => None,
        })
        .collect();
    let calls: Vec<(String, Value)> = if scripted.is_empty() {
        if turn > 0 || conversation.has_tool_results() {
            return Vec::new();
        }
        conversation
            .tools
            .iter()
            .take(MAX_DEFAULT_CALLS)
            .map(|t| {
                (
                    t.name.to_owned(),
                    schema::instance(&t.parameters, &Fill::arguments()),
                )
            })
            .collect()
    } else {
        scripted
            .into_iter()
            .filter(|(_, _, at)| *at == turn)
            .map(|(name, args, _)| {
                let offered = conversation
                    .tools
                    .iter()
                    .find(|t| t.name == *name)
                    .or_else(|| {
                        conversation
                            .tools
                            .iter()
                            .find(|t| t.name.ends_with(&format!("__{name}")))
                    });
                let arguments = match (args, offered) {
                    (Some(args), _) => args.clone(),
                    (None, Some(tool)) => schema::instance(&tool.parameters, &Fill::arguments()),
                    (None, None) => json!({}),
                };
                let name = offered.map_or_else(|| name.clone(), |t| t.name.to_owned());
                (name, arguments)
            })
            .collect()
    };
    calls
        .into_iter()
        .enumerate()
        .map(|(i, (name, arguments))| PlannedCall {
            id: format!("call_t{turn}_{i}"),
            name,
            arguments: arguments.to_string(),
        })
        .collect()
}

/// The final answer's text: schema-shaped JSON (possibly broken on purpose) or plain text.
fn final_answer(conversation: &Conversation, directives: &[Directive]) -> String {
    let attempts = conversation.answer_attempts();
    let times_of = |want: fn(&Directive) -> Option<u32>| directives.iter().find_map(want);
    let invalid_json = times_of(|d| match d {
        Directive::InvalidJson { times } => Some(*times),
        _ => None,
    })
    .is_some_and(|times| attempts < times);
    let violate = times_of(|d| match d {
        Directive::SchemaViolation { times } => Some(*times),
        _ => None,
    })
    .is_some_and(|times| attempts < times);

    if !invalid_json
        && !violate
        && let Some(value) = directives.iter().find_map(|d| match d {
            Directive::Answer { value } => Some(value),
            _ => None,
        })
    {
        return value.to_string();
    }
    let input = conversation.user_input();
    let fill = Fill {
        required_only: false,
        lead_text: conversation
            .last_tool_result()
            .map(|t| truncate(t, QUOTE_CHARS)),
        filler: truncate(&input, 60),
    };
    let object_schema;
    let schema = match (conversation.schema, conversation.json_object) {
        (Some(schema), _) => Some(schema),
        (None, true) => {
            object_schema = json!({
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"]
            });
            Some(&object_schema)
        }
        (None, false) => None,
    };
    match schema {
        Some(schema) if violate && !invalid_json => schema::violation(schema, &fill).to_string(),
        Some(schema) => {
            let valid = schema::instance(schema, &fill).to_string();
            if invalid_json {
                malformed(&valid)
            } else {
                valid
            }
        }
        None if invalid_json => malformed(&json!({"answer": truncate(&input, 60)}).to_string()),
        None if violate => "[]".to_owned(),
        None => {
            let source = conversation.last_tool_result().map_or(input, str::to_owned);
            format!("Answer: {}", truncate(&source, QUOTE_CHARS))
        }
    }
}

/// JSON text that cannot parse: `valid` inside an object that is never closed.
fn malformed(valid: &str) -> String {
    format!("{{\"answer\": {valid}")
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conversation of `body` (leaked: a test's few bodies live as long as the test).
    fn conversation(body: Value) -> Conversation<'static> {
        Conversation::from_body(Box::leak(Box::new(body)))
    }

    fn tools() -> Value {
        json!([
            {"type": "function", "function": {"name": "web__search", "parameters": {
                "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}},
            {"type": "function", "function": {"name": "fetch", "parameters": {
                "type": "object", "properties": {"url": {"type": "string", "format": "uri"}}, "required": ["url"]}}}
        ])
    }

    fn reply(script: Script) -> (Option<String>, Vec<PlannedCall>) {
        match script.plan {
            Plan::Reply {
                content,
                tool_calls,
            } => (content, tool_calls),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn fails_the_first_n_requests() {
        let c = conversation(
            json!({"messages": [{"role": "user", "content": "x [[fake:fail=503 times=2]]"}]}),
        );
        assert!(matches!(
            decide(&c, 0).plan,
            Plan::Fail {
                status: 503,
                attempt: 1,
                ..
            }
        ));
        assert!(matches!(
            decide(&c, 1).plan,
            Plan::Fail {
                status: 503,
                attempt: 2,
                ..
            }
        ));
        assert!(matches!(decide(&c, 2).plan, Plan::Reply { .. }));
    }

    #[test]
    fn calls_every_tool_first_then_answers_from_the_result() {
        let c = conversation(
            json!({"messages": [{"role": "user", "content": "Who?"}], "tools": tools()}),
        );
        let (content, calls) = reply(decide(&c, 0));
        assert_eq!(content, None);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].arguments, r#"{"q":"test"}"#);
        assert_eq!(calls[1].arguments, r#"{"url":"https://example.com/"}"#);

        let c = conversation(json!({"messages": [
            {"role": "user", "content": "Who?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "a", "type": "function", "function": {"name": "fetch", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "Graydon"}
        ], "tools": tools()}));
        let (content, calls) = reply(decide(&c, 0));
        assert!(calls.is_empty());
        assert_eq!(content.as_deref(), Some("Answer: Graydon"));
    }

    #[test]
    fn scripted_calls_match_namespaced_tools_and_turns() {
        let text =
            r#"Q [[fake:call name=search args={"q":"rust"}]] [[fake:call name=fetch turn=1]]"#;
        let c = conversation(
            json!({"messages": [{"role": "user", "content": text}], "tools": tools()}),
        );
        let (_, calls) = reply(decide(&c, 0));
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "web__search");
        assert_eq!(calls[0].arguments, r#"{"q":"rust"}"#);

        let c = conversation(json!({"messages": [
            {"role": "user", "content": text},
            {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "web__search", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "r"}
        ], "tools": tools()}));
        let (_, calls) = reply(decide(&c, 0));
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "fetch");
        assert_eq!(calls[0].id, "call_t1_0");
    }

    #[test]
    fn no_tools_answers_at_once() {
        let c = conversation(
            json!({"messages": [{"role": "user", "content": "Q [[fake:no_tools]]"}], "tools": tools()}),
        );
        let (content, calls) = reply(decide(&c, 0));
        assert!(calls.is_empty());
        assert_eq!(content.as_deref(), Some("Answer: Q"));
    }

    #[test]
    fn breaks_json_answers_as_scripted() {
        let format = json!({"type": "json_schema", "json_schema": {"name": "o", "schema": {
            "type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}});
        let mut messages = vec![
            json!({"role": "user", "content": "Q [[fake:invalid_json]] [[fake:schema_violation times=2]]"}),
        ];
        let mut answers = Vec::new();
        for _ in 0..3 {
            let c = conversation(json!({"messages": messages, "response_format": format}));
            let (content, _) = reply(decide(&c, 0));
            let content = content.unwrap();
            messages.push(json!({"role": "assistant", "content": content}));
            messages.push(json!({"role": "user", "content": "fix it"}));
            answers.push(content);
        }
        assert!(serde_json::from_str::<Value>(&answers[0]).is_err());
        assert_eq!(
            serde_json::from_str::<Value>(&answers[1]).unwrap(),
            json!({})
        );
        assert_eq!(
            serde_json::from_str::<Value>(&answers[2]).unwrap(),
            json!({"a": "Q"})
        );
    }
}
