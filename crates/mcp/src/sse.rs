//! A small, bounded Server-Sent Events parser: the legacy transport's event stream and the
//! direct `tools/call` path's response streams.

use std::collections::VecDeque;

/// One dispatched SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` field; `message` when absent.
    pub event: String,
    pub data: String,
    /// The stream's last event id as of this event (`id:`), for resuming with `Last-Event-ID`.
    pub id: Option<String>,
}

/// An event (or a single line) grew past the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLarge;

/// Incremental parser: feed it chunks, take complete events out.
#[derive(Debug)]
pub(crate) struct Parser {
    max_event: usize,
    line: Vec<u8>,
    event: Option<String>,
    data: String,
    has_data: bool,
    last_id: Option<String>,
    retry_ms: Option<u64>,
    ready: VecDeque<Event>,
}

impl Parser {
    pub(crate) fn new(max_event: usize) -> Self {
        Self {
            max_event,
            line: Vec::new(),
            event: None,
            data: String::new(),
            has_data: false,
            last_id: None,
            retry_ms: None,
            ready: VecDeque::new(),
        }
    }

    pub(crate) fn feed(&mut self, mut chunk: &[u8]) -> Result<(), TooLarge> {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            let (head, rest) = chunk.split_at(end);
            chunk = &rest[1..];
            if self.line.len() + head.len() + self.data.len() > self.max_event {
                return Err(TooLarge);
            }
            let line: std::borrow::Cow<[u8]> = if self.line.is_empty() {
                std::borrow::Cow::Borrowed(head)
            } else {
                self.line.extend_from_slice(head);
                std::borrow::Cow::Owned(std::mem::take(&mut self.line))
            };
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            self.line_done(line)?;
        }
        self.line.extend_from_slice(chunk);
        if self.line.len() + self.data.len() > self.max_event {
            return Err(TooLarge);
        }
        Ok(())
    }

    /// The last `retry:` the server asked for, in milliseconds.
    pub(crate) fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// The last `id:` seen on the stream.
    pub(crate) fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    pub(crate) fn next_event(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }

    fn line_done(&mut self, line: &[u8]) -> Result<(), TooLarge> {
        if line.is_empty() {
            if self.has_data {
                self.ready.push_back(Event {
                    event: self.event.take().unwrap_or_else(|| "message".into()),
                    data: std::mem::take(&mut self.data),
                    id: self.last_id.clone(),
                });
            }
            self.event = None;
            self.has_data = false;
            self.data.clear();
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(()); // comment (keep-alive)
        }
        let text = String::from_utf8_lossy(line);
        // Each invalid byte decodes to U+FFFD, three bytes: the bound holds for the decoded text.
        if text.len() + self.data.len() > self.max_event {
            return Err(TooLarge);
        }
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // An id with NUL is ignored, as the SSE specification says.
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            "retry" => {
                if let Ok(ms) = value.parse() {
                    self.retry_ms = Some(ms);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_across_chunks() {
        let mut p = Parser::new(1024);
        p.feed(b"event: endpoint\r\ndata: /messages?s=1\r\n")
            .unwrap();
        assert_eq!(p.next_event(), None);
        p.feed(b"\r\n: keep-alive\n\ndata: {\"a\":\ndata: 1}\n\n")
            .unwrap();
        assert_eq!(
            p.next_event(),
            Some(Event {
                event: "endpoint".into(),
                data: "/messages?s=1".into(),
                id: None,
            })
        );
        assert_eq!(
            p.next_event(),
            Some(Event {
                event: "message".into(),
                data: "{\"a\":\n1}".into(),
                id: None,
            })
        );
        assert_eq!(p.next_event(), None);
    }

    #[test]
    fn keeps_the_last_event_id_and_retry() {
        let mut p = Parser::new(1024);
        p.feed(b"id: 7\nretry: 250\ndata: a\n\ndata: b\n\n")
            .unwrap();
        assert_eq!(p.next_event().map(|e| e.id), Some(Some("7".into())));
        assert_eq!(p.next_event().map(|e| e.id), Some(Some("7".into())));
        assert_eq!(p.last_id(), Some("7"));
        assert_eq!(p.retry_ms(), Some(250));
    }

    #[test]
    fn joins_a_line_split_across_chunks() {
        let mut p = Parser::new(1024);
        p.feed(b"da").unwrap();
        p.feed(b"ta: hel").unwrap();
        p.feed(b"lo\r").unwrap();
        p.feed(b"\n\n").unwrap();
        assert_eq!(p.next_event().map(|e| e.data), Some("hello".into()));
    }

    #[test]
    fn refuses_a_line_that_never_ends() {
        let mut p = Parser::new(16);
        assert_eq!(p.feed(b"data: 0123"), Ok(()));
        assert_eq!(p.feed(b"456789abcdef"), Err(TooLarge));
    }

    /// Found by fuzzing (`sse_chunks`): invalid UTF-8 grew three-fold when decoded, so an
    /// event name or data within the bound as bytes came out larger than the bound.
    #[test]
    fn the_bound_holds_for_text_decoded_from_invalid_utf8() {
        let mut p = Parser::new(16);
        assert_eq!(
            p.feed(b"data: \xff\xff\xff\xff\xff\xff\xff\xff\n\n"),
            Err(TooLarge)
        );
        assert_eq!(p.next_event(), None);
        let mut p = Parser::new(16);
        assert_eq!(p.feed(b"event: \xff\xff\xff\xff\xff\n"), Err(TooLarge));
        let mut p = Parser::new(16);
        p.feed(b"data: \xc3\xa9\xff\n\n").unwrap();
        assert_eq!(
            p.next_event().map(|e| e.data),
            Some("\u{e9}\u{fffd}".into())
        );
    }

    #[test]
    fn refuses_oversized_events() {
        let mut p = Parser::new(16);
        assert_eq!(p.feed(b"data: 0123456789abcdef\n"), Err(TooLarge));
    }
}
