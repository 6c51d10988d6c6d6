// The run page of a run that calls a slow MCP tool: the timeline grows live (an LLM turn, then a
// tool call row with server and tool that is running, then returns with its duration), the
// status badge moves to completed, the output and basis appear, without a reload.
'use strict';
const { BASE, KEY, launch, login, shot, check, main } = require('./lib.cjs');

main(async () => {
  const id = process.env.SLOW_RUN;
  const { browser, page, problems } = await launch();
  await login(page, KEY);
  await page.goto(BASE + '/ui/runs/' + id);
  await page.waitForSelector('#status[data-status]');
  const first = await page.getAttribute('#status', 'data-status');
  check(['queued', 'running'].includes(first), `the run is still active when the page opens (${first})`);

  // The first LLM turn (which asks for the tool) shows up while the run is running.
  await page.waitForSelector('#timeline li.tl-turn', { timeout: 30000 });
  check(await page.getAttribute('#status', 'data-status') === 'running', 'the badge says running during the run');
  check(await page.$eval('#output', (o) => o.classList.contains('muted')), 'no output yet when the first turn appears');
  await shot(page, 'run-live-turn');

  // Then the tool call row, with server and tool, before the output (the page was not reloaded).
  const row = '#timeline li.tl-tool[data-tool="slow"]';
  await page.waitForSelector(row, { timeout: 30000 });
  const pending = await page.$eval('#output', (o) => o.classList.contains('muted'));
  const statusAtCall = await page.getAttribute('#status', 'data-status');
  check(pending && statusAtCall === 'running', `the tool call row appears live, before the output (${statusAtCall})`);
  check(await page.getAttribute(row, 'data-server') === 'fx', 'the tool call row names the server');
  check((await page.textContent(row + ' .tl-toolname')) === 'slow', 'the tool call row names the tool');
  await shot(page, 'run-live-tool');

  await page.waitForSelector(row + '.ok', { timeout: 60000 });
  const ms = Number(await page.getAttribute(row, 'data-duration-ms'));
  check(ms >= 1500, `the tool call shows its duration (${ms} ms)`);
  check((await page.textContent(row + ' .tl-dur')).length > 0, 'the duration is shown');
  await page.waitForFunction(() => document.getElementById('status').dataset.status === 'completed', null, { timeout: 60000 });
  await page.waitForFunction(() => !document.getElementById('output').classList.contains('muted'));
  check((await page.textContent('#output')).trim().length > 0, 'the output is shown');
  await page.waitForSelector('#basis:not([hidden]) tbody tr');
  check((await page.textContent('#basis tbody tr td code')).length > 0, 'the basis names a field');
  await page.waitForSelector(row + ' .tl-args');
  check((await page.textContent(row + ' .tl-args pre')).includes('"ms"'), 'the tool call shows its arguments');
  check((await page.textContent(row + ' .tl-response pre')).includes('slept'), 'the tool call shows its response');
  check(await page.isHidden('#cancel'), 'no Cancel button on a final run');
  const turns = await page.$$('#timeline li.tl-turn');
  check(turns.length >= 2, `LLM turns are listed (${turns.length})`);
  await shot(page, 'run-completed');

  // Reloading a finished run replays the same timeline.
  await page.reload();
  await page.waitForSelector(row + '.ok');
  await page.waitForFunction(() => document.getElementById('status').dataset.status === 'completed');
  check((await page.$$('#timeline li.tl-tool')).length === 1, 'the replay shows the tool call once');
  check(problems.length === 0, 'no dialogs or page errors: ' + problems.join('; '));
  await browser.close();
});
