"""vault_server.py: a FastMCP test peer whose tool needs a bearer token.

python vault_server.py --port N --transport http|sse --token TOKEN

Tool get_secret_code(company) returns a deterministic code (e.g. "ACME-7731") when the
request carried `Authorization: Bearer TOKEN`, and raises an error the client sees otherwise.
Streamable HTTP is served at /mcp, the legacy SSE transport at /sse. Prints
"vault_server ready on http://127.0.0.1:N/<path>" once it accepts connections.
"""

import argparse
import socket
import sys
import threading
import time
import zlib

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_http_headers


def secret_code(company: str) -> str:
    """Deterministic per company: the upper-cased name and a 4-digit checksum."""
    name = company.strip().upper()
    return f"{name}-{1000 + zlib.crc32(name.encode()) % 9000}"


def build(token: str) -> FastMCP:
    mcp = FastMCP("vault")

    @mcp.tool
    def get_secret_code(company: str) -> str:
        """Returns the secret code of a company (needs the vault's bearer token)."""
        headers = get_http_headers(include_all=True)
        if headers.get("authorization") != f"Bearer {token}":
            raise ToolError("unauthorized: missing or wrong bearer token")
        return secret_code(company)

    return mcp


def announce_when_listening(port: int, path: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                print(f"vault_server ready on http://127.0.0.1:{port}{path}", flush=True)
                return
        except OSError:
            time.sleep(0.05)
    print("vault_server did not start listening", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transport", choices=["http", "sse"], default="http")
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    path = "/mcp" if args.transport == "http" else "/sse"
    threading.Thread(target=announce_when_listening, args=(args.port, path), daemon=True).start()
    build(args.token).run(
        transport=args.transport, host="127.0.0.1", port=args.port, show_banner=False, log_level="warning"
    )


if __name__ == "__main__":
    main()
