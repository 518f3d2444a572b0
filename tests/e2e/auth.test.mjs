// End-to-end tests of expresso-auth (services/auth) against the local
// stack. The login flow goes through the development OIDC provider's login
// form, driven with fetch and a cookie jar of our own. The tests cover
// /auth/me, refresh and logout, rejected login states (replayed, forged,
// expired), a code of another client and every open-redirect form. They
// also cover bad tokens, app passwords and their isolation between users
// and tenants.
//
// Run from tests/e2e with the variables of stack.env in the environment
// (EXPRESSO_AUTH_URL, EXPRESSO_OIDC_ISSUER, EXPRESSO_STATE_DIR,
// EXPRESSO_BUILD_DIR, EXPRESSO_DATABASE_URL, the account variables).

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import {
  createHash, createPrivateKey, createPublicKey, createHmac, randomBytes, randomUUID, sign,
} from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEV_TOKEN = resolve(REPO_ROOT, 'scripts', 'dev-token.sh');
const MAX_HOPS = 12;
const REQUEST_TIMEOUT_MS = 15_000;
const DEV_CLIENT_ID = 'expresso-dev';
const DEV_REDIRECT_URI = 'http://127.0.0.1/dev-token/callback';

const env = process.env;
const AUTH_URL = env.EXPRESSO_AUTH_URL?.replace(/\/$/, '');
const ISSUER = env.EXPRESSO_OIDC_ISSUER;
const CALLBACK_URL = `${AUTH_URL}/auth/callback`;

function requireEnvironment() {
  for (const name of ['EXPRESSO_AUTH_URL', 'EXPRESSO_OIDC_ISSUER', 'EXPRESSO_STATE_DIR', 'EXPRESSO_BUILD_DIR',
    'EXPRESSO_DATABASE_URL', 'EXPRESSO_OIDC_CLIENT_SECRET', 'EXPRESSO_ALICE_EMAIL', 'EXPRESSO_ALICE_PASSWORD',
    'EXPRESSO_BOB_EMAIL', 'EXPRESSO_CAROL_EMAIL', 'EXPRESSO_CAROL_PASSWORD']) {
    assert.ok(env[name], `${name} is not set: source the stack.env of the running stack`);
  }
}

// ---- accounts and keys of the running stack ----

function readAccounts() {
  const accounts = JSON.parse(readFileSync(`${env.EXPRESSO_STATE_DIR}/accounts.json`, 'utf8'));
  const tenantIds = Object.fromEntries(accounts.tenants.map((tenant) => [tenant.slug, tenant.id]));
  const users = Object.fromEntries(accounts.users.map((user) => [user.username, {
    ...user, tenantId: tenantIds[user.tenant],
  }]));
  return { tenantIds, users };
}

// The development provider's signing key, used to mint tokens that the
// provider would never issue (expired, other audience, unknown user).
function readSigningKey() {
  const file = `${env.EXPRESSO_STATE_DIR}/oidc/jwks.json`;
  assert.ok(existsSync(file), `${file} is missing: the development OIDC provider keeps its key there`);
  const [jwk] = JSON.parse(readFileSync(file, 'utf8')).keys;
  return { kid: jwk.kid, privateKey: createPrivateKey({ key: jwk, format: 'jwk' }), publicJwk: jwk };
}

function base64urlJson(value) {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function mintToken(signingKey, claims) {
  const header = base64urlJson({ alg: 'RS256', typ: 'JWT', kid: signingKey.kid });
  const payload = base64urlJson(claims);
  const signature = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), signingKey.privateKey);
  return `${header}.${payload}.${signature.toString('base64url')}`;
}

function decodePayload(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

// Claims as the provider puts them into an access token of USER.
function accessClaims(user, overrides = {}) {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: ISSUER,
    sub: user.id,
    aud: 'expresso',
    azp: DEV_CLIENT_ID,
    iat: now,
    exp: now + 600,
    scope: 'openid email profile',
    tenant_id: user.tenantId,
    email: user.email,
    preferred_username: user.username,
    name: user.name,
    realm_access: { roles: user.roles },
    ...overrides,
  };
}

async function devToken(email) {
  const { stdout } = await promisify(execFile)(DEV_TOKEN, [email], { env, timeout: 30_000 });
  return stdout.trim();
}

// ---- a browser stand-in ----

function parseSetCookie(header) {
  const [pair, ...rest] = header.split(';');
  const equals = pair.indexOf('=');
  const attributes = new Map();
  for (const attribute of rest) {
    const [name, ...value] = attribute.trim().split('=');
    attributes.set(name.toLowerCase(), value.length ? value.join('=') : true);
  }
  return { name: pair.slice(0, equals).trim(), value: pair.slice(equals + 1).trim(), attributes };
}

// Keeps cookies as a browser does for one host (cookies ignore the port,
// so the provider's and expresso-auth's share the jar) with Path
// matching, and follows no redirect by itself.
class Browser {
  constructor({ acceptLanguage } = {}) {
    this.cookies = new Map();
    this.acceptLanguage = acceptLanguage;
  }

  cookieHeader(url) {
    const { pathname } = new URL(url);
    return [...this.cookies.values()]
      .filter((cookie) => pathname === cookie.path || pathname.startsWith(cookie.path.endsWith('/') ? cookie.path : `${cookie.path}/`))
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  store(setCookie) {
    const path = setCookie.attributes.get('path');
    const cookie = { name: setCookie.name, value: setCookie.value, path: typeof path === 'string' ? path : '/' };
    if (setCookie.attributes.get('max-age') === '0' || setCookie.value === '') {
      this.cookies.delete(cookie.name);
    } else {
      this.cookies.set(cookie.name, cookie);
    }
  }

  async request(url, { method = 'GET', form, headers = {}, body } = {}) {
    const requestHeaders = { ...headers };
    const cookie = this.cookieHeader(url);
    if (cookie) {
      requestHeaders.Cookie = cookie;
    }
    if (this.acceptLanguage) {
      requestHeaders['Accept-Language'] = this.acceptLanguage;
    }
    let requestBody = body;
    if (form) {
      requestHeaders['Content-Type'] = 'application/x-www-form-urlencoded';
      requestBody = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, {
      method, headers: requestHeaders, body: requestBody, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const setCookies = res.headers.getSetCookie().map(parseSetCookie);
    for (const setCookie of setCookies) {
      this.store(setCookie);
    }
    const rawLocation = res.headers.get('location');
    return {
      status: res.status,
      headers: res.headers,
      rawLocation,
      location: rawLocation ? new URL(rawLocation, url).href : undefined,
      setCookies,
      text: await res.text(),
      url,
    };
  }
}

function loginFormAction(page) {
  const match = /<form id="kc-form-login"[^>]*action="([^"]+)"/.exec(page.text);
  assert.ok(match, `no login form in the page (HTTP ${page.status}): ${page.text.slice(0, 300)}`);
  return new URL(match[1].replaceAll('&amp;', '&'), page.url).href;
}

// Follows the provider from AUTHORIZATION_URL, filling the login form
// when it shows one, until a redirect to REDIRECT_URI. Returns that URL
// (not requested) and whether the form was shown.
async function driveProvider(browser, authorizationUrl, email, password, redirectUri) {
  let current = await browser.request(authorizationUrl);
  let formShown = false;
  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    if (current.location) {
      if (current.location.startsWith(redirectUri)) {
        return { callback: current.location, formShown };
      }
      current = await browser.request(current.location);
    } else if (current.status === 200 && !formShown) {
      formShown = true;
      current = await browser.request(loginFormAction(current), {
        method: 'POST', form: { username: email, password },
      });
    } else {
      break;
    }
  }
  assert.fail(`the provider did not redirect to ${redirectUri} (last HTTP ${current.status}): ${current.text.slice(0, 300)}`);
}

function loginUrl(redirect, { raw = false, base = AUTH_URL } = {}) {
  if (redirect === undefined) {
    return `${base}/auth/login`;
  }
  return `${base}/auth/login?redirect=${raw ? redirect : encodeURIComponent(redirect)}`;
}

// Runs /auth/login up to the provider's redirect to the callback.
async function startLogin(browser, account, redirect, options) {
  const start = await browser.request(loginUrl(redirect, options));
  assert.equal(start.status, 302, `/auth/login returned HTTP ${start.status}: ${start.text.slice(0, 200)}`);
  const provider = await driveProvider(browser, start.location, account.email, account.password, CALLBACK_URL);
  return { start, ...provider };
}

// Runs the whole login and returns the callback's response too.
async function signIn(browser, account, redirect, options) {
  const login = await startLogin(browser, account, redirect, options);
  const response = await browser.request(login.callback);
  return { ...login, response };
}

function stateOf(authorizationLocation) {
  return new URL(authorizationLocation).searchParams.get('state');
}

function sessionCookie(response) {
  return response.setCookies.find((cookie) => cookie.name === 'expresso_session' && cookie.value !== '');
}

async function getJson(url, headers = {}) {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body, text };
}

async function sendJson(method, path, token, body, headers = {}) {
  const res = await fetch(`${AUTH_URL}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  return {
    status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined,
  };
}

// Runs QUERY in a transaction bound to TENANT_ID as the daemons' role.
async function inTenant(tenantId, query, params) {
  const client = new pg.Client({ connectionString: env.EXPRESSO_DATABASE_URL });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    const result = await client.query(query, params);
    await client.query('COMMIT');
    return result.rows;
  } finally {
    await client.end();
  }
}

async function freePort() {
  const server = createServer();
  await new Promise((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address();
  await new Promise((resolveClose) => server.close(resolveClose));
  return port;
}

// Starts a second expresso-auth with extra settings; returns its URL and a stop function.
async function startSecondDaemon(settings) {
  const binary = `${env.EXPRESSO_BUILD_DIR}/services/auth/expresso-auth`;
  assert.ok(existsSync(binary), `${binary} is missing: build the tree first`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(binary, [], {
    env: {
      ...env,
      EXPRESSO_HTTP_ADDRESS: '127.0.0.1',
      EXPRESSO_HTTP_PORT: String(port),
      EXPRESSO_PUBLIC_URL: url,
      EXPRESSO_COOKIE_SECURE: 'false',
      ...settings,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (chunk) => {
    log += chunk;
  });
  const exited = new Promise((resolveExit) => child.on('exit', resolveExit));
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
    }
    await exited;
  };
  for (let attempt = 0; attempt < 100; attempt += 1) {
    try {
      const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) {
        return { url, stop };
      }
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) {
      break;
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 200));
  }
  await stop();
  assert.fail(`the second expresso-auth did not become ready: ${log.slice(-1000)}`);
}

function assertUnauthorized(response, { error } = {}) {
  assert.equal(response.status, 401, `expected 401, got ${response.status}: ${response.text}`);
  const challenge = response.headers.get('www-authenticate');
  assert.ok(challenge, '401 without WWW-Authenticate');
  assert.match(challenge, /^Bearer realm="expresso"/);
  if (error) {
    assert.match(challenge, new RegExp(`error="${error}"`));
  } else {
    assert.doesNotMatch(challenge, /error=/);
  }
}

// ---- the tests ----

describe('expresso-auth', () => {
  let accounts;
  let alice;
  let bob;
  let carol;
  let signingKey;
  let discovery;

  before(async () => {
    requireEnvironment();
    accounts = readAccounts();
    alice = { ...accounts.users.alice, email: env.EXPRESSO_ALICE_EMAIL, password: env.EXPRESSO_ALICE_PASSWORD };
    bob = { ...accounts.users.bob, email: env.EXPRESSO_BOB_EMAIL };
    carol = { ...accounts.users.carol, email: env.EXPRESSO_CAROL_EMAIL, password: env.EXPRESSO_CAROL_PASSWORD };
    signingKey = readSigningKey();
    discovery = (await getJson(`${ISSUER}/.well-known/openid-configuration`)).body;
    const ready = await getJson(`${AUTH_URL}/ready`);
    assert.equal(ready.status, 200, `expresso-auth is not ready: ${ready.text}`);
  });

  describe('login', () => {
    test('login redirects to the provider with PKCE', async () => {
      const browser = new Browser();
      const first = await browser.request(loginUrl('/inbox'));
      const second = await browser.request(loginUrl('/inbox'));
      assert.equal(first.status, 302);
      assert.equal(first.headers.get('cache-control'), 'no-store');
      const location = new URL(first.location);
      assert.equal(`${location.origin}${location.pathname}`, discovery.authorization_endpoint);
      const params = location.searchParams;
      assert.equal(params.get('response_type'), 'code');
      assert.equal(params.get('client_id'), 'expresso-auth');
      assert.equal(params.get('redirect_uri'), CALLBACK_URL);
      assert.equal(params.get('scope'), 'openid email profile');
      assert.equal(params.get('code_challenge_method'), 'S256');
      assert.match(params.get('code_challenge'), /^[\w-]{43}$/);
      assert.match(params.get('state'), /^[\w-]{43}$/);
      assert.match(params.get('nonce'), /^[\w-]{43}$/);
      assert.notEqual(params.get('state'), params.get('nonce'));
      assert.notEqual(stateOf(second.location), params.get('state'));
      assert.notEqual(new URL(second.location).searchParams.get('code_challenge'), params.get('code_challenge'));
    });

    test('login passes the page language to the provider', async () => {
      const english = await new Browser({ acceptLanguage: 'en-US,en;q=0.9' }).request(loginUrl());
      const portuguese = await new Browser({ acceptLanguage: 'pt-BR,pt;q=0.9,en;q=0.5' }).request(loginUrl());
      assert.equal(new URL(english.location).searchParams.get('ui_locales'), 'en');
      assert.equal(new URL(portuguese.location).searchParams.get('ui_locales'), 'pt-BR');
    });

    test('callback sets the session cookies and redirects', async () => {
      const browser = new Browser();
      const { response, formShown } = await signIn(browser, alice, '/inbox');
      assert.ok(formShown, 'the provider did not ask for the password of a new browser');
      assert.equal(response.status, 302, `callback returned HTTP ${response.status}: ${response.text.slice(0, 300)}`);
      assert.equal(response.rawLocation, '/inbox');
      assert.equal(response.headers.get('cache-control'), 'no-store');

      const session = sessionCookie(response);
      assert.ok(session, 'no expresso_session cookie');
      assert.equal(session.attributes.get('path'), '/');
      assert.equal(session.attributes.get('httponly'), true);
      assert.equal(session.attributes.get('samesite'), 'Lax');
      assert.equal(session.attributes.has('secure'), false, 'Secure is set although EXPRESSO_COOKIE_SECURE=false');
      assert.ok(Number(session.attributes.get('max-age')) > 0);
      assert.equal(decodePayload(session.value).aud, 'expresso');

      for (const name of ['expresso_refresh', 'expresso_id']) {
        const cookie = response.setCookies.find((c) => c.name === name);
        assert.ok(cookie, `no ${name} cookie`);
        assert.equal(cookie.attributes.get('path'), '/auth');
        assert.equal(cookie.attributes.get('httponly'), true);
        assert.equal(cookie.attributes.get('samesite'), 'Lax');
      }
      assert.equal(decodePayload(browser.cookies.get('expresso_id').value).aud, 'expresso-auth');
    });

    test('login without redirect goes to the root', async () => {
      const { response } = await signIn(new Browser(), alice);
      assert.equal(response.status, 302);
      assert.equal(response.rawLocation, '/');
    });

    test('login writes an audit row and keeps the user row', async () => {
      const { response } = await signIn(new Browser(), alice, '/');
      const requestId = response.headers.get('x-request-id');
      const rows = await inTenant(alice.tenantId,
        'SELECT actor, action FROM audit_log WHERE request_id = $1', [requestId]);
      assert.deepEqual(rows, [{ actor: alice.id, action: 'auth.login' }]);
      const users = await inTenant(alice.tenantId, 'SELECT email FROM users WHERE id = $1', [alice.id]);
      assert.deepEqual(users, [{ email: alice.email }]);
    });
  });

  describe('session', () => {
    let browser;

    before(async () => {
      browser = new Browser();
      const { response } = await signIn(browser, alice, '/inbox');
      assert.equal(response.status, 302);
    });

    test('me shows the demo tenant from the cookie', async () => {
      const me = await browser.request(`${AUTH_URL}/auth/me`);
      assert.equal(me.status, 200, me.text);
      assert.deepEqual(JSON.parse(me.text), {
        id: alice.id,
        email: alice.email,
        name: alice.name,
        username: 'alice',
        tenant_id: accounts.tenantIds.demo,
        roles: ['user'],
      });
      assert.equal(me.headers.get('cache-control'), 'no-store');
    });

    test('me accepts a bearer token', async () => {
      const token = await devToken(carol.email);
      const me = await getJson(`${AUTH_URL}/auth/me`, { Authorization: `Bearer ${token}` });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.body.id, carol.id);
      assert.equal(me.body.tenant_id, accounts.tenantIds.acme);
      assert.equal(me.body.email, carol.email);
    });

    test('refresh rotates the tokens', async () => {
      const oldSession = browser.cookies.get('expresso_session').value;
      const oldRefresh = browser.cookies.get('expresso_refresh').value;
      const refreshed = await browser.request(`${AUTH_URL}/auth/refresh`, { method: 'POST' });
      assert.equal(refreshed.status, 200, refreshed.text);
      const body = JSON.parse(refreshed.text);
      assert.ok(body.expires_in > 0);
      assert.ok(body.expires_at > Date.now() / 1000);
      assert.equal(refreshed.headers.get('cache-control'), 'no-store');

      const newSession = sessionCookie(refreshed);
      assert.ok(newSession, 'refresh set no session cookie');
      assert.notEqual(newSession.value, oldSession);
      const newRefresh = refreshed.setCookies.find((c) => c.name === 'expresso_refresh');
      assert.ok(newRefresh, 'refresh set no refresh cookie');
      assert.notEqual(newRefresh.value, oldRefresh);

      const me = await browser.request(`${AUTH_URL}/auth/me`);
      assert.equal(me.status, 200);
      assert.equal(JSON.parse(me.text).id, alice.id);

      // The provider rotates refresh tokens: the old one is spent.
      const replay = new Browser();
      replay.cookies.set('expresso_refresh', { name: 'expresso_refresh', value: oldRefresh, path: '/auth' });
      const rejected = await replay.request(`${AUTH_URL}/auth/refresh`, { method: 'POST' });
      assert.equal(rejected.status, 401, rejected.text);
      assert.equal(JSON.parse(rejected.text).error.code, 'session_expired');
    });

    test('refresh without cookie is 401', async () => {
      const res = await new Browser().request(`${AUTH_URL}/auth/refresh`, { method: 'POST' });
      assert.equal(res.status, 401);
      assert.equal(JSON.parse(res.text).error.code, 'no_refresh_token');
    });

    test('refresh from another origin is 403', async () => {
      const res = await browser.request(`${AUTH_URL}/auth/refresh`, {
        method: 'POST', headers: { Origin: 'http://evil.example' },
      });
      assert.equal(res.status, 403);
      assert.equal(JSON.parse(res.text).error.code, 'cross_origin_request');
      assert.equal(res.setCookies.length, 0);
    });

    test('logout clears cookies and ends the provider session', async () => {
      const refreshToken = browser.cookies.get('expresso_refresh').value;
      const idToken = browser.cookies.get('expresso_id').value;
      const logout = await browser.request(`${AUTH_URL}/auth/logout`);
      assert.equal(logout.status, 302);

      const location = new URL(logout.location);
      assert.equal(`${location.origin}${location.pathname}`, discovery.end_session_endpoint);
      assert.equal(location.searchParams.get('client_id'), 'expresso-auth');
      assert.equal(location.searchParams.get('post_logout_redirect_uri'), `${AUTH_URL}/`);
      assert.equal(location.searchParams.get('id_token_hint'), idToken);
      for (const [name, path] of [['expresso_session', '/'], ['expresso_refresh', '/auth'], ['expresso_id', '/auth']]) {
        const cleared = logout.setCookies.find((c) => c.name === name);
        assert.ok(cleared, `logout does not clear ${name}`);
        assert.equal(cleared.value, '');
        assert.equal(cleared.attributes.get('max-age'), '0');
        assert.equal(cleared.attributes.get('path'), path);
      }
      assert.equal(browser.cookies.has('expresso_session'), false);

      // The provider's page submits this form from JavaScript.
      const confirm = await browser.request(logout.location);
      assert.equal(confirm.status, 200);
      const form = /<form id="op.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"/.exec(confirm.text);
      assert.ok(form, `no logout form: ${confirm.text.slice(0, 300)}`);
      const done = await browser.request(new URL(form[1], logout.location).href, {
        method: 'POST', form: { xsrf: form[2], logout: 'yes' },
      });
      assert.equal(done.status, 303);
      assert.equal(done.location, `${AUTH_URL}/`);

      const me = await browser.request(`${AUTH_URL}/auth/me`);
      assertUnauthorized(me);

      // expresso-auth revoked the refresh token.
      const replay = new Browser();
      replay.cookies.set('expresso_refresh', { name: 'expresso_refresh', value: refreshToken, path: '/auth' });
      const rejected = await replay.request(`${AUTH_URL}/auth/refresh`, { method: 'POST' });
      assert.equal(rejected.status, 401);

      // The provider session ended, so the next login shows the password form.
      const again = await startLogin(browser, alice, '/');
      assert.ok(again.formShown, 'the provider session survived logout');
    });
  });

  describe('login state', () => {
    test('replayed callback is rejected', async () => {
      const browser = new Browser();
      const { callback, response } = await signIn(browser, alice, '/inbox');
      assert.equal(response.status, 302);
      const replay = await new Browser().request(callback);
      assert.equal(replay.status, 400);
      assert.match(replay.headers.get('content-type'), /^text\/html/);
      assert.match(replay.text, /Login não encontrado/);
      assert.equal(sessionCookie(replay), undefined);
    });

    test('forged state is rejected', async () => {
      const forged = randomBytes(32).toString('base64url');
      const portuguese = await new Browser().request(`${CALLBACK_URL}?state=${forged}&code=abc`);
      assert.equal(portuguese.status, 400);
      assert.match(portuguese.text, /<html lang="pt-BR">/);
      assert.match(portuguese.text, /desconhecido ou já foi usado/);
      assert.equal(portuguese.headers.get('content-language'), 'pt-BR');

      const english = await new Browser({ acceptLanguage: 'en-GB,en;q=0.9,pt;q=0.5' })
        .request(`${CALLBACK_URL}?state=${forged}&code=abc`);
      assert.equal(english.status, 400);
      assert.match(english.text, /<html lang="en">/);
      assert.match(english.text, /Login not found/);
      assert.equal(english.setCookies.length, 0);
    });

    test('missing or oversized state is rejected', async () => {
      for (const query of ['', '?code=abc', '?state=&code=abc', `?state=${'a'.repeat(5000)}&code=abc`]) {
        const res = await new Browser().request(`${CALLBACK_URL}${query}`);
        assert.equal(res.status, 400, `query ${query.slice(0, 40)}: HTTP ${res.status}`);
        assert.equal(sessionCookie(res), undefined);
      }
    });

    test('expired state is rejected', async () => {
      const daemon = await startSecondDaemon({ EXPRESSO_LOGIN_STATE_TTL: '1s' });
      try {
        const browser = new Browser();
        const start = await browser.request(loginUrl('/inbox', { base: daemon.url }));
        assert.equal(start.status, 302);
        const state = stateOf(start.location);
        await new Promise((resolveWait) => setTimeout(resolveWait, 1500));

        const expired = await browser.request(`${daemon.url}/auth/callback?state=${state}&code=abc`);
        assert.equal(expired.status, 400);
        assert.match(expired.text, /Login expirado/);
        assert.equal(sessionCookie(expired), undefined);

        const english = await new Browser({ acceptLanguage: 'en' }).request(loginUrl('/', { base: daemon.url }));
        await new Promise((resolveWait) => setTimeout(resolveWait, 1500));
        const expiredEnglish = await new Browser({ acceptLanguage: 'en' })
          .request(`${daemon.url}/auth/callback?state=${stateOf(english.location)}&code=abc`);
        assert.equal(expiredEnglish.status, 400);
        assert.match(expiredEnglish.text, /Login expired/);
      } finally {
        await daemon.stop();
      }
    });

    test('provider errors show an error page', async () => {
      const browser = new Browser();
      const denied = await browser.request(loginUrl('/'));
      const deniedPage = await browser.request(
        `${CALLBACK_URL}?state=${stateOf(denied.location)}&error=access_denied&error_description=no`,
      );
      assert.equal(deniedPage.status, 403);
      assert.match(deniedPage.text, /Acesso negado/);

      const failed = await browser.request(loginUrl('/'));
      const failedPage = await browser.request(`${CALLBACK_URL}?state=${stateOf(failed.location)}&error=server_error`);
      assert.equal(failedPage.status, 502);
      assert.match(failedPage.text, /provedor de identidade informou um erro/);
    });

    test('callback from another issuer is rejected', async () => {
      const browser = new Browser();
      const login = await startLogin(browser, alice, '/');
      const callback = new URL(login.callback);
      callback.searchParams.set('iss', 'http://127.0.0.1:9/realms/evil');
      const res = await browser.request(callback.href);
      assert.equal(res.status, 400);
      assert.equal(sessionCookie(res), undefined);
    });

    test('code of another client is rejected', async () => {
      const browser = new Browser();
      // A code for the public client expresso-dev, with its own PKCE pair.
      const verifier = randomBytes(32).toString('base64url');
      const authorization = new URL(discovery.authorization_endpoint);
      for (const [name, value] of Object.entries({
        client_id: DEV_CLIENT_ID,
        redirect_uri: DEV_REDIRECT_URI,
        response_type: 'code',
        scope: 'openid email profile',
        state: randomBytes(16).toString('base64url'),
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      })) {
        authorization.searchParams.set(name, value);
      }
      const { callback } = await driveProvider(browser, authorization.href, alice.email, alice.password, DEV_REDIRECT_URI);
      const devCode = new URL(callback).searchParams.get('code');
      assert.ok(devCode, 'the provider issued no code for expresso-dev');

      // A valid state of expresso-auth, with that code.
      const start = await browser.request(loginUrl('/inbox'));
      const res = await browser.request(`${CALLBACK_URL}?state=${stateOf(start.location)}&code=${encodeURIComponent(devCode)}`);
      assert.equal(res.status, 400, res.text.slice(0, 300));
      assert.match(res.text, /Falha no login/);
      assert.equal(sessionCookie(res), undefined);
    });
  });

  describe('post-login redirect', () => {
    const browser = new Browser();
    const cases = [
      { redirect: '//evil.example', location: '/' },
      { redirect: '/\\evil.example', location: '/' },
      { redirect: 'https://evil.example', location: '/' },
      { redirect: '/%2F%2Fevil.example', location: '/' },
      { redirect: '/%2F%2Fevil.example', location: '/', raw: true },
      { redirect: '/%5Cevil.example', location: '/' },
      { redirect: '/%5Cevil.example', location: '/', raw: true },
      { redirect: '/%0d%0aSet-Cookie:x', location: '/' },
      { redirect: '/%0d%0aSet-Cookie:x=1', location: '/', raw: true },
      { redirect: 'javascript:alert(1)', location: '/' },
      { redirect: '\\\\evil.example', location: '/' },
      { redirect: '/\t/evil.example', location: '/' },
      { redirect: '/ok/path?x=1', location: '/ok/path?x=1' },
      { redirect: '/pastas/Conceição', location: '/pastas/Concei%C3%A7%C3%A3o' },
    ];

    for (const { redirect, location, raw } of cases) {
      test(`redirect ${JSON.stringify(redirect)}${raw ? ' (raw)' : ''} goes to ${location}`, async () => {
        const { response } = await signIn(browser, alice, redirect, { raw });
        assert.equal(response.status, 302, response.text.slice(0, 300));
        assert.equal(response.rawLocation, location);
        assert.ok(sessionCookie(response), 'no session cookie');
        assert.ok(response.setCookies.every((cookie) => cookie.name.startsWith('expresso_')),
          `unexpected cookie: ${response.setCookies.map((c) => c.name)}`);
      });
    }
  });

  describe('bearer tokens', () => {
    let aliceToken;

    before(async () => {
      aliceToken = await devToken(alice.email);
    });

    const me = (headers) => getJson(`${AUTH_URL}/auth/me`, headers);

    test('no token is 401 without error', async () => {
      assertUnauthorized(await me());
    });

    test('malformed token is 401', async () => {
      assertUnauthorized(await me({ Authorization: 'Bearer not-a-token' }), { error: 'invalid_token' });
      assertUnauthorized(await me({ Cookie: 'expresso_session=not.a.token' }), { error: 'invalid_token' });
    });

    test('tampered signature is 401', async () => {
      const [header, payload, signature] = aliceToken.split('.');
      const middle = Math.floor(signature.length / 2);
      const flipped = signature[middle] === 'A' ? 'B' : 'A';
      const tampered = `${header}.${payload}.${signature.slice(0, middle)}${flipped}${signature.slice(middle + 1)}`;
      assertUnauthorized(await me({ Authorization: `Bearer ${tampered}` }), { error: 'invalid_token' });
      assertUnauthorized(await me({ Cookie: `expresso_session=${tampered}` }), { error: 'invalid_token' });
    });

    test('tampered payload is 401', async () => {
      const [header, , signature] = aliceToken.split('.');
      const payload = base64urlJson({ ...decodePayload(aliceToken), tenant_id: accounts.tenantIds.acme });
      assertUnauthorized(await me({ Authorization: `Bearer ${header}.${payload}.${signature}` }), { error: 'invalid_token' });
    });

    test('expired token is 401', async () => {
      const now = Math.floor(Date.now() / 1000);
      const expired = mintToken(signingKey, accessClaims(alice, { iat: now - 7200, exp: now - 3600 }));
      const res = await me({ Authorization: `Bearer ${expired}` });
      assertUnauthorized(res, { error: 'invalid_token' });
      assert.equal(res.body.error.code, 'invalid_token');
    });

    test('wrong audience is 401', async () => {
      const other = mintToken(signingKey, accessClaims(alice, { aud: 'other-service', azp: 'other-client' }));
      assertUnauthorized(await me({ Authorization: `Bearer ${other}` }), { error: 'invalid_token' });

      // The ID token is signed by the same provider for audience expresso-auth.
      const browser = new Browser();
      await signIn(browser, alice, '/');
      const idToken = browser.cookies.get('expresso_id').value;
      assertUnauthorized(await me({ Authorization: `Bearer ${idToken}` }), { error: 'invalid_token' });
    });

    test('unsigned and HMAC tokens are 401', async () => {
      const claims = base64urlJson(accessClaims(alice));
      const none = `${base64urlJson({ alg: 'none', typ: 'JWT' })}.${claims}.`;
      assertUnauthorized(await me({ Authorization: `Bearer ${none}` }), { error: 'invalid_token' });

      // HS256 keyed with the public key's PEM: the classic algorithm confusion.
      const pem = createPublicKey({ key: signingKey.publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      const header = base64urlJson({ alg: 'HS256', typ: 'JWT', kid: signingKey.kid });
      const mac = createHmac('sha256', pem).update(`${header}.${claims}`).digest('base64url');
      assertUnauthorized(await me({ Authorization: `Bearer ${header}.${claims}.${mac}` }), { error: 'invalid_token' });
    });

    test('token from another issuer is 401', async () => {
      const foreign = mintToken(signingKey, accessClaims(alice, { iss: 'http://127.0.0.1:9/realms/expresso' }));
      assertUnauthorized(await me({ Authorization: `Bearer ${foreign}` }), { error: 'invalid_token' });
    });
  });

  describe('app passwords', () => {
    let aliceToken;
    let bobToken;
    let carolToken;
    let created;

    before(async () => {
      [aliceToken, bobToken, carolToken] = await Promise.all([
        devToken(alice.email), devToken(bob.email), devToken(carol.email),
      ]);
    });

    test('create returns the password once', async () => {
      const name = `Thunderbird no notebook ${randomUUID().slice(0, 8)}`;
      const res = await sendJson('POST', '/auth/app-passwords', aliceToken, { name });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.body.name, name);
      assert.match(res.body.id, /^[0-9a-f-]{36}$/);
      assert.match(res.body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.match(res.body.password, /^[A-Za-z0-9]{24,}$/);
      created = res.body;

      const [row] = await inTenant(alice.tenantId,
        'SELECT user_id, hash FROM app_passwords WHERE id = $1', [created.id]);
      assert.equal(row.user_id, alice.id);
      assert.match(row.hash, /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$/);
      assert.ok(!row.hash.includes(created.password), 'the stored hash contains the password');

      const audit = await inTenant(alice.tenantId,
        'SELECT actor, detail FROM audit_log WHERE action = $1 AND resource = $2',
        ['auth.app_password.created', created.id]);
      assert.deepEqual(audit, [{ actor: alice.id, detail: { name } }]);
    });

    test('list shows no secret', async () => {
      const res = await sendJson('GET', '/auth/app-passwords', aliceToken);
      assert.equal(res.status, 200, res.text);
      const entry = res.body.app_passwords.find((p) => p.id === created.id);
      assert.deepEqual(entry, {
        id: created.id, name: created.name, created_at: created.created_at, last_used_at: null,
      });
      assert.ok(!res.text.includes(created.password), 'the list contains the password');
      assert.ok(!res.text.includes('argon2'), 'the list contains a hash');
    });

    test('duplicate name is 409', async () => {
      const res = await sendJson('POST', '/auth/app-passwords', aliceToken, { name: created.name });
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, 'name_in_use');
    });

    test('invalid requests are rejected', async () => {
      const cases = [
        [{ name: '' }, 400, 'invalid_name'],
        [{ name: '   ' }, 400, 'invalid_name'],
        [{ name: 'x'.repeat(101) }, 400, 'invalid_name'],
        [{ name: 'line\nbreak' }, 400, 'invalid_name'],
        [{ name: 42 }, 400, 'invalid_name'],
        [{}, 400, 'invalid_name'],
        ['[]', 400, 'invalid_json'],
        ['{"name":', 400, 'invalid_json'],
      ];
      for (const [body, status, code] of cases) {
        const res = await sendJson('POST', '/auth/app-passwords', aliceToken, body);
        assert.equal(res.status, status, `body ${JSON.stringify(body)}: ${res.text}`);
        assert.equal(res.body.error.code, code);
      }
      const formPost = await fetch(`${AUTH_URL}/auth/app-passwords`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${aliceToken}`, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'name=x',
      });
      assert.equal(formPost.status, 415);
      const large = await sendJson('POST', '/auth/app-passwords', aliceToken, { name: 'x', pad: 'y'.repeat(10_000) });
      assert.equal(large.status, 413);
    });

    test('name of 100 characters is accepted', async () => {
      const name = `${'ç'.repeat(92)}${randomUUID().slice(0, 8)}`;
      const res = await sendJson('POST', '/auth/app-passwords', aliceToken, { name });
      assert.equal(res.status, 201, res.text);
      const revoke = await sendJson('DELETE', `/auth/app-passwords/${res.body.id}`, aliceToken);
      assert.equal(revoke.status, 204);
    });

    test('without a token is 401', async () => {
      const res = await fetch(`${AUTH_URL}/auth/app-passwords`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate'), /^Bearer realm="expresso"/);
    });

    test('cookie requests from another origin are 403', async () => {
      const browser = new Browser();
      await signIn(browser, alice, '/');
      const foreign = await browser.request(`${AUTH_URL}/auth/app-passwords`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Origin: 'http://evil.example' },
        body: JSON.stringify({ name: 'cross-site' }),
      });
      assert.equal(foreign.status, 403);
      const list = await browser.request(`${AUTH_URL}/auth/app-passwords`);
      assert.equal(list.status, 200);
      assert.ok(!JSON.parse(list.text).app_passwords.some((p) => p.name === 'cross-site'));
    });

    test('carol of acme cannot see or revoke alice\'s', async () => {
      const list = await sendJson('GET', '/auth/app-passwords', carolToken);
      assert.equal(list.status, 200);
      assert.ok(!list.body.app_passwords.some((p) => p.id === created.id), 'carol sees alice\'s app password');

      const revoke = await sendJson('DELETE', `/auth/app-passwords/${created.id}`, carolToken);
      assert.equal(revoke.status, 404, revoke.text);
    });

    test('bob of demo cannot revoke alice\'s', async () => {
      const list = await sendJson('GET', '/auth/app-passwords', bobToken);
      assert.ok(!list.body.app_passwords.some((p) => p.id === created.id), 'bob sees alice\'s app password');
      const revoke = await sendJson('DELETE', `/auth/app-passwords/${created.id}`, bobToken);
      assert.equal(revoke.status, 404);

      const aliceList = await sendJson('GET', '/auth/app-passwords', aliceToken);
      assert.ok(aliceList.body.app_passwords.some((p) => p.id === created.id), 'alice\'s app password is gone');
    });

    test('revoke removes it once', async () => {
      const revoke = await sendJson('DELETE', `/auth/app-passwords/${created.id}`, aliceToken);
      assert.equal(revoke.status, 204, revoke.text);
      const again = await sendJson('DELETE', `/auth/app-passwords/${created.id}`, aliceToken);
      assert.equal(again.status, 404);
      const list = await sendJson('GET', '/auth/app-passwords', aliceToken);
      assert.ok(!list.body.app_passwords.some((p) => p.id === created.id));

      const [row] = await inTenant(alice.tenantId, 'SELECT revoked_at FROM app_passwords WHERE id = $1', [created.id]);
      assert.ok(row.revoked_at, 'revoked_at is not set');
      const audit = await inTenant(alice.tenantId,
        'SELECT actor FROM audit_log WHERE action = $1 AND resource = $2', ['auth.app_password.revoked', created.id]);
      assert.deepEqual(audit, [{ actor: alice.id }]);

      const invalid = await sendJson('DELETE', '/auth/app-passwords/not-a-uuid', aliceToken);
      assert.equal(invalid.status, 404);
    });

    test('new provider user is provisioned', async () => {
      const user = {
        id: randomUUID(),
        tenantId: accounts.tenantIds.demo,
        email: `jit-${randomUUID().slice(0, 8)}@demo.expresso.test`,
        username: `jit-${randomUUID().slice(0, 8)}`,
        name: 'Usuária Nova',
        roles: ['user'],
      };
      const token = mintToken(signingKey, accessClaims(user));
      try {
        const res = await sendJson('POST', '/auth/app-passwords', token, { name: 'celular' });
        assert.equal(res.status, 201, res.text);
        const rows = await inTenant(user.tenantId,
          'SELECT tenant_id, email, username, display_name FROM users WHERE id = $1', [user.id]);
        assert.deepEqual(rows, [{
          tenant_id: user.tenantId, email: user.email, username: user.username, display_name: user.name,
        }]);
        const second = await sendJson('POST', '/auth/app-passwords', token, { name: 'notebook' });
        assert.equal(second.status, 201, second.text);
      } finally {
        await inTenant(user.tenantId, 'DELETE FROM users WHERE id = $1', [user.id]);
      }
    });

    test('provider user clashing with another is refused', async () => {
      const clash = {
        id: randomUUID(), tenantId: alice.tenantId, email: alice.email, username: 'clash', name: 'Clash', roles: ['user'],
      };
      const res = await sendJson('POST', '/auth/app-passwords', mintToken(signingKey, accessClaims(clash)), { name: 'x' });
      assert.equal(res.status, 409, res.text);
      assert.equal(res.body.error.code, 'user_not_provisioned');

      const stranger = { ...clash, email: `x-${randomUUID().slice(0, 8)}@nowhere.test`, tenantId: randomUUID() };
      const unknownTenant = await sendJson('POST', '/auth/app-passwords',
        mintToken(signingKey, accessClaims(stranger)), { name: 'x' });
      assert.equal(unknownTenant.status, 403, unknownTenant.text);
    });
  });
});
