//! Turns the `[llm]` and `[processors.*]` settings into the engine's processor table.

use std::sync::Arc;
use std::time::Duration;

use forage_api::Processor;
use forage_engine::{ProcessorProfile, ProcessorTable};
use std::path::PathBuf;

use forage_llm::anthropic::DEFAULT_BASE_URL as ANTHROPIC_BASE_URL;
use forage_llm::local::{DEFAULT_MODEL_FILE, LocalConfig, LocalProvider};
use forage_llm::{
    AnthropicConfig, AnthropicProvider, LlmProvider, OpenAiConfig, OpenAiProvider,
    with_tool_protocol,
};

use crate::config::{Config, ConfigError, LlmSettings, ProviderKind};

const HOW_TO_CONFIGURE: &str = "point forage at any OpenAI-compatible chat-completions server \
     (OpenAI, vLLM, llama.cpp server, Ollama) with FORAGE_LLM_BASE_URL (e.g. http://127.0.0.1:8000/v1), \
     FORAGE_LLM_MODEL (the model name) and, if the server needs one, FORAGE_LLM_API_KEY \
     (or `[llm] base_url / model / api_key` in the config file); for Claude, set FORAGE_LLM_PROVIDER=anthropic, \
     FORAGE_LLM_API_KEY and FORAGE_LLM_MODEL (e.g. claude-sonnet-4-5)";

/// Which kind of LLM serves a processor, once the settings are resolved.
enum Choice {
    OpenAi { base_url: String },
    Anthropic { base_url: String },
    Local,
}

impl Choice {
    fn kind(&self) -> ProviderKind {
        match self {
            Choice::OpenAi { .. } => ProviderKind::Openai,
            Choice::Anthropic { .. } => ProviderKind::Anthropic,
            Choice::Local => ProviderKind::Local,
        }
    }

    fn base_url(&self) -> Option<&str> {
        match self {
            Choice::OpenAi { base_url } | Choice::Anthropic { base_url } => Some(base_url),
            Choice::Local => None,
        }
    }
}

/// An explicit provider wins; otherwise a base URL means `openai`, and nothing means `local`.
/// `anthropic` without a base URL talks to Anthropic's own API.
fn resolve(
    key: &str,
    provider: Option<ProviderKind>,
    base_url: Option<&str>,
) -> Result<Choice, ConfigError> {
    match (provider, base_url) {
        (Some(ProviderKind::Openai) | None, Some(url)) => Ok(Choice::OpenAi {
            base_url: url.to_owned(),
        }),
        (Some(ProviderKind::Openai), None) => Err(ConfigError::invalid(
            key,
            format!("provider `openai` needs llm.base_url. {HOW_TO_CONFIGURE}"),
        )),
        (Some(ProviderKind::Local) | None, _) => Ok(Choice::Local),
        (Some(ProviderKind::Anthropic), url) => Ok(Choice::Anthropic {
            base_url: url.unwrap_or(ANTHROPIC_BASE_URL).to_owned(),
        }),
    }
}

/// The embedded model, loaded at most once however many processors use it.
struct LocalModel<'a> {
    config: &'a Config,
    loaded: Option<(Arc<dyn LlmProvider>, String)>,
}

impl LocalModel<'_> {
    fn get(&mut self) -> Result<(Arc<dyn LlmProvider>, String), ConfigError> {
        if let Some(loaded) = &self.loaded {
            return Ok(loaded.clone());
        }
        let path = local_model_path(self.config)?;
        tracing::info!(model = %path.display(), "loading the embedded model");
        let provider = LocalProvider::load(LocalConfig::new(&path)).map_err(|e| {
            ConfigError::invalid(
                "llm.model_path",
                format!("cannot load the model {}: {e}", path.display()),
            )
        })?;
        let name = path
            .file_stem()
            .map_or_else(|| "local".to_owned(), |s| s.to_string_lossy().into_owned());
        let loaded: (Arc<dyn LlmProvider>, String) = (Arc::new(provider), name);
        self.loaded = Some(loaded.clone());
        Ok(loaded)
    }
}

/// `llm.model_path`, else the default model in `./models/` or `<data>/models/`.
fn local_model_path(config: &Config) -> Result<PathBuf, ConfigError> {
    if let Some(path) = &config.llm.model_path {
        if path.is_file() {
            return Ok(path.clone());
        }
        return Err(ConfigError::invalid(
            "llm.model_path",
            format!("no GGUF model file at {}", path.display()),
        ));
    }
    let candidates = [
        PathBuf::from("models").join(DEFAULT_MODEL_FILE),
        config.data.join("models").join(DEFAULT_MODEL_FILE),
    ];
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        ConfigError::Other(format!(
            "no LLM is configured and the embedded model is not installed (looked for {} and {}). \
             Fetch it with scripts/fetch-model.sh, or set FORAGE_LLM_MODEL_PATH to a GGUF file, or {HOW_TO_CONFIGURE}",
            candidates[0].display(),
            candidates[1].display()
        ))
    })
}

/// Every processor's budget and LLM, as configured.
pub fn build_processors(config: &Config) -> Result<ProcessorTable, ConfigError> {
    let llm = &config.llm;
    let mut local = LocalModel {
        config,
        loaded: None,
    };
    let default_choice = resolve("llm.provider", llm.provider, llm.base_url.as_deref())?;
    let (default_llm, default_model) = match &default_choice {
        Choice::OpenAi { base_url } => (
            openai(llm, base_url, llm.api_key.clone(), "llm.base_url")?,
            llm.model.clone(),
        ),
        Choice::Anthropic { base_url } => (
            anthropic(llm, base_url, llm.api_key.clone(), &llm.model, "llm")?,
            llm.model.clone(),
        ),
        Choice::Local => local.get()?,
    };
    let default_llm = with_tool_protocol(default_llm, llm.tool_protocol);
    let mut table = ProcessorTable::uniform(
        default_llm.clone(),
        &default_model,
        &config.budget_overrides(),
    );
    for (name, settings) in &config.processors {
        let Some(over) = &settings.llm else { continue };
        let processor: Processor = name.parse().map_err(|_| {
            ConfigError::invalid(&format!("processors.{name}"), "unknown processor")
        })?;
        let key = format!("processors.{name}.llm.provider");
        let provider = over.provider.or(match default_choice {
            Choice::Local if over.base_url.is_none() => Some(ProviderKind::Local),
            Choice::Anthropic { .. } => Some(ProviderKind::Anthropic),
            _ => None,
        });
        // The default's base URL is inherited only by a processor of the same kind.
        let inherited_url = match provider {
            None | Some(ProviderKind::Openai) if default_choice.kind() == ProviderKind::Openai => {
                default_choice.base_url()
            }
            Some(kind) if kind == default_choice.kind() => default_choice.base_url(),
            _ => None,
        };
        let base_url = over.base_url.as_deref().or(inherited_url);
        let (provider, model) = match resolve(&key, provider, base_url)? {
            Choice::OpenAi { base_url } => {
                let api_key = over.api_key.clone().or_else(|| llm.api_key.clone());
                let client = openai(
                    llm,
                    &base_url,
                    api_key,
                    &format!("processors.{name}.llm.base_url"),
                )?;
                (
                    client,
                    over.model
                        .clone()
                        .unwrap_or_else(|| table.get(processor).model.clone()),
                )
            }
            Choice::Anthropic { base_url } => {
                // A key meant for an OpenAI-compatible default is not sent to Anthropic.
                let inherited_key = match default_choice {
                    Choice::OpenAi { .. } => None,
                    _ => llm.api_key.clone(),
                };
                let api_key = over.api_key.clone().or(inherited_key);
                let model = over.model.clone().unwrap_or_else(|| llm.model.clone());
                let prefix = format!("processors.{name}.llm");
                (anthropic(llm, &base_url, api_key, &model, &prefix)?, model)
            }
            Choice::Local => local.get()?,
        };
        let provider =
            with_tool_protocol(provider, over.tool_protocol.unwrap_or(llm.tool_protocol));
        let budget = table.get(processor).budget.clone();
        let model = budget.model.clone().unwrap_or(model);
        table.set(
            processor,
            ProcessorProfile {
                budget,
                llm: provider,
                model,
            },
        );
    }
    Ok(table)
}

fn openai(
    llm: &LlmSettings,
    base_url: &str,
    api_key: Option<forage_api::Secret>,
    key: &str,
) -> Result<Arc<dyn LlmProvider>, ConfigError> {
    let parsed = reqwest::Url::parse(base_url)
        .map_err(|e| ConfigError::invalid(key, format!("'{base_url}' is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::invalid(key, "must be an http(s) URL"));
    }
    let config = OpenAiConfig {
        base_url: base_url.to_owned(),
        api_key,
        request_timeout: Duration::from_secs(llm.request_timeout_secs.max(1)),
        connect_timeout: Duration::from_secs(llm.connect_timeout_secs.max(1)),
        max_retries: llm.max_retries,
        stream: llm.stream,
        ..OpenAiConfig::default()
    };
    let provider =
        OpenAiProvider::new(config).map_err(|e| ConfigError::invalid(key, e.to_string()))?;
    Ok(Arc::new(provider))
}

/// The Anthropic provider; `prefix` is `llm` or `processors.NAME.llm` (for error messages).
fn anthropic(
    llm: &LlmSettings,
    base_url: &str,
    api_key: Option<forage_api::Secret>,
    model: &str,
    prefix: &str,
) -> Result<Arc<dyn LlmProvider>, ConfigError> {
    let Some(api_key) = api_key.filter(|k| !k.expose().trim().is_empty()) else {
        return Err(ConfigError::invalid(
            &format!("{prefix}.api_key"),
            "provider `anthropic` needs an Anthropic API key: set FORAGE_LLM_API_KEY (or `api_key` in the config file's `[llm]` table, or in the processor's `[processors.NAME.llm]` table when another provider is the default)",
        ));
    };
    if model.trim().is_empty() || model == LlmSettings::default().model {
        return Err(ConfigError::invalid(
            &format!("{prefix}.model"),
            "provider `anthropic` needs a model name: set FORAGE_LLM_MODEL (or `model` in the config file), e.g. claude-sonnet-4-5",
        ));
    }
    let key = format!("{prefix}.base_url");
    let parsed = reqwest::Url::parse(base_url)
        .map_err(|e| ConfigError::invalid(&key, format!("'{base_url}' is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::invalid(&key, "must be an http(s) URL"));
    }
    let config = AnthropicConfig {
        base_url: base_url.to_owned(),
        request_timeout: Duration::from_secs(llm.request_timeout_secs.max(1)),
        connect_timeout: Duration::from_secs(llm.connect_timeout_secs.max(1)),
        max_retries: llm.max_retries,
        stream: llm.stream,
        ..AnthropicConfig::new(api_key)
    };
    let provider =
        AnthropicProvider::new(config).map_err(|e| ConfigError::invalid(&key, e.to_string()))?;
    Ok(Arc::new(provider))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LlmSettings;

    fn with_llm(llm: LlmSettings) -> Config {
        Config {
            llm,
            ..Config::default()
        }
    }

    fn err_of(config: &Config) -> String {
        match build_processors(config) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn no_provider_and_no_model_explains_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data: dir.path().to_path_buf(),
            ..with_llm(LlmSettings::default())
        };
        let err = err_of(&config);
        for needed in [
            "scripts/fetch-model.sh",
            "FORAGE_LLM_MODEL_PATH",
            "FORAGE_LLM_BASE_URL",
        ] {
            assert!(err.contains(needed), "{needed} missing from: {err}");
        }
    }

    #[test]
    fn a_missing_model_file_is_named() {
        let err = err_of(&with_llm(LlmSettings {
            provider: Some(ProviderKind::Local),
            model_path: Some("/nonexistent/model.gguf".into()),
            ..LlmSettings::default()
        }));
        assert!(
            err.contains("/nonexistent/model.gguf") && err.contains("FORAGE_LLM_MODEL_PATH"),
            "{err}"
        );
    }

    fn anthropic(model: &str, api_key: Option<&str>) -> LlmSettings {
        LlmSettings {
            provider: Some(ProviderKind::Anthropic),
            model: model.into(),
            api_key: api_key.map(forage_api::Secret::new),
            ..LlmSettings::default()
        }
    }

    #[test]
    fn anthropic_without_a_key_names_the_variable() {
        let err = err_of(&with_llm(anthropic("claude-sonnet-4-5", None)));
        assert!(
            err.contains("llm.api_key") && err.contains("FORAGE_LLM_API_KEY"),
            "{err}"
        );
        let err = err_of(&with_llm(anthropic("claude-sonnet-4-5", Some(" "))));
        assert!(err.contains("FORAGE_LLM_API_KEY"), "{err}");
    }

    #[test]
    fn anthropic_without_a_model_names_the_variable() {
        let err = err_of(&with_llm(anthropic("default", Some("sk-ant-secret"))));
        assert!(
            err.contains("FORAGE_LLM_MODEL") && err.contains("claude-sonnet-4-5"),
            "{err}"
        );
        assert!(!err.contains("sk-ant-secret"), "{err}");
    }

    #[test]
    fn anthropic_talks_to_anthropic_by_default() {
        let table =
            build_processors(&with_llm(anthropic("claude-sonnet-4-5", Some("sk-ant-x")))).unwrap();
        let lite = table.get("lite".parse().unwrap());
        assert_eq!(lite.model, "claude-sonnet-4-5");
        assert_eq!(lite.llm.describe(), "anthropic https://api.anthropic.com");
    }

    #[test]
    fn anthropic_is_chosen_from_the_environment() {
        let config = Config::load_with(None, |name| {
            match name {
                "FORAGE_LLM_PROVIDER" => Some("anthropic"),
                "FORAGE_LLM_API_KEY" => Some("sk-ant-x"),
                "FORAGE_LLM_MODEL" => Some("claude-sonnet-4-5"),
                "FORAGE_LLM_BASE_URL" => Some("http://127.0.0.1:9"),
                "FORAGE_LLM_TOOL_PROTOCOL" => Some("prompt"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap();
        let table = build_processors(&config).unwrap();
        assert_eq!(
            table.get("pro".parse().unwrap()).llm.describe(),
            "anthropic http://127.0.0.1:9 (prompt tool protocol)"
        );
        let err = Config::load_with(None, |name| {
            (name == "FORAGE_LLM_TOOL_PROTOCOL").then(|| "smoke-signals".to_owned())
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("FORAGE_LLM_TOOL_PROTOCOL"), "{err}");
    }

    #[test]
    fn a_processor_can_use_anthropic_beside_an_openai_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("forage.toml");
        std::fs::write(
            &path,
            "[llm]\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"local-model\"\n\
             [processors.pro.llm]\nprovider = \"anthropic\"\nmodel = \"claude-opus-4-1\"\napi_key = \"sk-ant-x\"\n\
             [processors.lite.llm]\ntool_protocol = \"prompt\"\n",
        )
        .unwrap();
        let config = Config::load_with(Some(&path), |_| None).unwrap();
        let table = build_processors(&config).unwrap();
        let pro = table.get("pro".parse().unwrap());
        assert_eq!(pro.model, "claude-opus-4-1");
        assert_eq!(
            pro.llm.describe(),
            "anthropic https://api.anthropic.com",
            "the OpenAI base URL is not inherited"
        );
        let lite = table.get("lite".parse().unwrap());
        assert_eq!(lite.model, "local-model");
        assert_eq!(
            lite.llm.describe(),
            "openai-compatible http://127.0.0.1:1/v1 (prompt tool protocol)"
        );
        assert_eq!(
            table.get("base".parse().unwrap()).llm.describe(),
            "openai-compatible http://127.0.0.1:1/v1"
        );
    }

    #[test]
    fn openai_without_a_base_url_says_so() {
        let err = err_of(&with_llm(LlmSettings {
            provider: Some(ProviderKind::Openai),
            ..LlmSettings::default()
        }));
        assert!(err.contains("needs llm.base_url"), "{err}");
    }

    #[test]
    fn a_base_url_alone_selects_openai() {
        let config = with_llm(LlmSettings {
            base_url: Some("http://127.0.0.1:1/v1".into()),
            model: "m".into(),
            ..LlmSettings::default()
        });
        let table = build_processors(&config).unwrap();
        assert_eq!(table.get("lite".parse().unwrap()).model, "m");
    }
}
