//! Turns a step's [`StepShape`] into an llguidance [`Matcher`], degrading gracefully when the
//! grammar library refuses a schema: unknown keywords are ignored (lenient mode), a sub-schema
//! that still fails is replaced by a looser one, and as a last resort decoding is unconstrained
//! (the engine validates and repairs replies anyway).

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::TokEnv;
use llguidance::{JsonCompileOptions, Matcher, ParserFactory, TokenParser};
use serde_json::{Value, json};

use super::error::LocalError;
use super::schema::StepShape;

/// Compiles grammars for one model; holds the tokenizer environment built once per model.
pub(crate) struct Grammars {
    factory: ParserFactory,
}

impl Grammars {
    pub(crate) fn new(tok_env: &TokEnv) -> Result<Grammars, LocalError> {
        let mut factory =
            ParserFactory::new_simple(tok_env).map_err(|e| LocalError::Tokenizer(e.to_string()))?;
        factory.quiet();
        Ok(Grammars { factory })
    }

    /// The matcher for one step, or `None` when the step needs none (plain text) or no usable
    /// grammar could be built.
    pub(crate) fn matcher(&self, shape: &StepShape) -> Option<Matcher> {
        if !shape.is_constrained() {
            return None;
        }
        if let Ok(parser) = self.compile(shape.schema()) {
            return Some(self.finish(parser));
        }
        // Loosen only the sub-schemas that fail on their own.
        let loose_args = json!({"type": "object"});
        let loose_answer = json!({});
        let args: Vec<&Value> = shape
            .tools
            .iter()
            .map(|(name, schema)| {
                if self.compile(schema.clone()).is_ok() {
                    schema
                } else {
                    tracing::warn!(tool = %name, "tool parameters schema unusable for constrained decoding; accepting any object");
                    &loose_args
                }
            })
            .collect();
        let answer = shape.answer_schema();
        let answer = if self.compile(answer.clone()).is_ok() {
            &answer
        } else {
            tracing::warn!(
                "response format schema unusable for constrained decoding; accepting any JSON"
            );
            &loose_answer
        };
        match self.compile(shape.combine(&args, answer)) {
            Ok(parser) => return Some(self.finish(parser)),
            Err(e) => {
                tracing::warn!(error = %e, "combined step schema rejected; loosening every sub-schema")
            }
        }
        let all_loose = vec![&loose_args; shape.tools.len()];
        match self.compile(shape.combine(&all_loose, &loose_answer)) {
            Ok(parser) => Some(self.finish(parser)),
            Err(e) => {
                tracing::warn!(error = %e, "no grammar could be built; decoding unconstrained");
                None
            }
        }
    }

    fn compile(&self, mut schema: Value) -> Result<TokenParser, String> {
        if let Value::Object(map) = &mut schema {
            map.remove("x-guidance");
        }
        if let Value::Object(_) = schema {
            compile_options().apply_to(&mut schema);
        } else {
            // Boolean schemas: `true` is any JSON value, `false` nothing.
            schema = match schema {
                Value::Bool(false) => return Err("the schema `false` accepts nothing".into()),
                _ => {
                    let mut any = json!({});
                    compile_options().apply_to(&mut any);
                    any
                }
            };
        }
        // The grammar compiler can panic on some hostile schemas; treat that as a refusal.
        let factory = &self.factory;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            factory.create_parser(TopLevelGrammar::from_json_schema(schema))
        }))
        .map_err(|_| "the grammar compiler panicked".to_string())?
        .map_err(|e| e.to_string())
    }

    fn finish(&self, parser: TokenParser) -> Matcher {
        let mut matcher = Matcher::new(Ok(parser));
        let warnings = matcher.grammar_warnings();
        if !warnings.is_empty() {
            tracing::debug!(?warnings, "schema features ignored by constrained decoding");
        }
        matcher
    }
}

/// JSON formatting the model must follow: single spaces after `:` and `,`, no other
/// whitespace (a small model left free to emit whitespace may never stop).
fn compile_options() -> JsonCompileOptions {
    JsonCompileOptions {
        item_separator: ", ".into(),
        key_separator: ": ".into(),
        whitespace_flexible: false,
        coerce_one_of: true,
        lenient: true,
        ..JsonCompileOptions::default()
    }
}
