//! Cutting text to a length for messages, events and notes.

/// The first `max` characters of `text`, with an ellipsis when cut.
pub fn first_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
