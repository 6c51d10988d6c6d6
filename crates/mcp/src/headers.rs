//! Turns a server's configured headers into HTTP headers, rejecting unusable ones
//! without ever echoing a value.

use std::collections::HashMap;

use reqwest::header::{HeaderName, HeaderValue};

use crate::{McpError, ServerSpec};

/// Header names the transports set themselves; a task may not override them.
const RESERVED: &[&str] = &[
    "accept",
    "content-type",
    "content-length",
    "host",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "transfer-encoding",
    "connection",
];

/// The spec's headers, each value marked sensitive (so `http` never prints it).
pub(crate) fn header_map(spec: &ServerSpec) -> Result<HashMap<HeaderName, HeaderValue>, McpError> {
    let mut map = HashMap::with_capacity(spec.headers.len());
    for (name, value) in &spec.headers {
        let bad = |detail: String| McpError::Config {
            server: spec.name.clone(),
            detail,
        };
        let header_name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| bad(format!("'{name}' is not a valid HTTP header name")))?;
        if RESERVED.contains(&header_name.as_str()) {
            return Err(bad(format!(
                "header '{name}' is set by the MCP transport and cannot be overridden"
            )));
        }
        let mut header_value = HeaderValue::from_str(value.expose()).map_err(|_| {
            bad(format!(
                "the value of header '{name}' is not a valid HTTP header value"
            ))
        })?;
        header_value.set_sensitive(true);
        map.insert(header_name, header_value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use forage_api::Secret;

    use super::*;
    use crate::Timeouts;

    fn spec(headers: Vec<(&str, &str)>) -> ServerSpec {
        ServerSpec {
            name: "crm".into(),
            url: "http://127.0.0.1:1/mcp".parse().unwrap(),
            headers: headers
                .into_iter()
                .map(|(n, v)| (n.to_string(), Secret::new(v)))
                .collect(),
            allowed_tools: None,
            timeouts: Timeouts::default(),
        }
    }

    #[test]
    fn builds_sensitive_headers() {
        let map = header_map(&spec(vec![("Authorization", "Bearer hunter2")])).unwrap();
        let value = &map[&HeaderName::from_static("authorization")];
        assert!(value.is_sensitive());
        assert!(!format!("{map:?}").contains("hunter2"));
    }

    #[test]
    fn bad_value_error_does_not_echo_the_value() {
        let err = header_map(&spec(vec![("x-key", "bad\nhunter2")])).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("x-key"));
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn reserved_header_is_refused() {
        assert!(header_map(&spec(vec![("Mcp-Session-Id", "x")])).is_err());
    }

    #[test]
    fn spec_debug_hides_header_values() {
        let s = spec(vec![("Authorization", "Bearer hunter2")]);
        let text = format!("{s:?}");
        assert!(text.contains("Authorization"));
        assert!(!text.contains("hunter2"));
    }
}
