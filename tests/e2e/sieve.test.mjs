// Sieve filtering end to end: scripts written through the HTTP API at
// EXPRESSO_MAIL_API_URL, messages delivered over SMTP on the MX port, and
// the outcome checked in PostgreSQL (owner role bound to the tenant) and
// in the object storage under $EXPRESSO_STATE_DIR/storage.
//
// Needs: the stack up (scripts/run-local.sh) and the variables of stack.env.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import pg from 'pg';

import { sendMessage } from './lib/smtp_client.mjs';
import { buildDir, freePort, mailListenersOff, requireEnv, startDaemon, waitForHttp } from './lib/stack.mjs';
import { findAccount, tenantQuery as sharedTenantQuery } from './lib/tenant_db.mjs';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const host = '127.0.0.1';
const MAX_SCRIPT = 64 * 1024; // the default of sieve_max_script_size
const run = crypto.randomBytes(4).toString('hex');

const env = {};
let owner;
let alice;
let bob;
let carol;

// ---- helpers --------------------------------------------------------------------

async function devToken(email) {
  const script = path.join(repoRoot, 'scripts', 'dev-token.sh');
  const { stdout } = await promisify(execFile)(script, [email], { timeout: 30_000 });
  return stdout.trim();
}

async function api(user, pathname, { method = 'GET', body } = {}) {
  const response = await fetch(`${env.EXPRESSO_MAIL_API_URL}${pathname}`, {
    method,
    headers: { Authorization: `Bearer ${user.token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

async function putScript(user, name, content, active = true) {
  const { status, json } = await api(user, `/api/v1/mail/sieve/scripts/${encodeURIComponent(name)}`,
    { method: 'PUT', body: { content, active } });
  assert.equal(status, 200, JSON.stringify(json));
  return json;
}

async function deactivate(user) {
  const { status } = await api(user, '/api/v1/mail/sieve/deactivate', { method: 'POST' });
  assert.equal(status, 200);
}

// Runs SQL in one transaction bound to TENANT_ID, as the database owner.
function tenantQuery(tenantId, sql, params = []) {
  return sharedTenantQuery(owner, tenantId, sql, params);
}

async function account(email) {
  return { ...(await findAccount(owner, email)), token: await devToken(email) };
}

// Rows of USER whose Subject is SUBJECT, with their mailbox name and flags.
async function messagesWithSubject(user, subject) {
  return tenantQuery(user.tenantId,
    `SELECT b.name AS mailbox, m.flags, m.storage_key, m.uid
       FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
      WHERE b.user_id = $1 AND m.subject = $2 ORDER BY m.uid`, [user.userId, subject]);
}

async function lastError(user, name) {
  const { json } = await api(user, `/api/v1/mail/sieve/scripts/${encodeURIComponent(name)}`);
  return json.last_error;
}

function readObject(user, key) {
  return readFileSync(path.join(env.EXPRESSO_STATE_DIR, 'storage', user.tenantId, key)).toString('utf8');
}

// Delivers one message over the MX port and returns the reply to the end of DATA.
function deliver({ from, to, subject, headers = '', body = 'Hello.', port = Number(env.EXPRESSO_SMTP_PORT) }) {
  const content = `From: <${from || 'mailer-daemon@example.org'}>\r\nTo: <${[].concat(to).join('>, <')}>\r\n` +
    `Subject: ${subject}\r\nMessage-ID: <${crypto.randomUUID()}@e2e.expresso.test>\r\n${headers}\r\n${body}\r\n`;
  return sendMessage(port, { from, to, content, host });
}

// Waits until CHECK returns a truthy value (mail sent after a commit arrives a moment later).
async function eventually(check, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value || Date.now() > deadline) return value;
    await new Promise((done) => setTimeout(done, 100));
  }
}

// ---- setup ----------------------------------------------------------------------

before(async () => {
  for (const name of ['EXPRESSO_MAIL_API_URL', 'EXPRESSO_SMTP_PORT', 'EXPRESSO_DATABASE_OWNER_URL',
    'EXPRESSO_STATE_DIR', 'EXPRESSO_ALICE_EMAIL', 'EXPRESSO_BOB_EMAIL', 'EXPRESSO_CAROL_EMAIL',
    'EXPRESSO_IMAPS_PORT', 'EXPRESSO_TLS_CA', 'EXPRESSO_ALICE_APP_PASSWORD']) {
    env[name] = requireEnv(name);
  }
  owner = new pg.Pool({ connectionString: env.EXPRESSO_DATABASE_OWNER_URL, max: 4 });
  alice = await account(env.EXPRESSO_ALICE_EMAIL);
  bob = await account(env.EXPRESSO_BOB_EMAIL);
  carol = await account(env.EXPRESSO_CAROL_EMAIL);
  // A first delivery creates the standard mailboxes; the folder for fileinto is made here.
  await deliver({ from: 'someone@example.org', to: alice.email, subject: `setup ${run}` });
  await tenantQuery(alice.tenantId,
    "INSERT INTO mailboxes (tenant_id, user_id, name) VALUES ($1, $2, 'Projects') ON CONFLICT DO NOTHING",
    [alice.tenantId, alice.userId]);
});

after(async () => {
  for (const user of [alice, bob, carol]) {
    if (user !== undefined) await api(user, '/api/v1/mail/sieve/deactivate', { method: 'POST' }).catch(() => {});
  }
  await owner?.end();
});

// ---- scripts over HTTP ----------------------------------------------------------

test('syntax error reported with its line', async () => {
  const { status, json } = await api(alice, '/api/v1/mail/sieve/scripts/broken', {
    method: 'PUT', body: { content: 'require "fileinto";\nif true {\n  fileinto "x"\n}\n' },
  });
  assert.equal(status, 422);
  assert.equal(json.error.code, 'invalid_script');
  assert.equal(json.error.detail.errors[0].line, 4);
  assert.match(json.error.message, /^line 4: /);
});

test('script size cap at the limit and one past', async () => {
  const tail = '\nkeep;\n';
  const atLimit = `#${'x'.repeat(MAX_SCRIPT - 1 - tail.length)}${tail}`;
  assert.equal(Buffer.byteLength(atLimit), MAX_SCRIPT);
  const accepted = await api(alice, `/api/v1/mail/sieve/scripts/big-${run}`, { method: 'PUT', body: { content: atLimit } });
  assert.equal(accepted.status, 200, JSON.stringify(accepted.json));
  assert.equal(accepted.json.size, MAX_SCRIPT);
  const rejected = await api(alice, `/api/v1/mail/sieve/scripts/big-${run}`,
    { method: 'PUT', body: { content: `#${atLimit}` } });
  assert.equal(rejected.status, 413);
  assert.equal(rejected.json.error.code, 'script_too_large');
  assert.equal((await api(alice, `/api/v1/mail/sieve/scripts/big-${run}`, { method: 'DELETE' })).status, 204);
});

test('activate, delete and not-found errors', async () => {
  await putScript(alice, `one-${run}`, 'keep;\n', false);
  await putScript(alice, `two-${run}`, 'keep;\n', true);
  let list = (await api(alice, '/api/v1/mail/sieve/scripts')).json.scripts;
  assert.deepEqual(list.filter((s) => s.active).map((s) => s.name), [`two-${run}`]);

  assert.equal((await api(alice, `/api/v1/mail/sieve/scripts/one-${run}/activate`, { method: 'POST' })).status, 200);
  list = (await api(alice, '/api/v1/mail/sieve/scripts')).json.scripts;
  assert.deepEqual(list.filter((s) => s.active).map((s) => s.name), [`one-${run}`]);

  const active = await api(alice, `/api/v1/mail/sieve/scripts/one-${run}`, { method: 'DELETE' });
  assert.equal(active.status, 409);
  assert.equal(active.json.error.code, 'script_active');
  assert.equal((await api(alice, `/api/v1/mail/sieve/scripts/two-${run}`, { method: 'DELETE' })).status, 204);
  const missing = await api(alice, `/api/v1/mail/sieve/scripts/two-${run}`);
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.code, 'script_not_found');
  await deactivate(alice);
  assert.equal((await api(alice, `/api/v1/mail/sieve/scripts/one-${run}`, { method: 'DELETE' })).status, 204);
});

test('scripts are isolated between tenants', async () => {
  await putScript(alice, `private-${run}`, 'keep;\n', false);
  const list = (await api(carol, '/api/v1/mail/sieve/scripts')).json.scripts;
  assert.ok(!list.some((s) => s.name === `private-${run}`), 'carol lists alice\'s script');
  assert.equal((await api(carol, `/api/v1/mail/sieve/scripts/private-${run}`)).status, 404);
  assert.equal((await api(carol, `/api/v1/mail/sieve/scripts/private-${run}`, { method: 'DELETE' })).status, 404);
  const rows = await tenantQuery(carol.tenantId, 'SELECT name FROM sieve_scripts WHERE name = $1', [`private-${run}`]);
  assert.equal(rows.length, 0, 'row-level security hides the other tenant\'s rows');
  assert.equal((await api(alice, `/api/v1/mail/sieve/scripts/private-${run}`, { method: 'DELETE' })).status, 204);
});

test('request without a token is rejected', async () => {
  const response = await fetch(`${env.EXPRESSO_MAIL_API_URL}/api/v1/mail/sieve/scripts`);
  assert.equal(response.status, 401);
});

// ---- delivery -------------------------------------------------------------------

test('fileinto with flags files into the folder', async () => {
  await putScript(alice, 'filter', 'require ["fileinto", "imap4flags"];\n' +
    'if header :contains "subject" "[proj]" {\n  addflag "\\\\Flagged";\n  fileinto "Projects";\n}\n');
  const subject = `[proj] report ${run}`;
  const reply = await deliver({ from: 'someone@example.org', to: alice.email, subject });
  assert.equal(reply.code, 250, reply.text);
  const rows = await messagesWithSubject(alice, subject);
  assert.deepEqual(rows.map((r) => r.mailbox), ['Projects']);
  assert.deepEqual(rows[0].flags, ['\\Flagged']);

  const other = `plain ${run}`;
  await deliver({ from: 'someone@example.org', to: alice.email, subject: other });
  assert.deepEqual((await messagesWithSubject(alice, other)).map((r) => r.mailbox), ['INBOX']);
});

test('filed message is seen over IMAP', async () => {
  await putScript(alice, 'filter', 'require ["fileinto", "imap4flags"];\n' +
    'if header :contains "subject" "[imap]" {\n  addflag "\\\\Flagged";\n  fileinto "Projects";\n}\n');
  const subject = `[imap] filed ${run}`;
  const reply = await deliver({ from: 'someone@example.org', to: alice.email, subject });
  assert.equal(reply.code, 250, reply.text);

  const client = new ImapFlow({
    host,
    port: Number(env.EXPRESSO_IMAPS_PORT),
    secure: true,
    tls: { ca: readFileSync(env.EXPRESSO_TLS_CA), checkServerIdentity: () => undefined },
    auth: { user: alice.email, pass: env.EXPRESSO_ALICE_APP_PASSWORD },
    logger: false,
  });
  await client.connect();
  try {
    const inProjects = await client.mailboxOpen('Projects').then(() => client.search({ subject }, { uid: true }));
    assert.equal(inProjects.length, 1, 'the message is in Projects');
    const message = await client.fetchOne(String(inProjects[0]), { flags: true, envelope: true }, { uid: true });
    assert.equal(message.envelope.subject, subject);
    assert.ok(message.flags.has('\\Flagged'), `flags ${[...message.flags].join(' ')}`);

    const inInbox = await client.mailboxOpen('INBOX').then(() => client.search({ subject }, { uid: true }));
    assert.deepEqual(inInbox, [], 'no copy stays in INBOX');
  } finally {
    await client.logout();
  }
});

test('fileinto a missing folder keeps in INBOX', async () => {
  await putScript(alice, 'filter', 'require "fileinto";\nfileinto "Nowhere";\n');
  const subject = `missing folder ${run}`;
  assert.equal((await deliver({ from: 'someone@example.org', to: alice.email, subject })).code, 250);
  assert.deepEqual((await messagesWithSubject(alice, subject)).map((r) => r.mailbox), ['INBOX']);
  assert.match(await eventually(() => lastError(alice, 'filter')), /mailbox "Nowhere" does not exist/);

  // With an explicit keep as well, the fallback does not file a second copy in INBOX.
  await putScript(alice, 'filter', 'require "fileinto";\nfileinto "Nowhere";\nkeep;\n');
  const both = `missing folder and keep ${run}`;
  assert.equal((await deliver({ from: 'someone@example.org', to: alice.email, subject: both })).code, 250);
  assert.deepEqual((await messagesWithSubject(alice, both)).map((r) => r.mailbox), ['INBOX']);
});

test('fileinto creates the folder when allowed', { timeout: 60_000 }, async () => {
  // A private instance with sieve_create_folders on; its other listeners are off.
  const ports = { http: await freePort(), smtp: await freePort() };
  const daemon = startDaemon(path.join(buildDir, 'services', 'mail', 'expresso-mail'), {
    ...mailListenersOff,
    EXPRESSO_HTTP_ADDRESS: host,
    EXPRESSO_HTTP_PORT: String(ports.http),
    EXPRESSO_SMTP_PORT: String(ports.smtp),
    EXPRESSO_SUBMISSION_PORT: '0',
    EXPRESSO_SUBMISSIONS_PORT: '0',
    EXPRESSO_SMTP_GREETING_DELAY: '0',
    EXPRESSO_STORAGE_DIR: path.join(env.EXPRESSO_STATE_DIR, 'storage'),
    EXPRESSO_SIEVE_CREATE_FOLDERS: 'true',
  });
  try {
    await waitForHttp(`http://${host}:${ports.http}/ready`, { timeoutMs: 20_000 });
    const folder = `Created/${run}`;
    await putScript(alice, 'filter', `require "fileinto";\nfileinto "${folder}";\n`);
    const subject = `create folder ${run}`;
    assert.equal((await deliver({ from: 'someone@example.org', to: alice.email, subject, port: ports.smtp })).code, 250);
    assert.deepEqual((await messagesWithSubject(alice, subject)).map((r) => r.mailbox), [folder]);
  } finally {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
  }
});

test('discard stores nothing', async () => {
  await putScript(alice, 'filter', 'if header :is "subject" "spam me" { discard; stop; }\n');
  const reply = await deliver({ from: 'someone@example.org', to: alice.email, subject: 'spam me' });
  assert.equal(reply.code, 250, reply.text);
  assert.equal((await messagesWithSubject(alice, 'spam me')).length, 0);
});

test('reject refuses with 550 5.7.1', async () => {
  await putScript(alice, 'filter', 'require "reject";\nif size :over 10K { reject "too big for me"; }\n');
  const reply = await deliver({ from: 'someone@example.org', to: alice.email, subject: `big ${run}`,
    body: 'x'.repeat(12 * 1024) });
  assert.equal(reply.code, 550, reply.text);
  assert.match(reply.text, /^550 5\.7\.1 /);
  assert.equal((await messagesWithSubject(alice, `big ${run}`)).length, 0);
  const small = await deliver({ from: 'someone@example.org', to: alice.email, subject: `small ${run}` });
  assert.equal(small.code, 250);
});

test('redirect to another local user', async () => {
  await putScript(alice, 'filter', `redirect "${bob.email}";\n`);
  const subject = `redirected ${run}`;
  assert.equal((await deliver({ from: 'someone@example.org', to: alice.email, subject })).code, 250);
  assert.equal((await messagesWithSubject(alice, subject)).length, 0, 'redirect cancels the implicit keep');
  const rows = await eventually(async () => {
    const found = await messagesWithSubject(bob, subject);
    return found.length > 0 ? found : null;
  });
  assert.ok(rows, 'bob received the redirected message');
  assert.match(readObject(bob, rows[0].storage_key), new RegExp(`X-Sieve-Redirected-By: ${alice.email}\r\n`));
});

test('redirect loop stops and keeps', async () => {
  await putScript(alice, 'filter', `redirect "${bob.email}";\n`);
  await putScript(bob, 'filter', `redirect "${alice.email}";\n`);
  try {
    const subject = `loop ${run}`;
    assert.equal((await deliver({ from: 'someone@example.org', to: alice.email, subject })).code, 250);
    const rows = await eventually(async () => {
      const found = await messagesWithSubject(alice, subject);
      return found.length > 0 ? found : null;
    });
    assert.ok(rows, 'the message came back to alice and was kept');
    assert.equal(rows.length, 1);
    assert.equal((await messagesWithSubject(bob, subject)).length, 0);
    assert.match(await eventually(() => lastError(alice, 'filter')), /redirect loop/);
  } finally {
    await deactivate(bob);
  }
});

test('redirect daily cap at limit and past', async () => {
  const CAP = 100; // the default of sieve_max_redirects_per_day
  await putScript(alice, 'filter', `redirect "${bob.email}";\n`);
  await tenantQuery(alice.tenantId,
    `INSERT INTO sieve_redirect_counts (tenant_id, user_id, day, redirects)
     VALUES ($1, $2, (now() AT TIME ZONE 'UTC')::date, $3)
     ON CONFLICT (user_id, day) DO UPDATE SET redirects = EXCLUDED.redirects`, [alice.tenantId, alice.userId, CAP - 1]);
  try {
    const last = `cap last ${run}`;
    assert.equal((await deliver({ from: 'someone@example.org', to: alice.email, subject: last })).code, 250);
    assert.ok(await eventually(async () => (await messagesWithSubject(bob, last)).length === 1), 'redirect number 100 goes out');
    assert.equal((await messagesWithSubject(alice, last)).length, 0);

    const past = `cap past ${run}`;
    assert.equal((await deliver({ from: 'someone@example.org', to: alice.email, subject: past })).code, 250);
    assert.deepEqual((await messagesWithSubject(alice, past)).map((r) => r.mailbox), ['INBOX'], 'redirect 101 is kept');
    assert.equal((await messagesWithSubject(bob, past)).length, 0);
    assert.match(await eventually(() => lastError(alice, 'filter')), /redirect limit of 100 messages per day/);
  } finally {
    await tenantQuery(alice.tenantId, 'DELETE FROM sieve_redirect_counts WHERE user_id = $1', [alice.userId]);
  }
});

test('reject with several recipients bounces', async () => {
  await putScript(alice, 'filter', 'require "reject";\nreject "not accepting mail";\n');
  const subject = `multi reject ${run}`;
  const reply = await deliver({ from: carol.email, to: [alice.email, bob.email], subject });
  assert.equal(reply.code, 250, reply.text);
  assert.equal((await messagesWithSubject(alice, subject)).length, 0);
  assert.equal((await messagesWithSubject(bob, subject)).length, 1);
  const bounces = await eventually(async () => {
    const found = await messagesWithSubject(carol, `Rejected: ${subject}`);
    return found.length > 0 ? found : null;
  });
  assert.ok(bounces, 'carol received the bounce');
  const object = readObject(carol, bounces[0].storage_key);
  assert.match(object, /^Return-Path: <>\r\n/);
  assert.match(object, /not accepting mail/);
  assert.match(object, /\r\nAuto-Submitted: auto-replied\r\n/);
});

test('redirected message rejected downstream bounces', async () => {
  await putScript(alice, 'filter', `redirect "${bob.email}";\n`);
  await putScript(bob, 'filter', 'require "reject";\nreject "bob rejects it";\n');
  try {
    const subject = `downstream reject ${run}`;
    assert.equal((await deliver({ from: carol.email, to: alice.email, subject })).code, 250);
    const bounces = await eventually(async () => {
      const found = await messagesWithSubject(carol, `Rejected: ${subject}`);
      return found.length > 0 ? found : null;
    });
    assert.ok(bounces, 'carol received the bounce of the redirected copy');
    assert.match(readObject(carol, bounces[0].storage_key), /bob rejects it/);
    assert.equal((await messagesWithSubject(bob, subject)).length, 0);
    assert.equal((await messagesWithSubject(alice, subject)).length, 0);
  } finally {
    await deactivate(bob);
  }
});

test('script failing at delivery falls back to keep', async () => {
  // Written past the API's validation, as a script stored by an older release could be.
  await putScript(alice, 'filter', 'keep;\n');
  await tenantQuery(alice.tenantId, "UPDATE sieve_scripts SET content = 'if header :is {' WHERE user_id = $1 AND name = 'filter'",
    [alice.userId]);
  const subject = `broken script ${run}`;
  assert.equal((await deliver({ from: 'someone@example.org', to: alice.email, subject })).code, 250);
  assert.deepEqual((await messagesWithSubject(alice, subject)).map((r) => r.mailbox), ['INBOX']);
  assert.match(await eventually(() => lastError(alice, 'filter')), /script invalid/);
});

// ---- vacation -------------------------------------------------------------------

test('vacation replies once per sender', async () => {
  const settings = { enabled: true, subject: `Away ${run}`, body: 'Back on Monday.\nOlá!', days: 3 };
  const put = await api(alice, '/api/v1/mail/vacation', { method: 'PUT', body: settings });
  const alias = await api(alice, '/api/v1/mail/vacation', { method: 'PUT', body: { ...settings, body: undefined, text: 'x' } });
  assert.equal(alias.json.body, 'x', 'text is accepted for body');
  await api(alice, '/api/v1/mail/vacation', { method: 'PUT', body: settings });
  assert.equal(put.status, 200, JSON.stringify(put.json));
  const read = await api(alice, '/api/v1/mail/vacation');
  assert.deepEqual(read.json, { enabled: true, subject: settings.subject, body: settings.body, days: 3,
    start_date: null, end_date: null });
  await tenantQuery(alice.tenantId, 'DELETE FROM sieve_vacation_replies WHERE user_id = $1', [alice.userId]);

  for (let i = 0; i < 2; i++) {
    const reply = await deliver({ from: bob.email, to: alice.email, subject: `question ${i} ${run}` });
    assert.equal(reply.code, 250, reply.text);
  }
  const replies = await eventually(async () => {
    const found = await messagesWithSubject(bob, settings.subject);
    return found.length > 0 ? found : null;
  });
  assert.ok(replies, 'bob received the vacation reply');
  await new Promise((done) => setTimeout(done, 500));
  assert.equal((await messagesWithSubject(bob, settings.subject)).length, 1, 'only one reply within :days');
  const object = readObject(bob, replies[0].storage_key);
  assert.match(object, /\r\nAuto-Submitted: auto-replied\r\n/);
  assert.match(object, /\r\nIn-Reply-To: <[^>]+@e2e\.expresso\.test>\r\n/);
  assert.match(object, /^Return-Path: <>\r\n/);
  assert.match(object, /Back on Monday\.\r\nOlá!/);
  // Both messages were still filed for alice.
  assert.equal((await messagesWithSubject(alice, `question 0 ${run}`)).length, 1);
  assert.equal((await messagesWithSubject(alice, `question 1 ${run}`)).length, 1);
});

test('vacation never answers lists or bulk mail', async () => {
  await tenantQuery(alice.tenantId, 'DELETE FROM sieve_vacation_replies WHERE user_id = $1', [alice.userId]);
  const cases = [
    { from: bob.email, headers: 'List-Id: <team.lists.example.org>\r\n' },
    { from: bob.email, headers: 'Precedence: bulk\r\n' },
    { from: bob.email, headers: 'Auto-Submitted: auto-generated\r\n' },
    { from: '', headers: '' },
    { from: alice.email, headers: '' },
  ];
  for (const [i, item] of cases.entries()) {
    const reply = await deliver({ from: item.from, to: alice.email, subject: `list ${i} ${run}`, headers: item.headers });
    assert.equal(reply.code, 250, reply.text);
  }
  await new Promise((done) => setTimeout(done, 1000));
  const subject = (await api(alice, '/api/v1/mail/vacation')).json.subject;
  const toBob = await tenantQuery(bob.tenantId,
    `SELECT count(*)::int AS n FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
      WHERE b.user_id = $1 AND m.subject = $2 AND m.in_reply_to LIKE '%'`, [bob.userId, subject]);
  assert.equal(toBob[0].n, 1, 'no reply besides the one of the previous test');
  assert.equal((await messagesWithSubject(alice, subject)).length, 0, 'no reply to alice herself');

  const off = await api(alice, '/api/v1/mail/vacation', { method: 'PUT', body: { enabled: false } });
  assert.equal(off.status, 200);
  const list = (await api(alice, '/api/v1/mail/sieve/scripts')).json.scripts;
  assert.ok(!list.some((s) => s.active), 'disabling vacation deactivates its script');
});

test('vacation outside its dates is silent', async () => {
  const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  const subject = `Dated ${run}`;
  const periods = [
    { start_date: day(1), end_date: day(5), replies: 0 },
    { start_date: day(-5), end_date: day(-1), replies: 0 },
    { start_date: day(0), end_date: day(0), replies: 1 },
  ];
  for (const [i, period] of periods.entries()) {
    await tenantQuery(alice.tenantId, 'DELETE FROM sieve_vacation_replies WHERE user_id = $1', [alice.userId]);
    const put = await api(alice, '/api/v1/mail/vacation', { method: 'PUT',
      body: { enabled: true, subject: `${subject} ${i}`, body: 'Away.', days: 1, start_date: period.start_date,
        end_date: period.end_date } });
    assert.equal(put.status, 200, JSON.stringify(put.json));
    assert.equal((await api(alice, '/api/v1/mail/vacation')).json.start_date, period.start_date);
    assert.equal((await deliver({ from: bob.email, to: alice.email, subject: `dated ${i} ${run}` })).code, 250);
    await eventually(async () => (await messagesWithSubject(bob, `${subject} ${i}`)).length >= period.replies);
    await new Promise((done) => setTimeout(done, 300));
    assert.equal((await messagesWithSubject(bob, `${subject} ${i}`)).length, period.replies,
      `period ${period.start_date}..${period.end_date}`);
  }
  const reversed = await api(alice, '/api/v1/mail/vacation', { method: 'PUT',
    body: { enabled: true, start_date: day(2), end_date: day(1) } });
  assert.equal(reversed.status, 400);
  assert.equal(reversed.json.error.code, 'invalid_date');
  const malformed = await api(alice, '/api/v1/mail/vacation', { method: 'PUT',
    body: { enabled: true, start_date: '2026-02-30' } });
  assert.equal(malformed.status, 400);
  assert.equal((await api(alice, '/api/v1/mail/vacation', { method: 'PUT', body: { enabled: false } })).status, 200);
});

test('vacation settings are validated', async () => {
  const bad = await api(alice, '/api/v1/mail/vacation', { method: 'PUT', body: { enabled: true, days: 0 } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'invalid_days');
  const tooMany = await api(alice, '/api/v1/mail/vacation', { method: 'PUT', body: { enabled: true, days: 366 } });
  assert.equal(tooMany.status, 400);
  const most = await api(alice, '/api/v1/mail/vacation', { method: 'PUT', body: { enabled: false, days: 365 } });
  assert.equal(most.status, 200);
});
