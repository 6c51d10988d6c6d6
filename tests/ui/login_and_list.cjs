// Signing in with the API key shows the runs list with the runs created by the test; the cookie is
// HttpOnly + SameSite=Strict and does not hold the key; the status filter and paging work.
'use strict';
const { BASE, KEY, launch, login, shot, check, main } = require('./lib.cjs');

main(async () => {
  const { browser, context, page, problems } = await launch();
  await login(page, KEY);
  check(new URL(page.url()).pathname === '/', 'after sign-in the browser is on the runs list');
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'forage_session');
  check(session && session.httpOnly && session.sameSite === 'Strict', 'the session cookie is HttpOnly and SameSite=Strict');
  check(!session.value.includes(KEY), 'the cookie does not hold the API key');
  check(!(await page.content()).includes(KEY), 'the page does not hold the API key');

  const ids = JSON.parse(process.env.RUN_IDS);
  await page.waitForSelector('#runs tbody tr');
  const shown = await page.$$eval('#runs tbody tr', (rows) => rows.map((r) => r.dataset.runId));
  for (const id of ids) check(shown.includes(id), `the list shows ${id}`);
  const statuses = await page.$$eval('#runs tbody tr td:nth-child(2) .badge', (b) => b.map((x) => x.textContent));
  check(statuses.every((s) => s.length > 0), 'every row has a status badge');
  await shot(page, 'runs-list');

  // Filter: completed only.
  await Promise.all([page.waitForNavigation(), page.selectOption('#status-filter', 'failed')]);
  check(page.url().includes('status=failed'), 'the filter is in the URL');
  await page.waitForFunction(() => !document.getElementById('empty').hidden || document.querySelectorAll('#runs tbody tr').length > 0);
  const failed = await page.$$eval('#runs tbody tr td:nth-child(2) .badge', (b) => b.map((x) => x.textContent));
  check(failed.every((s) => s === 'failed'), 'the failed filter shows failed runs only');

  // Paging: the API pages by `before`; the UI's "Older" link follows next_before.
  await page.goto(BASE + '/?before=' + encodeURIComponent(ids[0]));
  await page.waitForFunction(() => !document.getElementById('newest').hidden);
  const older = await page.$$eval('#runs tbody tr', (rows) => rows.map((r) => r.dataset.runId));
  check(!older.includes(ids[0]), 'a page before a run does not show that run');

  // The run link opens the run page.
  await page.goto(BASE + '/');
  await page.waitForSelector('#runs tbody tr a');
  await Promise.all([page.waitForNavigation(), page.click(`#runs tbody tr[data-run-id="${ids[0]}"] a`)]);
  check(page.url().endsWith('/ui/runs/' + ids[0]), 'a row links to its run page');
  await page.waitForFunction(() => ['completed', 'failed'].includes(document.getElementById('status').dataset.status));

  // Sign out: the pages send the browser back to the login form.
  await Promise.all([page.waitForNavigation(), page.click('.logout button')]);
  await page.goto(BASE + '/');
  check(new URL(page.url()).pathname === '/ui/login', 'after sign-out the list needs a sign-in again');
  check(problems.length === 0, 'no dialogs or page errors: ' + problems.join('; '));
  await browser.close();
});
