//! A local web of fixture sites for tests: several sites by host name on one loopback port.
//!
//! [`FixtureWeb`] is one axum server on `127.0.0.1` that routes by the `Host` header, so names
//! like `news.test` work once a DNS double answers them with 127.0.0.1 ([`FixtureWeb::register`]).
//! Every HTML page wraps its main content in realistic boilerplate (cookie banner, header and
//! navigation, sidebar, footer, scripts, styles) that main-content extraction must drop; the
//! boilerplate's phrases are in [`BOILERPLATE`].
//!
//! | URL | what it is |
//! |---|---|
//! | `news.test/2025/03/acme-names-new-ceo.html` | article, published 2025-03-14; the fact: Acme Corp's CEO is Dana Whitfield |
//! | `news.test/r/start` | 301 → `/r/middle` 302 → the article (same host) |
//! | `short.test/acme` | 301 → `news.test/r/cross` 302 → `acme.example.test/about` (cross host) |
//! | `news.test/broken` | 500 |
//! | `news.test/drafts/unpublished.html` | a page robots.txt closes to `forage` (not to `*`) |
//! | `acme.example.test/about` | company page |
//! | `docs.example.test/guide/install.html` | docs: an ordered list and a table; JSON-LD datePublished 2024-11-02 |
//! | `docs.example.test/notes.txt` | plain text |
//! | `docs.example.test/files/widget-report.pdf` | a one-page PDF ([`PDF_LINES`]) |
//! | `docs.example.test/files/huge-report.pdf` | a PDF streamed 8 MiB long, no Content-Length |
//! | `docs.example.test/fr/guide.html` | ISO-8859-1 page with `charset=ISO-8859-1` |
//! | `docs.example.test/images/logo.png` | PNG image |
//! | `docs.example.test/download.bin` | binary, `application/octet-stream` |
//! | `evil.test/injection.html` | prompt-injection text, hidden text, fake system tags |
//! | `evil.test/to-metadata` | 302 → `http://169.254.169.254/latest/meta-data/` |
//! | `evil.test/to-loopback` | 302 → `http://127.0.0.1:1/` |
//! | `slow.test/slow` | answers after 30 s |
//! | `slow.test/huge.html` | 50 MB of HTML, streamed |
//! | `robots.test/private/report.html`, `robots.test/public/report.html` | robots.txt disallows `/private/` to `*` |
//!
//! Any other path is a 404; hosts without a robots.txt answer it with 404 too.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::dns::DnsDouble;
use crate::search::IndexedPage;

/// Phrases of the boilerplate around every HTML page (banner, navigation, sidebar, footer,
/// script, style): none of them may appear in extracted main content.
pub const BOILERPLATE: [&str; 6] = [
    "We use cookies to improve your experience",
    "Subscribe for $1 a week",
    "Trending now: celebrity widget auction",
    "All rights reserved by the Example Media Group",
    "window.__ANALYTICS_ID",
    ".promo-banner",
];

/// The lines of text in the fixture PDF.
pub const PDF_LINES: [&str; 3] = [
    "Widget Quarterly Report",
    "Widget output rose 12 percent in the third quarter of 2024.",
    "Prepared by the Acme Corp planning office.",
];

/// Every site's host name.
const HOSTS: [&str; 7] = [
    "news.test",
    "acme.example.test",
    "docs.example.test",
    "short.test",
    "evil.test",
    "slow.test",
    "robots.test",
];

/// How long the slow page waits before answering.
const SLOW: Duration = Duration::from_secs(30);
/// The size of the huge page and of the huge PDF.
const HUGE_HTML_BYTES: usize = 50 * 1000 * 1000;
const HUGE_PDF_BYTES: usize = 8 * 1024 * 1024;

/// What a content page holds.
enum Content {
    /// Main-content HTML, wrapped in the site's boilerplate.
    Html {
        main: &'static str,
        head: &'static str,
    },
    /// The same, served as ISO-8859-1.
    Latin1Html {
        main: &'static str,
    },
    Text(&'static str),
    Pdf,
}

/// A page with content (the ones a search engine would index).
struct Page {
    host: &'static str,
    path: &'static str,
    title: &'static str,
    published: Option<&'static str>,
    content: Content,
}

const ARTICLE_HEAD: &str = r#"<meta property="og:title" content="Acme Corp names Dana Whitfield chief executive">
<meta property="article:published_time" content="2025-03-14T08:30:00Z">
<meta name="author" content="Martin Ocampo">"#;

const DOCS_HEAD: &str = r#"<script type="application/ld+json">{"@context":"https://schema.org","@type":"TechArticle","headline":"Installing Widgetizer","datePublished":"2024-11-02"}</script>"#;

fn pages() -> Vec<Page> {
    vec![
        Page {
            host: "news.test",
            path: "/2025/03/acme-names-new-ceo.html",
            title: "Acme Corp names Dana Whitfield chief executive",
            published: Some("2025-03-14"),
            content: Content::Html {
                main: include_str!("../fixtures/web/news-acme-ceo.html"),
                head: ARTICLE_HEAD,
            },
        },
        Page {
            host: "news.test",
            path: "/drafts/unpublished.html",
            title: "Draft: Acme Corp second-quarter preview",
            published: None,
            content: Content::Html {
                main: "<article><h1>Draft: Acme Corp second-quarter preview</h1><p>This draft is not ready for readers or robots. Acme Corp is expected to report a second-quarter revenue of $1.9 billion, according to people familiar with the matter.</p></article>",
                head: "",
            },
        },
        Page {
            host: "acme.example.test",
            path: "/about",
            title: "About Acme Corp",
            published: None,
            content: Content::Html {
                main: include_str!("../fixtures/web/acme-about.html"),
                head: "",
            },
        },
        Page {
            host: "docs.example.test",
            path: "/guide/install.html",
            title: "Installing Widgetizer",
            published: Some("2024-11-02"),
            content: Content::Html {
                main: include_str!("../fixtures/web/docs-install.html"),
                head: DOCS_HEAD,
            },
        },
        Page {
            host: "docs.example.test",
            path: "/notes.txt",
            title: "Widgetizer 2.4 release notes",
            published: Some("2024-11-02"),
            content: Content::Text(include_str!("../fixtures/web/docs-release-notes.txt")),
        },
        Page {
            host: "docs.example.test",
            path: "/files/widget-report.pdf",
            title: "Widget Quarterly Report",
            published: None,
            content: Content::Pdf,
        },
        Page {
            host: "docs.example.test",
            path: "/fr/guide.html",
            title: "Guide d'installation de Widgetizer",
            published: None,
            content: Content::Latin1Html {
                main: include_str!("../fixtures/web/docs-guide-fr.html"),
            },
        },
        Page {
            host: "evil.test",
            path: "/injection.html",
            title: "Ten tips for better widget photography",
            published: None,
            content: Content::Html {
                main: include_str!("../fixtures/web/evil-injection.html"),
                head: "",
            },
        },
        Page {
            host: "robots.test",
            path: "/private/report.html",
            title: "Internal robots report",
            published: None,
            content: Content::Html {
                main: "<article><h1>Internal robots report</h1><p>This report is private: the site's robots.txt asks automated agents not to read anything under /private/. The robot fleet grew to 310 units in 2024.</p></article>",
                head: "",
            },
        },
        Page {
            host: "robots.test",
            path: "/public/report.html",
            title: "Public robots report",
            published: None,
            content: Content::Html {
                main: "<article><h1>Public robots report</h1><p>Robots of every kind may read this page. The robot fleet of the Example Robotics Society counted 310 units at the end of 2024, up from 250 a year earlier.</p></article>",
                head: "",
            },
        },
    ]
}

const NEWS_ROBOTS: &str =
    "User-agent: otherbot\nDisallow: /\n\nUser-agent: forage\nDisallow: /drafts/\n";
const ROBOTS_ROBOTS: &str =
    "# Robots are welcome, except in private.\nUser-agent: *\nDisallow: /private/\n";

/// The local web; it stops when dropped.
pub struct FixtureWeb {
    port: u16,
    state: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    port: u16,
    pages: Vec<Page>,
    pdf: Bytes,
    hits: Mutex<HashMap<(String, String), usize>>,
}

impl FixtureWeb {
    /// Starts every site on `127.0.0.1`, on a free port.
    pub async fn start() -> FixtureWeb {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fixture web on 127.0.0.1");
        let port = listener.local_addr().expect("fixture web address").port();
        let state = Arc::new(Shared {
            port,
            pages: pages(),
            pdf: Bytes::from(pdf_document(&PDF_LINES)),
            hits: Mutex::new(HashMap::new()),
        });
        let router = Router::new().fallback(serve).with_state(state.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "fixture web stopped");
            }
        });
        FixtureWeb { port, state, task }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://{host}:{port}{path}`.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    /// Every site's host name.
    pub fn hosts(&self) -> Vec<&'static str> {
        HOSTS.to_vec()
    }

    /// Makes `dns` answer every site's host name with 127.0.0.1.
    pub fn register(&self, dns: &DnsDouble) {
        for host in HOSTS {
            dns.answer(host, &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        }
    }

    /// Every content page (URL, title, visible text, published date), for a fake search index.
    pub fn pages(&self) -> Vec<IndexedPage> {
        self.state
            .pages
            .iter()
            .map(|page| IndexedPage {
                url: self.url(page.host, page.path),
                title: page.title.to_owned(),
                text: match &page.content {
                    Content::Html { main, .. } | Content::Latin1Html { main } => visible_text(main),
                    Content::Text(text) => text.trim().to_owned(),
                    Content::Pdf => PDF_LINES.join("\n"),
                },
                published_date: page.published.map(str::to_owned),
            })
            .collect()
    }

    /// Requests served for `path` on `host` so far (any query string ignored).
    pub fn hits(&self, host: &str, path: &str) -> usize {
        let hits = self.state.hits.lock().expect("hits lock");
        hits.get(&(host.to_ascii_lowercase(), path.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// The fixture PDF's bytes.
    pub fn pdf_bytes(&self) -> Vec<u8> {
        self.state.pdf.to_vec()
    }
}

impl Drop for FixtureWeb {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(State(state): State<Arc<Shared>>, headers: HeaderMap, uri: Uri) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.host())
        .unwrap_or("")
        .to_ascii_lowercase();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_owned(),
        _ => host,
    };
    let path = uri.path().to_owned();
    *state
        .hits
        .lock()
        .expect("hits lock")
        .entry((host.clone(), path.clone()))
        .or_insert(0) += 1;
    respond(&state, &host, &path).await
}

fn redirect(status: StatusCode, location: &str) -> Response {
    (status, [(header::LOCATION, location.to_owned())]).into_response()
}

async fn respond(state: &Shared, host: &str, path: &str) -> Response {
    let port = state.port;
    match (host, path) {
        ("news.test", "/robots.txt") => return text_response("text/plain", NEWS_ROBOTS),
        ("robots.test", "/robots.txt") => return text_response("text/plain", ROBOTS_ROBOTS),
        ("news.test", "/r/start") => return redirect(StatusCode::MOVED_PERMANENTLY, "/r/middle"),
        ("news.test", "/r/middle") => {
            return redirect(StatusCode::FOUND, "/2025/03/acme-names-new-ceo.html");
        }
        ("short.test", "/acme") => {
            let to = format!("http://news.test:{port}/r/cross");
            return redirect(StatusCode::MOVED_PERMANENTLY, &to);
        }
        ("news.test", "/r/cross") => {
            let to = format!("http://acme.example.test:{port}/about");
            return redirect(StatusCode::FOUND, &to);
        }
        ("news.test", "/broken") => {
            let page = layout(
                "The Daily Ledger",
                "Server error",
                "",
                "<h1>Something went wrong</h1><p>Please try again later.</p>",
            );
            return (StatusCode::INTERNAL_SERVER_ERROR, html_headers(), page).into_response();
        }
        ("evil.test", "/to-metadata") => {
            return redirect(
                StatusCode::FOUND,
                "http://169.254.169.254/latest/meta-data/",
            );
        }
        ("evil.test", "/to-loopback") => return redirect(StatusCode::FOUND, "http://127.0.0.1:1/"),
        ("slow.test", "/slow") => {
            tokio::time::sleep(SLOW).await;
            return text_response("text/plain", "Finally here.");
        }
        ("slow.test", "/huge.html") => return huge_html(),
        ("docs.example.test", "/files/huge-report.pdf") => return huge_pdf(),
        ("docs.example.test", "/images/logo.png") => {
            return ([(header::CONTENT_TYPE, "image/png")], png()).into_response();
        }
        ("docs.example.test", "/download.bin") => {
            let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
            return ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response();
        }
        _ => {}
    }
    let Some(page) = state
        .pages
        .iter()
        .find(|p| p.host == host && p.path == path)
    else {
        let page = layout(
            site_name(host),
            "Page not found",
            "",
            "<h1>Page not found</h1><p>The page you asked for does not exist.</p>",
        );
        return (StatusCode::NOT_FOUND, html_headers(), page).into_response();
    };
    match &page.content {
        Content::Html { main, head } => (
            html_headers(),
            layout(site_name(host), page.title, head, main),
        )
            .into_response(),
        Content::Latin1Html { main } => {
            let page = layout(site_name(host), page.title, "", main);
            let bytes: Vec<u8> = page
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect();
            (
                [(header::CONTENT_TYPE, "text/html; charset=ISO-8859-1")],
                bytes,
            )
                .into_response()
        }
        Content::Text(text) => text_response("text/plain; charset=utf-8", text),
        Content::Pdf => (
            [(header::CONTENT_TYPE, "application/pdf")],
            state.pdf.clone(),
        )
            .into_response(),
    }
}

fn text_response(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn html_headers() -> [(header::HeaderName, &'static str); 1] {
    [(header::CONTENT_TYPE, "text/html; charset=utf-8")]
}

fn site_name(host: &str) -> &'static str {
    match host {
        "news.test" => "The Daily Ledger",
        "acme.example.test" => "Acme Corp",
        "docs.example.test" => "Widgetizer Docs",
        "evil.test" => "Widget Hobbyist",
        "robots.test" => "Example Robotics Society",
        _ => "Example Site",
    }
}

/// A whole HTML page: `main` inside the boilerplate every real site has.
fn layout(site: &str, title: &str, head: &str, main: &str) -> String {
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} | {site}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{head}
<style>.promo-banner {{ color: red; }} body {{ font-family: sans-serif; }}</style>
<script>window.__ANALYTICS_ID = "UA-000000-1"; document.write("tracking");</script>
</head>
<body>
<div id="cookie-banner" class="cookie-banner" role="dialog">
  <p>We use cookies to improve your experience. By continuing you accept our cookie policy.</p>
  <button>Accept all</button> <button>Manage preferences</button>
</div>
<header class="site-header">
  <a class="logo" href="/">{site}</a>
  <nav class="main-nav">
    <ul>
      <li><a href="/">Home</a></li><li><a href="/business">Business</a></li>
      <li><a href="/technology">Technology</a></li><li><a href="/opinion">Opinion</a></li>
      <li><a href="/subscribe">Subscribe for $1 a week</a></li>
    </ul>
  </nav>
</header>
<main id="content">
{main}
</main>
<aside class="sidebar">
  <h3>Most read</h3>
  <ul>
    <li><a href="/trending/1">Trending now: celebrity widget auction</a></li>
    <li><a href="/trending/2">Ten cities with the best anvils</a></li>
  </ul>
</aside>
<footer class="site-footer">
  <p>© 2025 {site}. All rights reserved by the Example Media Group.</p>
  <p><a href="/privacy">Privacy</a> · <a href="/terms">Terms</a> · <a href="/contact">Contact</a></p>
</footer>
<script src="/static/app.js"></script>
</body>
</html>
"##
    )
}

/// A streamed HTML page of [`HUGE_HTML_BYTES`], no Content-Length.
fn huge_html() -> Response {
    let head = Bytes::from_static(
        b"<!DOCTYPE html><html><head><title>A very long page</title></head><body><article><h1>A very long page</h1>",
    );
    let mut paragraph = String::new();
    while paragraph.len() < 64 * 1024 {
        paragraph.push_str("<p>This paragraph repeats to make the page enormous; a fetcher must stop reading long before the end.</p>\n");
    }
    let chunk = Bytes::from(paragraph);
    let count = HUGE_HTML_BYTES / chunk.len();
    let stream = futures::stream::iter(
        std::iter::once(head)
            .chain(std::iter::repeat_n(chunk, count))
            .map(Ok::<_, Infallible>),
    );
    (html_headers(), Body::from_stream(stream)).into_response()
}

/// A PDF header followed by [`HUGE_PDF_BYTES`] of padding, streamed with no Content-Length.
fn huge_pdf() -> Response {
    let chunk = Bytes::from(vec![b'%'; 64 * 1024]);
    let stream = futures::stream::iter(
        std::iter::once(Bytes::from_static(b"%PDF-1.4\n"))
            .chain(std::iter::repeat_n(chunk, HUGE_PDF_BYTES / (64 * 1024)))
            .map(Ok::<_, Infallible>),
    );
    (
        [(header::CONTENT_TYPE, "application/pdf")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// A 1×1 PNG.
fn png() -> &'static [u8] {
    &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ]
}

/// A valid one-page PDF (Helvetica, one line of text per entry) with a correct xref table.
pub fn pdf_document(lines: &[&str]) -> Vec<u8> {
    let mut content = String::from("BT\n/F1 12 Tf\n72 720 Td\n");
    for line in lines {
        let escaped = line
            .replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)");
        content.push_str(&format!("({escaped}) Tj\n0 -18 Td\n"));
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        format!("<< /Title ({}) /Producer (forage-testkit) >>", lines.first().unwrap_or(&"")),
    ];
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// The visible text of an HTML fragment: tags dropped (and `display:none` blocks), entities
/// decoded, whitespace collapsed.
fn visible_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[open..open + close + 1];
        rest = &rest[open + close + 1..];
        if tag.contains("display:none") {
            // Skip the hidden element's content up to its closing tag.
            let name: String = tag[1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            let end = format!("</{name}>");
            rest = rest.find(&end).map_or("", |at| &rest[at + end.len()..]);
        }
        text.push(' ');
    }
    text.push_str(rest);
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_text_drops_tags_and_hidden_blocks() {
        assert_eq!(
            visible_text("<p>a &amp; b</p><div style=\"display:none\">secret</div><p>c</p>"),
            "a & b c"
        );
    }

    #[test]
    fn pdf_xref_offsets_point_at_objects() {
        let pdf = pdf_document(&PDF_LINES);
        let at = |needle: &[u8]| pdf.windows(needle.len()).position(|w| w == needle);
        let xref = at(b"xref\n").unwrap();
        let table = String::from_utf8(pdf[xref..].to_vec()).unwrap();
        for (i, line) in table.lines().skip(3).take(6).enumerate() {
            let offset: usize = line[..10].parse().unwrap();
            let object = format!("{} 0 obj", i + 1);
            assert!(pdf[offset..].starts_with(object.as_bytes()), "{line}");
        }
    }
}
