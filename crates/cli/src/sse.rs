//! A minimal server-sent-events reader: frames of `id`, `event` and `data` lines.

/// One event.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Accumulates bytes and yields complete events.
#[derive(Default)]
pub struct SseParser {
    buffer: String,
    current: SseEvent,
    has_data: bool,
}

/// Longest buffered line accepted (a runaway stream is cut).
const MAX_LINE: usize = 16 * 1024 * 1024;

impl SseParser {
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, String> {
        self.buffer.push_str(&String::from_utf8_lossy(chunk));
        let mut events = Vec::new();
        while let Some(end) = self.buffer.find('\n') {
            let line: String = self.buffer.drain(..=end).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if self.has_data {
                    events.push(std::mem::take(&mut self.current));
                    self.has_data = false;
                } else {
                    self.current = SseEvent::default();
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "id" => self.current.id = Some(value.to_owned()),
                "event" => self.current.event = Some(value.to_owned()),
                "data" => {
                    if self.has_data {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                    self.has_data = true;
                }
                _ => {}
            }
        }
        if self.buffer.len() > MAX_LINE {
            return Err("an event stream line is too long".to_owned());
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_frames_split_across_chunks() {
        let mut p = SseParser::default();
        assert!(
            p.push(b": keep-alive\n\nevent: a\nid: 3\nda")
                .unwrap()
                .is_empty()
        );
        let events = p.push(b"ta: {\"x\":1}\n\n").unwrap();
        assert_eq!(
            events,
            vec![SseEvent {
                id: Some("3".into()),
                event: Some("a".into()),
                data: "{\"x\":1}".into()
            }]
        );
    }
}
