// Times the TypeScript MCP SDK client's callTool against an MCP server: url, calls, warm-up as arguments.
// Prints {"p50_ms", "p99_ms", "calls"} as JSON on its last line.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../testkit/node/package.json"));
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

const [url, calls, warmup] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const client = new Client({ name: "ts-bench", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const samples = [];
for (let i = 0; i < warmup + calls; i++) {
  const start = process.hrtime.bigint();
  const result = await client.callTool({ name: "echo", arguments: { text: "ping" } });
  const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  if (!result.content[0].text.includes("ping")) throw new Error("unexpected reply");
  if (i >= warmup) samples.push(elapsed);
}
await client.close();
samples.sort((a, b) => a - b);
const pick = (q) => samples[Math.round((samples.length - 1) * q)];
console.log(JSON.stringify({ p50_ms: pick(0.5), p99_ms: pick(0.99), calls: samples.length }));
