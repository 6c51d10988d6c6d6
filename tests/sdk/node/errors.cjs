// Errors through the official npm SDK: 408 from result({timeout}) on a stalled run, 404 for an
// unknown run id, 401 for a wrong key, 403 for an unknown processor.
const { sdk, client, check, expectStatus, main } = require('./_common.cjs');

main(async () => {
  const c = client({ maxRetries: 0 });
  const missing = 'trun_00000000000000000000000000000000';
  await expectStatus(() => c.taskRun.retrieve(missing), 404, sdk.NotFoundError, 'retrieve unknown run');
  await expectStatus(() => c.taskRun.result(missing, { timeout: 1 }), 404, sdk.NotFoundError, 'result of unknown run');

  const bad = client({ apiKey: 'definitely-wrong', maxRetries: 0 });
  await expectStatus(() => bad.taskRun.create({ input: 'x', processor: 'lite' }), 401, sdk.AuthenticationError, 'wrong key');

  await expectStatus(() => c.taskRun.create({ input: 'x', processor: 'warp-drive' }), 403, sdk.PermissionDeniedError, 'unknown processor');

  const run = await c.taskRun.create({ input: 'Stall [[fake:no_tools]] [[fake:stall_ms=60000]]', processor: 'lite' });
  const e = await expectStatus(() => c.taskRun.result(run.run_id, { timeout: 1 }), 408, null, 'result timeout on an active run');
  check(/active|timed out/i.test((e.error.error || e.error).message), `408 message says still active: ${e.message}`);
  const got = await c.taskRun.retrieve(run.run_id);
  check(got.is_active === true, `the stalled run is still active: ${JSON.stringify(got)}`);
  console.log('PASS errors');
});
