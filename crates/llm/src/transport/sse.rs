//! Splits a server-sent-event byte stream into `data:` payloads, with a bound on line length,
//! and reads a response's stream payload by payload.

use std::borrow::Cow;

use reqwest::Response;

use super::http::transport_error;
use crate::LlmError;

/// Incremental decoder: feed it chunks; it hands on the `data:` payload of every complete line.
///
/// OpenAI-compatible servers and Anthropic both put one JSON document per `data:` line (Anthropic's
/// carries its event name in its `type` field), so each line is dispatched on its own (comments,
/// `event:`, `id:` and blank lines are skipped). A line that lies within one chunk is handed on
/// where it lies, not copied.
pub(crate) struct SseLines {
    partial: Vec<u8>,
    max_line: usize,
}

impl SseLines {
    pub(crate) fn new(max_line: usize) -> Self {
        Self {
            partial: Vec::new(),
            max_line,
        }
    }

    /// Adds `chunk` and hands `on_data` the payload of each line it completes, until `on_data`
    /// says the answer is complete (`Ok(true)`); returns whether it did. Fails when the line
    /// left unfinished grows past the bound.
    pub(crate) fn push(
        &mut self,
        chunk: &[u8],
        on_data: &mut impl FnMut(&str) -> Result<bool, LlmError>,
    ) -> Result<bool, LlmError> {
        let mut rest = chunk;
        while let Some(pos) = memchr::memchr(b'\n', rest) {
            let line = &rest[..pos];
            rest = &rest[pos + 1..];
            // A line begun in an earlier chunk is completed in `partial`, which keeps its
            // buffer for the next.
            let done = if self.partial.is_empty() {
                dispatch(line, on_data)?
            } else {
                self.partial.extend_from_slice(line);
                let done = dispatch(&self.partial, on_data)?;
                self.partial.clear();
                done
            };
            if done {
                return Ok(true);
            }
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > self.max_line {
            return Err(LlmError::InvalidResponse(format!(
                "a stream line exceeds {} bytes",
                self.max_line
            )));
        }
        Ok(false)
    }

    /// Hands `on_data` the payload of an unterminated last line, if any; returns whether the
    /// answer is complete.
    pub(crate) fn finish(
        &mut self,
        on_data: &mut impl FnMut(&str) -> Result<bool, LlmError>,
    ) -> Result<bool, LlmError> {
        let line = std::mem::take(&mut self.partial);
        dispatch(&line, on_data)
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
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(endpoint, e))?
    {
        if lines.push(&chunk, &mut on_data)? {
            return Ok(true);
        }
    }
    lines.finish(&mut on_data)
}

/// Hands on `line`'s payload when it is a `data:` line; returns whether the answer is complete.
fn dispatch(
    line: &[u8],
    on_data: &mut impl FnMut(&str) -> Result<bool, LlmError>,
) -> Result<bool, LlmError> {
    match data_of(line) {
        Some(data) => on_data(&data),
        None => Ok(false),
    }
}

/// The payload of a `data:` line, borrowed unless bytes that are not UTF-8 had to be replaced.
fn data_of(line: &[u8]) -> Option<Cow<'_, str>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let data = line.strip_prefix(b"data:")?;
    let data = data.strip_prefix(b" ").unwrap_or(data);
    // `from_utf8` checks ASCII a word at a time; `from_utf8_lossy` walks it in chunks, several
    // times slower, so it only runs for a line that needs it.
    Some(match std::str::from_utf8(data) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(data),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payloads `push` hands on for `chunk`.
    fn push(sse: &mut SseLines, chunk: &[u8]) -> Result<Vec<String>, LlmError> {
        let mut seen = Vec::new();
        sse.push(chunk, &mut |data| {
            seen.push(data.to_owned());
            Ok(false)
        })?;
        Ok(seen)
    }

    fn finish(sse: &mut SseLines) -> Vec<String> {
        let mut seen = Vec::new();
        sse.finish(&mut |data| {
            seen.push(data.to_owned());
            Ok(false)
        })
        .unwrap();
        seen
    }

    #[test]
    fn splits_lines_across_chunks() {
        let mut sse = SseLines::new(1024);
        assert!(
            push(&mut sse, b": comment\n\ndata: {\"a\"")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            push(&mut sse, b":1}\r\n\r\ndata: [DONE]\n\n").unwrap(),
            vec!["{\"a\":1}".to_owned(), "[DONE]".to_owned()]
        );
        assert!(finish(&mut sse).is_empty());
    }

    #[test]
    fn keeps_an_unterminated_last_line() {
        let mut sse = SseLines::new(1024);
        assert!(push(&mut sse, b"event: x\ndata:{}").unwrap().is_empty());
        assert_eq!(finish(&mut sse), vec!["{}".to_owned()]);
    }

    #[test]
    fn a_line_may_span_several_chunks_and_bad_bytes_are_replaced() {
        let mut sse = SseLines::new(1024);
        assert!(push(&mut sse, b"data: {\"a\"").unwrap().is_empty());
        assert!(push(&mut sse, b":\"\xff").unwrap().is_empty());
        assert_eq!(
            push(&mut sse, b"\"}\ndata: 2\n").unwrap(),
            vec!["{\"a\":\"\u{fffd}\"}".to_owned(), "2".to_owned()]
        );
        assert_eq!(push(&mut sse, b"data: 3\n").unwrap(), vec!["3".to_owned()]);
        assert_eq!(
            push(&mut sse, b"data: \xfe4\n").unwrap(),
            vec!["\u{fffd}4".to_owned()]
        );
    }

    #[test]
    fn stops_at_the_line_that_completes_the_answer() {
        let mut sse = SseLines::new(1024);
        let mut seen = Vec::new();
        let done = sse
            .push(b"data: 1\ndata: [DONE]\ndata: 3\n", &mut |data| {
                seen.push(data.to_owned());
                Ok(data == "[DONE]")
            })
            .unwrap();
        assert!(done);
        assert_eq!(seen, ["1", "[DONE]"]);
    }

    #[test]
    fn refuses_endless_lines() {
        let mut sse = SseLines::new(8);
        let err = push(&mut sse, b"data: 0123456789").unwrap_err();
        assert!(err.to_string().contains("exceeds 8 bytes"), "{err}");
    }
}
