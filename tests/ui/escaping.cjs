// Hostile text from a tool (an <img onerror> payload) is shown as text: no element is created,
// no script runs, in the timeline and in the output.
'use strict';
const { BASE, KEY, launch, login, shot, check, main } = require('./lib.cjs');

main(async () => {
  const id = process.env.XSS_RUN;
  const payload = '<img src=x onerror=alert(1)>';
  const { browser, page, problems } = await launch();
  await login(page, KEY);
  await page.goto(BASE + '/ui/runs/' + id);
  await page.waitForFunction(() => document.getElementById('status').dataset.status === 'completed', null, { timeout: 60000 });
  const row = '#timeline li.tl-tool[data-tool="echo"]';
  await page.waitForSelector(row + ' .tl-response pre');
  check((await page.textContent(row + ' .tl-response pre')).includes(payload), 'the tool response shows the payload as text');
  check((await page.textContent('#input')).includes(payload), 'the input shows the payload as text');
  check((await page.$$('main img')).length === 0, 'no <img> element was created');
  await page.waitForTimeout(300);
  await shot(page, 'escaping');
  check(problems.length === 0, 'no dialog opened and no page error: ' + problems.join('; '));
  await browser.close();
});
