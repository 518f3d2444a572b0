// expresso-mail's SMTP side against the running stack. The tests use ports
// 25 (MX), 587 and 465 (submission) from stack.env. They also start private
// instances of the binary: one with small limits for the limit tests, and
// others that are killed with SIGKILL or stopped with SIGTERM during DATA.
//
// Stored messages are checked through PostgreSQL as the owner role (bound
// to the tenant, because row-level security applies to the owner too) and
// through the local-disk storage under $EXPRESSO_STATE_DIR/storage, whose
// layout is <tenant id>/<storage key>.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// /usr/bin/python3 for the smtplib client (smtp_submit.py).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { connect as connectNats } from 'nats';

import { SmtpClient } from './lib/smtp_client.mjs';
import {
  buildDir, freeMailPorts, freePort, mailInstanceEnv, mailListenersOff, requireBuilt, requireEnv, requireEnvs,
  startDaemon, waitFor, waitForDaemon,
} from './lib/stack.mjs';
import { sendMessage } from './lib/smtp_client.mjs';
import { findAccount, tenantQuery } from './lib/tenant_db.mjs';

const repoRoot = path.resolve(import.meta.dirname, '../..');

const TEST_TIMEOUT_MS = 180_000;
const host = '127.0.0.1';

const env = {};
let owner;
let ca;
let alice;
let bob;
let carol;
let limited; // the private instance with small limits
let workDir;

// Limits of the private instance.
const LIMIT_MESSAGE_BYTES = 4096;
const LIMIT_RECIPIENTS = 3;
const LIMIT_ERRORS = 5;
const LIMIT_CONNECTIONS_PER_ADDRESS = 3;
const LIMIT_IDLE_MS = 2000;
const LIMIT_GREETING_DELAY_MS = 400;
const LIMIT_COMMANDS_PER_MINUTE = 20;

// ---- the wire form --------------------------------------------------------------

// Turns a message into its SMTP form: bare LF becomes CRLF, a final CRLF
// is added when missing. This is also what the server must store.
function wireForm(content) {
  const bytes = [];
  for (let i = 0; i < content.length; i++) {
    if (content[i] === 0x0a && (i === 0 || content[i - 1] !== 0x0d)) bytes.push(0x0d);
    bytes.push(content[i]);
  }
  if (bytes.length < 2 || bytes[bytes.length - 2] !== 0x0d || bytes[bytes.length - 1] !== 0x0a) bytes.push(0x0d, 0x0a);
  return Buffer.from(bytes);
}

// ---- the store ------------------------------------------------------------------

async function inboxUidnext(user) {
  const rows = await tenantQuery(owner, user.tenantId, "SELECT uidnext FROM mailboxes WHERE user_id = $1 AND name = 'INBOX'",
    [user.userId]);
  return rows.length === 0 ? 1 : Number(rows[0].uidnext);
}

function readObject(tenantId, key) {
  return readFileSync(path.join(env.EXPRESSO_STATE_DIR, 'storage', tenantId, key));
}

// Finds the INBOX row (uid >= fromUid) whose Received field carries the queue id of REPLY.
async function storedMessage(user, fromUid, reply) {
  const match = /stored as ([0-9a-f]+)/.exec(reply.text);
  assert.ok(match, `no queue id in ${reply.text}`);
  const rows = await tenantQuery(owner, user.tenantId,
    `SELECT m.*, m."from" AS from_field, m."to" AS to_field, m."references" AS references_field
       FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
      WHERE b.user_id = $1 AND b.name = 'INBOX' AND m.uid >= $2 ORDER BY m.uid`, [user.userId, fromUid]);
  const found = rows.filter((row) => readObject(user.tenantId, row.storage_key).includes(` id ${match[1]}\r\n`));
  assert.equal(found.length, 1, `expected one row for queue id ${match[1]}, found ${found.length}`);
  return { row: found[0], object: readObject(user.tenantId, found[0].storage_key) };
}

// Splits a stored object into the two trace fields this server adds and the message as received.
function splitTrace(object) {
  const text = object.toString('latin1');
  assert.ok(text.startsWith('Return-Path: <'), 'the stored message starts with Return-Path');
  const received = text.indexOf('\r\nReceived: from ');
  assert.ok(received > 0, 'a Received field follows Return-Path');
  let end = received + 2;
  for (;;) {
    end = text.indexOf('\r\n', end) + 2;
    if (text[end] !== '\t' && text[end] !== ' ') break;
  }
  return { trace: text.slice(0, end), message: object.subarray(end) };
}

// ---- processes ------------------------------------------------------------------

const binary = path.join(buildDir, 'services', 'mail', 'expresso-mail');

async function startInstance(extraEnv) {
  const ports = await freeMailPorts();
  const daemon = startDaemon(binary, {
    ...mailInstanceEnv(env.EXPRESSO_STATE_DIR, ports),
    ...extraEnv,
  });
  await waitForDaemon(daemon, `http://${host}:${ports.http}/ready`);
  return { ...daemon, ports, extraEnv };
}

// Starts a private instance with only its HTTP and SMTP listeners and no TLS, without waiting for
// it to be ready, for the tests of settings that must stop the daemon at start.
async function startWithoutTls(extraEnv) {
  return startDaemon(binary, {
    ...mailListenersOff,
    EXPRESSO_HTTP_ADDRESS: host,
    EXPRESSO_HTTP_PORT: String(await freePort()),
    EXPRESSO_SMTP_PORT: String(await freePort()),
    EXPRESSO_SUBMISSION_PORT: '0',
    EXPRESSO_SUBMISSIONS_PORT: '0',
    EXPRESSO_STORAGE_DIR: path.join(env.EXPRESSO_STATE_DIR, 'storage'),
    ...extraEnv,
  });
}

async function stopInstance(instance, signal = 'SIGTERM') {
  if (instance === undefined || instance.child.exitCode !== null || instance.child.signalCode !== null) return;
  instance.child.kill(signal);
  await instance.exited;
}

function runPython(args) {
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', [path.join(import.meta.dirname, 'smtp_submit.py'), ...args], { timeout: 60_000 },
      (error, stdout, stderr) => {
        let result;
        try {
          result = JSON.parse(stdout.trim().split('\n').pop());
        } catch {
          result = { stage: 'crash', code: -1, message: `${stdout}${stderr}${error?.message ?? ''}` };
        }
        resolve(result);
      });
  });
}

// A message with a fresh Message-ID; FROM is the From field (submission needs the login's address).
function testMessage(subject, body, from = 'Someone <someone@example.org>') {
  const id = `<${crypto.randomUUID()}@e2e.expresso.test>`;
  const text = `From: ${from}\r\nTo: Alice <alice@demo.expresso.test>\r\n` +
    `Subject: ${subject}\r\nMessage-ID: ${id}\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\n\r\n${body}`;
  return { id, content: wireForm(Buffer.from(text, 'utf8')) };
}

// ---- setup ----------------------------------------------------------------------

before(async () => {
  Object.assign(env, requireEnvs(['EXPRESSO_SMTP_PORT', 'EXPRESSO_SUBMISSION_PORT', 'EXPRESSO_DATABASE_OWNER_URL', 'EXPRESSO_TLS_CA',
    'EXPRESSO_STATE_DIR', 'EXPRESSO_ALICE_EMAIL', 'EXPRESSO_ALICE_APP_PASSWORD', 'EXPRESSO_BOB_EMAIL',
    'EXPRESSO_CAROL_EMAIL']));
  requireBuilt(binary);
  ca = readFileSync(env.EXPRESSO_TLS_CA);
  owner = new pg.Pool({ connectionString: env.EXPRESSO_DATABASE_OWNER_URL, max: 4 });
  alice = await findAccount(owner, env.EXPRESSO_ALICE_EMAIL);
  bob = await findAccount(owner, env.EXPRESSO_BOB_EMAIL);
  carol = await findAccount(owner, env.EXPRESSO_CAROL_EMAIL);
  workDir = mkdtempSync(path.join(os.tmpdir(), 'expresso-smtp-'));
  limited = await startInstance({
    EXPRESSO_SMTP_MAX_MESSAGE_SIZE: String(LIMIT_MESSAGE_BYTES),
    EXPRESSO_SMTP_MAX_RECIPIENTS: String(LIMIT_RECIPIENTS),
    EXPRESSO_SMTP_MAX_ERRORS: String(LIMIT_ERRORS),
    EXPRESSO_SMTP_MAX_CONNECTIONS_PER_ADDRESS: String(LIMIT_CONNECTIONS_PER_ADDRESS),
    EXPRESSO_SMTP_IDLE_TIMEOUT: `${LIMIT_IDLE_MS}ms`,
    EXPRESSO_SMTP_GREETING_DELAY: `${LIMIT_GREETING_DELAY_MS}ms`,
    EXPRESSO_SMTP_MAX_COMMANDS_PER_MINUTE: String(LIMIT_COMMANDS_PER_MINUTE),
  });
}, { timeout: TEST_TIMEOUT_MS });

after(async () => {
  await stopInstance(limited);
  if (carol) await tenantQuery(owner, carol.tenantId, 'UPDATE users SET quota_bytes = NULL WHERE id = $1', [carol.userId]);
  await owner?.end();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

// ---- protocol -------------------------------------------------------------------

test('EHLO extensions on MX and submission', { timeout: TEST_TIMEOUT_MS }, async () => {
  const mx = await SmtpClient.connect(env.EXPRESSO_SMTP_PORT);
  assert.match(mx.banner.text, /^220 \S+ ESMTP/);
  const mxExtensions = await mx.ehlo();
  for (const extension of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS', 'CHUNKING', 'BINARYMIME']) {
    assert.ok(mxExtensions.includes(extension), `MX offers ${extension}: ${mxExtensions}`);
  }
  assert.ok(mxExtensions.some((line) => /^SIZE \d+$/.test(line)), 'MX announces SIZE with the limit');
  assert.ok(!mxExtensions.some((line) => line.startsWith('AUTH')), 'MX never offers AUTH');
  await mx.startTls(ca);
  const mxTls = await mx.ehlo();
  assert.ok(!mxTls.some((line) => line.startsWith('AUTH')), 'MX never offers AUTH, even over TLS');
  assert.ok(!mxTls.includes('STARTTLS'), 'STARTTLS is not offered twice');
  mx.close();

  const submission = await SmtpClient.connect(env.EXPRESSO_SUBMISSION_PORT);
  const before = await submission.ehlo();
  assert.ok(before.includes('STARTTLS'));
  assert.ok(!before.some((line) => line.startsWith('AUTH')), 'no AUTH before STARTTLS');
  await submission.startTls(ca);
  const afterTls = await submission.ehlo();
  assert.ok(afterTls.includes('AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2'), `AUTH offered after STARTTLS: ${afterTls}`);
  submission.close();
});

test('other commands reply with enhanced codes', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await SmtpClient.connect(env.EXPRESSO_SMTP_PORT);
  assert.match((await client.command('MAIL FROM:<a@example.org>')).text, /^503 5\.5\.1 /);
  await client.ehlo();
  assert.match((await client.command('NOOP')).text, /^250 2\.0\.0 /);
  assert.match((await client.command(`VRFY ${alice.email}`)).text, /^252 2\.5\.0 /);
  assert.match((await client.command('HELP')).text, /^214-2\.0\.0 [\s\S]*\n214 2\.0\.0 /);
  assert.match((await client.command('RSET')).text, /^250 2\.0\.0 /);
  assert.match((await client.command('XYZZY')).text, /^500 5\.5\.2 /);
  assert.match((await client.command('RCPT TO:<x@example.org>')).text, /^503 5\.5\.1 /);
  assert.match((await client.command('QUIT')).text, /^221 2\.0\.0 /);
  client.close();
});

test('delivery on port 25 is stored byte for byte', { timeout: TEST_TIMEOUT_MS }, async () => {
  const body = 'First line\r\n.starts with a dot\r\n..two dots\r\n.\r\nOl\u00e1, mundo \u2014 8-bit UTF-8\r\n';
  const message = testMessage('Delivery test', body);
  const fromUid = await inboxUidnext(alice);

  const client = await SmtpClient.connect(env.EXPRESSO_SMTP_PORT);
  await client.ehlo('sender.example.org');
  assert.match((await client.command('MAIL FROM:<someone@example.org> BODY=8BITMIME')).text, /^250 2\.1\.0 /);
  assert.match((await client.command(`RCPT TO:<${alice.email}>`)).text, /^250 2\.1\.5 /);
  const reply = await client.data(message.content);
  assert.match(reply.text, /^250 2\.0\.0 /);
  await client.command('QUIT');
  client.close();

  const { row, object } = await storedMessage(alice, fromUid, reply);
  const { trace, message: stored } = splitTrace(object);
  assert.ok(stored.equals(message.content), 'the stored message equals the message sent, after dot-unstuffing');
  assert.match(trace, /^Return-Path: <someone@example\.org>\r\n/);
  assert.match(trace, /Received: from sender\.example\.org \(\[127\.0\.0\.1\]\)\r\n\tby \S+ \(expresso-mail\) with ESMTP id [0-9a-f]+\r\n\tfor <alice@demo\.expresso\.test>;\r\n\t\w{3}, /);
  assert.equal(Number(row.size), object.length);
  assert.equal(row.message_id, message.id);
  assert.equal(row.subject, 'Delivery test');
  assert.equal(row.from_field, 'Someone <someone@example.org>');
  assert.equal(row.to_field, 'Alice <alice@demo.expresso.test>');
  assert.equal(new Date(row.date).toISOString(), '2026-12-04T10:00:00.000Z');
  assert.deepEqual(row.flags, []);

  const mailbox = await tenantQuery(owner, alice.tenantId,
    'SELECT b.uidnext, b.highestmodseq, s.messages FROM mailboxes b JOIN mailbox_stats s ON s.mailbox_id = b.id WHERE b.id = $1',
    [row.mailbox_id]);
  assert.equal(Number(mailbox[0].uidnext), Number(row.uid) + 1, 'uidnext moved past the new uid');
  assert.ok(Number(mailbox[0].highestmodseq) >= Number(row.modseq), 'highestmodseq covers the new modseq');
});

test('open relay attempt on port 25 refused', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await SmtpClient.connect(env.EXPRESSO_SMTP_PORT);
  await client.ehlo();
  await client.command('MAIL FROM:<spammer@example.org>');
  assert.match((await client.command('RCPT TO:<victim@example.net>')).text, /^554 5\.7\.1 /);
  assert.match((await client.command(`RCPT TO:<nobody@${alice.email.split('@')[1]}>`)).text, /^550 5\.1\.1 /);
  assert.match((await client.command('DATA')).text, /^554 5\.5\.1 /, 'DATA without an accepted recipient');
  client.close();
});

test('SMTPUTF8 addresses need the SMTPUTF8 parameter', { timeout: TEST_TIMEOUT_MS }, async () => {
  const domain = alice.email.split('@')[1];
  const client = await SmtpClient.connect(env.EXPRESSO_SMTP_PORT);
  await client.ehlo();
  assert.match((await client.command('MAIL FROM:<jo\u00e3o@example.org>')).text, /^553 5\.6\.7 /);
  assert.match((await client.command('MAIL FROM:<jo\u00e3o@example.org> SMTPUTF8')).text, /^250 /);
  assert.match((await client.command(`RCPT TO:<jo\u00e3o@${domain}>`)).text, /^550 5\.1\.1 /);
  assert.match((await client.command(`RCPT TO:<${alice.email}>`)).text, /^250 /);
  client.close();
});

test('AUTH before STARTTLS on 587 refused', { timeout: TEST_TIMEOUT_MS }, async () => {
  const plain = Buffer.from(`\0${alice.email}\0${env.EXPRESSO_ALICE_APP_PASSWORD}`).toString('base64');
  const client = await SmtpClient.connect(env.EXPRESSO_SUBMISSION_PORT);
  await client.ehlo();
  assert.match((await client.command(`AUTH PLAIN ${plain}`)).text, /^538 5\.7\.11 /);
  assert.match((await client.command(`MAIL FROM:<${alice.email}>`)).text, /^530 5\.7\.0 .*STARTTLS/);
  client.close();

  const mx = await SmtpClient.connect(env.EXPRESSO_SMTP_PORT);
  await mx.ehlo();
  await mx.startTls(ca);
  await mx.ehlo();
  assert.match((await mx.command(`AUTH PLAIN ${plain}`)).text, /^503 5\.5\.1 /, 'never AUTH on port 25');
  mx.close();
});

test('submission with smtplib STARTTLS and AUTH PLAIN', { timeout: TEST_TIMEOUT_MS }, async () => {
  const message = testMessage('Submitted', 'Sent through the submission port.\r\n', `Alice <${alice.email}>`);
  const file = path.join(workDir, 'submitted.eml');
  writeFileSync(file, message.content);
  const fromUid = await inboxUidnext(bob);

  const result = await runPython([host, env.EXPRESSO_SUBMISSION_PORT, env.EXPRESSO_TLS_CA, alice.email,
    env.EXPRESSO_ALICE_APP_PASSWORD, alice.email, bob.email, file]);
  assert.equal(result.stage, 'done', JSON.stringify(result));

  const rows = await tenantQuery(owner, bob.tenantId,
    `SELECT m.storage_key FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
      WHERE b.user_id = $1 AND b.name = 'INBOX' AND m.uid >= $2 AND m.message_id = $3`, [bob.userId, fromUid, message.id]);
  assert.equal(rows.length, 1, 'the message is in bob\'s INBOX once');
  const { trace, message: stored } = splitTrace(readObject(bob.tenantId, rows[0].storage_key));
  assert.ok(stored.equals(message.content));
  assert.match(trace, /with ESMTPSA id /, 'the Received field records TLS and authentication');
  assert.match(trace, new RegExp(`^Return-Path: <${alice.email}>`));
});

test('submission refuses wrong sender and wrong password', { timeout: TEST_TIMEOUT_MS }, async () => {
  const message = testMessage('Forged', 'Should not be accepted.\r\n');
  const file = path.join(workDir, 'forged.eml');
  writeFileSync(file, message.content);

  const forged = await runPython([host, env.EXPRESSO_SUBMISSION_PORT, env.EXPRESSO_TLS_CA, alice.email,
    env.EXPRESSO_ALICE_APP_PASSWORD, bob.email, bob.email, file]);
  assert.equal(forged.code, 553, JSON.stringify(forged));
  assert.match(forged.message, /^5\.7\.1 /);

  const wrong = await runPython([host, env.EXPRESSO_SUBMISSION_PORT, env.EXPRESSO_TLS_CA, alice.email,
    'not-the-app-password', alice.email, bob.email, file]);
  assert.equal(wrong.stage, 'auth', JSON.stringify(wrong));
  assert.equal(wrong.code, 535);

  const audit = await tenantQuery(owner, alice.tenantId,
    "SELECT count(*)::int AS n FROM audit_log WHERE action = 'smtp.auth_failed' AND actor = $1 AND occurred_at > now() - interval '5 minutes'",
    [alice.userId]);
  assert.ok(audit[0].n >= 1, 'the failed AUTH is audited');
});

test('AUTH LOGIN and remote recipients on submission', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await SmtpClient.connect(env.EXPRESSO_SUBMISSION_PORT);
  await client.ehlo();
  await client.startTls(ca);
  await client.ehlo();
  assert.equal((await client.command('AUTH LOGIN')).code, 334);
  assert.equal((await client.command(Buffer.from(alice.email).toString('base64'))).code, 334);
  assert.match((await client.command(Buffer.from(env.EXPRESSO_ALICE_APP_PASSWORD).toString('base64'))).text, /^235 2\.7\.0 /);
  assert.match((await client.command(`MAIL FROM:<${alice.email}>`)).text, /^250 /);
  // A remote recipient is accepted for the outbound queue (smtp_outbound.test.mjs delivers such mail).
  assert.match((await client.command('RCPT TO:<someone@example.net>')).text, /^250 2\.1\.5 .*queued for relay/);
  assert.match((await client.command('RSET')).text, /^250 /);
  client.close();
});

test('quota: 452 4.2.2 on MX, 552 5.2.2 on submission', { timeout: TEST_TIMEOUT_MS }, async () => {
  await tenantQuery(owner, carol.tenantId, 'UPDATE users SET quota_bytes = 1 WHERE id = $1', [carol.userId]);
  try {
    const mx = await SmtpClient.connect(env.EXPRESSO_SMTP_PORT);
    await mx.ehlo();
    await mx.command('MAIL FROM:<someone@example.org>');
    const rcpt = await mx.command(`RCPT TO:<${carol.email}>`);
    if (rcpt.code === 250) {
      assert.match((await mx.data(testMessage('Quota', 'x\r\n').content)).text, /^452 4\.2\.2 /);
    } else {
      assert.match(rcpt.text, /^452 4\.2\.2 /);
    }
    mx.close();

    const message = testMessage('Quota', 'x\r\n', alice.email);
    const file = path.join(workDir, 'quota.eml');
    writeFileSync(file, message.content);
    const submitted = await runPython([host, env.EXPRESSO_SUBMISSION_PORT, env.EXPRESSO_TLS_CA, alice.email,
      env.EXPRESSO_ALICE_APP_PASSWORD, alice.email, carol.email, file]);
    assert.equal(submitted.code, 552, JSON.stringify(submitted));
    assert.match(submitted.message, /^5\.2\.2 /);
  } finally {
    await tenantQuery(owner, carol.tenantId, 'UPDATE users SET quota_bytes = NULL WHERE id = $1', [carol.userId]);
  }
});

test('submission with implicit TLS on 465', { timeout: TEST_TIMEOUT_MS }, async () => {
  const port = requireEnv('EXPRESSO_SUBMISSIONS_PORT');
  const message = testMessage('Implicit TLS', 'Sent over port 465.\r\n', alice.email);
  const file = path.join(workDir, 'implicit.eml');
  writeFileSync(file, message.content);
  const result = await runPython([host, port, env.EXPRESSO_TLS_CA, alice.email, env.EXPRESSO_ALICE_APP_PASSWORD,
    alice.email, bob.email, file, 'implicit']);
  assert.equal(result.stage, 'done', JSON.stringify(result));
  const rows = await tenantQuery(owner, bob.tenantId, 'SELECT count(*)::int AS n FROM messages WHERE message_id = $1', [message.id]);
  assert.equal(rows[0].n, 1);
});

test('submission refuses a From of someone else', { timeout: TEST_TIMEOUT_MS }, async () => {
  const text = `From: Bob <${bob.email}>\r\nTo: ${bob.email}\r\nSubject: forged From\r\n\r\nbody\r\n`;
  const file = path.join(workDir, 'forged-from.eml');
  writeFileSync(file, text);
  const result = await runPython([host, env.EXPRESSO_SUBMISSION_PORT, env.EXPRESSO_TLS_CA, alice.email,
    env.EXPRESSO_ALICE_APP_PASSWORD, alice.email, bob.email, file]);
  assert.equal(result.stage, 'send', JSON.stringify(result));
  assert.equal(result.code, 553);
  assert.match(result.message, /^5\.7\.1 /);
});

test('BDAT chunks stored byte for byte', { timeout: TEST_TIMEOUT_MS }, async () => {
  const message = testMessage('Chunked', '.a line that starts with a dot stays as it is\r\nbinary-ish: \u00e9\r\n');
  const fromUid = await inboxUidnext(alice);
  const client = await SmtpClient.connect(env.EXPRESSO_SMTP_PORT);
  const extensions = await client.ehlo();
  assert.ok(extensions.includes('CHUNKING'), `CHUNKING offered: ${extensions}`);
  assert.ok(extensions.includes('BINARYMIME'));
  await client.command('MAIL FROM:<chunks@example.org> BODY=BINARYMIME');
  await client.command(`RCPT TO:<${alice.email}>`);
  const split = 40;
  await client.write(Buffer.concat([Buffer.from(`BDAT ${split}\r\n`), message.content.subarray(0, split)]));
  assert.match((await client.reply()).text, new RegExp(`^250 2\\.0\\.0 ${split} octets`));
  const rest = message.content.subarray(split);
  // The last chunk is pipelined with the next command.
  await client.write(Buffer.concat([Buffer.from(`BDAT ${rest.length} LAST\r\n`), rest, Buffer.from('NOOP\r\n')]));
  const reply = await client.reply();
  assert.match(reply.text, /^250 2\.0\.0 Ok: stored as /);
  assert.match((await client.reply()).text, /^250 2\.0\.0 Ok$/);
  client.close();

  const { object } = await storedMessage(alice, fromUid, reply);
  assert.ok(splitTrace(object).message.equals(message.content));
});

test('first delivery creates the standard mailboxes', { timeout: TEST_TIMEOUT_MS }, async () => {
  const id = crypto.randomUUID();
  const email = `first-use-${id.slice(0, 8)}@${alice.email.split('@')[1]}`;
  await tenantQuery(owner, alice.tenantId, 'INSERT INTO users (id, tenant_id, email, username) VALUES ($1, $2, $3, $3)',
    [id, alice.tenantId, email]);
  try {
    const client = await SmtpClient.connect(env.EXPRESSO_SMTP_PORT);
    await client.ehlo();
    await client.command('MAIL FROM:<someone@example.org>');
    assert.match((await client.command(`RCPT TO:<${email}>`)).text, /^250 /);
    assert.match((await client.data(testMessage('first', 'hello\r\n').content)).text, /^250 /);
    client.close();
    const rows = await tenantQuery(owner, alice.tenantId,
      'SELECT name, special_use, uidnext FROM mailboxes WHERE user_id = $1 ORDER BY name', [id]);
    assert.deepEqual(rows.map((row) => [row.name, row.special_use]), [['Archive', '\\Archive'], ['Drafts', '\\Drafts'],
      ['INBOX', null], ['Junk', '\\Junk'], ['Sent', '\\Sent'], ['Trash', '\\Trash']]);
    assert.equal(Number(rows.find((row) => row.name === 'INBOX').uidnext), 2);
  } finally {
    await tenantQuery(owner, alice.tenantId, 'DELETE FROM users WHERE id = $1', [id]);
  }
});

test('failed AUTH attempts are rate-limited', { timeout: TEST_TIMEOUT_MS }, async () => {
  const instance = await startInstance({ EXPRESSO_SMTP_AUTH_MAX_FAILURES: '2', EXPRESSO_SMTP_AUTH_FAILURE_WINDOW: '10m' });
  try {
    const plain = (password) => `AUTH PLAIN ${Buffer.from(`\0${alice.email}\0${password}`).toString('base64')}`;
    const client = await SmtpClient.connect(instance.ports.submission);
    await client.ehlo();
    await client.startTls(ca);
    await client.ehlo();
    assert.match((await client.command(plain('wrong-1'))).text, /^535 5\.7\.8 /);
    assert.match((await client.command(plain('wrong-2'))).text, /^535 5\.7\.8 /);
    assert.match((await client.command(plain(env.EXPRESSO_ALICE_APP_PASSWORD))).text, /^454 4\.7\.0 /,
      'even the right password waits for the window to end');
    client.close();
  } finally {
    await stopInstance(instance);
  }
});

function devToken(email) {
  return new Promise((resolve, reject) => {
    execFile(path.join(repoRoot, 'scripts', 'dev-token.sh'), [email], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`scripts/dev-token.sh failed: ${stderr || error.message}`));
      else resolve(stdout.trim());
    });
  });
}

async function submissionOverTls() {
  const client = await SmtpClient.connect(env.EXPRESSO_SUBMISSION_PORT);
  await client.ehlo();
  await client.startTls(ca);
  return { client, extensions: await client.ehlo() };
}

test('AUTH OAUTHBEARER and XOAUTH2 with an access token', { timeout: TEST_TIMEOUT_MS }, async () => {
  const token = await devToken(alice.email);
  const { client, extensions } = await submissionOverTls();
  assert.ok(extensions.includes('AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2'), `${extensions}`);
  const bearer = Buffer.from(`n,a=${alice.email},\x01host=${host}\x01port=${env.EXPRESSO_SUBMISSION_PORT}\x01` +
    `auth=Bearer ${token}\x01\x01`).toString('base64');
  assert.match((await client.command(`AUTH OAUTHBEARER ${bearer}`)).text, /^235 2\.7\.0 /);
  assert.match((await client.command(`MAIL FROM:<${alice.email}>`)).text, /^250 /);
  assert.match((await client.command(`RCPT TO:<${bob.email}>`)).text, /^250 /);
  assert.match((await client.data(testMessage('OAuth', 'token login\r\n', alice.email).content)).text, /^250 2\.0\.0 /);
  client.close();

  const xoauth2 = (value) => Buffer.from(`user=${alice.email}\x01auth=Bearer ${value}\x01\x01`).toString('base64');
  const second = await submissionOverTls();
  assert.match((await second.client.command(`AUTH XOAUTH2 ${xoauth2(token)}`)).text, /^235 2\.7\.0 /);
  second.client.close();

  const forged = `${token.slice(0, -4)}${token.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
  const third = await submissionOverTls();
  const challenge = await third.client.command(`AUTH XOAUTH2 ${xoauth2(forged)}`);
  assert.equal(challenge.code, 334, challenge.text);
  assert.equal(JSON.parse(Buffer.from(challenge.text.slice(4), 'base64').toString()).status, 'invalid_token');
  assert.match((await third.client.command('')).text, /^535 5\.7\.8 /);
  const other = Buffer.from(`n,a=${bob.email},\x01auth=Bearer ${token}\x01\x01`).toString('base64');
  assert.equal((await third.client.command(`AUTH OAUTHBEARER ${other}`)).code, 334, 'a token works only for its own user');
  assert.match((await third.client.command('AQ==')).text, /^535 5\.7\.8 /);
  third.client.close();
});

// ---- limits (private instance) ------------------------------------------------------

async function limitedClient({ banner = true } = {}) {
  const client = await SmtpClient.connect(limited.ports.smtp, host, { banner });
  return client;
}

test('message size at the limit and one past', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await limitedClient();
  await client.ehlo();
  assert.match((await client.command(`MAIL FROM:<a@example.org> SIZE=${LIMIT_MESSAGE_BYTES + 1}`)).text, /^552 5\.3\.4 /);
  assert.match((await client.command(`MAIL FROM:<a@example.org> SIZE=${LIMIT_MESSAGE_BYTES}`)).text, /^250 /);
  await client.command(`RCPT TO:<${alice.email}>`);
  const header = Buffer.from('Subject: size\r\n\r\n');
  const atLimit = Buffer.concat([header, Buffer.alloc(LIMIT_MESSAGE_BYTES - header.length - 2, 'a'), Buffer.from('\r\n')]);
  assert.equal(atLimit.length, LIMIT_MESSAGE_BYTES);
  assert.match((await client.data(atLimit)).text, /^250 2\.0\.0 /);

  await client.command('MAIL FROM:<a@example.org>');
  await client.command(`RCPT TO:<${alice.email}>`);
  const onePast = Buffer.concat([header, Buffer.alloc(LIMIT_MESSAGE_BYTES - header.length - 1, 'a'), Buffer.from('\r\n')]);
  assert.match((await client.data(onePast)).text, /^552 5\.3\.4 /);
  assert.match((await client.command('NOOP')).text, /^250 /, 'the session goes on after a refused message');
  client.close();
});

test('recipients at the limit and one past', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await limitedClient();
  await client.ehlo();
  await client.command('MAIL FROM:<a@example.org>');
  // Distinct users, because a user named twice counts once.
  const recipients = [alice.email, bob.email, requireEnv('EXPRESSO_ADMIN_EMAIL'), carol.email];
  assert.equal(recipients.length, LIMIT_RECIPIENTS + 1);
  for (const [index, recipient] of recipients.slice(0, LIMIT_RECIPIENTS).entries()) {
    assert.match((await client.command(`RCPT TO:<${recipient}>`)).text, /^250 2\.1\.5 Recipient ok$/);
    if (index === 0) {
      const again = await client.command(`RCPT TO:<${alice.email.toUpperCase()}>`);
      assert.match(again.text, /^250 2\.1\.5 .*already listed/);
    }
  }
  assert.match((await client.command(`RCPT TO:<${recipients[LIMIT_RECIPIENTS]}>`)).text, /^452 4\.5\.3 /);
  client.close();
});

test('command line length at the limit and one past', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await limitedClient();
  await client.ehlo();
  assert.match((await client.command(`NOOP ${'x'.repeat(510 - 5)}`)).text, /^250 /);
  assert.match((await client.command(`NOOP ${'x'.repeat(511 - 5)}`)).text, /^500 5\.5\.2 /);
  assert.match((await client.command('NOOP\0')).text, /^500 5\.5\.2 .*NUL/);
  await client.write('NOOP\n');
  assert.match((await client.reply()).text, /^500 5\.5\.2 .*bare LF/);
  client.close();
});

test('AUTH line of 12288 octets accepted, one more refused', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await SmtpClient.connect(limited.ports.submission);
  await client.ehlo();
  await client.startTls(ca);
  await client.ehlo();
  // Base64 comes in groups of 4 and "AUTH PLAIN " has 11 octets, so a valid
  // response fills the line to 12287 octets at most; 12288 octets are then
  // checked as base64 (501) and 12289 are too long (500).
  const prefix = 'AUTH PLAIN ';
  const raw = Buffer.alloc((12288 - prefix.length - 1) / 4 * 3, 'p');
  Buffer.from(`\0${alice.email}\0`).copy(raw);
  const longest = `${prefix}${raw.toString('base64')}`;
  assert.equal(longest.length, 12287);
  assert.match((await client.command(longest)).text, /^535 5\.7\.8 /, 'a long AUTH line reaches the credential check');
  assert.match((await client.command(`${longest}=`)).text, /^501 5\.5\.2 .*base64/, '12288 octets are not too long');
  assert.match((await client.command(`${longest}==`)).text, /^500 5\.5\.2 Line too long/);
  client.close();
});

test('errors before disconnect', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await limitedClient();
  for (let i = 1; i < LIMIT_ERRORS; i++) assert.match((await client.command('XYZZY')).text, /^500 /);
  assert.match((await client.command('XYZZY')).text, /^500 /);
  assert.match((await client.reply()).text, /^421 4\.7\.0 /);
  assert.equal((await client.reply()).code, 0, 'the server closed the connection');
  client.close();
});

test('command rate at the limit and one past', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await limitedClient();
  await client.ehlo();
  for (let i = 1; i < LIMIT_COMMANDS_PER_MINUTE; i++) assert.match((await client.command('NOOP')).text, /^250 /);
  assert.match((await client.command('NOOP')).text, /^421 4\.7\.0 Too many commands/);
  assert.equal((await client.reply()).code, 0, 'the server closed the connection');
  client.close();
});

test('connections per client address', { timeout: TEST_TIMEOUT_MS }, async () => {
  const open = [];
  for (let i = 0; i < LIMIT_CONNECTIONS_PER_ADDRESS; i++) {
    const client = await limitedClient();
    assert.equal(client.banner.code, 220);
    open.push(client);
  }
  const extra = await limitedClient();
  assert.match(extra.banner.text, /^421 4\.7\.0 /);
  extra.close();
  for (const client of open) client.close();
});

test('idle timeout and early talker', { timeout: TEST_TIMEOUT_MS }, async () => {
  const idle = await limitedClient();
  await idle.ehlo();
  const started = Date.now();
  const reply = await idle.reply(LIMIT_IDLE_MS + 5000);
  assert.match(reply.text, /^421 4\.4\.2 /);
  assert.ok(Date.now() - started >= LIMIT_IDLE_MS - 100, 'not before the idle timeout');
  idle.close();

  const early = await limitedClient({ banner: false });
  await early.write('EHLO eager.example.org\r\n');
  assert.match((await early.reply()).text, /^554 5\.5\.1 /, 'input before the banner is refused');
  early.close();
});

// ---- the corpus ---------------------------------------------------------------------

function headerValue(content, name) {
  const text = content.toString('latin1');
  const headerEnd = text.indexOf('\r\n\r\n');
  const lines = text.slice(0, headerEnd < 0 ? text.length : headerEnd).split('\r\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].toLowerCase().startsWith(`${name.toLowerCase()}:`)) {
      let value = lines[i].slice(name.length + 1);
      while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1])) value += lines[++i];
      const bytes = Buffer.from(value.trim(), 'latin1');
      const utf8 = bytes.toString('utf8');
      return Buffer.from(utf8, 'utf8').equals(bytes) ? utf8 : value.trim();
    }
  }
  return null;
}

test('corpus messages stored byte for byte', { timeout: TEST_TIMEOUT_MS }, async () => {
  const directory = path.join(repoRoot, 'tests', 'data', 'eml');
  const files = readdirSync(directory).filter((name) => name.endsWith('.eml')).sort();
  assert.ok(files.length >= 20, `corpus found in ${directory}`);
  const client = await SmtpClient.connect(env.EXPRESSO_SMTP_PORT);
  await client.ehlo();
  for (const name of files) {
    const content = wireForm(readFileSync(path.join(directory, name)));
    const utf8 = name.includes('smtputf8') ? ' SMTPUTF8' : '';
    const fromUid = await inboxUidnext(alice);
    assert.match((await client.command(`MAIL FROM:<corpus@example.org> BODY=8BITMIME${utf8}`)).text, /^250 /, name);
    assert.match((await client.command(`RCPT TO:<${alice.email}>`)).text, /^250 /, name);
    const reply = await client.data(content);
    assert.match(reply.text, /^250 2\.0\.0 /, name);

    const { row, object } = await storedMessage(alice, fromUid, reply);
    assert.ok(splitTrace(object).message.equals(content), `${name} is stored byte for byte`);
    // Headers at the very top (no mbox "From " line or BOM in front) are compared with the row.
    if (/^[A-Za-z-]+:/.test(content.toString('latin1'))) {
      for (const [header, column] of [['Message-ID', 'message_id'], ['In-Reply-To', 'in_reply_to'],
        ['From', 'from_field'], ['To', 'to_field'], ['Cc', 'cc'], ['References', 'references_field']]) {
        const expected = headerValue(content, header);
        if (expected !== null && /^[\x20-\x7e]*$/.test(expected)) assert.equal(row[column], expected, `${name}: ${header}`);
      }
      const subject = headerValue(content, 'Subject');
      if (subject !== null && /^[\x20-\x7e]*$/.test(subject)) assert.equal(row.subject, subject, `${name}: Subject`);
    }
  }
  await client.command('QUIT');
  client.close();
});

// ---- crash safety ---------------------------------------------------------------------

test('SIGKILL during DATA loses no acknowledged message', { timeout: TEST_TIMEOUT_MS }, async () => {
  const SESSIONS = 16;
  // Sessions keep sending until the daemon is killed; this only bounds the loop.
  const MESSAGES_PER_SESSION = 50;
  // The kill comes once this many messages got 250, so it always lands mid-stream.
  const ACKNOWLEDGED_BEFORE_KILL = 16;
  const BODY_LINES = 400;
  const run = crypto.randomUUID();
  const instanceEnv = { EXPRESSO_SMTP_GREETING_DELAY: '0' };
  let instance = await startInstance(instanceEnv);
  const acknowledged = new Set();
  const finished = new Set(); // final dot sent: may or may not be stored

  const session = async (s) => {
    let client;
    try {
      client = await SmtpClient.connect(instance.ports.smtp);
      await client.ehlo();
      for (let m = 0; m < MESSAGES_PER_SESSION; m++) {
        const id = `<kill-${run}-${s}-${m}@e2e.expresso.test>`;
        await client.command('MAIL FROM:<kill@example.org>');
        await client.command(`RCPT TO:<${alice.email}>`);
        const start = await client.command('DATA');
        if (start.code !== 354) return;
        await client.write(`Message-ID: ${id}\r\nSubject: kill test\r\n\r\n`);
        for (let line = 0; line < BODY_LINES; line += 50) {
          await client.write(`${'line of the kill test body\r\n'.repeat(50)}`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        finished.add(id);
        await client.write('.\r\n');
        const reply = await client.reply();
        if (reply.code === 250) acknowledged.add(id);
        else return;
      }
    } catch {
      // The daemon was killed under this session.
    } finally {
      client?.close();
    }
  };
  const sessions = Array.from({ length: SESSIONS }, (_, s) => session(s));
  const deadline = Date.now() + 20000;
  while (acknowledged.size < ACKNOWLEDGED_BEFORE_KILL && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  instance.child.kill('SIGKILL');
  await instance.exited;
  await Promise.all(sessions);
  assert.ok(acknowledged.size > 0, 'some messages were acknowledged before the kill');
  assert.ok(acknowledged.size < SESSIONS * MESSAGES_PER_SESSION,
    `the kill landed while messages were in flight (${acknowledged.size} acknowledged)`);

  instance = await startInstance({ ...instanceEnv });
  try {
    const rows = await tenantQuery(owner, alice.tenantId,
      'SELECT message_id, count(*)::int AS n, min(storage_key) AS key FROM messages WHERE message_id LIKE $1 GROUP BY message_id',
      [`<kill-${run}-%`]);
    const stored = new Map(rows.map((row) => [row.message_id, row]));
    for (const id of acknowledged) {
      assert.ok(stored.has(id), `${id} got 250 and is stored`);
    }
    for (const [id, row] of stored) {
      assert.equal(row.n, 1, `${id} is stored once`);
      assert.ok(finished.has(id), `${id} is stored only if its final dot was sent`);
      const { message } = splitTrace(readObject(alice.tenantId, row.key));
      assert.ok(message.toString('latin1').startsWith(`Message-ID: ${id}\r\n`), `${id} object matches its row`);
    }

    // The restarted daemon delivers again.
    const client = await SmtpClient.connect(instance.ports.smtp);
    await client.ehlo();
    await client.command('MAIL FROM:<kill@example.org>');
    await client.command(`RCPT TO:<${alice.email}>`);
    assert.match((await client.data(testMessage('after restart', 'ok\r\n').content)).text, /^250 /);
    client.close();
  } finally {
    await stopInstance(instance);
  }
});

// Reads the group-commit counters of an instance's /metrics.
async function deliveryBatchCounters(instance) {
  const text = await (await fetch(`http://${host}:${instance.ports.http}/metrics`)).text();
  const read = (name) => {
    const match = new RegExp(`^expresso_${name}\\{[^}]*\\} (\\d+)$`, 'm').exec(text);
    assert.ok(match, `${name} is in /metrics`);
    return Number(match[1]);
  };
  return {
    batches: read('delivery_batches_total'),
    requests: read('delivery_batch_requests_total'),
    slow: read('delivery_batches_slow_total'),
  };
}

test('parallel deliveries share commits, over-quota fails alone', { timeout: TEST_TIMEOUT_MS }, async () => {
  const SESSIONS = 12;
  const run = crypto.randomUUID();
  const instance = await startInstance({ EXPRESSO_SMTP_GREETING_DELAY: '0' });
  // Carol may store 1000 bytes more than now: RCPT passes, and the 4 KB message crosses the quota at DATA.
  const usage = await tenantQuery(owner, carol.tenantId,
    'SELECT COALESCE(sum(s.bytes), 0)::bigint AS bytes FROM mailbox_stats s JOIN mailboxes m ON m.id = s.mailbox_id WHERE m.user_id = $1',
    [carol.userId]);
  await tenantQuery(owner, carol.tenantId, 'UPDATE users SET quota_bytes = $2 WHERE id = $1',
    [carol.userId, Number(usage[0].bytes) + 1000]);
  const clients = [];
  try {
    const before = await deliveryBatchCounters(instance);
    // Sessions 0 .. SESSIONS-1 deliver to Alice, the last one to Carol in another tenant.
    for (let s = 0; s <= SESSIONS; s++) {
      const client = await SmtpClient.connect(instance.ports.smtp);
      clients.push(client);
      await client.ehlo();
      await client.command('MAIL FROM:<group@example.org>');
      const recipient = s < SESSIONS ? alice.email : carol.email;
      assert.equal((await client.command(`RCPT TO:<${recipient}>`)).code, 250);
      assert.equal((await client.command('DATA')).code, 354);
      await client.write(`Message-ID: <group-${run}-${s}@e2e.expresso.test>\r\nSubject: group commit\r\n\r\n`);
      await client.write('line of the group commit test body\r\n'.repeat(120));
    }
    // Every final dot at once, so the deliveries reach the committer together.
    const replies = await Promise.all(clients.map(async (client) => {
      await client.write('.\r\n');
      return client.reply(60_000);
    }));

    for (let s = 0; s < SESSIONS; s++) {
      assert.equal(replies[s].code, 250, `session ${s}: ${replies[s].text}`);
    }
    assert.match(replies[SESSIONS].text, /^452 4\.2\.2 /);
    const stored = await tenantQuery(owner, alice.tenantId,
      'SELECT message_id, count(*)::int AS n FROM messages WHERE message_id LIKE $1 GROUP BY message_id',
      [`<group-${run}-%`]);
    assert.equal(stored.length, SESSIONS);
    for (const row of stored) {
      assert.equal(row.n, 1, `${row.message_id} is stored once`);
    }
    const refused = await tenantQuery(owner, carol.tenantId, 'SELECT count(*)::int AS n FROM messages WHERE message_id LIKE $1',
      [`<group-${run}-%`]);
    assert.equal(refused[0].n, 0);

    // Each delivery hands the committer its rows, and before them its garbage records unless it took a
    // key reserved by an earlier delivery's rows.
    const deliveries = SESSIONS + 1;
    const after = await deliveryBatchCounters(instance);
    const requests = after.requests - before.requests;
    assert.ok(requests >= deliveries, `${requests} requests for ${deliveries} deliveries: one for each delivery's rows`);
    assert.ok(requests <= 2 * deliveries, `${requests} requests for ${deliveries} deliveries: at most two each`);
    assert.ok(after.batches - before.batches < requests,
      `some requests shared a transaction (${after.batches - before.batches} for ${requests})`);
    assert.ok(after.slow - before.slow >= 1, 'the batch with the over-quota delivery took the savepoint path');
  } finally {
    for (const client of clients) client.close();
    await tenantQuery(owner, carol.tenantId, 'UPDATE users SET quota_bytes = NULL WHERE id = $1', [carol.userId]);
    await stopInstance(instance);
  }
});

// Delivers one message to Alice through INSTANCE and returns its Message-ID.
async function deliverToAlice(instance, subject) {
  const client = await SmtpClient.connect(instance.ports.smtp);
  try {
    await client.ehlo();
    await client.command('MAIL FROM:<reserve@example.org>');
    assert.match((await client.command(`RCPT TO:<${alice.email}>`)).text, /^250 /);
    const message = testMessage(subject, 'reserved key\r\n');
    assert.match((await client.data(message.content)).text, /^250 /);
    return message.id;
  } finally {
    client.close();
  }
}

// Alice's keys listed in mail_object_garbage since SINCE that no row names: the keys reserved since then.
async function reservedKeys(since) {
  const rows = await tenantQuery(owner, alice.tenantId,
    'SELECT g.storage_key FROM mail_object_garbage g WHERE g.storage_key LIKE $1 AND g.queued_at >= $2 ' +
    'AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = g.tenant_id AND m.storage_key = g.storage_key)',
    [`mail/${alice.userId}/%`, since]);
  return rows.map((row) => row.storage_key);
}

test('reserved key spares the next delivery a commit', { timeout: TEST_TIMEOUT_MS }, async () => {
  const instance = await startInstance({ EXPRESSO_SMTP_GREETING_DELAY: '0' });
  try {
    const [{ now: since }] = await tenantQuery(owner, alice.tenantId, 'SELECT now()');
    let before = await deliveryBatchCounters(instance);
    await deliverToAlice(instance, 'first');
    let after = await deliveryBatchCounters(instance);
    assert.equal(after.requests - before.requests, 2, 'the first delivery records its key, then commits its rows');
    const reserved = await reservedKeys(since);
    assert.equal(reserved.length, 1, 'the rows\' transaction reserved one key for Alice');

    before = after;
    const second = await deliverToAlice(instance, 'second');
    after = await deliveryBatchCounters(instance);
    assert.equal(after.requests - before.requests, 1, 'the second delivery commits only its rows');
    const rows = await tenantQuery(owner, alice.tenantId, 'SELECT storage_key FROM messages WHERE message_id = $1', [second]);
    assert.deepEqual(rows.map((row) => row.storage_key), reserved, 'the second message is stored under the reserved key');
    const left = await reservedKeys(since);
    assert.equal(left.length, 1, 'the second delivery reserved the next key');
    assert.notEqual(left[0], reserved[0]);
  } finally {
    await stopInstance(instance);
  }

  // With reservations off, every delivery records its key first.
  const off = await startInstance({ EXPRESSO_SMTP_GREETING_DELAY: '0', EXPRESSO_DELIVERY_KEY_RESERVE_AGE: '0' });
  try {
    const [{ now: since }] = await tenantQuery(owner, alice.tenantId, 'SELECT now()');
    const before = await deliveryBatchCounters(off);
    await deliverToAlice(off, 'off first');
    await deliverToAlice(off, 'off second');
    const after = await deliveryBatchCounters(off);
    assert.equal(after.requests - before.requests, 4);
    assert.deepEqual(await reservedKeys(since), [], 'nothing was reserved');
  } finally {
    await stopInstance(off);
  }
});

test('key reserve age at the limit and one past', { timeout: TEST_TIMEOUT_MS }, async () => {
  // Half of the sweep's grace is accepted.
  const instance = await startInstance({ EXPRESSO_SMTP_GREETING_DELAY: '0', EXPRESSO_MAIL_SWEEP_GRACE: '1s',
    EXPRESSO_MAIL_SWEEP_INTERVAL: '0', EXPRESSO_DELIVERY_KEY_RESERVE_AGE: '500ms' });
  try {
    await deliverToAlice(instance, 'reserve age at the limit');
  } finally {
    await stopInstance(instance);
  }

  // One millisecond more stops the daemon at start with the setting named.
  const daemon = await startWithoutTls({ EXPRESSO_MAIL_SWEEP_GRACE: '1s', EXPRESSO_DELIVERY_KEY_RESERVE_AGE: '501ms' });
  const { code } = await daemon.exited;
  assert.notEqual(code, 0, 'a reserve age past half the grace is rejected');
  const invalid = daemon.lines.find((line) => line.includes('"setting_invalid"'));
  assert.ok(invalid, `a setting_invalid line: ${daemon.lines.slice(-5).join('\n')}`);
  assert.match(invalid, /EXPRESSO_DELIVERY_KEY_RESERVE_AGE/);
  assert.match(invalid, /must be at most half of EXPRESSO_MAIL_SWEEP_GRACE \(1000 ms\), got 501 ms/);
});

test('delivery batch size at the limit and one past', { timeout: TEST_TIMEOUT_MS }, async () => {
  const MAX_BATCH = 10000;
  const SESSIONS = 4;
  const run = crypto.randomUUID();
  const deliverInParallel = async (instance) => {
    const clients = [];
    try {
      for (let s = 0; s < SESSIONS; s++) {
        const client = await SmtpClient.connect(instance.ports.smtp);
        clients.push(client);
        await client.ehlo();
        await client.command('MAIL FROM:<batch@example.org>');
        assert.equal((await client.command(`RCPT TO:<${alice.email}>`)).code, 250);
        assert.equal((await client.command('DATA')).code, 354);
        await client.write(`Message-ID: <batch-${run}-${instance.ports.smtp}-${s}@e2e.expresso.test>\r\n\r\nbody\r\n`);
      }
      return await Promise.all(clients.map(async (client) => {
        await client.write('.\r\n');
        return client.reply(60_000);
      }));
    } finally {
      for (const client of clients) client.close();
    }
  };

  // The largest batch is accepted.
  let instance = await startInstance({ EXPRESSO_SMTP_GREETING_DELAY: '0', EXPRESSO_DELIVERY_MAX_BATCH: String(MAX_BATCH) });
  try {
    for (const reply of await deliverInParallel(instance)) assert.equal(reply.code, 250, reply.text);
  } finally {
    await stopInstance(instance);
  }

  // A batch of 1 commits every request alone.
  // Without key reservations, so every delivery makes two requests however the sessions interleave.
  instance = await startInstance({ EXPRESSO_SMTP_GREETING_DELAY: '0', EXPRESSO_DELIVERY_MAX_BATCH: '1',
    EXPRESSO_DELIVERY_KEY_RESERVE_AGE: '0' });
  try {
    const before = await deliveryBatchCounters(instance);
    for (const reply of await deliverInParallel(instance)) assert.equal(reply.code, 250, reply.text);
    const after = await deliveryBatchCounters(instance);
    assert.equal(after.requests - before.requests, 2 * SESSIONS);
    assert.equal(after.batches - before.batches, 2 * SESSIONS);
  } finally {
    await stopInstance(instance);
  }

  // One past the maximum, and 0, stop the daemon at start with the setting named.
  for (const value of [String(MAX_BATCH + 1), '0']) {
    const daemon = await startWithoutTls({ EXPRESSO_DELIVERY_MAX_BATCH: value });
    const { code } = await daemon.exited;
    assert.notEqual(code, 0, `EXPRESSO_DELIVERY_MAX_BATCH=${value} is rejected`);
    const invalid = daemon.lines.find((line) => line.includes('"setting_invalid"'));
    assert.ok(invalid, `a setting_invalid line for ${value}: ${daemon.lines.slice(-5).join('\n')}`);
    assert.match(invalid, /EXPRESSO_DELIVERY_MAX_BATCH/);
    assert.match(invalid, new RegExp(`must be between 1 and ${MAX_BATCH}, got ${value}`));
  }
  const stored = await tenantQuery(owner, alice.tenantId, 'SELECT count(*)::int AS n FROM messages WHERE message_id LIKE $1',
    [`<batch-${run}-%`]);
  assert.equal(stored[0].n, 2 * SESSIONS);
});

test('SIGTERM lets a transaction in progress finish', { timeout: TEST_TIMEOUT_MS }, async () => {
  const instance = await startInstance({ EXPRESSO_SMTP_GREETING_DELAY: '0' });
  const client = await SmtpClient.connect(instance.ports.smtp);
  await client.ehlo();
  await client.command('MAIL FROM:<term@example.org>');
  await client.command(`RCPT TO:<${alice.email}>`);
  assert.equal((await client.command('DATA')).code, 354);
  await client.write('Subject: during shutdown\r\n\r\n');
  instance.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.equal(instance.child.exitCode, null, 'the daemon waits for the session');
  await client.write('last line\r\n.\r\n');
  assert.match((await client.reply()).text, /^250 2\.0\.0 /);
  assert.match((await client.reply()).text, /^421 4\.3\.2 /, 'then the idle session is closed');
  client.close();
  const { code } = await instance.exited;
  assert.equal(code, 0);
});

// Starts a nats-server with JetStream of the test's own on PORT, its store in DIRECTORY.
async function startNats(port, directory) {
  // Debian installs it in /usr/sbin, which a user's PATH may lack.
  const program = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
  const server = spawn(program, ['-a', host, '-p', String(port), '-js', '-sd', directory], { stdio: 'ignore' });
  const exited = new Promise((resolve) => server.on('exit', resolve));
  await waitFor(`nats-server on port ${port}`, async () => {
    try {
      const probe = await connectNats({ servers: `${host}:${port}`, reconnect: false });
      await probe.close();
      return true;
    } catch {
      return false;
    }
  }, 15_000);
  return { server, exited };
}

test('delivery not delayed by NATS outage', { timeout: TEST_TIMEOUT_MS }, async () => {
  const natsPort = await freePort();
  const natsDirectory = mkdtempSync(path.join(workDir, 'nats-'));
  let nats = await startNats(natsPort, natsDirectory);
  const instance = await startInstance({ EXPRESSO_NATS_URL: `nats://${host}:${natsPort}`, EXPRESSO_SMTP_GREETING_DELAY: '0' });
  try {
    nats.server.kill('SIGTERM');
    await nats.exited;
    const subject = `NATS outage ${crypto.randomUUID()}`;
    const started = Date.now();
    const reply = await sendMessage(instance.ports.smtp, {
      from: 'outage@example.org',
      to: [alice.email, bob.email],
      content: testMessage(subject, 'Delivered while NATS was down.\r\n').content,
    });
    assert.match(reply.text, /^250 2\.0\.0 /);
    // A publish that waited for NATS would hold the 250 up to 5 s for each recipient's event.
    assert.ok(reply.at - started < 4000, `the 250 came ${reply.at - started} ms after the connection`);

    nats = await startNats(natsPort, natsDirectory);
    const client = await connectNats({ servers: `${host}:${natsPort}` });
    try {
      const manager = await client.jetstreamManager();
      // The daemon reconnects within 2 to 3 s and then sends the queued events.
      await waitFor('the two mail.delivered events in the stream', async () => {
        try {
          return (await manager.streams.info('EXPRESSO')).state.messages >= 2;
        } catch {
          return false;
        }
      }, 30_000);
      const events = [];
      for (const seq of [1, 2]) {
        const message = await manager.streams.getMessage('EXPRESSO', { seq });
        events.push(JSON.parse(new TextDecoder().decode(message.data)));
      }
      assert.deepEqual(events.map((event) => event.type), ['mail.delivered', 'mail.delivered']);
      assert.deepEqual(events.map((event) => event.user_id).sort(), [alice.userId, bob.userId].sort());
      assert.ok(events.every((event) => event.subject === subject), 'each event names the message');
    } finally {
      await client.close();
    }
  } finally {
    await stopInstance(instance);
    nats.server.kill('SIGTERM');
    await nats.exited;
  }
});
