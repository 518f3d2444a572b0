// Platform behaviour every daemon shares, checked on the running stack and
// on a private instance of expresso-auth: /health, /ready, /metrics, JSON
// errors, request ids, --help, invalid settings, a dead dependency in
// /ready, and draining on SIGTERM.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { buildDir, daemonUrls, freePort, requireEnv, runToExit, startDaemon, waitForHttp } from './lib/stack.mjs';

const authBinary = path.join(buildDir, 'services/auth/expresso-auth');

describe('every running daemon', () => {
  const daemons = daemonUrls();

  test('stack has at least one daemon', () => {
    assert.ok(daemons.length >= 1, 'stack.env names no daemon URL');
  });

  for (const { name, url } of daemons) {
    test(`${name}: /health answers ok`, async () => {
      const response = await fetch(`${url}/health`);
      assert.equal(response.status, 200);
      const body = await response.json();
      assert.equal(body.status, 'ok');
    });

    test(`${name}: /ready checks its dependencies`, async () => {
      const response = await fetch(`${url}/ready`);
      assert.equal(response.status, 200);
      const body = await response.json();
      assert.equal(body.status, 'ready');
      for (const [check, result] of Object.entries(body.checks)) {
        assert.equal(result, 'ok', `${check}: ${result}`);
      }
    });

    test(`${name}: /metrics is Prometheus text`, async () => {
      await fetch(`${url}/health`);
      const response = await fetch(`${url}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      assert.match(text, /# TYPE expresso_http_requests_total counter/);
      assert.match(text, /expresso_http_requests_total\{daemon="[a-z]+",route="\/health",method="GET",status="200"\} \d+/);
      assert.match(text, /expresso_http_request_duration_seconds_bucket\{.*le="\+Inf"\} \d+/);
    });

    test(`${name}: unknown path is a JSON 404`, async () => {
      const response = await fetch(`${url}/no/such/path`);
      assert.equal(response.status, 404);
      const body = await response.json();
      assert.equal(body.error.code, 'not_found');
      assert.equal(typeof body.error.message, 'string');
    });

    test(`${name}: wrong method is 405 with Allow`, async () => {
      const response = await fetch(`${url}/health`, { method: 'DELETE' });
      assert.equal(response.status, 405);
      assert.equal(response.headers.get('allow'), 'GET, HEAD');
    });

    test(`${name}: X-Request-Id is kept`, async () => {
      const response = await fetch(`${url}/health`, { headers: { 'X-Request-Id': 'e2e-platform-1' } });
      assert.equal(response.headers.get('x-request-id'), 'e2e-platform-1');
    });
  }
});

describe('daemon lifecycle (private expresso-auth)', { skip: !existsSync(authBinary) && 'expresso-auth is not built' }, () => {
  const baseEnv = () => ({
    EXPRESSO_HTTP_ADDRESS: '127.0.0.1',
    EXPRESSO_DATABASE_URL: requireEnv('EXPRESSO_DATABASE_URL'),
    EXPRESSO_OIDC_ISSUER: requireEnv('EXPRESSO_OIDC_ISSUER'),
    EXPRESSO_OIDC_CLIENT_SECRET: requireEnv('EXPRESSO_OIDC_CLIENT_SECRET'),
    EXPRESSO_COOKIE_SECURE: 'false',
  });

  test('--help lists common settings with defaults', async () => {
    const { code, stdout } = await runToExit(authBinary, ['--help'], {});
    assert.equal(code, 0);
    for (const name of ['EXPRESSO_HTTP_PORT', 'EXPRESSO_HTTP_MAX_BODY', 'EXPRESSO_DATABASE_URL', 'EXPRESSO_LOG_LEVEL']) {
      assert.match(stdout, new RegExp(name));
    }
    assert.match(stdout, /default: 1M/);
    assert.match(stdout, /environment only/);
  });

  test('invalid setting exits 2 naming it', async () => {
    const { code, stderr } = await runToExit(authBinary, [], { ...baseEnv(), EXPRESSO_HTTP_MAX_BODY: 'lots' });
    assert.equal(code, 2);
    const line = JSON.parse(stderr.trim().split('\n').at(-1));
    assert.equal(line.event, 'configuration_invalid');
    assert.match(line.error, /EXPRESSO_HTTP_MAX_BODY/);
  });

  test('/ready is 503 while PostgreSQL is unreachable', async () => {
    const port = await freePort();
    const deadPort = await freePort();
    const daemon = startDaemon(authBinary, {
      ...baseEnv(),
      EXPRESSO_HTTP_PORT: String(port),
      EXPRESSO_PUBLIC_URL: `http://127.0.0.1:${port}`,
      EXPRESSO_DATABASE_URL: `postgresql://expresso_app:x@127.0.0.1:${deadPort}/expresso?connect_timeout=1`,
    });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health`);
      const response = await fetch(`http://127.0.0.1:${port}/ready`);
      assert.equal(response.status, 503);
      const body = await response.json();
      assert.equal(body.status, 'not_ready');
      assert.notEqual(body.checks.postgresql, 'ok');
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
  });

  test('SIGTERM drains and exits 0', async () => {
    const port = await freePort();
    const daemon = startDaemon(authBinary, {
      ...baseEnv(),
      EXPRESSO_HTTP_PORT: String(port),
      EXPRESSO_PUBLIC_URL: `http://127.0.0.1:${port}`,
    });
    await waitForHttp(`http://127.0.0.1:${port}/ready`);
    daemon.child.kill('SIGTERM');
    const { code } = await daemon.exited;
    assert.equal(code, 0);
    const events = daemon.lines.map((line) => JSON.parse(line).event);
    assert.ok(events.includes('daemon_stopping'), events.join(','));
    assert.ok(events.includes('http_stopped'), events.join(','));
    assert.ok(events.includes('daemon_stopped'), events.join(','));
    await assert.rejects(fetch(`http://127.0.0.1:${port}/health`));
  });

  test('log lines are JSON with daemon and event', async () => {
    const port = await freePort();
    const daemon = startDaemon(authBinary, {
      ...baseEnv(),
      EXPRESSO_HTTP_PORT: String(port),
      EXPRESSO_PUBLIC_URL: `http://127.0.0.1:${port}`,
    });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health`);
      await fetch(`http://127.0.0.1:${port}/health`, {
        headers: { 'X-Request-Id': 'log-check-7', Authorization: 'Bearer not-a-token', Cookie: 'expresso_session=secret' },
      });
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
    const records = daemon.lines.map((line) => JSON.parse(line));
    for (const record of records) {
      assert.equal(record.daemon, 'expresso-auth');
      assert.equal(typeof record.event, 'string');
      assert.equal(typeof record.time, 'string');
    }
    const access = records.find((record) => record.event === 'http_request' && record.request_id === 'log-check-7');
    assert.ok(access, 'no access log line for the request');
    assert.equal(access.route, '/health');
    assert.equal(access.status, 200);
    const all = daemon.lines.join('\n');
    assert.doesNotMatch(all, /not-a-token/);
    assert.doesNotMatch(all, /expresso_session=secret/);
  });
});
