// IMAP IDLE across two expresso-mail replicas: the stack's instance and a
// second one started here on the same database and storage. Changes travel
// through PostgreSQL notifications, so a session in IDLE on one replica
// learns within one second of a delivery, a flag change over IMAP and a
// change through the JSON API made on the other.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// scripts/dev-token.sh, imapflow (package.json).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';

import { SmtpClient } from './lib/smtp_client.mjs';
import { buildDir, freePort, repoRoot, requireEnv, startDaemon, waitForHttp } from './lib/stack.mjs';

const TEST_TIMEOUT_MS = 120_000;
const NOTICE_MS = 1000; // maximum delay between a change and its untagged response in IDLE
const host = '127.0.0.1';
const runId = crypto.randomBytes(4).toString('hex');
const env = {};
let replica;

before(async () => {
  for (const name of ['EXPRESSO_IMAPS_PORT', 'EXPRESSO_SMTP_PORT', 'EXPRESSO_MAIL_API_URL', 'EXPRESSO_TLS_CA',
    'EXPRESSO_STATE_DIR', 'EXPRESSO_ALICE_EMAIL', 'EXPRESSO_ALICE_APP_PASSWORD']) {
    env[name] = requireEnv(name);
  }
  const ports = {
    http: await freePort(), smtp: await freePort(), submission: await freePort(), submissions: await freePort(),
    imaps: await freePort(),
  };
  replica = startDaemon(path.join(buildDir, 'services', 'mail', 'expresso-mail'), {
    EXPRESSO_HTTP_ADDRESS: host,
    EXPRESSO_HTTP_PORT: String(ports.http),
    EXPRESSO_SMTP_PORT: String(ports.smtp),
    EXPRESSO_SUBMISSION_PORT: String(ports.submission),
    EXPRESSO_SUBMISSIONS_PORT: String(ports.submissions),
    EXPRESSO_IMAP_PORT: '0',
    EXPRESSO_IMAPS_PORT: String(ports.imaps),
    EXPRESSO_MANAGESIEVE_PORT: '0',
    EXPRESSO_STORAGE_DIR: path.join(env.EXPRESSO_STATE_DIR, 'storage'),
    EXPRESSO_TLS_CERT: path.join(env.EXPRESSO_STATE_DIR, 'tls', 'server.pem'),
    EXPRESSO_TLS_KEY: path.join(env.EXPRESSO_STATE_DIR, 'tls', 'server.key'),
  });
  Object.assign(replica, { url: `http://${host}:${ports.http}`, smtpPort: ports.smtp, imapsPort: ports.imaps });
  try {
    await waitForHttp(`${replica.url}/ready`, { timeoutMs: 20_000 });
  } catch (error) {
    replica.child.kill('SIGKILL');
    throw new Error(`${error.message}; daemon output:\n${replica.lines.slice(-10).join('\n')}`);
  }
});

after(async () => {
  if (replica && replica.child.exitCode === null) {
    replica.child.kill('SIGTERM');
    await replica.exited;
  }
});

function imapflow(port, options = {}) {
  return new ImapFlow({
    host,
    port,
    secure: true,
    tls: { ca: readFileSync(env.EXPRESSO_TLS_CA), checkServerIdentity: () => undefined },
    auth: { user: env.EXPRESSO_ALICE_EMAIL, pass: env.EXPRESSO_ALICE_APP_PASSWORD },
    logger: false,
    ...options,
  });
}

// Delivers MESSAGE to alice over SMTP on PORT; resolves with the time of the 250 reply to the final dot.
async function deliverSmtp(port, message) {
  const client = await SmtpClient.connect(port, host);
  try {
    await client.ehlo('e2e.test');
    const from = await client.command('MAIL FROM:<sender@example.org>');
    assert.equal(from.code, 250, from.text);
    const to = await client.command(`RCPT TO:<${env.EXPRESSO_ALICE_EMAIL}>`);
    assert.equal(to.code, 250, to.text);
    const stored = await client.data(Buffer.from(message));
    assert.equal(stored.code, 250, stored.text);
    const accepted = Date.now();
    await client.command('QUIT');
    return accepted;
  } finally {
    client.close();
  }
}

function testMessage(subject) {
  return [
    'From: Remetente <sender@example.org>', `To: ${env.EXPRESSO_ALICE_EMAIL}`, `Subject: ${subject}`,
    `Message-ID: <${crypto.randomUUID()}@e2e.expresso.test>`, 'Date: Sat, 05 Dec 2026 12:00:00 +0000', '',
    'Corpo de teste.', '',
  ].join('\r\n');
}

// Opens INBOX on PORT and lets imapflow go into IDLE; records EXISTS and FETCH FLAGS with their arrival time.
async function watch(port) {
  const client = imapflow(port, { autoIdleDelay: 100 });
  await client.connect();
  await client.mailboxOpen('INBOX');
  const events = [];
  let notify = () => {};
  client.on('exists', (event) => { events.push({ kind: 'exists', at: Date.now(), event }); notify(); });
  client.on('flags', (event) => { events.push({ kind: 'flags', at: Date.now(), event }); notify(); });
  const waitFor = (kind, since, check = () => true) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${kind} event within 5 s: ${JSON.stringify(events)}`)), 5000);
    notify = () => {
      const found = events.find((entry) => entry.kind === kind && entry.at >= since && check(entry.event));
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    notify();
  });
  // imapflow enters IDLE autoIdleDelay after its last command.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return { client, waitFor };
}

test('delivery on one replica wakes IDLE on the other', { timeout: TEST_TIMEOUT_MS }, async () => {
  const watcher = await watch(Number(env.EXPRESSO_IMAPS_PORT));
  try {
    const start = Date.now();
    const accepted = await deliverSmtp(replica.smtpPort, testMessage(`replica ${runId}`));
    const exists = await watcher.waitFor('exists', start);
    assert.ok(exists.at - accepted <= NOTICE_MS, `EXISTS came ${exists.at - accepted} ms after the 250 reply`);
  } finally {
    await watcher.client.logout().catch(() => {});
  }
});

test('IMAP flag change on one replica reaches the other', { timeout: TEST_TIMEOUT_MS }, async () => {
  await deliverSmtp(Number(env.EXPRESSO_SMTP_PORT), testMessage(`flags ${runId}`));
  const watcher = await watch(replica.imapsPort);
  const other = imapflow(Number(env.EXPRESSO_IMAPS_PORT));
  try {
    await other.connect();
    await other.mailboxOpen('INBOX');
    const start = Date.now();
    await other.messageFlagsAdd('*', ['\\Flagged']);
    const stored = Date.now();
    const flags = await watcher.waitFor('flags', start, (event) => event.flags.has('\\Flagged'));
    assert.ok(flags.at - stored <= NOTICE_MS, `FETCH FLAGS came ${flags.at - stored} ms after the STORE completed`);
  } finally {
    await other.logout().catch(() => {});
    await watcher.client.logout().catch(() => {});
  }
});

test('API flag change reaches IDLE on a replica', { timeout: TEST_TIMEOUT_MS }, async () => {
  await deliverSmtp(Number(env.EXPRESSO_SMTP_PORT), testMessage(`api ${runId}`));
  const { stdout } = await promisify(execFile)(path.join(repoRoot, 'scripts', 'dev-token.sh'), [env.EXPRESSO_ALICE_EMAIL],
    { timeout: 30_000 });
  const token = stdout.trim();
  const watcher = await watch(replica.imapsPort);
  try {
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    const folders = await (await fetch(`${env.EXPRESSO_MAIL_API_URL}/api/v1/mail/folders`, { headers })).json();
    const inbox = folders.folders.find((folder) => folder.role === 'inbox');
    assert.ok(inbox, JSON.stringify(folders));
    const list = await (await fetch(`${env.EXPRESSO_MAIL_API_URL}/api/v1/mail/folders/${inbox.id}/messages?sort=date`,
      { headers })).json();
    const message = list.messages.find((item) => item.subject === `api ${runId}`);
    assert.ok(message, `api ${runId} is not listed`);

    const start = Date.now();
    const response = await fetch(`${env.EXPRESSO_MAIL_API_URL}/api/v1/mail/messages/${message.id}/flags`, {
      method: 'PATCH', headers, body: JSON.stringify({ flagged: true }),
    });
    const changed = Date.now();
    assert.equal(response.status, 200, await response.text());
    const flags = await watcher.waitFor('flags', start, (event) => event.flags.has('\\Flagged'));
    assert.ok(flags.at - changed <= NOTICE_MS, `FETCH FLAGS came ${flags.at - changed} ms after the API answered`);
  } finally {
    await watcher.client.logout().catch(() => {});
  }
});
