// JSON output through the official npm SDK: a json task_spec; the result content matches the schema.
const { client, check, main } = require('./_common.cjs');

main(async () => {
  const c = client();
  const schema = {
    type: 'object',
    properties: {
      country: { type: 'string' },
      gdp_usd_billions: { type: 'number' },
      year: { type: 'integer', minimum: 1900, maximum: 2100 },
      sectors: { type: 'array', items: { type: 'string' }, minItems: 1 },
    },
    required: ['country', 'gdp_usd_billions', 'year', 'sectors'],
    additionalProperties: false,
  };
  const run = await c.taskRun.create({
    input: { country: 'France', year: 2023, hint: '[[fake:no_tools]]' },
    processor: 'base',
    task_spec: { output_schema: { type: 'json', json_schema: schema } },
  });
  const result = await c.taskRun.result(run.run_id, { timeout: 120 });
  console.log('result', JSON.stringify(result));
  check(result.run.status === 'completed', `completed, got ${result.run.status}`);
  check(result.output.type === 'json', `json output, got ${result.output.type}`);
  const content = result.output.content;
  check(content && typeof content === 'object' && !Array.isArray(content), `object content: ${JSON.stringify(content)}`);
  check(Object.keys(content).sort().join(',') === 'country,gdp_usd_billions,sectors,year', `fields: ${Object.keys(content)}`);
  check(typeof content.country === 'string', 'country string');
  check(typeof content.gdp_usd_billions === 'number', 'gdp number');
  check(Number.isInteger(content.year) && content.year >= 1900 && content.year <= 2100, `year in range: ${content.year}`);
  check(Array.isArray(content.sectors) && content.sectors.length >= 1 && content.sectors.every((s) => typeof s === 'string'), 'sectors');
  check(Array.isArray(result.output.basis), 'basis is an array');
  console.log('PASS json_output');
});
