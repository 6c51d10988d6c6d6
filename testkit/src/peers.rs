//! Locates the external test peers (Python venv, Node packages) installed by `scripts/install-test-deps.sh`.

use std::path::PathBuf;

/// The repository root (the workspace that holds `testkit/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives inside the repository")
        .to_path_buf()
}

/// The venv's Python, with the official Parallel SDK and FastMCP installed.
/// Panics with the fix when it is missing: a test that needs it must not pass silently.
pub fn python() -> PathBuf {
    let path = repo_root().join(".venv/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-deps.sh first",
        path.display()
    );
    path
}

/// The folder holding testkit's Node packages (`node_modules` inside it).
pub fn node_dir() -> PathBuf {
    let dir = repo_root().join("testkit/node");
    assert!(
        dir.join("node_modules").exists(),
        "{} has no node_modules: run scripts/install-test-deps.sh first",
        dir.display()
    );
    dir
}

/// A file under `testkit/python/`.
pub fn python_fixture(name: &str) -> PathBuf {
    repo_root().join("testkit/python").join(name)
}
