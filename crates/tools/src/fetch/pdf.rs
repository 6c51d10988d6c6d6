//! PDF to text. PDF parsers can panic on malformed files: the parse runs under
//! `catch_unwind`, so a bad document is an error, never a crashed worker. CPU-heavy: call it
//! from a blocking task.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// The text of a whole PDF document, pages separated by blank lines.
pub(crate) fn text(bytes: &[u8]) -> Result<String, String> {
    match catch_unwind(AssertUnwindSafe(|| {
        pdf_extract::extract_text_from_mem_by_pages(bytes)
    })) {
        Ok(Ok(pages)) => {
            let pages: Vec<String> = pages
                .iter()
                .map(|page| super::extract::tidy(page))
                .filter(|page| !page.is_empty())
                .collect();
            if pages.is_empty() {
                Err("the PDF has no text layer (a scanned document?)".to_owned())
            } else {
                Ok(pages.join("\n\n"))
            }
        }
        Ok(Err(err)) => Err(format!("the PDF could not be read ({err})")),
        Err(_) => Err("the PDF is malformed (its parser gave up)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b"%PDF-1.4\n"[..],
            b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
            b"not a pdf at all",
            b"",
        ] {
            assert!(super::text(bytes).is_err());
        }
    }
}
