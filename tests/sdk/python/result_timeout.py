# result(api_timeout=1) on a run whose LLM stalls: the server answers 408 (the SDK surfaces it
# as APIStatusError with status_code 408); retrieve still shows the run active.
import time

import parallel

from _common import check, client, dump, fail

c = client(max_retries=0)
run = c.task_run.create(input="Slow one [[fake:no_tools]] [[fake:stall_ms=60000]]", processor="lite")
print("created", dump(run))
started = time.monotonic()
try:
    res = c.task_run.result(run.run_id, api_timeout=1)
    fail(f"expected a 408 while the run is active, got a result: {dump(res)}")
except parallel.APIStatusError as e:
    print(f"raised {type(e).__name__} status={e.status_code} body={e.body}")
    check(e.status_code == 408, f"status 408, got {e.status_code}")
    body = e.body if isinstance(e.body, dict) else {}
    err = body.get("error", body)
    check(isinstance(err, dict) and err.get("ref_id") and err.get("message"), f"error shape with ref_id: {e.body}")
    check("active" in err.get("message", "").lower() or "timed out" in err.get("message", "").lower(),
          f"message says the run is still active: {err}")
print(f"408 after {time.monotonic() - started:.1f}s")
got = c.task_run.retrieve(run.run_id)
check(got.is_active, f"run still active: {dump(got)}")
print("PASS result_timeout")
