// Shared by the web UI browser tests: launch Debian's chromium through playwright-core, sign in,
// take screenshots into the test's temporary directory, fail loudly.
'use strict';

const path = require('node:path');
const { chromium } = require(path.join(process.env.FORAGE_NODE_DIR, 'node_modules', 'playwright-core'));

const BASE = process.env.FORAGE_URL;
const KEY = process.env.FORAGE_API_KEY;
const SHOTS = process.env.SCREENSHOT_DIR;

async function launch() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('dialog', async (d) => { problems.push('a dialog opened: ' + d.message()); await d.dismiss(); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') console.log('console error:', m.text()); });
  return { browser, context, page, problems };
}

async function login(page, key) {
  await page.goto(BASE + '/');
  await page.waitForURL(/\/ui\/login$/);
  await page.fill('#api_key', key);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
}

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

function check(ok, what) {
  if (!ok) throw new Error('check failed: ' + what);
  console.log('ok -', what);
}

function main(fn) {
  fn().then(() => process.exit(0), (e) => { console.error(e && e.stack || e); process.exit(1); });
}

module.exports = { BASE, KEY, launch, login, shot, check, main };
