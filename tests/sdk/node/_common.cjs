// Shared helpers for the Node SDK scripts: loads the official `parallel-web` package from
// testkit's node_modules (FORAGE_NODE_DIR), builds a client, and fails loudly on mismatches.
const path = require('path');

const sdk = require(path.join(process.env.FORAGE_NODE_DIR, 'node_modules', 'parallel-web'));
const Parallel = sdk.Parallel || sdk.default || sdk;

function client(opts = {}) {
  return new Parallel({
    baseURL: process.env.PARALLEL_BASE_URL,
    apiKey: process.env.PARALLEL_API_KEY,
    ...opts,
  });
}

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

function check(cond, message) {
  if (!cond) fail(message);
}

async function expectStatus(promiseFn, status, ErrorClass, what) {
  try {
    const value = await promiseFn();
    fail(`${what}: expected HTTP ${status}, got a value: ${JSON.stringify(value).slice(0, 1000)}`);
  } catch (e) {
    if (!(e instanceof sdk.APIError)) fail(`${what}: expected an APIError, got ${e && e.stack}`);
    check(e.status === status, `${what}: expected status ${status}, got ${e.status}: ${e.message}`);
    if (ErrorClass) check(e instanceof ErrorClass, `${what}: expected ${ErrorClass.name}, got ${e.constructor.name}`);
    const err = e.error && (e.error.error || e.error);
    check(err && err.ref_id && err.message, `${what}: error shape with ref_id: ${JSON.stringify(e.error)}`);
    console.log(`ok: ${what} -> ${e.status} ${e.constructor.name}: ${err.message}`);
    return e;
  }
}

function main(fn) {
  fn().then(
    () => process.exit(0),
    (e) => fail(e && e.stack ? e.stack : String(e)),
  );
}

module.exports = { sdk, Parallel, client, fail, check, expectStatus, main };
