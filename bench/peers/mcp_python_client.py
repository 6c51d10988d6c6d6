# Times the Python `mcp` client's call_tool against an MCP server: url, calls, warm-up as arguments.
# Prints {"p50_ms", "p99_ms", "calls"} as JSON on its last line.
import asyncio
import json
import sys
import time

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, calls: int, warmup: int) -> None:
    samples = []
    async with streamable_http_client(url) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            await session.initialize()
            for i in range(warmup + calls):
                start = time.perf_counter()
                result = await session.call_tool("echo", {"text": "ping"})
                elapsed = time.perf_counter() - start
                assert "ping" in result.content[0].text
                if i >= warmup:
                    samples.append(elapsed * 1000)
    samples.sort()
    pick = lambda q: samples[round((len(samples) - 1) * q)]
    print(json.dumps({"p50_ms": pick(0.5), "p99_ms": pick(0.99), "calls": len(samples)}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
