//! Splits a server-sent-event byte stream into `data:` payloads, with a bound on line length,
//! and reads a response's stream payload by payload.

use reqwest::Response;

use super::http::transport_error;
use crate::LlmError;

/// Incremental decoder: feed it chunks, get back the `data:` payload of every complete line.
///
/// OpenAI-compatible servers and Anthropic both put one JSON document per `data:` line (Anthropic's
/// carries its event name in its `type` field), so each line is dispatched on its own (comments,
/// `event:`, `id:` and blank lines are skipped).
pub(crate) struct SseLines {
    partial: Vec<u8>,
    max_line: usize,
}

/// A line longer than the bound.
#[derive(Debug)]
pub(crate) struct LineTooLong;

impl SseLines {
    pub(crate) fn new(max_line: usize) -> Self {
        Self {
            partial: Vec::new(),
            max_line,
        }
    }

    /// Adds `chunk`; returns the payloads of the lines it completed.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, LineTooLong> {
        let mut out = Vec::new();
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..pos];
            rest = &rest[pos + 1..];
            // A line within one chunk is read where it lies; one begun in an earlier chunk is
            // completed in `partial`, which keeps its buffer for the next.
            if self.partial.is_empty() {
                out.extend(data_of(line));
            } else {
                self.partial.extend_from_slice(line);
                out.extend(data_of(&self.partial));
                self.partial.clear();
            }
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > self.max_line {
            return Err(LineTooLong);
        }
        Ok(out)
    }

    /// The payload of an unterminated last line, if any.
    pub(crate) fn finish(&mut self) -> Option<String> {
        let line = std::mem::take(&mut self.partial);
        data_of(&line)
    }
}

/// Hands the `data:` payload of each line of `response`'s event stream (lines bounded by
/// `max_line` bytes) to `on_data` until it says the answer is complete (`Ok(true)`) or the stream
/// ends (its unterminated last line included); returns whether the answer was complete.
pub(crate) async fn read_events(
    response: &mut Response,
    max_line: usize,
    endpoint: &str,
    mut on_data: impl FnMut(&str) -> Result<bool, LlmError>,
) -> Result<bool, LlmError> {
    let mut lines = SseLines::new(max_line);
    let too_long = |_| LlmError::InvalidResponse(format!("a stream line exceeds {max_line} bytes"));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(endpoint, e))?
    {
        for data in lines.push(&chunk).map_err(too_long)? {
            if on_data(&data)? {
                return Ok(true);
            }
        }
    }
    match lines.finish() {
        Some(data) => on_data(&data),
        None => Ok(false),
    }
}

fn data_of(line: &[u8]) -> Option<String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let data = line.strip_prefix(b"data:")?;
    let data = data.strip_prefix(b" ").unwrap_or(data);
    Some(match std::str::from_utf8(data) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(data).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks() {
        let mut sse = SseLines::new(1024);
        assert!(sse.push(b": comment\n\ndata: {\"a\"").unwrap().is_empty());
        assert_eq!(
            sse.push(b":1}\r\n\r\ndata: [DONE]\n\n").unwrap(),
            vec!["{\"a\":1}".to_owned(), "[DONE]".to_owned()]
        );
        assert_eq!(sse.finish(), None);
    }

    #[test]
    fn keeps_an_unterminated_last_line() {
        let mut sse = SseLines::new(1024);
        assert!(sse.push(b"event: x\ndata:{}").unwrap().is_empty());
        assert_eq!(sse.finish().as_deref(), Some("{}"));
    }

    #[test]
    fn a_line_may_span_several_chunks_and_bad_bytes_are_replaced() {
        let mut sse = SseLines::new(1024);
        assert!(sse.push(b"data: {\"a\"").unwrap().is_empty());
        assert!(sse.push(b":\"\xff").unwrap().is_empty());
        assert_eq!(
            sse.push(b"\"}\ndata: 2\n").unwrap(),
            vec!["{\"a\":\"\u{fffd}\"}".to_owned(), "2".to_owned()]
        );
        assert_eq!(sse.push(b"data: 3\n").unwrap(), vec!["3".to_owned()]);
    }

    #[test]
    fn refuses_endless_lines() {
        let mut sse = SseLines::new(8);
        assert!(sse.push(b"data: 0123456789").is_err());
    }
}
