//! A small, bounded Server-Sent Events parser (only what MCP's legacy transport needs).

use std::collections::VecDeque;

/// One dispatched SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` field; `message` when absent.
    pub event: String,
    pub data: String,
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
            ready: VecDeque::new(),
        }
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<(), TooLarge> {
        for &byte in chunk {
            if byte == b'\n' {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.line_done(&line);
            } else {
                self.line.push(byte);
                if self.line.len() + self.data.len() > self.max_event {
                    return Err(TooLarge);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn next_event(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }

    fn line_done(&mut self, line: &[u8]) {
        if line.is_empty() {
            if self.has_data {
                self.ready.push_back(Event {
                    event: self.event.take().unwrap_or_else(|| "message".into()),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.event = None;
            self.has_data = false;
            self.data.clear();
            return;
        }
        if line[0] == b':' {
            return; // comment (keep-alive)
        }
        let text = String::from_utf8_lossy(line);
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
            _ => {} // id, retry: not needed
        }
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
                data: "/messages?s=1".into()
            })
        );
        assert_eq!(
            p.next_event(),
            Some(Event {
                event: "message".into(),
                data: "{\"a\":\n1}".into()
            })
        );
        assert_eq!(p.next_event(), None);
    }

    #[test]
    fn refuses_oversized_events() {
        let mut p = Parser::new(16);
        assert_eq!(p.feed(b"data: 0123456789abcdef\n"), Err(TooLarge));
    }
}
