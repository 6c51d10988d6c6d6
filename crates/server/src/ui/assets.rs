//! The UI's files (`crates/server/ui/`), embedded in the binary.

pub const LIST_HTML: &str = include_str!("../../ui/index.html");
pub const RUN_HTML: &str = include_str!("../../ui/run.html");
pub const LOGIN_HTML: &str = include_str!("../../ui/login.html");

/// Content type and body of `/ui/assets/{name}`.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "app.css" => ("text/css; charset=utf-8", include_str!("../../ui/app.css")),
        "common.js" => (JS, include_str!("../../ui/common.js")),
        "list.js" => (JS, include_str!("../../ui/list.js")),
        "run.js" => (JS, include_str!("../../ui/run.js")),
        _ => return None,
    })
}

const JS: &str = "text/javascript; charset=utf-8";
