# Shared helpers for the SDK scripts: a client from PARALLEL_BASE_URL/PARALLEL_API_KEY and
# check()/fail() that exit non-zero with a clear message on any mismatch.
import json
import os
import sys

from parallel import Parallel


def client(**kwargs) -> Parallel:
    base_url = os.environ["PARALLEL_BASE_URL"]
    api_key = kwargs.pop("api_key", os.environ["PARALLEL_API_KEY"])
    return Parallel(base_url=base_url, api_key=api_key, **kwargs)


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def check(condition, message: str) -> None:
    if not condition:
        fail(message)


def dump(obj) -> str:
    """A model or dict as JSON text, for messages."""
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump(mode="json", by_alias=True)
    return json.dumps(obj, default=str)[:2000]


def expect_error(fn, exc_type, what: str):
    """Calls fn(), which must raise exc_type; returns the exception."""
    try:
        value = fn()
    except exc_type as e:  # noqa: BLE001
        print(f"ok: {what} raised {type(e).__name__}: {e}")
        return e
    except Exception as e:  # noqa: BLE001
        fail(f"{what}: expected {exc_type.__name__}, got {type(e).__name__}: {e}")
    fail(f"{what}: expected {exc_type.__name__}, got a value: {dump(value)}")
