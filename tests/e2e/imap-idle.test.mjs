// expresso-mail's IMAP connection layer: many connections waiting in IDLE
// on a few worker threads, IDLE woken by a change made through another
// expresso-mail process (a second replica), keepalives, the autologout,
// IDLE over implicit TLS, pipelined and split input, and the limits on
// connections and workers. Each test starts a private instance of the
// binary on free ports with the stack's database and storage.
//
// Needs: the stack up (scripts/run-local.sh) and the variables of stack.env.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

import { buildDir, freePort, mailListenersOff, requireEnv, startDaemon, waitForHttp } from './lib/stack.mjs';

const host = '127.0.0.1';
const runId = crypto.randomBytes(4).toString('hex');
const binary = path.join(buildDir, 'services', 'mail', 'expresso-mail');
const env = {};

before(() => {
  for (const name of ['EXPRESSO_STATE_DIR', 'EXPRESSO_IMAPS_PORT', 'EXPRESSO_ALICE_EMAIL', 'EXPRESSO_ALICE_APP_PASSWORD']) {
    env[name] = requireEnv(name);
  }
});

async function startInstance(extra = {}) {
  const ports = { http: await freePort(), imap: await freePort(), imaps: await freePort() };
  const daemon = startDaemon(binary, {
    ...mailListenersOff,
    EXPRESSO_HTTP_ADDRESS: host,
    EXPRESSO_HTTP_PORT: String(ports.http),
    EXPRESSO_SMTP_PORT: '0',
    EXPRESSO_SUBMISSION_PORT: '0',
    EXPRESSO_SUBMISSIONS_PORT: '0',
    EXPRESSO_IMAP_PORT: String(ports.imap),
    EXPRESSO_IMAPS_PORT: String(ports.imaps),
    EXPRESSO_IMAP_LOOPBACK_PLAINTEXT: 'true',
    EXPRESSO_TLS_CERT: path.join(env.EXPRESSO_STATE_DIR, 'tls', 'server.pem'),
    EXPRESSO_TLS_KEY: path.join(env.EXPRESSO_STATE_DIR, 'tls', 'server.key'),
    EXPRESSO_STORAGE_DIR: path.join(env.EXPRESSO_STATE_DIR, 'storage'),
    ...extra,
  });
  await waitForHttp(`http://${host}:${ports.http}/ready`, { timeoutMs: 20_000 });
  return { daemon, ports };
}

async function stopInstance(instance) {
  instance.daemon.child.kill('SIGTERM');
  const exit = await instance.daemon.exited;
  assert.equal(exit.code, 0, `the private instance exited with ${JSON.stringify(exit)}`);
}

// A raw IMAP connection that collects what the server sends.
function connect(port, { secure = false } = {}) {
  const socket = secure
    ? tls.connect({ host, port, ca: readFileSync(path.join(env.EXPRESSO_STATE_DIR, 'tls', 'ca.pem')), servername: 'localhost' })
    : net.connect(port, host);
  const client = { socket, text: '', closed: false };
  socket.on('data', (chunk) => { client.text += chunk.toString('latin1'); });
  socket.on('close', () => { client.closed = true; });
  socket.on('error', () => { client.closed = true; });
  return client;
}

function waitFor(client, pattern, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const poll = () => {
      const match = pattern.exec(client.text);
      if (match) resolve(match);
      else if (Date.now() > deadline) reject(new Error(`no ${pattern} within ${timeoutMs} ms in ${client.text.slice(-500)}`));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

function waitClosed(client, timeoutMs) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const poll = () => {
      if (client.closed) resolve();
      else if (Date.now() > deadline) reject(new Error(`the connection stayed open for ${timeoutMs} ms: ${client.text.slice(-300)}`));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

async function login(client) {
  await waitFor(client, /^\* OK/m);
  client.socket.write(`a LOGIN "${env.EXPRESSO_ALICE_EMAIL}" "${env.EXPRESSO_ALICE_APP_PASSWORD}"\r\n`);
  // The argon2id check of the app password takes a while on a busy machine.
  await waitFor(client, /^a OK/m, 30_000);
}

async function idleOnInbox(client) {
  await login(client);
  client.socket.write('b SELECT INBOX\r\n');
  await waitFor(client, /^b OK/m);
  client.socket.write('c IDLE\r\n');
  await waitFor(client, /^\+ /m);
}

function threadCount(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^Threads:\s+(\d+)/m.exec(status)[1]);
}

// Appends one message to alice's INBOX through the stack's own expresso-mail, another process.
async function appendElsewhere(subject) {
  const client = connect(Number(env.EXPRESSO_IMAPS_PORT), { secure: true });
  await login(client);
  const message = `From: idle@example.org\r\nTo: ${env.EXPRESSO_ALICE_EMAIL}\r\nSubject: ${subject}\r\n\r\nIDLE test.\r\n`;
  client.socket.write(`b APPEND INBOX {${Buffer.byteLength(message)}+}\r\n${message}\r\n`);
  await waitFor(client, /^b OK/m);
  const appendedAt = Date.now();
  client.socket.end('c LOGOUT\r\n');
  return appendedAt;
}

test('200 IDLE connections on two workers', { timeout: 300_000 }, async () => {
  const instance = await startInstance({
    EXPRESSO_IMAP_WORKERS: '2',
    EXPRESSO_IMAP_IDLE_KEEPALIVE: '1s',
    EXPRESSO_IMAP_MAX_CONNECTIONS_PER_ADDRESS: '300',
  });
  const clients = [];
  try {
    for (let first = 0; first < 200; first += 4) {
      const batch = Array.from({ length: 4 }, () => connect(instance.ports.imap));
      await Promise.all(batch.map(idleOnInbox));
      clients.push(...batch);
    }
    const threads = threadCount(instance.daemon.child.pid);
    assert.ok(threads < 40, `${threads} threads serve 200 connections in IDLE`);

    // Every connection learns of a message appended by another replica.
    const seen = clients.map((client) => client.text.length);
    const appendedAt = await appendElsewhere(`idle ${runId}`);
    const delays = await Promise.all(clients.map(async (client, index) => {
      const started = Date.now();
      while (!/^\* \d+ EXISTS/m.test(client.text.slice(seen[index]))) {
        if (Date.now() - started > 10_000) throw new Error(`connection ${index} saw no EXISTS: ${client.text.slice(-300)}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return Date.now() - appendedAt;
    }));
    delays.sort((a, b) => a - b);
    const slowest = delays[delays.length - 1];
    assert.ok(slowest <= 1000, `EXISTS reached the last of 200 IDLE connections ${slowest} ms after the APPEND`);

    // Keepalives come every second.
    const keepaliveStart = clients.map((client) => client.text.length);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const withoutKeepalive = clients.filter((client, index) => !/\* OK Still here/.test(client.text.slice(keepaliveStart[index])));
    assert.equal(withoutKeepalive.length, 0, `${withoutKeepalive.length} connections got no keepalive in 1.6 s`);

    // DONE ends IDLE, and the session goes on.
    const last = clients[clients.length - 1];
    last.socket.write('DONE\r\nd NOOP\r\n');
    await waitFor(last, /^c OK IDLE terminated/m);
    await waitFor(last, /^d OK/m);
  } finally {
    for (const client of clients) client.socket.destroy();
    await stopInstance(instance);
  }
});

test('IDLE over implicit TLS', { timeout: 60_000 }, async () => {
  const instance = await startInstance();
  const client = connect(instance.ports.imaps, { secure: true });
  try {
    await idleOnInbox(client);
    const seen = client.text.length;
    await appendElsewhere(`tls idle ${runId}`);
    await waitFor({ get text() { return client.text.slice(seen); } }, /^\* \d+ EXISTS/m, 2000);
    client.socket.write('DONE\r\n');
    await waitFor(client, /^c OK IDLE terminated/m);
    // A command split into one-octet TLS records is read whole.
    for (const octet of 'd NOOP\r\n') client.socket.write(octet);
    await waitFor(client, /^d OK/m);
  } finally {
    client.socket.destroy();
    await stopInstance(instance);
  }
});

test('pipelined and split commands', { timeout: 60_000 }, async () => {
  const instance = await startInstance();
  const client = connect(instance.ports.imap);
  try {
    await waitFor(client, /^\* OK/m);
    const commands = [`a LOGIN "${env.EXPRESSO_ALICE_EMAIL}" "${env.EXPRESSO_ALICE_APP_PASSWORD}"`];
    for (let i = 0; i < 300; i++) commands.push(`p${i} NOOP`);
    commands.push('z SELECT INBOX');
    client.socket.write(`${commands.join('\r\n')}\r\n`);
    await waitFor(client, /^z OK/m, 20_000);
    for (let i = 0; i < 300; i++) assert.match(client.text, new RegExp(`^p${i} OK`, 'm'));

    const split = 'y STATUS INBOX (MESSAGES)\r\n';
    for (let i = 0; i < split.length; i += 3) {
      client.socket.write(split.slice(i, i + 3));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitFor(client, /^y OK/m);
  } finally {
    client.socket.destroy();
    await stopInstance(instance);
  }
});

test('autologout and connection limit', { timeout: 120_000 }, async () => {
  const instance = await startInstance({ EXPRESSO_IMAP_IDLE_TIMEOUT: '3s', EXPRESSO_IMAP_MAX_CONNECTIONS: '3' });
  const clients = [];
  try {
    // A silent connection and one in IDLE are both logged out 3 s after their last input.
    for (let i = 0; i < 2; i++) clients.push(connect(instance.ports.imap));
    await login(clients[0]);
    const loggedInAt = Date.now();
    await idleOnInbox(clients[1]);
    await waitFor(clients[0], /^\* BYE Autologout/m, 10_000);
    await waitFor(clients[1], /^\* BYE Autologout/m, 10_000);
    await waitClosed(clients[0], 2000);
    await waitClosed(clients[1], 2000);
    const elapsed = Date.now() - loggedInAt;
    assert.ok(elapsed >= 2900, `autologout came ${elapsed} ms after the last input`);

    // At the limit of 3 every connection is greeted; one past it gets BYE.
    clients.push(connect(instance.ports.imap), connect(instance.ports.imap), connect(instance.ports.imap));
    for (const client of clients.slice(2)) await waitFor(client, /^\* OK/m);
    const extra = connect(instance.ports.imap);
    clients.push(extra);
    await waitFor(extra, /^\* BYE \[UNAVAILABLE\] Too many connections/m);
    await waitClosed(extra, 2000);
  } finally {
    for (const client of clients) client.socket.destroy();
    await stopInstance(instance);
  }
});

test('worker setting bounds', { timeout: 60_000 }, async () => {
  for (const value of ['0', '1025']) {
    const daemon = startDaemon(binary, {
      ...mailListenersOff,
      EXPRESSO_HTTP_ADDRESS: host,
      EXPRESSO_HTTP_PORT: String(await freePort()),
      EXPRESSO_SMTP_PORT: '0',
      EXPRESSO_SUBMISSION_PORT: '0',
      EXPRESSO_SUBMISSIONS_PORT: '0',
      EXPRESSO_IMAP_PORT: String(await freePort()),
      EXPRESSO_STORAGE_DIR: path.join(env.EXPRESSO_STATE_DIR, 'storage'),
      EXPRESSO_IMAP_WORKERS: value,
    });
    const exit = await daemon.exited;
    assert.notEqual(exit.code, 0, `EXPRESSO_IMAP_WORKERS=${value} was accepted`);
    assert.ok(daemon.lines.some((line) => line.includes('EXPRESSO_IMAP_WORKERS') && line.includes('between 1 and 1024')),
      `no clear error for EXPRESSO_IMAP_WORKERS=${value}: ${daemon.lines.slice(-3).join('\n')}`);
  }
  const instance = await startInstance({ EXPRESSO_IMAP_WORKERS: '1024' });
  const client = connect(instance.ports.imap);
  try {
    await login(client);
  } finally {
    client.socket.destroy();
    await stopInstance(instance);
  }
});
