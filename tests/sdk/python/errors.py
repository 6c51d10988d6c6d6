# Error mapping through the official Python SDK: NotFoundError for an unknown run id (retrieve,
# result, retrieve_input), AuthenticationError for a wrong key, PermissionDeniedError for an
# unknown processor, UnprocessableEntityError for a refused field.
import parallel

from _common import check, client, expect_error

c = client(max_retries=0)
missing = "trun_00000000000000000000000000000000"
expect_error(lambda: c.task_run.retrieve(missing), parallel.NotFoundError, "retrieve unknown run")
expect_error(lambda: c.task_run.result(missing, api_timeout=1), parallel.NotFoundError, "result of unknown run")
expect_error(lambda: c.task_run.retrieve_input(missing), parallel.NotFoundError, "input of unknown run")

bad = client(api_key="definitely-wrong", max_retries=0)
e = expect_error(lambda: bad.task_run.create(input="x", processor="lite"), parallel.AuthenticationError, "wrong key")
check(e.status_code == 401, "401")
expect_error(lambda: bad.task_run.retrieve(missing), parallel.AuthenticationError, "wrong key on retrieve")

e = expect_error(lambda: c.task_run.create(input="x", processor="warp-drive"), parallel.PermissionDeniedError, "unknown processor")
check("processor" in str(e).lower(), f"message names the processor: {e}")

e = expect_error(
    lambda: c.task_run.create(input="x", processor="lite", webhook={"url": "ftp://example.com/hook"}),
    parallel.UnprocessableEntityError,
    "webhook with a non-http URL",
)
check("webhook.url" in str(e).lower(), f"message names webhook.url: {e}")
print("PASS errors")
