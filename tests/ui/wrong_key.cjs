// A wrong API key is refused at the login form, sets no cookie, and the API stays closed.
'use strict';
const { BASE, launch, login, shot, check, main } = require('./lib.cjs');

main(async () => {
  const { browser, context, page } = await launch();
  await login(page, 'not-the-key');
  check(new URL(page.url()).pathname === '/ui/login', 'still on the login form');
  await page.waitForSelector('#login-error');
  check((await page.textContent('#login-error')).includes('not valid'), 'the form says the key is not valid');
  check((await context.cookies()).every((c) => c.name !== 'forage_session'), 'no session cookie');
  await shot(page, 'wrong-key');
  const api = await page.evaluate(async () => (await fetch('/v1/tasks/runs')).status);
  check(api === 401, 'the API answers 401 without a session');
  await page.goto(BASE + '/');
  check(new URL(page.url()).pathname === '/ui/login', 'the runs list needs a sign-in');
  // A forged cookie is refused too.
  await context.addCookies([{ name: 'forage_session', value: 'v1.0000.9999999999.00', url: BASE }]);
  const forged = await page.evaluate(async () => (await fetch('/v1/tasks/runs')).status);
  check(forged === 401, 'a forged session cookie is refused');
  await browser.close();
});
