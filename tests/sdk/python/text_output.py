# Text output through the official Python SDK: create + result, then retrieve and retrieve_input.
from _common import check, client, dump

c = client()
token = "zebra-7731"
question = f"{token} What is the capital of France? [[fake:no_tools]]"
spec = {"output_schema": {"type": "text", "description": "A short answer"}}
run = c.task_run.create(input=question, processor="lite", task_spec=spec, metadata={"suite": "e2e", "n": 3})
print("created", dump(run))
check(run.run_id.startswith("trun_"), f"run_id should start with trun_: {run.run_id}")
check(run.interaction_id, "interaction_id must be present")
check(run.status in ("queued", "running"), f"a new run is queued or running, got {run.status}")
check(run.is_active, "a new run is active")
check(run.processor == "lite", f"processor echoed: {run.processor}")
check(run.metadata == {"suite": "e2e", "n": 3}, f"metadata echoed: {run.metadata}")

result = c.task_run.result(run.run_id, api_timeout=120)
print("result", dump(result))
check(result.run.run_id == run.run_id, "result.run.run_id matches")
check(result.run.status == "completed", f"status completed, got {result.run.status}")
check(result.run.is_active is False, "completed run is not active")
check(result.output.type == "text", f"output.type text, got {result.output.type}")
check(isinstance(result.output.content, str) and result.output.content.strip(), "text content is a non-empty string")
check(token in result.output.content, f"the fake LLM's answer quotes the input ({token}): {result.output.content!r}")
check(isinstance(result.output.basis, list), "output.basis is a list")

got = c.task_run.retrieve(run.run_id)
print("retrieve", dump(got))
check(got.run_id == run.run_id and got.status == "completed" and not got.is_active, f"retrieve: {dump(got)}")
check(got.created_at and got.modified_at, "created_at / modified_at set")

inp = c.task_run.retrieve_input(run.run_id)
print("input", dump(inp))
check(inp.input == question, f"input echoed: {inp.input!r}")
check(inp.processor == "lite", f"processor echoed in input: {inp.processor}")
check(inp.task_spec is not None and inp.task_spec.output_schema.type == "text", f"task_spec echoed: {dump(inp)}")
check(inp.metadata == {"suite": "e2e", "n": 3}, f"metadata echoed in input: {inp.metadata}")
print("PASS text_output")
