// End-to-end tests of the development OIDC provider (tools/dev-oidc) and
// scripts/dev-token.sh: discovery, JWKS, JWT access tokens with the realm's
// claims, the login page, refresh and RP-initiated logout. Run from
// tests/e2e with the variables of stack.env in the environment, plus
// EXPRESSO_STATE_DIR (dev-token.sh reads accounts.json there).

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEV_TOKEN = resolve(REPO_ROOT, 'scripts', 'dev-token.sh');

const DEMO_TENANT_ID = '6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11';
const ALICE_ID = 'ffccd4df-4101-4d16-b091-0dd482c1fd32';
const AUTH_CLIENT_ID = 'expresso-auth';
const MAX_REDIRECTS = 10;
const REQUEST_TIMEOUT_MS = 10_000;

const env = process.env;
const ISSUER = env.EXPRESSO_OIDC_ISSUER;
const AUTH_REDIRECT_URI = env.DEV_OIDC_AUTH_REDIRECT_URI
  ?? (env.EXPRESSO_AUTH_URL ? `${env.EXPRESSO_AUTH_URL.replace(/\/$/, '')}/auth/callback` : undefined);

function decodeSegment(segment) {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}

function decodeJwt(token) {
  const [header, payload, signature] = token.split('.');
  assert.ok(signature, `not a compact JWS: ${token.slice(0, 20)}...`);
  return { header: decodeSegment(header), payload: decodeSegment(payload) };
}

function verifyRs256(token, jwks) {
  const [header, payload, signature] = token.split('.');
  const { kid } = decodeSegment(header);
  const jwk = jwks.keys.find((key) => key.kid === kid);
  assert.ok(jwk, `kid ${kid} is not in the JWKS`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  return verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'));
}

function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

// A browser stand-in: keeps cookies for the provider's host and follows
// redirects by hand, stopping before the client's redirect URI.
class Browser {
  constructor(acceptLanguage) {
    this.cookies = new Map();
    this.acceptLanguage = acceptLanguage;
  }

  async request(url, { method = 'GET', form } = {}) {
    const headers = { Cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (this.acceptLanguage) {
      headers['Accept-Language'] = this.acceptLanguage;
    }
    let body;
    if (form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, {
      method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair, ...attributes] = cookie.split(';');
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') {
        this.cookies.delete(name);
      } else {
        this.cookies.set(name, value);
      }
    }
    const location = res.headers.get('location');
    return {
      status: res.status,
      location: location ? new URL(location, url).href : undefined,
      text: await res.text(),
      url,
    };
  }

  // Follows redirects from `response`; returns the callback URL when one
  // leads to `redirectUri`, else the last response.
  async follow(response, redirectUri) {
    let current = response;
    for (let hop = 0; hop < MAX_REDIRECTS && current.location; hop += 1) {
      if (current.location.startsWith(redirectUri)) {
        return { callback: new URL(current.location) };
      }
      current = await this.request(current.location);
    }
    return { page: current };
  }
}

function loginFormAction(page) {
  const match = /<form id="kc-form-login"[^>]*action="([^"]+)"/.exec(page.text);
  assert.ok(match, `no login form in the page (HTTP ${page.status}): ${page.text.slice(0, 300)}`);
  return new URL(match[1].replaceAll('&amp;', '&'), page.url).href;
}

async function authorizationUrl(discovery, params) {
  const url = new URL(discovery.authorization_endpoint);
  for (const [name, value] of Object.entries(params)) {
    url.searchParams.set(name, value);
  }
  return url.href;
}

// Runs the authorization code flow of the confidential client expresso-auth
// up to the callback, logging in with `login` and `password`.
async function loginAsAuthClient(discovery, login, password, browser = new Browser()) {
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(16).toString('base64url');
  const url = await authorizationUrl(discovery, {
    client_id: AUTH_CLIENT_ID,
    redirect_uri: AUTH_REDIRECT_URI,
    response_type: 'code',
    scope: 'openid email profile',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const { page } = await browser.follow(await browser.request(url), AUTH_REDIRECT_URI);
  const submitted = await browser.request(loginFormAction(page), {
    method: 'POST', form: { username: login, password },
  });
  const result = await browser.follow(submitted, AUTH_REDIRECT_URI);
  return {
    ...result, verifier, state, browser, submitted,
  };
}

async function tokenRequest(discovery, form, { basic } = {}) {
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  if (basic) {
    const credentials = `${encodeURIComponent(AUTH_CLIENT_ID)}:${encodeURIComponent(env.EXPRESSO_OIDC_CLIENT_SECRET)}`;
    headers.Authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  const res = await fetch(discovery.token_endpoint, {
    method: 'POST', headers, body: new URLSearchParams(form).toString(), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return { status: res.status, body: await res.json() };
}

async function getJson(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  assert.equal(res.status, 200, `GET ${url} returned HTTP ${res.status}`);
  return res.json();
}

describe('development OIDC provider', () => {
  let discovery;
  let jwks;

  before(async () => {
    assert.ok(ISSUER, 'EXPRESSO_OIDC_ISSUER is not set: source the stack.env of the running stack');
    assert.ok(env.EXPRESSO_STATE_DIR, 'EXPRESSO_STATE_DIR is not set: dev-token.sh reads accounts.json from it');
    assert.ok(env.EXPRESSO_ALICE_EMAIL, 'EXPRESSO_ALICE_EMAIL is not set');
    assert.ok(env.EXPRESSO_ALICE_PASSWORD, 'EXPRESSO_ALICE_PASSWORD is not set');
    assert.ok(env.EXPRESSO_OIDC_CLIENT_SECRET, 'EXPRESSO_OIDC_CLIENT_SECRET is not set');
    assert.ok(AUTH_REDIRECT_URI, 'EXPRESSO_AUTH_URL is not set (needed for the expresso-auth redirect URI)');
    discovery = await getJson(`${ISSUER}/.well-known/openid-configuration`);
    jwks = await getJson(discovery.jwks_uri);
  });

  test('discovery names issuer and endpoints', () => {
    assert.equal(discovery.issuer, ISSUER);
    for (const endpoint of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'end_session_endpoint']) {
      assert.ok(discovery[endpoint]?.startsWith(`${ISSUER}/`), `${endpoint} is ${discovery[endpoint]}`);
    }
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(discovery.id_token_signing_alg_values_supported, ['RS256']);
    assert.deepEqual(discovery.response_types_supported, ['code']);
  });

  test('JWKS has public RS256 keys only', () => {
    assert.ok(Array.isArray(jwks.keys), 'JWKS has no keys array');
    assert.ok(jwks.keys.length > 0, 'JWKS has no keys');
    for (const key of jwks.keys) {
      assert.equal(key.kty, 'RSA');
      assert.equal(key.alg, 'RS256');
      assert.equal(key.use, 'sig');
      assert.ok(key.kid, 'key without kid');
      for (const privateMember of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
        assert.equal(key[privateMember], undefined, `JWKS publishes private member ${privateMember}`);
      }
    }
  });

  test('dev-token.sh returns an RS256 JWT for alice', async () => {
    const { stdout } = await promisify(execFile)(DEV_TOKEN, [env.EXPRESSO_ALICE_EMAIL], {
      env, timeout: 30_000,
    });
    const token = stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'output is not only a compact JWT');
    const { header, payload } = decodeJwt(token);

    assert.equal(header.alg, 'RS256');
    assert.equal(header.typ, 'JWT');
    assert.ok(verifyRs256(token, jwks), 'signature does not verify with the JWKS');
    assert.equal(payload.iss, ISSUER);
    assert.equal(payload.aud, 'expresso');
    assert.equal(payload.azp, 'expresso-dev');
    assert.equal(payload.sub, ALICE_ID);
    assert.equal(payload.tenant_id, DEMO_TENANT_ID);
    assert.equal(payload.email, env.EXPRESSO_ALICE_EMAIL);
    assert.equal(payload.preferred_username, 'alice');
    assert.ok(payload.name, 'name claim missing');
    assert.deepEqual(payload.realm_access, { roles: ['user'] });
    assert.deepEqual(payload.scope.split(' ').sort(), ['email', 'openid', 'profile']);
    assert.ok(payload.exp > Date.now() / 1000, 'token already expired');
    assert.ok(payload.iat <= Date.now() / 1000 + 5, 'iat is in the future');
  });

  test('dev-token.sh rejects an unknown email', async () => {
    await assert.rejects(
      promisify(execFile)(DEV_TOKEN, ['nobody@demo.expresso.test'], { env, timeout: 30_000 }),
      (err) => {
        assert.notEqual(err.code, 0);
        assert.match(err.stderr, /no account with email nobody@demo\.expresso\.test/);
        assert.equal(err.stdout, '');
        return true;
      },
    );
  });

  test('login page shows an error on a wrong password', async () => {
    const ptBr = await loginAsAuthClient(discovery, env.EXPRESSO_ALICE_EMAIL, 'wrong-password');
    assert.equal(ptBr.callback, undefined, 'a wrong password reached the callback');
    assert.equal(ptBr.submitted.status, 200);
    assert.match(ptBr.submitted.text, /<html lang="pt-BR">/);
    assert.match(ptBr.submitted.text, /id="input-error"[^>]*>Usuário ou senha inválidos\.</);

    const english = await loginAsAuthClient(discovery, 'alice', 'wrong-password', new Browser('en-US,en;q=0.8'));
    assert.equal(english.callback, undefined, 'a wrong password reached the callback');
    assert.match(english.submitted.text, /id="input-error"[^>]*>Invalid username or password\.</);
  });

  test('authorization without PKCE is rejected', async () => {
    const browser = new Browser();
    const url = await authorizationUrl(discovery, {
      client_id: AUTH_CLIENT_ID, redirect_uri: AUTH_REDIRECT_URI, response_type: 'code', scope: 'openid',
    });
    const response = await browser.request(url);
    assert.ok(response.location?.startsWith(AUTH_REDIRECT_URI), `expected an error redirect, got HTTP ${response.status}`);
    const error = new URL(response.location).searchParams;
    assert.equal(error.get('error'), 'invalid_request');
    assert.match(error.get('error_description'), /PKCE/);
  });

  describe('expresso-auth after a login', () => {
    let login;
    let tokens;

    before(async () => {
      login = await loginAsAuthClient(discovery, env.EXPRESSO_ALICE_EMAIL, env.EXPRESSO_ALICE_PASSWORD);
      assert.ok(login.callback, `login did not reach the callback (HTTP ${login.submitted.status})`);
      assert.equal(login.callback.searchParams.get('state'), login.state);
      assert.equal(login.callback.searchParams.get('iss'), ISSUER);
      const exchange = await tokenRequest(discovery, {
        grant_type: 'authorization_code',
        code: login.callback.searchParams.get('code'),
        redirect_uri: AUTH_REDIRECT_URI,
        code_verifier: login.verifier,
      }, { basic: true });
      assert.equal(exchange.status, 200, JSON.stringify(exchange.body));
      tokens = exchange.body;
    });

    test('code exchange returns ID, access and refresh tokens', () => {
      assert.equal(tokens.token_type, 'Bearer');
      assert.ok(tokens.refresh_token, 'no refresh token without offline_access');
      const access = decodeJwt(tokens.access_token).payload;
      assert.equal(access.azp, AUTH_CLIENT_ID);
      assert.equal(access.tenant_id, DEMO_TENANT_ID);

      const { header, payload } = decodeJwt(tokens.id_token);
      assert.equal(header.alg, 'RS256');
      assert.ok(verifyRs256(tokens.id_token, jwks), 'ID token signature does not verify');
      assert.equal(payload.aud, AUTH_CLIENT_ID);
      assert.equal(payload.sub, ALICE_ID);
      assert.equal(payload.tenant_id, DEMO_TENANT_ID);
      assert.equal(payload.email, env.EXPRESSO_ALICE_EMAIL);
      assert.equal(payload.preferred_username, 'alice');
      assert.deepEqual(payload.realm_access, { roles: ['user'] });
    });

    test('userinfo accepts the access token', async () => {
      const res = await fetch(discovery.userinfo_endpoint, {
        headers: { Authorization: `Bearer ${tokens.access_token}` },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      assert.equal(res.status, 200);
      const claims = await res.json();
      assert.equal(claims.sub, ALICE_ID);
      assert.equal(claims.email, env.EXPRESSO_ALICE_EMAIL);
      assert.equal(claims.tenant_id, DEMO_TENANT_ID);

      const rejected = await fetch(discovery.userinfo_endpoint, {
        headers: { Authorization: `Bearer ${tokens.access_token.slice(0, -4)}AAAA` },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      assert.equal(rejected.status, 401);
      assert.match(rejected.headers.get('www-authenticate'), /error="invalid_token"/);
    });

    test('refresh rotates the refresh token', async () => {
      const first = await tokenRequest(discovery, {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: AUTH_CLIENT_ID,
        client_secret: env.EXPRESSO_OIDC_CLIENT_SECRET,
      });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.notEqual(first.body.refresh_token, tokens.refresh_token);
      const access = decodeJwt(first.body.access_token).payload;
      assert.equal(access.sub, ALICE_ID);
      assert.equal(access.aud, 'expresso');
      assert.equal(access.tenant_id, DEMO_TENANT_ID);
      assert.ok(verifyRs256(first.body.access_token, jwks), 'refreshed token signature does not verify');

      const second = await tokenRequest(discovery, {
        grant_type: 'refresh_token', refresh_token: first.body.refresh_token,
      }, { basic: true });
      assert.equal(second.status, 200, JSON.stringify(second.body));

      const reused = await tokenRequest(discovery, {
        grant_type: 'refresh_token', refresh_token: tokens.refresh_token,
      }, { basic: true });
      assert.equal(reused.status, 400);
      assert.equal(reused.body.error, 'invalid_grant');
    });

    test('second authorization skips login and consent', async () => {
      for (const prompt of [undefined, 'consent']) {
        const { challenge } = pkcePair();
        const params = {
          client_id: AUTH_CLIENT_ID,
          redirect_uri: AUTH_REDIRECT_URI,
          response_type: 'code',
          scope: 'openid email profile',
          code_challenge: challenge,
          code_challenge_method: 'S256',
        };
        if (prompt) {
          params.prompt = prompt;
        }
        const url = await authorizationUrl(discovery, params);
        const result = await login.browser.follow(await login.browser.request(url), AUTH_REDIRECT_URI);
        assert.ok(result.callback, `prompt=${prompt}: stopped at HTTP ${result.page?.status}: ${result.page?.text.slice(0, 200)}`);
        assert.ok(result.callback.searchParams.get('code'), `prompt=${prompt}: no code in ${result.callback}`);
      }
    });

    test('refresh with a wrong client secret fails', async () => {
      const res = await tokenRequest(discovery, {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: AUTH_CLIENT_ID,
        client_secret: `${env.EXPRESSO_OIDC_CLIENT_SECRET}-wrong`,
      });
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_client');
    });
  });

  describe('RP-initiated logout', () => {
    let login;
    let tokens;

    before(async () => {
      login = await loginAsAuthClient(discovery, env.EXPRESSO_ALICE_EMAIL, env.EXPRESSO_ALICE_PASSWORD);
      assert.ok(login.callback, 'login did not reach the callback');
      const exchange = await tokenRequest(discovery, {
        grant_type: 'authorization_code',
        code: login.callback.searchParams.get('code'),
        redirect_uri: AUTH_REDIRECT_URI,
        code_verifier: login.verifier,
      }, { basic: true });
      assert.equal(exchange.status, 200, JSON.stringify(exchange.body));
      tokens = exchange.body;
    });

    test('logout redirects and ends the refresh token', async () => {
      const { browser } = login;
      const postLogout = env.DEV_OIDC_POST_LOGOUT_REDIRECT_URI
        ?? `${new URL(AUTH_REDIRECT_URI).origin}/`;
      const url = new URL(discovery.end_session_endpoint);
      url.searchParams.set('id_token_hint', tokens.id_token);
      url.searchParams.set('post_logout_redirect_uri', postLogout);
      url.searchParams.set('state', 'after-logout');

      const confirm = await browser.request(url.href);
      assert.equal(confirm.status, 200);
      const form = /<form id="op.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"/.exec(confirm.text);
      assert.ok(form, `no logout form: ${confirm.text.slice(0, 300)}`);

      const done = await browser.request(new URL(form[1], url).href, {
        method: 'POST', form: { xsrf: form[2], logout: 'yes' },
      });
      assert.equal(done.status, 303);
      assert.equal(done.location, `${postLogout}?state=after-logout`);

      const refresh = await tokenRequest(discovery, {
        grant_type: 'refresh_token', refresh_token: tokens.refresh_token,
      }, { basic: true });
      assert.equal(refresh.status, 400);
      assert.equal(refresh.body.error, 'invalid_grant');
    });
  });
});
