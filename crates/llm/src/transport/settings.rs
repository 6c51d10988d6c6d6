//! What the remote providers' configs share: `Debug` for them and their providers that shows
//! the settings but never the API key (a `Secret` prints redacted) nor credentials embedded in
//! the base URL, and their retry settings as [`Retries`](super::retry::Retries).

/// `impl Debug` for a config with the fields `base_url`, `api_key`, `request_timeout`,
/// `connect_timeout`, `max_retries`, `initial_backoff` and `stream`.
macro_rules! config_debug {
    ($config:ident) => {
        impl std::fmt::Debug for $config {
            /// Never shows the key, nor credentials embedded in the base URL.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let base_url = crate::transport::http::strip_credentials_text(&self.base_url);
                f.debug_struct(stringify!($config))
                    .field("base_url", &base_url)
                    .field("api_key", &self.api_key)
                    .field("request_timeout", &self.request_timeout)
                    .field("connect_timeout", &self.connect_timeout)
                    .field("max_retries", &self.max_retries)
                    .field("initial_backoff", &self.initial_backoff)
                    .field("stream", &self.stream)
                    .finish()
            }
        }
    };
}

/// `impl Debug` for a provider with an `endpoint` ([`Endpoint`](super::http::Endpoint)) and a
/// `config` as [`config_debug!`] expects.
macro_rules! provider_debug {
    ($provider:ident) => {
        impl std::fmt::Debug for $provider {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($provider))
                    .field("endpoint", &self.endpoint.shown)
                    .field("api_key", &self.config.api_key)
                    .field("stream", &self.config.stream)
                    .field("request_timeout", &self.config.request_timeout)
                    .field("max_retries", &self.config.max_retries)
                    .finish_non_exhaustive()
            }
        }
    };
}

/// `retries()` for a config with the fields `request_timeout`, `max_retries` and
/// `initial_backoff`.
macro_rules! config_retries {
    ($config:ident) => {
        impl $config {
            /// How patiently to retry, as the attempts loop takes it.
            pub(crate) fn retries(&self) -> crate::transport::retry::Retries {
                crate::transport::retry::Retries {
                    request_timeout: self.request_timeout,
                    max_retries: self.max_retries,
                    initial_backoff: self.initial_backoff,
                }
            }
        }
    };
}

pub(crate) use {config_debug, config_retries, provider_debug};
