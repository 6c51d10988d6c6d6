# MCP tool calling through the official Python SDK: a json task with TWO MCP servers (the
# FastMCP vault with its bearer header, and the rmcp fixture); reads output.mcp_tool_calls.
# A third run with a wrong bearer token must still complete, with the failure visible in
# the trace or as a run warning. Writes the run ids to $OUT_FILE for the Rust side's leak checks.
import asyncio
import json
import os

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from _common import check, client, dump

VAULT_URL = os.environ["VAULT_URL"]
TOKEN = os.environ["VAULT_TOKEN"]
FIXTURE_URL = os.environ["FIXTURE_URL"]
OUT_FILE = os.environ["OUT_FILE"]


async def code_from_vault(company: str) -> str:
    """The truth, straight from the vault (not through forage)."""
    transport = StreamableHttpTransport(VAULT_URL, headers={"Authorization": f"Bearer {TOKEN}"})
    async with Client(transport) as vault:
        result = await vault.call_tool("get_secret_code", {"company": company})
        return "".join(getattr(block, "text", "") for block in result.content).strip()


expected = asyncio.run(code_from_vault("ACME"))
print("vault says:", expected)
check(expected, "the vault returned a code when called directly")

c = client()
schema = {
    "type": "object",
    "properties": {"code": {"type": "string"}, "echoed": {"type": "string"}},
    "required": ["code"],
}
directives = (
    '[[fake:call name=get_secret_code args={"company": "ACME"}]] '
    '[[fake:call name=echo args={"text": "ping-from-forage"}]]'
)


def servers(token: str):
    return [
        {"type": "url", "name": "vault", "url": VAULT_URL, "headers": {"Authorization": f"Bearer {token}"}},
        {"type": "url", "name": "fixture", "url": FIXTURE_URL},
    ]


def run_task(token: str):
    run = c.task_run.create(
        input=f"What is ACME's secret code? {directives}",
        processor="base",
        task_spec={"output_schema": {"type": "json", "json_schema": schema}},
        mcp_servers=servers(token),
        enable_events=True,
    )
    result = c.task_run.result(run.run_id, api_timeout=120)
    print("result", dump(result))
    return run, result


# --- Good token: both servers' tools are called.
run, result = run_task(TOKEN)
check(result.run.status == "completed", f"completed, got {result.run.status}")
check(result.output.type == "json", "json output")
calls = result.output.mcp_tool_calls or []
check(calls, f"output.mcp_tool_calls is non-empty: {dump(result.output)}")
vault = [x for x in calls if x.server_name == "vault"]
fixture = [x for x in calls if x.server_name == "fixture"]
check(vault, f"a call to the vault server: {[dump(x) for x in calls]}")
check(fixture, f"a call to the fixture server: {[dump(x) for x in calls]}")
v = vault[0]
check(v.tool_name == "get_secret_code", f"vault tool_name is the server's own name: {v.tool_name}")
check(isinstance(v.arguments, str), "arguments is a JSON string")
check(json.loads(v.arguments) == {"company": "ACME"}, f"vault arguments: {v.arguments}")
check(v.content and expected in v.content, f"vault content holds the code {expected!r}: {v.content!r}")
check(not v.error, f"no error on the vault call: {v.error!r}")
check(v.tool_call_id, "tool_call_id set")
f = fixture[0]
check(f.tool_name == "echo", f"fixture tool_name: {f.tool_name}")
check(json.loads(f.arguments) == {"text": "ping-from-forage"}, f"fixture arguments: {f.arguments}")
check(f.content and "ping-from-forage" in f.content, f"echo content: {f.content!r}")
check(not f.error, f"no error on the echo call: {f.error!r}")
check(len({x.tool_call_id for x in calls}) == len(calls), "tool_call_ids are unique")

# --- A second good run (independent connection reuse / no state bleed).
run2, result2 = run_task(TOKEN)
check(result2.run.status == "completed", "second run completed")
check(any(x.server_name == "vault" and expected in (x.content or "") for x in (result2.output.mcp_tool_calls or [])),
      "second run also got the code")

# --- Wrong token: the run still completes; the failure shows in the trace or as a warning.
bad_run, bad = run_task("wrong-" + TOKEN[::-1])
check(bad.run.status == "completed", f"a wrong bearer token must not fail the run: {bad.run.status}")
bad_calls = bad.output.mcp_tool_calls or []
vault_errors = [x for x in bad_calls if x.server_name == "vault" and x.error]
warnings = [w for w in (bad.run.warnings or []) if "vault" in (w.message or "")]
check(not any(x.server_name == "vault" and expected in (x.content or "") for x in bad_calls),
      "the wrong token must not yield the code")
check(vault_errors or warnings,
      f"the vault failure is visible (trace error or run warning naming 'vault'): calls={[dump(x) for x in bad_calls]} warnings={bad.run.warnings}")
print("vault failure surfaced as:", [x.error for x in vault_errors], [w.message for w in warnings])
check(any(x.server_name == "fixture" and "ping-from-forage" in (x.content or "") for x in bad_calls),
      "the fixture still answered on the run with the bad vault token")

with open(OUT_FILE, "w") as out:
    json.dump({"runs": [run.run_id, run2.run_id, bad_run.run_id], "expected_code": expected}, out)
print("PASS mcp_tools")
