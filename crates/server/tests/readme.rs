//! The README's settings table is the one the code defines: every setting, its variable and default.

use forage_server::config::settings::markdown_table;

const START: &str = "<!-- settings:start";
const END: &str = "<!-- settings:end -->";

#[test]
fn readme_lists_every_setting() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md at the repository root");
    let start = readme
        .find(START)
        .expect("README has the settings:start marker");
    let body_start = start + readme[start..].find("-->").expect("marker closes") + 3;
    let end = readme
        .find(END)
        .expect("README has the settings:end marker");
    let expected = format!("\n{}", markdown_table());
    if std::env::var_os("FORAGE_UPDATE_README").is_some() {
        let updated = format!("{}{}{}", &readme[..body_start], expected, &readme[end..]);
        std::fs::write(&path, updated).expect("write README.md");
        return;
    }
    assert_eq!(
        &readme[body_start..end],
        expected,
        "the README's settings table is stale: run FORAGE_UPDATE_README=1 cargo test -p forage-server --test readme"
    );
}
