// The outbound queue of expresso-mail against real SMTP servers on
// loopback. A private instance of the daemon routes the domain
// remote.test to an aiosmtpd server (smtp_remote.py) and down.test to a
// port where nothing listens, with short retry and lifetime settings.
// Alice submits on port 587 (STARTTLS, AUTH PLAIN with her app password);
// the remote records what it received, and DSNs land in Alice's INBOX,
// read through PostgreSQL and the local-disk storage.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// /usr/bin/python3 with aiosmtpd (Debian python3-aiosmtpd), and swaks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { connect as connectNats } from 'nats';

import { SmtpClient, openSubmission } from './lib/smtp_client.mjs';
import {
  buildDir, freeMailPorts, freePort, helperEvent, mailInstanceEnv, requireEnv, startDaemon,
  waitFor, waitForDaemon,
} from './lib/stack.mjs';
import { openOutboundContext, startSmtpRemote } from './lib/outbound.mjs';
import { tenantQuery } from './lib/tenant_db.mjs';

const TEST_TIMEOUT_MS = 120_000;
const host = '127.0.0.1';
const binary = path.join(buildDir, 'services', 'mail', 'expresso-mail');

// Settings of the private instance: retries after 1 s, then 2 s; a queued message lives 6 s.
const RETRY_MIN = '1s';
const RETRY_MAX = '2s';
const LIFETIME_SECONDS = 6;

const env = {};
let owner;
let ca;
let alice;
let remote;
let instance;

// ---- the remote SMTP server ------------------------------------------------------

// Waits until the remote has logged an event matching PREDICATE.
function remoteEvent(predicate, timeoutMs) {
  return helperEvent(remote, predicate, timeoutMs);
}

// ---- the store ------------------------------------------------------------------

function readObject(tenantId, key) {
  return readFileSync(path.join(env.EXPRESSO_STATE_DIR, 'storage', tenantId, key));
}

function objectExists(tenantId, key) {
  return existsSync(path.join(env.EXPRESSO_STATE_DIR, 'storage', tenantId, key));
}

// Returns the stored DSNs in Alice's INBOX whose subject is like SUBJECT and that name ADDRESS.
async function findDsns(address, subject = 'Undelivered Mail%') {
  const rows = await tenantQuery(owner, alice.tenantId,
    `SELECT m.storage_key FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
      WHERE b.user_id = $1 AND b.name = 'INBOX' AND m.subject LIKE $2`, [alice.userId, subject]);
  return rows.map((row) => readObject(alice.tenantId, row.storage_key).toString('utf8'))
    .filter((object) => object.includes(`Final-Recipient: rfc822; ${address}\r\n`));
}

// Returns the DSN in Alice's INBOX that names ADDRESS, once it is there.
async function dsnFor(address, timeoutMs = 30_000, subject = 'Undelivered Mail%') {
  return waitFor(`a DSN about ${address}`, async () => (await findDsns(address, subject))[0] ?? null, timeoutMs);
}

async function queueRows(queueId) {
  return tenantQuery(owner, alice.tenantId,
    'SELECT q.attempts, q.storage_key, r.address, r.status, r.status_code FROM mail_queue q ' +
    'JOIN mail_queue_recipients r ON r.queue_id = q.id WHERE q.id = $1 ORDER BY r.position', [queueId]);
}

// ---- submission ------------------------------------------------------------------

function message(subject, to) {
  const id = `<${crypto.randomUUID()}@e2e.expresso.test>`;
  const text = `From: Alice <${alice.email}>\r\nTo: ${to.join(', ')}\r\nSubject: ${subject}\r\n` +
    `Message-ID: ${id}\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\n\r\nHello from the outbound test.\r\n.dot line\r\n`;
  return { id, content: Buffer.from(text, 'utf8') };
}

// Submits CONTENT as Alice to RECIPIENTS on the private instance; returns the RCPT replies and the final reply.
async function submit(recipients, content, { mailParameters = '', rcptParameters = '' } = {}) {
  const client = await openSubmission(instance.ports.submission,
    { ca, user: alice.email, password: env.EXPRESSO_ALICE_APP_PASSWORD });
  assert.match((await client.command(`MAIL FROM:<${alice.email}>${mailParameters}`)).text, /^250 /);
  const rcpt = [];
  for (const recipient of recipients) rcpt.push(await client.command(`RCPT TO:<${recipient}>${rcptParameters}`));
  const final = await client.data(content);
  await client.command('QUIT');
  client.close();
  return { rcpt, final };
}

// The queue id of the newest queue row of Alice, created after SINCE.
async function newestQueueId(since) {
  return waitFor('a queue row', async () => {
    const rows = await tenantQuery(owner, alice.tenantId,
      'SELECT id FROM mail_queue WHERE user_id = $1 AND created_at >= $2 ORDER BY created_at DESC LIMIT 1',
      [alice.userId, since]);
    return rows[0]?.id;
  }, 5_000);
}

// ---- setup ------------------------------------------------------------------------

before(async () => {
  const context = await openOutboundContext(binary);
  Object.assign(env, context.env);
  ({ ca, owner, alice } = context);

  const remotePort = await freePort();
  const downPort = await freePort();
  remote = startSmtpRemote(remotePort, env.EXPRESSO_STATE_DIR);
  await remoteEvent((event) => event.event === 'ready', 15_000);

  const ports = await freeMailPorts();
  instance = startDaemon(binary, {
    ...mailInstanceEnv(env.EXPRESSO_STATE_DIR, ports),
    EXPRESSO_OUTBOUND_WORKERS: '2',
    EXPRESSO_OUTBOUND_TRANSPORTS: `remote.test=127.0.0.1:${remotePort}, down.test=127.0.0.1:${downPort}`,
    EXPRESSO_OUTBOUND_RETRY_MIN: RETRY_MIN,
    EXPRESSO_OUTBOUND_RETRY_MAX: RETRY_MAX,
    EXPRESSO_OUTBOUND_MAX_LIFETIME: `${LIFETIME_SECONDS}s`,
    EXPRESSO_OUTBOUND_POLL_INTERVAL: '200ms',
    EXPRESSO_OUTBOUND_TIMEOUT: '10s',
  });
  instance.ports = ports;
  await waitForDaemon(instance, `http://${host}:${ports.http}/ready`);
}, { timeout: TEST_TIMEOUT_MS });

after(async () => {
  if (instance !== undefined && instance.child.exitCode === null) {
    instance.child.kill('SIGTERM');
    await instance.exited;
  }
  if (remote !== undefined && remote.child.exitCode === null) {
    remote.child.kill('SIGTERM');
    await remote.exited;
  }
  await owner?.end();
});

// ---- tests ------------------------------------------------------------------------

test('submission relays to a remote domain over STARTTLS', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `ok-${crypto.randomUUID()}@remote.test`;
  const sent = message('Relay test', [recipient]);
  const since = new Date();
  const { rcpt, final } = await submit([recipient], sent.content);
  assert.match(rcpt[0].text, /^250 2\.1\.5 /);
  assert.match(final.text, /^250 2\.0\.0 /);
  const queueId = await newestQueueId(since);

  const received = await remoteEvent((event) => event.event === 'message' && event.rcpt_tos.includes(recipient));
  assert.equal(received.mail_from, alice.email);
  assert.equal(received.tls, true, 'the client used STARTTLS, which the remote offered');
  assert.equal(received.helo, 'mx.test.invalid');
  assert.match(received.head, /^Received: from client\.example\.org /, 'a Received field leads the relayed message');
  assert.ok(!received.head.includes('Return-Path:'), 'no Return-Path on a relayed message');
  assert.ok(received.head.includes(`Message-ID: ${sent.id}\r\n`));
  assert.ok(received.head.includes('\r\n.dot line\r\n'), 'dot-stuffing was undone by the remote');

  await waitFor('the queue row to go', async () => (await queueRows(queueId)).length === 0);
});

test('temporary failure retried until delivered', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `tempfail-${crypto.randomUUID()}@remote.test`;
  const since = new Date();
  const { final } = await submit([recipient], message('Retry test', [recipient]).content);
  assert.match(final.text, /^250 /);
  const queueId = await newestQueueId(since);

  await remoteEvent((event) => event.event === 'rcpt' && event.address === recipient);
  const queued = await waitFor('the first attempt to be recorded', async () => {
    const rows = await queueRows(queueId);
    return rows.length === 1 && rows[0].attempts >= 1 ? rows[0] : null;
  });
  assert.equal(queued.status, 'queued');
  assert.equal(queued.status_code, '4.3.0');

  const received = await remoteEvent((event) => event.event === 'message' && event.rcpt_tos.includes(recipient));
  assert.deepEqual(received.rcpt_tos, [recipient]);
  await waitFor('the queue row to go', async () => (await queueRows(queueId)).length === 0);
});

test('permanent failure returns a DSN to the sender', { timeout: TEST_TIMEOUT_MS }, async () => {
  const good = `ok-${crypto.randomUUID()}@remote.test`;
  const bad = `reject-${crypto.randomUUID()}@remote.test`;
  const sent = message('Bounce test', [good, bad]);
  const since = new Date();
  const { final } = await submit([good, bad], sent.content);
  assert.match(final.text, /^250 /);
  const queueId = await newestQueueId(since);

  const received = await remoteEvent((event) => event.event === 'message' && event.rcpt_tos.includes(good));
  assert.deepEqual(received.rcpt_tos, [good], 'only the accepted recipient received the message');

  const dsn = await dsnFor(bad);
  assert.match(dsn, /^Return-Path: <>\r\n/, 'the DSN has the null reverse path');
  assert.match(dsn, /\r\nContent-Type: multipart\/report; report-type=delivery-status;/);
  assert.ok(dsn.includes('Reporting-MTA: dns; mx.test.invalid\r\n'));
  assert.ok(dsn.includes(`Final-Recipient: rfc822; ${bad}\r\nAction: failed\r\nStatus: 5.1.1\r\n`));
  assert.ok(dsn.includes('Remote-MTA: dns; 127.0.0.1\r\n'));
  assert.match(dsn, /Diagnostic-Code: smtp; 550 5\.1\.1 <reject-[^>]+>: no such user here\r\n/);
  assert.ok(!dsn.includes(`Final-Recipient: rfc822; ${good}`), 'the delivered recipient is not in the DSN');
  assert.ok(dsn.includes(`Message-ID: ${sent.id}\r\n`), 'the returned header is attached');
  assert.ok(!dsn.includes('Hello from the outbound test.'), 'without RET=FULL only the header is returned');
  await waitFor('the queue row to go', async () => (await queueRows(queueId)).length === 0);
});

test('unreachable remote retried, then expired with a DSN', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `nobody-${crypto.randomUUID()}@down.test`;
  const since = new Date();
  const { rcpt, final } = await submit([recipient], message('Expiry test', [recipient]).content);
  assert.match(rcpt[0].text, /^250 /);
  assert.match(final.text, /^250 /);
  const queueId = await newestQueueId(since);
  const [first] = await queueRows(queueId);
  assert.ok(objectExists(alice.tenantId, first.storage_key), 'the queued message is in storage');

  const retried = await waitFor('a second attempt', async () => {
    const rows = await queueRows(queueId);
    return rows.length === 1 && rows[0].attempts >= 2 ? rows[0] : null;
  });
  assert.equal(retried.status, 'queued');
  assert.equal(retried.status_code, '4.4.1');

  const dsn = await dsnFor(recipient, (LIFETIME_SECONDS + 20) * 1000);
  assert.ok(dsn.includes(`Final-Recipient: rfc822; ${recipient}\r\nAction: failed\r\nStatus: 4.4.7\r\n`));
  assert.match(dsn, /message expired/);
  await waitFor('the queue row to go', async () => (await queueRows(queueId)).length === 0);
  assert.ok(!objectExists(alice.tenantId, first.storage_key), 'the queued object is deleted with its row');
});

test('port 25 relays nothing to a remote domain', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await SmtpClient.connect(instance.ports.smtp);
  await client.ehlo();
  assert.match((await client.command('MAIL FROM:<someone@example.org>')).text, /^250 /);
  assert.match((await client.command('RCPT TO:<ok-relay@remote.test>')).text, /^554 5\.7\.1 /);
  assert.match((await client.command(`RCPT TO:<${alice.email}>`)).text, /^250 /);
  client.close();
});

test('submission From of another user rejected', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `ok-${crypto.randomUUID()}@remote.test`;
  const forged = Buffer.from(`From: Bob <bob@demo.expresso.test>\r\nTo: ${recipient}\r\nSubject: forged\r\n\r\nx\r\n`);
  const { final } = await submit([recipient], forged);
  assert.match(final.text, /^553 5\.7\.1 /);
});

test('EHLO offers DSN and RCPT checks its parameters', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await SmtpClient.connect(instance.ports.smtp);
  assert.ok((await client.ehlo()).includes('DSN'));
  assert.match((await client.command('MAIL FROM:<someone@example.org> RET=HDRS ENVID=abc+2Bdef')).text, /^250 /);
  assert.match((await client.command(`RCPT TO:<${alice.email}> NOTIFY=NEVER,SUCCESS`)).text, /^501 5\.5\.4 /);
  assert.match((await client.command(`RCPT TO:<${alice.email}> ORCPT=rfc822`)).text, /^501 5\.5\.4 /);
  assert.match((await client.command(`RCPT TO:<${alice.email}> NOTIFY=FAILURE ORCPT=rfc822;${alice.email}`)).text, /^250 /);
  assert.match((await client.command('RSET')).text, /^250 /);
  assert.match((await client.command('MAIL FROM:<someone@example.org> RET=SOME')).text, /^501 5\.5\.4 /);
  client.close();
});

test('NOTIFY=NEVER suppresses the failure DSN', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `reject-${crypto.randomUUID()}@remote.test`;
  const since = new Date();
  const { final } = await submit([recipient], message('Never test', [recipient]).content, { rcptParameters: ' NOTIFY=NEVER' });
  assert.match(final.text, /^250 /);
  const queueId = await newestQueueId(since);
  await remoteEvent((event) => event.event === 'rcpt' && event.address === recipient);
  // The DSN is submitted before the queue row goes, so once the row is gone no DSN can follow.
  await waitFor('the queue row to go', async () => (await queueRows(queueId)).length === 0);
  assert.deepEqual(await findDsns(recipient, '%'), []);
});

test('RET=FULL and ENVID appear in the DSN', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `reject-${crypto.randomUUID()}@remote.test`;
  const envelopeId = `e2e-${crypto.randomUUID()}`;
  const { final } = await submit([recipient], message('Full return', [recipient]).content,
    { mailParameters: ` RET=FULL ENVID=${envelopeId}`, rcptParameters: ` NOTIFY=FAILURE ORCPT=rfc822;${recipient}` });
  assert.match(final.text, /^250 /);
  const dsn = await dsnFor(recipient);
  assert.ok(dsn.includes(`Original-Envelope-Id: ${envelopeId}\r\n`));
  assert.ok(dsn.includes(`Original-Recipient: rfc822;${recipient}\r\n`));
  assert.ok(dsn.includes('Content-Type: message/rfc822\r\n'));
  assert.ok(dsn.includes('Hello from the outbound test.'), 'RET=FULL returns the body');
});

test('NOTIFY=SUCCESS reports relayed and delivered', { timeout: TEST_TIMEOUT_MS }, async () => {
  const remoteRecipient = `ok-${crypto.randomUUID()}@remote.test`;
  const bob = requireEnv('EXPRESSO_BOB_EMAIL');
  const { final } = await submit([remoteRecipient, bob], message('Success report', [remoteRecipient, bob]).content,
    { rcptParameters: ' NOTIFY=SUCCESS,FAILURE' });
  assert.match(final.text, /^250 /);

  const delivered = await waitFor('a success DSN naming Bob', async () =>
    (await findDsns(bob, 'Successful Mail Delivery Report')).find((dsn) => dsn.includes('Action: delivered')) ?? null);
  assert.ok(delivered.includes(`Final-Recipient: rfc822; ${bob}\r\nAction: delivered\r\nStatus: 2.0.0\r\n`));
  assert.ok(delivered.includes('Content-Type: text/rfc822-headers'), 'a success report returns the header only');

  // aiosmtpd offers no DSN, so the relay is reported as the last notice (RFC 3461 5.2.2).
  const relayed = await dsnFor(remoteRecipient, 30_000, 'Successful Mail Delivery Report');
  assert.ok(relayed.includes(`Final-Recipient: rfc822; ${remoteRecipient}\r\nAction: relayed\r\nStatus: 2.0.0\r\n`));
});

test('aliases receive mail and may be used as sender', { timeout: TEST_TIMEOUT_MS }, async () => {
  const domain = alice.email.split('@')[1];
  const alias = `alias-${crypto.randomUUID().slice(0, 8)}@${domain}`;
  const catchAll = `@${domain}`;
  await tenantQuery(owner, alice.tenantId, 'INSERT INTO mail_aliases (tenant_id, address, user_id) VALUES ($1, $2, $3)',
    [alice.tenantId, alias, alice.userId]);
  try {
    // RCPT to the alias reaches Alice; an unknown address of the domain does not (no catch-all yet).
    const mx = await SmtpClient.connect(instance.ports.smtp);
    await mx.ehlo();
    await mx.command('MAIL FROM:<someone@example.org>');
    assert.match((await mx.command(`RCPT TO:<${alias.toUpperCase()}>`)).text, /^250 /);
    assert.match((await mx.command(`RCPT TO:<nobody-${crypto.randomUUID()}@${domain}>`)).text, /^550 5\.1\.1 /);
    mx.close();

    // The alias as MAIL FROM and From on submission.
    const recipient = `ok-${crypto.randomUUID()}@remote.test`;
    const client = await openSubmission(instance.ports.submission,
      { ca, user: alice.email, password: env.EXPRESSO_ALICE_APP_PASSWORD });
    assert.match((await client.command('MAIL FROM:<bob@demo.expresso.test>')).text, /^553 5\.7\.1 .*aliases/);
    assert.match((await client.command(`MAIL FROM:<${alias}>`)).text, /^250 /);
    assert.match((await client.command(`RCPT TO:<${recipient}>`)).text, /^250 /);
    const content = Buffer.from(`From: Alice <${alias}>\r\nTo: ${recipient}\r\nSubject: alias\r\n\r\nx\r\n`);
    assert.match((await client.data(content)).text, /^250 /);
    client.close();
    const received = await remoteEvent((event) => event.event === 'message' && event.rcpt_tos.includes(recipient));
    assert.equal(received.mail_from, alias);

    // A catch-all receives unknown addresses of the domain but does not allow sending as them.
    await tenantQuery(owner, alice.tenantId, 'INSERT INTO mail_aliases (tenant_id, address, user_id) VALUES ($1, $2, $3)',
      [alice.tenantId, catchAll, alice.userId]);
    const mx2 = await SmtpClient.connect(instance.ports.smtp);
    await mx2.ehlo();
    await mx2.command('MAIL FROM:<someone@example.org>');
    assert.match((await mx2.command(`RCPT TO:<nobody-${crypto.randomUUID()}@${domain}>`)).text, /^250 /);
    mx2.close();
    const sender = await openSubmission(instance.ports.submission,
      { ca, user: alice.email, password: env.EXPRESSO_ALICE_APP_PASSWORD });
    assert.match((await sender.command(`MAIL FROM:<anything@${domain}>`)).text, /^553 5\.7\.1 /);
    sender.close();
  } finally {
    await tenantQuery(owner, alice.tenantId, 'DELETE FROM mail_aliases WHERE address = ANY($1)', [[alias, catchAll]]);
  }
});

test('From with a second, foreign author rejected', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `ok-${crypto.randomUUID()}@remote.test`;
  const content = Buffer.from(`From: Alice <${alice.email}>, Other <other@example.org>\r\nTo: ${recipient}\r\n` +
    'Subject: two authors\r\n\r\nx\r\n');
  const { final } = await submit([recipient], content);
  assert.match(final.text, /^553 5\.7\.1 /);
});

test('mail.delivered carries sender and decoded subject', { timeout: TEST_TIMEOUT_MS }, async () => {
  // 'ação' is 6 bytes in UTF-8; 60 of them (360 bytes) are cut to at most 200 bytes at a character boundary.
  const word = `a\u00e7\u00e3o`;
  const subject = `${crypto.randomUUID()} ${word.repeat(60)}`;
  const encoded = `=?UTF-8?B?${Buffer.from(subject).toString('base64')}?=`;
  const content = Buffer.from(`From: Someone <someone@example.org>\r\nTo: ${alice.email}\r\nSubject: ${encoded}\r\n\r\n` +
    'secret body text\r\n');
  const client = await SmtpClient.connect(instance.ports.smtp);
  await client.ehlo();
  await client.command('MAIL FROM:<someone@example.org>');
  assert.match((await client.command(`RCPT TO:<${alice.email}>`)).text, /^250 /);
  assert.match((await client.data(content)).text, /^250 /);
  client.close();

  const nats = await connectNats({ servers: requireEnv('EXPRESSO_NATS_URL').replace(/^nats:\/\//, '') });
  try {
    const manager = await nats.jetstreamManager();
    const message = await manager.streams.getMessage('EXPRESSO', { last_by_subj: `expresso.${alice.tenantId}.mail.delivered` });
    const event = JSON.parse(new TextDecoder().decode(message.data));
    assert.equal(event.user_id, alice.userId);
    assert.equal(event.sender, 'someone@example.org');
    assert.ok(subject.startsWith(event.subject), 'the subject is decoded and cut at its end only');
    assert.ok(Buffer.byteLength(event.subject) <= 200, `subject of ${Buffer.byteLength(event.subject)} bytes`);
    assert.ok(Buffer.byteLength(event.subject) > 195, 'the cut keeps nearly 200 bytes');
    assert.ok(!JSON.stringify(event).includes('secret body text'), 'no body in the event');
  } finally {
    await nats.close();
  }
});

// Runs swaks with ARGS; resolves with its exit code and output.
function swaks(args) {
  return new Promise((resolve) => {
    execFile('swaks', ['--silent', '1', ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (error.code ?? -1) : 0, output: `${stdout}${stderr}` }));
  });
}

test('swaks submission with STARTTLS relays to the remote', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `ok-${crypto.randomUUID()}@remote.test`;
  const subject = `swaks relay ${crypto.randomUUID()}`;
  const result = await swaks(['--server', `${host}:${instance.ports.submission}`, '--tls', '--auth', 'PLAIN',
    '--auth-user', alice.email, '--auth-password', env.EXPRESSO_ALICE_APP_PASSWORD, '--from', alice.email,
    '--to', recipient, '--header', `Subject: ${subject}`, '--h-From', `Alice <${alice.email}>`]);
  assert.equal(result.code, 0, result.output);
  const received = await remoteEvent((event) => event.event === 'message' && event.rcpt_tos.includes(recipient));
  assert.ok(received.head.includes(`Subject: ${subject}\r\n`));
  assert.equal(received.tls, true);
});

test('swaks MX delivery lands in the INBOX', { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `swaks mx ${crypto.randomUUID()}`;
  const result = await swaks(['--server', `${host}:${instance.ports.smtp}`, '--from', 'someone@example.org',
    '--to', alice.email, '--header', `Subject: ${subject}`]);
  assert.equal(result.code, 0, result.output);
  const rows = await tenantQuery(owner, alice.tenantId,
    `SELECT m.uid FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
      WHERE b.user_id = $1 AND b.name = 'INBOX' AND m.subject = $2`, [alice.userId, subject]);
  assert.equal(rows.length, 1);
});

test('swaks submission with a wrong password is refused', { timeout: TEST_TIMEOUT_MS }, async () => {
  const result = await swaks(['--server', `${host}:${instance.ports.submission}`, '--tls', '--auth', 'PLAIN',
    '--auth-user', alice.email, '--auth-password', 'wrong-password', '--from', alice.email,
    '--to', `ok-${crypto.randomUUID()}@remote.test`]);
  assert.notEqual(result.code, 0);
  assert.match(result.output, /535 5\.7\.8 /);
});
