//! Turns the `[llm]` and `[processors.*]` settings into the engine's processor table.

use std::sync::Arc;
use std::time::Duration;

use forage_api::Processor;
use forage_engine::{ProcessorProfile, ProcessorTable};
use forage_llm::{LlmProvider, OpenAiConfig, OpenAiProvider};

use crate::config::{Config, ConfigError, LlmSettings, ProviderKind};

const HOW_TO_CONFIGURE: &str = "forage needs an LLM: point it at any OpenAI-compatible chat-completions server \
     (OpenAI, vLLM, llama.cpp server, Ollama) with FORAGE_LLM_BASE_URL (e.g. http://127.0.0.1:8000/v1), \
     FORAGE_LLM_MODEL (the model name) and, if the server needs one, FORAGE_LLM_API_KEY \
     (or `[llm] base_url / model / api_key` in the config file)";

/// Every processor's budget and LLM, as configured.
pub fn build_processors(config: &Config) -> Result<ProcessorTable, ConfigError> {
    let llm = &config.llm;
    check_provider("llm.provider", llm.provider, llm.base_url.as_deref())?;
    let base_url = llm
        .base_url
        .clone()
        .ok_or_else(|| ConfigError::Other(format!("no LLM is configured. {HOW_TO_CONFIGURE}")))?;
    let default_llm = openai(llm, &base_url, llm.api_key.clone(), "llm.base_url")?;
    let mut table = ProcessorTable::uniform(default_llm, &llm.model, &config.budget_overrides());
    for (name, settings) in &config.processors {
        let Some(over) = &settings.llm else { continue };
        let processor: Processor = name.parse().map_err(|_| {
            ConfigError::invalid(&format!("processors.{name}"), "unknown processor")
        })?;
        let key = format!("processors.{name}.llm.provider");
        check_provider(&key, over.provider.or(Some(ProviderKind::Openai)), Some(""))?;
        let url = over.base_url.clone().unwrap_or_else(|| base_url.clone());
        let api_key = over.api_key.clone().or_else(|| llm.api_key.clone());
        let provider = openai(
            llm,
            &url,
            api_key,
            &format!("processors.{name}.llm.base_url"),
        )?;
        let current = table.get(processor).clone();
        let model = over.model.clone().unwrap_or(current.model);
        table.set(
            processor,
            ProcessorProfile {
                budget: current.budget,
                llm: provider,
                model,
            },
        );
    }
    Ok(table)
}

/// Refuses providers this build does not have, saying which one exists.
fn check_provider(
    key: &str,
    provider: Option<ProviderKind>,
    base_url: Option<&str>,
) -> Result<(), ConfigError> {
    match provider {
        Some(ProviderKind::Openai) => Ok(()),
        Some(kind @ (ProviderKind::Anthropic | ProviderKind::Local)) => {
            let name = if kind == ProviderKind::Anthropic {
                "anthropic"
            } else {
                "local"
            };
            Err(ConfigError::invalid(
                key,
                format!(
                    "provider `{name}` is not available in this version of forage; the available provider is `openai`. {HOW_TO_CONFIGURE}"
                ),
            ))
        }
        None if base_url.is_some() => Ok(()),
        None => Err(ConfigError::Other(format!(
            "no LLM is configured (the embedded `local` model is not available in this version of forage). {HOW_TO_CONFIGURE}"
        ))),
    }
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
    fn no_provider_explains_how_to_configure() {
        let err = err_of(&with_llm(LlmSettings::default()));
        assert!(
            err.contains("FORAGE_LLM_BASE_URL") && err.contains("FORAGE_LLM_MODEL"),
            "{err}"
        );
    }

    #[test]
    fn unbuilt_providers_name_the_one_that_exists() {
        for kind in [ProviderKind::Anthropic, ProviderKind::Local] {
            let err = err_of(&with_llm(LlmSettings {
                provider: Some(kind),
                base_url: Some("http://127.0.0.1:1/v1".into()),
                ..LlmSettings::default()
            }));
            assert!(
                err.contains("`openai`") && err.contains("FORAGE_LLM_PROVIDER"),
                "{err}"
            );
        }
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
