# JSON output through the official Python SDK: task_run.execute(..., output=PydanticModel)
# returns a parsed model; plus a json create with an explicit schema read via result().
from typing import List

from pydantic import BaseModel, Field

from _common import check, client, dump


class Company(BaseModel):
    name: str = Field(description="The company's name")
    founded: int = Field(description="Year founded")
    products: List[str] = Field(description="Main products")


c = client()
result = c.task_run.execute(input="Tell me about ACME Corp [[fake:no_tools]]", processor="base", output=Company, timeout=180)
print("execute", dump(result))
check(result.run.status == "completed", f"status completed, got {result.run.status}")
check(result.output.type == "json", f"output.type json, got {result.output.type}")
parsed = result.output.parsed
check(isinstance(parsed, Company), f"output.parsed is a Company, got {type(parsed)}")
check(isinstance(parsed.founded, int), "founded is an int")
check(isinstance(parsed.products, list) and all(isinstance(p, str) for p in parsed.products), "products is a list of str")
check(isinstance(result.output.content, dict) and set(result.output.content) >= {"name", "founded", "products"},
      f"content has the schema's fields: {result.output.content}")
check(isinstance(result.output.basis, list), "basis is a list")

# Explicit json schema with an object input.
schema = {
    "type": "object",
    "properties": {"ceo": {"type": "string"}, "employees": {"type": "integer", "minimum": 1}},
    "required": ["ceo", "employees"],
    "additionalProperties": False,
}
run = c.task_run.create(
    input={"company": "ACME", "note": "[[fake:no_tools]]"},
    processor="core",
    task_spec={"output_schema": {"type": "json", "json_schema": schema}},
)
res = c.task_run.result(run.run_id, api_timeout=120)
print("result", dump(res))
check(res.output.type == "json", "json output")
content = res.output.content
check(isinstance(content, dict), f"content is an object: {content!r}")
check(set(content) == {"ceo", "employees"}, f"exactly the schema's fields: {content}")
check(isinstance(content["ceo"], str) and isinstance(content["employees"], int) and content["employees"] >= 1,
      f"types and minimum honoured: {content}")
inp = c.task_run.retrieve_input(run.run_id)
check(inp.input == {"company": "ACME", "note": "[[fake:no_tools]]"}, f"object input echoed: {inp.input}")
print("PASS json_output")
