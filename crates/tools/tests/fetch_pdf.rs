//! web_fetch reads a PDF's text, whatever the Content-Type says when the body is a PDF.

mod fetch_common;

use fetch_common::Web;
use forage_testkit::web::PDF_LINES;

#[tokio::test]
async fn pdf_text_is_extracted() {
    let web = Web::start().await;
    let url = web.url("docs.example.test", "/files/widget-report.pdf");
    let page = web.fetcher().fetch(&url).await.unwrap();
    for line in PDF_LINES {
        assert!(
            page.text.contains(line),
            "{line:?} missing from:\n{}",
            page.text
        );
    }
    assert_eq!(page.content_type, "application/pdf");
    assert_eq!(page.bytes, web.web.pdf_bytes().len() as u64);
    assert!(!page.truncated);
    assert_eq!(page.url, url);
}

#[test]
fn fixture_pdf_is_a_real_pdf() {
    let pdf = forage_testkit::web::pdf_document(&["Hello (PDF) world"]);
    assert!(pdf.starts_with(b"%PDF-1.4"));
    assert!(pdf.ends_with(b"%%EOF\n"));
}
