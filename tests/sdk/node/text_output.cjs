// Text output through the official npm SDK: taskRun.create + taskRun.result, retrieve, retrieveInput.
const { client, check, main } = require('./_common.cjs');

main(async () => {
  const c = client();
  const token = 'okapi-5521';
  const question = `${token} What is the tallest mountain? [[fake:no_tools]]`;
  const run = await c.taskRun.create({
    input: question,
    processor: 'lite',
    task_spec: { output_schema: { type: 'text' } },
    metadata: { suite: 'node' },
  });
  console.log('created', JSON.stringify(run));
  check(run.run_id.startsWith('trun_'), `run_id: ${run.run_id}`);
  check(run.interaction_id, 'interaction_id present');
  check(['queued', 'running'].includes(run.status), `status ${run.status}`);
  check(run.is_active === true, 'active');

  const result = await c.taskRun.result(run.run_id, { timeout: 120 });
  console.log('result', JSON.stringify(result));
  check(result.run.status === 'completed', `completed, got ${result.run.status}`);
  check(result.output.type === 'text', `text output, got ${result.output.type}`);
  check(typeof result.output.content === 'string' && result.output.content.includes(token),
    `content quotes the input: ${result.output.content}`);

  const got = await c.taskRun.retrieve(run.run_id);
  check(got.run_id === run.run_id && got.status === 'completed' && got.is_active === false, `retrieve: ${JSON.stringify(got)}`);
  check(got.metadata && got.metadata.suite === 'node', `metadata: ${JSON.stringify(got.metadata)}`);

  const input = await c.taskRun.retrieveInput(run.run_id);
  check(input.input === question && input.processor === 'lite', `input echo: ${JSON.stringify(input)}`);
  console.log('PASS text_output');
});
