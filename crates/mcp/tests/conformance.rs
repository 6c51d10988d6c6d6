//! The MCP conformance suite's tool-calling client scenarios pass
//! (`scripts/mcp-conformance.sh` against `forage-mcp-conformance-client`).

use std::process::Command;

use forage_testkit::peers;

#[test]
fn tool_calling_scenarios_pass() {
    peers::node_dir(); // panics with the fix when the Node packages are missing
    let script = peers::repo_root().join("scripts/mcp-conformance.sh");
    let output = Command::new("bash")
        .arg(&script)
        .args(["initialize", "tools_call", "sse-retry"])
        .env(
            "CONFORMANCE_CLIENT",
            env!("CARGO_BIN_EXE_forage-mcp-conformance-client"),
        )
        .output()
        .expect("run scripts/mcp-conformance.sh");
    let table = String::from_utf8_lossy(&output.stdout);
    println!("{table}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    for scenario in ["initialize", "tools_call", "sse-retry"] {
        let line = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(scenario))
            .unwrap_or_else(|| panic!("no result for {scenario}:\n{table}"));
        assert!(
            line.contains(" PASS"),
            "conformance scenario failed: {line}\n{table}"
        );
    }
    assert!(output.status.success(), "{table}");
}
