// expresso-mail's IMAP side against the running stack, driven by real
// clients: Python's imaplib (imap_scenarios.py, one scenario per test),
// imapflow as a Thunderbird-like client, and mbsync (isync) for two-way
// Maildir sync. A private instance of the binary is killed with SIGKILL
// during and right after an APPEND to check durability.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// /usr/bin/python3, mbsync (Debian isync), imapflow (package.json).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import pg from 'pg';

import { sendMessage } from './lib/smtp_client.mjs';
import { buildDir, freePort, mailListenersOff, requireEnv, startDaemon, waitForHttp } from './lib/stack.mjs';

const TEST_TIMEOUT_MS = 300_000;
const host = '127.0.0.1';
const runId = crypto.randomBytes(4).toString('hex');
const env = {};
let owner;
let workDir;

function runScenario(name) {
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', [path.join(import.meta.dirname, 'imap_scenarios.py'), name],
      { timeout: 120_000, env: { ...process.env, IMAP_RUN_ID: runId } },
      (error, stdout, stderr) => resolve({ code: error?.code ?? 0, output: `${stdout}${stderr}` }));
  });
}

async function account(email) {
  const { rows } = await owner.query('SELECT tenant_id, user_id FROM ex_tenant_for_login($1)', [email]);
  assert.equal(rows.length, 1, `${email} is not in the users table`);
  return { email, tenantId: rows[0].tenant_id, userId: rows[0].user_id };
}

async function tenantQuery(tenantId, sql, params = []) {
  const client = await owner.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    const { rows } = await client.query(sql, params);
    await client.query('COMMIT');
    return rows;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

function imapflow(email, password, options = {}) {
  return new ImapFlow({
    host,
    port: Number(env.EXPRESSO_IMAPS_PORT),
    secure: true,
    tls: { ca: readFileSync(env.EXPRESSO_TLS_CA), checkServerIdentity: () => undefined },
    auth: { user: email, pass: password },
    logger: false,
    ...options,
  });
}

// Delivers MESSAGE over SMTP port 25; resolves with the time of the 250 reply to the end of DATA.
async function deliverSmtp(recipient, message) {
  const reply = await sendMessage(env.EXPRESSO_SMTP_PORT, {
    from: 'sender@example.org', to: recipient, content: `${message}\r\n`, ehlo: 'e2e.test', host,
  });
  assert.equal(reply.code, 250, reply.text);
  return reply.at;
}

function testMessage(subject, body = 'Corpo de teste.') {
  return [
    'From: Remetente <sender@example.org>',
    `To: ${env.EXPRESSO_ALICE_EMAIL}`,
    `Subject: ${subject}`,
    `Message-ID: <${crypto.randomUUID()}@e2e.expresso.test>`,
    'Date: Sat, 05 Dec 2026 12:00:00 +0000',
    '',
    body,
    '',
  ].join('\r\n');
}

// JSON for assertion messages; imapflow returns modseqs as BigInt.
function showJson(value) {
  return JSON.stringify(value, (key, item) => (typeof item === 'bigint' ? String(item) : item));
}

function run(command, args, options = {}) {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 240_000, maxBuffer: 64 * 1024 * 1024, ...options },
      (error, stdout, stderr) => resolve({ code: error?.code ?? 0, stdout, stderr }));
  });
}

before(async () => {
  for (const name of ['EXPRESSO_IMAP_PORT', 'EXPRESSO_IMAPS_PORT', 'EXPRESSO_SMTP_PORT', 'EXPRESSO_TLS_CA',
    'EXPRESSO_STATE_DIR', 'EXPRESSO_DATABASE_OWNER_URL', 'EXPRESSO_ALICE_EMAIL', 'EXPRESSO_ALICE_APP_PASSWORD',
    'EXPRESSO_BOB_EMAIL', 'EXPRESSO_BOB_APP_PASSWORD', 'EXPRESSO_CAROL_EMAIL', 'EXPRESSO_CAROL_APP_PASSWORD']) {
    env[name] = requireEnv(name);
  }
  owner = new pg.Pool({ connectionString: env.EXPRESSO_DATABASE_OWNER_URL, max: 4 });
  workDir = mkdtempSync(path.join(os.tmpdir(), 'expresso-imap-'));
});

after(async () => {
  await owner?.end();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

// ---- imaplib scenarios -----------------------------------------------------------------

for (const scenario of ['starttls', 'login_before_tls_rejected', 'authentication', 'mailboxes', 'inbox_rename',
  'messages', 'search', 'two_sessions', 'toobig', 'tenant_isolation', 'bad_commands', 'corpus']) {
  test(`imaplib: ${scenario.replaceAll('_', ' ')}`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const { code, output } = await runScenario(scenario);
    assert.equal(code, 0, output);
    assert.match(output, /^ok$/m);
  });
}

test('failed LOGIN is audited', { timeout: TEST_TIMEOUT_MS }, async () => {
  const bob = await account(env.EXPRESSO_BOB_EMAIL);
  const count = async () => (await tenantQuery(bob.tenantId,
    "SELECT count(*)::int AS n FROM audit_log WHERE action LIKE '%auth_failed' AND actor = $1", [bob.userId]))[0].n;
  const before = await count();
  const client = imapflow(env.EXPRESSO_BOB_EMAIL, 'not-the-app-password');
  await assert.rejects(client.connect());
  assert.equal(await count(), before + 1, 'one audit_log row per failed login');
});

// ---- imapflow ------------------------------------------------------------------------

test('imapflow: IDLE woken by delivery and by a flag change elsewhere', { timeout: TEST_TIMEOUT_MS }, async () => {
  const watcher = imapflow(env.EXPRESSO_ALICE_EMAIL, env.EXPRESSO_ALICE_APP_PASSWORD, { autoIdleDelay: 100 });
  await watcher.connect();
  // Without a mailbox lock held, imapflow enters IDLE by itself when it has nothing to do.
  await watcher.mailboxOpen('INBOX');
  const events = [];
  let notify = () => {};
  watcher.on('exists', (event) => { events.push({ kind: 'exists', at: Date.now(), event }); notify(); });
  watcher.on('flags', (event) => { events.push({ kind: 'flags', at: Date.now(), event }); notify(); });
  const waitFor = (kind, since) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${kind} event within 5 s: ${JSON.stringify(events)}`)), 5000);
    notify = () => {
      const found = events.find((entry) => entry.kind === kind && entry.at >= since);
      if (found) { clearTimeout(timer); resolve(found); }
    };
    notify();
  });
  try {
    // imapflow starts IDLE on its own autoIdleDelay after the last command.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const subject = `IDLE ${runId}`;
    const start = Date.now();
    const accepted = await deliverSmtp(env.EXPRESSO_ALICE_EMAIL, testMessage(subject));
    const exists = await waitFor('exists', start);
    assert.ok(exists.at - accepted <= 1000, `EXISTS came ${exists.at - accepted} ms after the 250 reply`);

    const other = imapflow(env.EXPRESSO_ALICE_EMAIL, env.EXPRESSO_ALICE_APP_PASSWORD);
    await other.connect();
    await other.mailboxOpen('INBOX');
    const flagStart = Date.now();
    await other.messageFlagsAdd('*', ['\\Flagged']);
    const flags = await waitFor('flags', flagStart);
    assert.ok(flags.at - flagStart <= 1500, `FETCH FLAGS came ${flags.at - flagStart} ms after STORE`);
    assert.ok(flags.event.flags.has('\\Flagged'), `flags event: ${JSON.stringify([...flags.event.flags])}`);
    await other.logout();
  } finally {
    await watcher.logout().catch(() => {});
  }
});

test('imapflow: APPEND, MOVE and CONDSTORE/QRESYNC resync', { timeout: TEST_TIMEOUT_MS }, async () => {
  const box = `Sync ${runId}`;
  const target = `Movidas ${runId}`;
  const client = imapflow(env.EXPRESSO_ALICE_EMAIL, env.EXPRESSO_ALICE_APP_PASSWORD, { qresync: true });
  await client.connect();
  try {
    assert.ok(client.capabilities.has('LITERAL+'), 'LITERAL+ advertised');
    assert.ok(client.enabled.has('QRESYNC'), `enabled: ${[...client.enabled]}`);
    await client.mailboxCreate(box);
    await client.mailboxCreate(target);
    const appended = [];
    for (let i = 0; i < 5; i++) appended.push(await client.append(box, testMessage(`sync ${i}`), ['\\Seen']));
    assert.deepEqual(appended.map((entry) => entry.uid), [1, 2, 3, 4, 5], 'APPENDUID gives UIDs 1 to 5');

    const opened = await client.mailboxOpen(box);
    assert.equal(opened.exists, 5);
    const modseq = opened.highestModseq;
    assert.ok(modseq > 0n || modseq > 0, `HIGHESTMODSEQ on SELECT: ${modseq}`);
    const uidValidity = opened.uidValidity;

    // Changes made by another session while this one is away.
    const other = imapflow(env.EXPRESSO_ALICE_EMAIL, env.EXPRESSO_ALICE_APP_PASSWORD);
    await other.connect();
    await other.mailboxOpen(box);
    await other.messageFlagsAdd('2', ['\\Flagged'], { uid: true });
    await other.messageFlagsAdd('3', ['\\Deleted'], { uid: true });
    await other.messageDelete('3', { uid: true });
    await other.logout();

    const changed = [];
    for await (const message of client.fetch('1:*', { uid: true, flags: true }, { uid: true, changedSince: modseq })) {
      changed.push({ uid: message.uid, flags: [...message.flags] });
    }
    assert.deepEqual(changed.map((entry) => entry.uid), [2], `changed since ${modseq}: ${JSON.stringify(changed)}`);
    assert.ok(changed[0].flags.includes('\\Flagged'));
    await client.mailboxClose();

    // A QRESYNC SELECT reports the expunged UID 3 as VANISHED (EARLIER).
    const vanished = [];
    client.on('expunge', (event) => vanished.push(event));
    const reopened = await client.mailboxOpen(box, { changedSince: modseq, uidValidity });
    assert.equal(reopened.exists, 4);
    assert.ok(vanished.some((event) => Number(event.uid) === 3 && event.vanished), `VANISHED: ${showJson(vanished)}`);

    const moved = await client.messageMove('1:2', target, { uid: true });
    assert.ok(moved && moved.uidMap instanceof Map, `MOVE result: ${showJson(moved)}`);
    assert.equal(moved.uidMap.size, 2, `MOVE COPYUID map: ${showJson([...moved.uidMap])}`);
    const status = await client.status(target, { messages: true });
    assert.equal(status.messages, 2);
    await client.mailboxClose();
    await client.mailboxDelete(box);
    await client.mailboxDelete(target);
  } finally {
    await client.logout().catch(() => {});
  }
});

test('Thunderbird start-up sequence', { timeout: TEST_TIMEOUT_MS }, async () => {
  // CAPABILITY, ID, ENABLE, LIST with SPECIAL-USE and STATUS, SELECT with CONDSTORE, UID FETCH CHANGEDSINCE, IDLE.
  const client = imapflow(env.EXPRESSO_ALICE_EMAIL, env.EXPRESSO_ALICE_APP_PASSWORD,
    { qresync: true, clientInfo: { name: 'Thunderbird', version: '128.0' } });
  await client.connect();
  try {
    // imapflow sends ID with clientInfo right after connecting, as Thunderbird does.
    assert.equal(client.serverInfo?.name, 'Expresso', `ID response: ${showJson(client.serverInfo)}`);
    assert.ok(client.enabled.has('CONDSTORE'), `enabled: ${[...client.enabled]}`);
    const list = await client.list({ statusQuery: { messages: true, unseen: true, highestModseq: true } });
    const inbox = list.find((entry) => entry.path === 'INBOX');
    assert.ok(inbox, 'INBOX listed');
    assert.ok(inbox.status, 'LIST-STATUS returned a STATUS for INBOX');
    assert.equal(typeof inbox.status.messages, 'number', `LIST-STATUS for INBOX: ${showJson(inbox.status)}`);
    for (const use of ['\\Sent', '\\Drafts', '\\Trash', '\\Junk', '\\Archive']) {
      assert.ok(list.some((entry) => entry.specialUse === use), `special-use ${use} listed`);
    }
    const opened = await client.mailboxOpen('INBOX');
    assert.ok(opened.highestModseq !== undefined, 'HIGHESTMODSEQ on SELECT');
    const messages = [];
    for await (const message of client.fetch('1:*', { uid: true, flags: true }, { uid: true, changedSince: 1 })) {
      messages.push(message.uid);
    }
    assert.equal(messages.length, opened.exists, 'UID FETCH CHANGEDSINCE 1 returns every message');
  } finally {
    await client.logout().catch(() => {});
  }
});

// ---- mbsync -------------------------------------------------------------------------------

function mbsyncConfig(directory, password) {
  const passwordFile = path.join(directory, 'password');
  writeFileSync(passwordFile, password, { mode: 0o600 });
  const config = path.join(directory, 'mbsyncrc');
  writeFileSync(config, [
    'IMAPAccount expresso',
    'Host localhost', // the test certificate names localhost; mbsync does not check IP addresses
    `Port ${env.EXPRESSO_IMAPS_PORT}`,
    `User ${env.EXPRESSO_BOB_EMAIL}`,
    `PassCmd "cat ${passwordFile}"`,
    'SSLType IMAPS',
    `CertificateFile ${env.EXPRESSO_TLS_CA}`,
    '',
    'IMAPStore remote',
    'Account expresso',
    '',
    'MaildirStore local',
    `Path ${path.join(directory, 'mail')}/`,
    `Inbox ${path.join(directory, 'mail', 'INBOX')}`,
    'SubFolders Verbatim',
    '',
    'Channel sync',
    'Far :remote:',
    'Near :local:',
    `Patterns INBOX "Import ${runId}"`,
    'Create Both',
    'Expunge Both',
    'SyncState *',
    '',
  ].join('\n'));
  return config;
}

function maildirFiles(directory) {
  const files = [];
  for (const sub of ['cur', 'new']) {
    const full = path.join(directory, sub);
    if (existsSync(full)) for (const name of readdirSync(full)) files.push(path.join(full, name));
  }
  return files;
}

test('mbsync: import, two-way flags and deletions, idle re-sync', { timeout: 600_000 }, async () => {
  const directory = path.join(workDir, 'mbsync');
  mkdirSync(path.join(directory, 'mail'), { recursive: true });
  const config = mbsyncConfig(directory, env.EXPRESSO_BOB_APP_PASSWORD);
  const folder = path.join(directory, 'mail', `Import ${runId}`);
  const count = 2000;
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(path.join(folder, sub), { recursive: true });
  for (let i = 0; i < count; i++) {
    writeFileSync(path.join(folder, 'cur', `${1_700_000_000 + i}.${i}.e2e:2,${i % 3 === 0 ? 'S' : ''}`),
      testMessage(`import ${i}`, `Mensagem ${i} importada.`));
  }
  const sync = () => run('mbsync', ['-c', config, '-V', 'sync']);

  // First run: the local folder is created on the server and every message is sent with APPEND.
  let result = await sync();
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  const bob = await account(env.EXPRESSO_BOB_EMAIL);
  const stored = async () => (await tenantQuery(bob.tenantId,
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE '\\Seen' = ANY (m.flags))::int AS seen
       FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.user_id = $1 AND b.name = $2`,
    [bob.userId, `Import ${runId}`]))[0];
  let counts = await stored();
  assert.equal(counts.n, count, 'every message imported');
  assert.equal(counts.seen, Math.ceil(count / 3), 'the S flag became \\Seen');

  // A second run with nothing changed transfers nothing: the server's counters and the local files stay as they are.
  const serverState = async () => (await tenantQuery(bob.tenantId,
    'SELECT uidnext::text, highestmodseq::text FROM mailboxes WHERE user_id = $1 AND name = $2',
    [bob.userId, `Import ${runId}`]))[0];
  const serverBefore = await serverState();
  const localBefore = maildirFiles(folder).sort();
  result = await sync();
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(await serverState(), serverBefore, 'an idle re-sync changed the server mailbox');
  assert.deepEqual(maildirFiles(folder).sort(), localBefore, 'an idle re-sync changed the Maildir');

  // A flag set on the server reaches the Maildir; a local deletion reaches the server.
  const client = imapflow(env.EXPRESSO_BOB_EMAIL, env.EXPRESSO_BOB_APP_PASSWORD);
  await client.connect();
  await client.mailboxOpen(`Import ${runId}`);
  await client.messageFlagsAdd('1', ['\\Flagged'], { uid: true });
  await client.append(`Import ${runId}`, testMessage('new on the server'));
  await client.logout();
  const local = maildirFiles(folder).sort();
  rmSync(local[local.length - 1]);
  result = await sync();
  assert.equal(result.code, 0, result.stderr);
  const flagged = maildirFiles(folder).filter((file) => /:2,[A-Z]*F/.test(file));
  assert.equal(flagged.length, 1, 'the server-side \\Flagged reached one local file');
  counts = await stored();
  assert.equal(counts.n, count, 'one local deletion and one server APPEND leave the count unchanged');
  assert.equal(maildirFiles(folder).length, count, 'the server APPEND reached the Maildir');

  const cleanup = imapflow(env.EXPRESSO_BOB_EMAIL, env.EXPRESSO_BOB_APP_PASSWORD);
  await cleanup.connect();
  await cleanup.mailboxDelete(`Import ${runId}`);
  await cleanup.logout();
});

// ---- durability ------------------------------------------------------------------------

test('APPEND durability across SIGKILL', { timeout: TEST_TIMEOUT_MS }, async () => {
  const ports = { http: await freePort(), imap: await freePort() };
  const binary = path.join(buildDir, 'services', 'mail', 'expresso-mail');
  const start = async () => {
    const daemon = startDaemon(binary, {
      ...mailListenersOff,
      EXPRESSO_HTTP_ADDRESS: host,
      EXPRESSO_HTTP_PORT: String(ports.http),
      EXPRESSO_SMTP_PORT: '0',
      EXPRESSO_SUBMISSION_PORT: '0',
      EXPRESSO_SUBMISSIONS_PORT: '0',
      EXPRESSO_IMAP_PORT: String(ports.imap),
      EXPRESSO_IMAPS_PORT: '0',
      EXPRESSO_IMAP_LOOPBACK_PLAINTEXT: 'true',
      EXPRESSO_TLS_CERT: path.join(env.EXPRESSO_STATE_DIR, 'tls', 'server.pem'),
      EXPRESSO_TLS_KEY: path.join(env.EXPRESSO_STATE_DIR, 'tls', 'server.key'),
      EXPRESSO_STORAGE_DIR: path.join(env.EXPRESSO_STATE_DIR, 'storage'),
    });
    await waitForHttp(`http://${host}:${ports.http}/ready`, { timeoutMs: 20_000 });
    return daemon;
  };
  const session = async () => {
    const socket = net.connect(ports.imap, host);
    let buffer = '';
    socket.on('data', (chunk) => { buffer += chunk.toString('latin1'); });
    const waitLine = (pattern) => new Promise((resolve, reject) => {
      const deadline = Date.now() + 10_000;
      const poll = () => {
        const match = pattern.exec(buffer);
        if (match) resolve(match);
        else if (Date.now() > deadline) reject(new Error(`no ${pattern} in ${buffer}`));
        else setTimeout(poll, 10);
      };
      poll();
    });
    await waitLine(/^\* OK/m);
    socket.write(`a1 LOGIN "${env.EXPRESSO_CAROL_EMAIL}" "${env.EXPRESSO_CAROL_APP_PASSWORD}"\r\n`);
    await waitLine(/^a1 OK/m);
    return { socket, waitLine };
  };
  const carol = await account(env.EXPRESSO_CAROL_EMAIL);
  const countSubject = async (subject) => (await tenantQuery(carol.tenantId,
    `SELECT count(*)::int AS n FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
      WHERE b.user_id = $1 AND m.subject = $2`, [carol.userId, subject]))[0].n;

  // Killed in the middle of the literal: nothing is stored.
  let daemon = await start();
  const partialSubject = `partial ${runId}`;
  const partial = Buffer.from(testMessage(partialSubject, 'x'.repeat(4000)));
  let { socket, waitLine } = await session();
  socket.write(`a2 APPEND INBOX {${partial.length}}\r\n`);
  await waitLine(/^\+ /m);
  socket.write(partial.subarray(0, 2000));
  await new Promise((resolve) => setTimeout(resolve, 200));
  daemon.child.kill('SIGKILL');
  await daemon.exited;
  socket.destroy();
  assert.equal(await countSubject(partialSubject), 0, 'a half-sent APPEND left no row');

  // Killed right after the OK: the message is there.
  daemon = await start();
  const wholeSubject = `whole ${runId}`;
  const whole = Buffer.from(testMessage(wholeSubject));
  ({ socket, waitLine } = await session());
  socket.write(`a3 APPEND INBOX {${whole.length}+}\r\n`);
  socket.write(whole);
  socket.write('\r\n');
  const ok = await waitLine(/^a3 OK \[APPENDUID \d+ (\d+)\]/m);
  daemon.child.kill('SIGKILL');
  await daemon.exited;
  socket.destroy();
  assert.equal(await countSubject(wholeSubject), 1, `APPEND acknowledged with UID ${ok[1]} survived SIGKILL`);
  const rows = await tenantQuery(carol.tenantId,
    `SELECT m.storage_key FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.user_id = $1 AND m.subject = $2`,
    [carol.userId, wholeSubject]);
  const object = readFileSync(path.join(env.EXPRESSO_STATE_DIR, 'storage', carol.tenantId, rows[0].storage_key));
  assert.ok(object.equals(whole), 'the stored object is the appended message');
});
