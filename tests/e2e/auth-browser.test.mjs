// expresso-auth in a real browser: Debian's Chromium (/usr/bin/chromium)
// driven by playwright-core logs in through the development OIDC
// provider's form, lands on the requested page with the session cookie,
// reads /auth/me in the same browser context, and logs out. Error pages
// follow the browser's language.
//
// Run from tests/e2e with the variables of stack.env in the environment.
// No browser is downloaded: playwright-core only drives the installed one.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const NAVIGATION_TIMEOUT_MS = 20_000;

const env = process.env;
const AUTH_URL = env.EXPRESSO_AUTH_URL?.replace(/\/$/, '');

function demoTenantId() {
  const accounts = JSON.parse(readFileSync(`${env.EXPRESSO_STATE_DIR}/accounts.json`, 'utf8'));
  return accounts.tenants.find((tenant) => tenant.slug === 'demo').id;
}

async function readJsonPage(page) {
  return JSON.parse(await page.locator('body').innerText());
}

describe('expresso-auth in Chromium', () => {
  let browser;

  before(async () => {
    for (const name of ['EXPRESSO_AUTH_URL', 'EXPRESSO_STATE_DIR', 'EXPRESSO_ALICE_EMAIL', 'EXPRESSO_ALICE_PASSWORD']) {
      assert.ok(env[name], `${name} is not set: source the stack.env of the running stack`);
    }
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install the Debian package chromium`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
  });

  test('login lands on the page and me shows the demo tenant', async () => {
    const context = await browser.newContext({ locale: 'pt-BR' });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(NAVIGATION_TIMEOUT_MS);
      await page.goto(`${AUTH_URL}/auth/login?redirect=/inbox`);
      await page.waitForSelector('#kc-form-login');
      await page.fill('#username', env.EXPRESSO_ALICE_EMAIL);
      await page.fill('#password', env.EXPRESSO_ALICE_PASSWORD);
      await Promise.all([
        page.waitForURL(`${AUTH_URL}/inbox`),
        page.click('#kc-login'),
      ]);
      assert.equal(page.url(), `${AUTH_URL}/inbox`);

      const cookies = await context.cookies(AUTH_URL);
      const session = cookies.find((cookie) => cookie.name === 'expresso_session');
      assert.ok(session, `no expresso_session cookie; cookies: ${cookies.map((c) => c.name).join(', ')}`);
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Lax');
      assert.equal(session.path, '/');
      const documentCookies = await page.evaluate(() => document.cookie);
      assert.ok(!documentCookies.includes('expresso_session'), 'page script can read the session cookie');

      const response = await page.goto(`${AUTH_URL}/auth/me`);
      assert.equal(response.status(), 200);
      const me = await readJsonPage(page);
      assert.equal(me.email, env.EXPRESSO_ALICE_EMAIL);
      assert.equal(me.username, 'alice');
      assert.equal(me.tenant_id, demoTenantId());
      assert.ok(me.roles.includes('user'));

      // Logout: the provider's page submits itself and returns to the public URL.
      await page.goto(`${AUTH_URL}/auth/logout`);
      await page.waitForURL(`${AUTH_URL}/`);
      const loggedOut = await page.goto(`${AUTH_URL}/auth/me`);
      assert.equal(loggedOut.status(), 401);
      const remaining = (await context.cookies(AUTH_URL)).map((cookie) => cookie.name);
      assert.ok(!remaining.includes('expresso_session'), 'the session cookie survived logout');
    } finally {
      await context.close();
    }
  });

  test('error page follows the browser language', async () => {
    for (const [locale, title] of [['pt-BR', 'Login não encontrado'], ['en-US', 'Login not found']]) {
      const context = await browser.newContext({ locale });
      try {
        const page = await context.newPage();
        const response = await page.goto(`${AUTH_URL}/auth/callback?state=forged&code=abc`);
        assert.equal(response.status(), 400);
        assert.equal(await page.locator('h1').innerText(), title);
        await page.click('a[href="/auth/login"]');
        await page.waitForSelector('#kc-form-login');
      } finally {
        await context.close();
      }
    }
  });
});
