// expresso-mail's webmail JSON API (/api/v1/mail) against the running
// stack. Messages are delivered over SMTP (port 25), then listed, paged,
// sorted, read, flagged, moved and deleted through the API. Messages sent
// through the API are found in the recipient's INBOX and the sender's
// Sent. Drafts, iTIP, every error code and the isolation of tenants and
// users are covered too.
// The limits are tested on a private instance of the binary started with
// small values.
//
// Stored rows are checked through PostgreSQL as the owner role, bound to
// the tenant, because row-level security applies to the owner too.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// scripts/dev-token.sh with curl, jq and openssl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { connect as natsConnect, StringCodec } from 'nats';
import pg from 'pg';

import { sendMessage } from './lib/smtp_client.mjs';
import { buildDir, freePort, mailListenersOff, repoRoot, requireEnv, startDaemon, waitForHttp } from './lib/stack.mjs';
import { findAccount, tenantQuery as sharedTenantQuery } from './lib/tenant_db.mjs';

const host = '127.0.0.1';
const TEST_TIMEOUT_MS = 120_000;
const env = {};
const users = {};
let owner;
let limited;

// Limits of the private instance.
const LIMIT_RECIPIENTS = 3;
const LIMIT_ATTACHMENT_BYTES = 1000;
const LIMIT_MESSAGE_BYTES = 8192;
const LIMIT_BODY_BYTES = 16384;
const LIMIT_PAGE = 5;

// ---- clients ----------------------------------------------------------------------

function devToken(email) {
  return new Promise((resolve, reject) => {
    execFile(path.join(repoRoot, 'scripts', 'dev-token.sh'), [email], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`dev-token.sh ${email} failed: ${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

function encodeBody(body) {
  if (body === undefined || typeof body === 'string') return body;
  return JSON.stringify(body);
}

async function api(user, pathname, { method = 'GET', body, headers = {}, base = env.EXPRESSO_MAIL_API_URL } = {}) {
  const response = await fetch(`${base}/api/v1/mail${pathname}`, {
    method,
    headers: {
      ...(user ? { Authorization: `Bearer ${user.token}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: encodeBody(body),
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  let json;
  if ((response.headers.get('content-type') || '').startsWith('application/json')) json = JSON.parse(bytes.toString());
  return { status: response.status, headers: response.headers, json, bytes };
}

function assertError(result, status, code) {
  assert.equal(result.status, status, `expected ${status} ${code}, got ${result.status} ${result.bytes}`);
  assert.equal(result.json?.error?.code, code, `${result.bytes}`);
  assert.ok(result.json.error.message.length > 10, 'the error has a message');
}

// Delivers RAW (CRLF or LF lines) to RECIPIENT over port 25.
async function deliver(recipient, raw) {
  const reply = await sendMessage(env.EXPRESSO_SMTP_PORT, {
    from: 'sender@example.org', to: recipient, content: `${raw.replace(/\r?\n/g, '\r\n')}\r\n`, host,
  });
  assert.equal(reply.code, 250, reply.text);
}

function plainMessage({ subject, from = 'Sender <sender@example.org>', date = new Date(), body = 'hello', extra = '' }) {
  return [
    `From: ${from}`, `To: someone@example.org`, `Subject: ${subject}`, `Date: ${date.toUTCString()}`,
    `Message-ID: <${crypto.randomUUID()}@e2e.expresso.test>`, extra, 'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8', '', body, '',
  ].filter((line, index) => index !== 5 || line !== '').join('\r\n');
}

// Runs SQL in one transaction bound to USER's tenant, as the database owner.
function tenantQuery(user, sql, params = []) {
  return sharedTenantQuery(owner, user.tenantId, sql, params);
}

async function folders(user) {
  const result = await api(user, '/folders');
  assert.equal(result.status, 200, `${result.bytes}`);
  return result.json.folders;
}

async function folderByRole(user, role) {
  const found = (await folders(user)).find((folder) => folder.role === role);
  assert.ok(found, `${role} folder is listed`);
  return found;
}

async function listAll(user, folderId, query = '') {
  const result = await api(user, `/folders/${folderId}/messages?limit=200${query}`);
  assert.equal(result.status, 200, `${result.bytes}`);
  return result.json.messages;
}

// Finds USER's message with SUBJECT in the INBOX, waiting briefly for delivery to commit.
async function findInbox(user, subject) {
  const inbox = await folderByRole(user, 'inbox');
  for (let attempt = 0; attempt < 20; attempt++) {
    const found = (await listAll(user, inbox.id)).find((message) => message.subject === subject);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`no message "${subject}" in the INBOX of ${user.email}`);
}

async function newFolder(user, prefix) {
  const result = await api(user, '/folders', { method: 'POST', body: { name: `${prefix}-${crypto.randomUUID().slice(0, 8)}` } });
  assert.equal(result.status, 201, `${result.bytes}`);
  return result.json;
}

async function deliverAndMove(user, folder, messages) {
  const ids = [];
  for (const message of messages) {
    await deliver(user.email, plainMessage(message));
    const found = await findInbox(user, message.subject);
    const moved = await api(user, `/messages/${found.id}/move`, { method: 'POST', body: { folder_id: folder.id } });
    assert.equal(moved.status, 200, `${moved.bytes}`);
    ids.push(found.id);
  }
  return ids;
}

// ---- setup ------------------------------------------------------------------------

before(async () => {
  for (const name of ['EXPRESSO_MAIL_API_URL', 'EXPRESSO_SMTP_PORT', 'EXPRESSO_DATABASE_OWNER_URL', 'EXPRESSO_STATE_DIR',
    'EXPRESSO_NATS_URL', 'EXPRESSO_ALICE_EMAIL', 'EXPRESSO_BOB_EMAIL', 'EXPRESSO_CAROL_EMAIL']) env[name] = requireEnv(name);
  owner = new pg.Pool({ connectionString: env.EXPRESSO_DATABASE_OWNER_URL, max: 4 });
  for (const [name, email] of [['alice', env.EXPRESSO_ALICE_EMAIL], ['bob', env.EXPRESSO_BOB_EMAIL],
    ['carol', env.EXPRESSO_CAROL_EMAIL]]) {
    users[name] = { ...(await findAccount(owner, email)), token: await devToken(email) };
  }

  const ports = { http: await freePort(), smtp: await freePort(), submission: await freePort(), submissions: await freePort() };
  limited = startDaemon(path.join(buildDir, 'services', 'mail', 'expresso-mail'), {
    ...mailListenersOff,
    EXPRESSO_HTTP_ADDRESS: host,
    EXPRESSO_HTTP_PORT: String(ports.http),
    EXPRESSO_SMTP_PORT: String(ports.smtp),
    EXPRESSO_SUBMISSION_PORT: String(ports.submission),
    EXPRESSO_SUBMISSIONS_PORT: String(ports.submissions),
    EXPRESSO_STORAGE_DIR: path.join(env.EXPRESSO_STATE_DIR, 'storage'),
    EXPRESSO_TLS_CERT: path.join(env.EXPRESSO_STATE_DIR, 'tls', 'server.pem'),
    EXPRESSO_TLS_KEY: path.join(env.EXPRESSO_STATE_DIR, 'tls', 'server.key'),
    EXPRESSO_SMTP_MAX_MESSAGE_SIZE: String(LIMIT_MESSAGE_BYTES),
    EXPRESSO_MAIL_API_MAX_RECIPIENTS: String(LIMIT_RECIPIENTS),
    EXPRESSO_MAIL_API_MAX_ATTACHMENT_SIZE: String(LIMIT_ATTACHMENT_BYTES),
    EXPRESSO_MAIL_API_MAX_BODY: String(LIMIT_BODY_BYTES),
    EXPRESSO_MAIL_API_MAX_PAGE: String(LIMIT_PAGE),
  });
  limited.url = `http://${host}:${ports.http}`;
  try {
    await waitForHttp(`${limited.url}/ready`, { timeoutMs: 20_000 });
  } catch (error) {
    limited.child.kill('SIGKILL');
    throw new Error(`${error.message}; daemon output:\n${limited.lines.slice(-10).join('\n')}`);
  }
});

after(async () => {
  if (limited && limited.child.exitCode === null) {
    limited.child.kill('SIGTERM');
    await limited.exited;
  }
  await owner?.end();
});

// ---- folders ----------------------------------------------------------------------

test('folder list roles and counters', { timeout: TEST_TIMEOUT_MS }, async () => {
  const list = await folders(users.alice);
  for (const role of ['inbox', 'sent', 'drafts', 'trash', 'junk', 'archive'])
    assert.equal(list.filter((folder) => folder.role === role).length, 1, `one ${role} folder`);
  assert.equal(list[0].name, 'INBOX');
  for (const folder of list) {
    for (const field of ['total', 'unseen', 'size', 'uidvalidity', 'highestmodseq'])
      assert.equal(typeof folder[field], 'number', `${folder.name}.${field}`);
    assert.ok(folder.unseen <= folder.total);
  }

  const subject = `counter ${crypto.randomUUID()}`;
  const before = (await folderByRole(users.alice, 'inbox'));
  await deliver(users.alice.email, plainMessage({ subject, body: 'x'.repeat(100) }));
  await findInbox(users.alice, subject);
  const after = await folderByRole(users.alice, 'inbox');
  assert.equal(after.total, before.total + 1);
  assert.equal(after.unseen, before.unseen + 1);
  assert.ok(after.size > before.size + 100);
});

test('folder create, rename and delete', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alice = users.alice;
  const base = `Projetos ${crypto.randomUUID().slice(0, 8)}`;
  const parent = await api(alice, '/folders', { method: 'POST', body: { name: base } });
  assert.equal(parent.status, 201, `${parent.bytes}`);
  const child = await api(alice, '/folders', { method: 'POST', body: { name: `${base}/2026 Orçamento` } });
  assert.equal(child.status, 201);
  assert.equal(child.json.parent, base);
  assert.equal(child.json.display_name, '2026 Orçamento');
  assertError(await api(alice, '/folders', { method: 'POST', body: { name: base } }), 409, 'folder_exists');
  for (const name of ['', '/a', 'a/', 'a//b', 'a*', 'a%b', 'inbox', 'a/../b', 'a\u0001b', 'x'.repeat(1025)])
    assertError(await api(alice, '/folders', { method: 'POST', body: { name } }), 400, 'invalid_request');

  const renamed = await api(alice, `/folders/${parent.json.id}`, { method: 'PATCH', body: { name: `${base} Antigos` } });
  assert.equal(renamed.status, 200, `${renamed.bytes}`);
  assert.equal(renamed.json.name, `${base} Antigos`);
  const names = (await folders(alice)).map((folder) => folder.name);
  assert.ok(names.includes(`${base} Antigos/2026 Orçamento`), 'the child moved with its parent');
  assert.ok(!names.includes(`${base}/2026 Orçamento`));
  assertError(await api(alice, `/folders/${parent.json.id}`, { method: 'PATCH', body: { name: `${base} Antigos/x` } }),
    400, 'invalid_request');

  const inbox = await folderByRole(alice, 'inbox');
  assertError(await api(alice, `/folders/${inbox.id}`, { method: 'PATCH', body: { name: 'Caixa' } }), 400, 'invalid_request');
  assertError(await api(alice, `/folders/${inbox.id}`, { method: 'DELETE' }), 400, 'invalid_request');
  const trash = await folderByRole(alice, 'trash');
  assertError(await api(alice, `/folders/${trash.id}`, { method: 'DELETE' }), 400, 'invalid_request');
  assertError(await api(alice, `/folders/${parent.json.id}`, { method: 'DELETE' }), 409, 'folder_has_children');
  assert.equal((await api(alice, `/folders/${child.json.id}`, { method: 'DELETE' })).status, 200);
  assert.equal((await api(alice, `/folders/${parent.json.id}`, { method: 'DELETE' })).status, 200);
  assertError(await api(alice, `/folders/${parent.json.id}`, { method: 'DELETE' }), 404, 'folder_not_found');
  assertError(await api(alice, `/folders/${parent.json.id}/messages`), 404, 'folder_not_found');
  assertError(await api(alice, '/folders/not-a-uuid/messages'), 404, 'folder_not_found');
});

// ---- listing ----------------------------------------------------------------------

test('keyset paging stable under new mail', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alice = users.alice;
  const folder = await newFolder(alice, 'Paging');
  const start = Date.UTC(2026, 0, 1);
  const messages = Array.from({ length: 7 }, (_, i) => ({
    subject: `paging ${String.fromCharCode(103 - i)} ${crypto.randomUUID().slice(0, 6)}`,
    from: `${String.fromCharCode(97 + ((i * 3) % 7))} <s${i}@example.org>`,
    date: new Date(start + i * 3600_000),
    body: 'y'.repeat(50 + ((i * 37) % 7) * 40),
  }));
  const ids = await deliverAndMove(alice, folder, messages);
  const newestFirst = [...ids].reverse();

  const seen = [];
  let cursor = null;
  let pages = 0;
  do {
    const result = await api(alice, `/folders/${folder.id}/messages?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(result.status, 200, `${result.bytes}`);
    seen.push(...result.json.messages.map((message) => message.id));
    cursor = result.json.next_cursor;
    pages++;
    if (pages === 1) {
      // A message that arrives between pages is newer than the first page and does not shift the later ones.
      await deliverAndMove(alice, folder, [{ subject: `paging late ${crypto.randomUUID()}`, date: new Date(start + 99 * 3600_000) }]);
    }
  } while (cursor !== null && pages < 10);
  assert.deepEqual(seen, newestFirst, 'three pages give the seven messages newest first, each once');
  assert.equal(pages, 3);

  const all = await listAll(alice, folder.id);
  const check = async (sort, order, key) => {
    const listed = [];
    let next = null;
    do {
      const result = await api(alice, `/folders/${folder.id}/messages?sort=${sort}&order=${order}&limit=2${next ? `&cursor=${next}` : ''}`);
      assert.equal(result.status, 200, `${result.bytes}`);
      listed.push(...result.json.messages);
      next = result.json.next_cursor;
    } while (next !== null);
    const keys = listed.map(key);
    const sorted = [...keys].sort((a, b) => {
      if (a === b) return 0;
      return a < b ? -1 : 1;
    });
    if (order === 'desc') sorted.reverse();
    assert.deepEqual(keys, sorted, `sorted by ${sort} ${order}`);
    assert.equal(listed.length, all.length);
    assert.equal(new Set(listed.map((message) => message.id)).size, all.length, `no duplicates by ${sort}`);
  };
  await check('size', 'asc', (message) => message.size);
  await check('size', 'desc', (message) => message.size);
  await check('subject', 'asc', (message) => message.subject.toLowerCase());
  await check('date', 'asc', (message) => message.date);

  const page = await api(alice, `/folders/${folder.id}/messages?limit=2&sort=size`);
  assertError(await api(alice, `/folders/${folder.id}/messages?cursor=${page.json.next_cursor}`), 400, 'invalid_request');
  assertError(await api(alice, `/folders/${folder.id}/messages?cursor=bm90IGEgY3Vyc29y`), 400, 'invalid_request');
  assertError(await api(alice, `/folders/${folder.id}/messages?sort=colour`), 400, 'invalid_request');
  assertError(await api(alice, `/folders/${folder.id}/messages?order=up`), 400, 'invalid_request');
  assertError(await api(alice, `/folders/${folder.id}/messages?limit=0`), 400, 'invalid_request');
});

test('thread ids follow References', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alice = users.alice;
  const folder = await newFolder(alice, 'Threads');
  const root = `<root-${crypto.randomUUID()}@e2e.expresso.test>`;
  const tag = crypto.randomUUID().slice(0, 6);
  await deliverAndMove(alice, folder, [
    { subject: `thread a ${tag}`, extra: `References: ${root}` },
    { subject: `thread b ${tag}`, extra: `References: ${root} <x@y>\r\nIn-Reply-To: <x@y>` },
    { subject: `thread c ${tag}` },
  ]);
  const listed = await listAll(alice, folder.id, '&thread=true');
  const bySubject = Object.fromEntries(listed.map((message) => [message.subject, message]));
  assert.equal(bySubject[`thread a ${tag}`].thread_id, root);
  assert.equal(bySubject[`thread b ${tag}`].thread_id, root);
  assert.equal(bySubject[`thread c ${tag}`].thread_id, bySubject[`thread c ${tag}`].message_id);
});

// ---- one message ------------------------------------------------------------------

test('message detail and downloads', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alice = users.alice;
  const tag = crypto.randomUUID().slice(0, 8);
  const attachment = Buffer.from('conteúdo do anexo\n');
  const raw = [
    'From: =?utf-8?q?Jo=C3=A3o_da_Silva?= <joao@example.org>',
    'To: Alice <alice@demo.expresso.test>',
    `Subject: =?utf-8?b?${Buffer.from(`Relatório de ação ${tag}`).toString('base64')}?=`,
    'Date: Fri, 04 Dec 2026 10:00:00 -0300',
    `Message-ID: <${tag}@example.org>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: multipart/alternative; boundary="b2"',
    '',
    '--b2',
    'Content-Type: text/plain; charset=iso-8859-1',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Ol=E1, segue o relat=F3rio.',
    '--b2',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<p onclick="x()">Olá</p><script>alert(1)</script>',
    '--b2--',
    '--b1',
    'Content-Type: application/octet-stream',
    'Content-Disposition: attachment; filename*=utf-8\'\'relat%C3%B3rio%20%22final%22%3B.txt',
    'Content-Transfer-Encoding: base64',
    '',
    attachment.toString('base64'),
    '--b1--',
    '',
  ].join('\r\n');
  await deliver(alice.email, raw);
  const listed = await findInbox(alice, `Relatório de ação ${tag}`);
  assert.deepEqual(listed.from, [{ name: 'João da Silva', address: 'joao@example.org' }]);
  assert.equal(listed.date, '2026-12-04T13:00:00Z');

  const detail = await api(alice, `/messages/${listed.id}`);
  assert.equal(detail.status, 200, `${detail.bytes}`);
  assert.equal(detail.json.subject, `Relatório de ação ${tag}`);
  assert.equal(detail.json.text.trim(), 'Olá, segue o relatório.');
  assert.equal(detail.json.html, '<p onclick="x()">Olá</p><script>alert(1)</script>', 'HTML is returned as stored');
  assert.equal(detail.json.attachments.length, 1);
  const [part] = detail.json.attachments;
  assert.equal(part.filename, 'relatório "final";.txt');
  assert.equal(part.content_type, 'application/octet-stream');
  assert.equal(part.size, attachment.length);
  assert.equal(part.part_id, '2');

  const download = await api(alice, `/messages/${listed.id}/attachments/${part.part_id}`);
  assert.equal(download.status, 200);
  assert.deepEqual(download.bytes, attachment);
  assert.equal(download.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(download.headers.get('content-type'), 'application/octet-stream');
  assert.equal(download.headers.get('content-disposition'),
    'attachment; filename="relat__rio _final_;.txt"; filename*=UTF-8\'\'relat%C3%B3rio%20%22final%22%3B.txt');
  assertError(await api(alice, `/messages/${listed.id}/attachments/9`), 404, 'attachment_not_found');
  assertError(await api(alice, `/messages/${listed.id}/attachments/1..2`), 404, 'attachment_not_found');

  const rawDownload = await api(alice, `/messages/${listed.id}/raw`);
  assert.equal(rawDownload.status, 200);
  assert.equal(rawDownload.headers.get('content-type'), 'message/rfc822');
  assert.match(rawDownload.headers.get('content-disposition'), /^attachment; filename="[0-9a-f-]+\.eml"/);
  assert.ok(rawDownload.bytes.toString('latin1').startsWith('Return-Path: <sender@example.org>'));
  assert.ok(rawDownload.bytes.toString().includes(raw.trimEnd()), 'the raw form contains the message as delivered');
});

test('undecodable header fields still listed', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alice = users.alice;
  const tag = crypto.randomUUID().slice(0, 8);
  // An unknown charset and an encoded word that is not UTF-8 must not drop the message from the list.
  await deliver(alice.email, plainMessage({
    subject: `=?x-unknown?q?caf=E9?= ${tag}`, from: '=?utf-8?q?Jos=E9?= <jose@example.org>',
  }));
  const inbox = await folderByRole(alice, 'inbox');
  const listed = (await listAll(alice, inbox.id)).find((message) => message.subject?.endsWith(tag));
  assert.ok(listed, 'the message is listed');
  assert.equal(listed.from[0].address, 'jose@example.org');
  assert.equal((await api(alice, `/messages/${listed.id}`)).status, 200);
});

test('flag change raises modseq and publishes', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alice = users.alice;
  const subject = `flags ${crypto.randomUUID()}`;
  await deliver(alice.email, plainMessage({ subject }));
  const message = await findInbox(alice, subject);
  const inboxBefore = await folderByRole(alice, 'inbox');
  const [row] = await tenantQuery(alice, 'SELECT modseq FROM messages WHERE id = $1', [message.id]);

  const nats = await natsConnect({ servers: env.EXPRESSO_NATS_URL });
  const subscription = nats.subscribe(`expresso.${alice.tenantId}.mail.flags_changed`);
  const codec = StringCodec();
  const event = (async () => {
    for await (const received of subscription) {
      const data = JSON.parse(codec.decode(received.data));
      if (data.message_id === message.id) return data;
    }
    return null;
  })();
  await nats.flush();

  const changed = await api(alice, `/messages/${message.id}/flags`, {
    method: 'PATCH', body: { seen: true, flagged: true, keywords: { add: ['$Label1', 'Projeto'] } },
  });
  assert.equal(changed.status, 200, `${changed.bytes}`);
  assert.equal(changed.json.flags.seen, true);
  assert.equal(changed.json.flags.flagged, true);
  assert.deepEqual(changed.json.flags.keywords, ['$Label1', 'Projeto']);
  const [after] = await tenantQuery(alice, 'SELECT modseq, flags FROM messages WHERE id = $1', [message.id]);
  assert.ok(Number(after.modseq) > Number(row.modseq), 'the modseq in the table rose');
  assert.equal(Number(after.modseq), changed.json.modseq);
  assert.deepEqual(after.flags, ['\\Seen', '\\Flagged', '$Label1', 'Projeto']);
  assert.equal((await folderByRole(alice, 'inbox')).unseen, inboxBefore.unseen - 1);

  const published = await Promise.race([event, new Promise((resolve) => setTimeout(() => resolve(null), 5000))]);
  subscription.unsubscribe();
  await nats.close();
  assert.ok(published, 'mail.flags_changed was published');
  assert.equal(published.modseq, changed.json.modseq);
  assert.equal(published.user_id, alice.userId);

  const again = await api(alice, `/messages/${message.id}/flags`, { method: 'PATCH', body: { seen: true } });
  assert.equal(again.json.modseq, changed.json.modseq, 'a change that changes nothing keeps the modseq');
  const removed = await api(alice, `/messages/${message.id}/flags`, {
    method: 'PATCH', body: { seen: false, keywords: { remove: ['projeto'] } },
  });
  assert.deepEqual(removed.json.flags.keywords, ['$Label1']);
  assert.equal(removed.json.flags.seen, false);
  for (const body of [{}, { seen: 'yes' }, { unread: true }, { keywords: { add: ['two words'] } }, { keywords: { add: ['\\Seen'] } }])
    assertError(await api(alice, `/messages/${message.id}/flags`, { method: 'PATCH', body }), 400, 'invalid_request');
  assertError(await api(alice, `/messages/${message.id}/flags`, { method: 'PATCH', body: '{"seen": tru' }), 400, 'invalid_request');
});

test('move, trash and permanent delete', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alice = users.alice;
  const subject = `delete ${crypto.randomUUID()}`;
  await deliver(alice.email, plainMessage({ subject }));
  const message = await findInbox(alice, subject);
  const archive = await folderByRole(alice, 'archive');
  const trash = await folderByRole(alice, 'trash');

  const moved = await api(alice, `/messages/${message.id}/move`, { method: 'POST', body: { folder_id: archive.id } });
  assert.equal(moved.status, 200, `${moved.bytes}`);
  assert.equal(moved.json.folder_id, archive.id);
  const expunge = await tenantQuery(alice, 'SELECT modseq FROM message_expunges WHERE mailbox_id = $1 AND uid = $2',
    [message.folder_id, message.uid]);
  assert.equal(expunge.length, 1, 'the source mailbox records the expunge');
  assertError(await api(alice, `/messages/${message.id}/move`, { method: 'POST', body: { folder_id: crypto.randomUUID() } }),
    404, 'folder_not_found');
  assertError(await api(alice, `/messages/${message.id}/move`, { method: 'POST', body: {} }), 400, 'invalid_request');

  const trashed = await api(alice, `/messages/${message.id}`, { method: 'DELETE' });
  assert.equal(trashed.status, 200, `${trashed.bytes}`);
  assert.equal(trashed.json.deleted, 'moved_to_trash');
  assert.equal(trashed.json.folder_id, trash.id);
  const [row] = await tenantQuery(alice, 'SELECT storage_key FROM messages WHERE id = $1', [message.id]);

  const expunged = await api(alice, `/messages/${message.id}`, { method: 'DELETE' });
  assert.equal(expunged.json.deleted, 'expunged', 'deleting from Trash expunges');
  assertError(await api(alice, `/messages/${message.id}`), 404, 'message_not_found');
  assertError(await api(alice, `/messages/${message.id}`, { method: 'DELETE' }), 404, 'message_not_found');
  const garbage = await tenantQuery(alice, 'SELECT 1 FROM mail_object_garbage WHERE storage_key = $1', [row.storage_key]);
  assert.equal(garbage.length, 1, 'the object is queued for the garbage sweep');

  const subject2 = `permanent ${crypto.randomUUID()}`;
  await deliver(alice.email, plainMessage({ subject: subject2 }));
  const second = await findInbox(alice, subject2);
  const permanentDelete = await api(alice, `/messages/${second.id}?permanent=true`, { method: 'DELETE' });
  assert.equal(permanentDelete.json.deleted, 'expunged');
  assertError(await api(alice, `/messages/${second.id}?permanent=maybe`, { method: 'DELETE' }), 400, 'invalid_request');
});

// ---- compose ----------------------------------------------------------------------

test('send to a local user and Sent', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { alice, bob } = users;
  const subject = `Reunião de orçamento ${crypto.randomUUID().slice(0, 8)}`;
  const content = Buffer.from('planilha;valor\nação;10\n');
  const sent = await api(alice, '/send', {
    method: 'POST',
    body: {
      to: [`Bob <${bob.email}>`], bcc: [{ name: 'Cópia', address: alice.email }], subject,
      text: 'Olá Bob,\nsegue a pauta de amanhã às 10h.\n', html: '<p>Olá Bob</p>',
      attachments: [{ filename: 'orçamento "2026".csv', content_type: 'text/csv', content: content.toString('base64') }],
    },
  });
  assert.equal(sent.status, 201, `${sent.bytes}`);
  assert.equal(sent.json.recipients, 2);
  assert.ok(sent.json.sent.id, 'the copy in Sent has an id');

  const received = await findInbox(bob, subject);
  assert.equal(received.from.length, 1);
  assert.equal(received.from[0].address, alice.email);
  assert.equal(received.flags.seen, false);
  const bobDetail = await api(bob, `/messages/${received.id}`);
  assert.equal(bobDetail.json.text, 'Olá Bob,\nsegue a pauta de amanhã às 10h.\n');
  assert.equal(bobDetail.json.html, '<p>Olá Bob</p>');
  assert.equal(bobDetail.json.attachments[0].filename, 'orçamento "2026".csv');
  assert.deepEqual(bobDetail.json.bcc, [], 'the recipient copy has no Bcc');
  const bobRaw = (await api(bob, `/messages/${received.id}/raw`)).bytes.toString('latin1');
  assert.ok(!/^Bcc:/im.test(bobRaw), 'no Bcc field in the delivered message');
  assert.ok(!/[\x80-\xff]/.test(bobRaw), 'the delivered message is 7-bit');
  const attachment = await api(bob, `/messages/${received.id}/attachments/${bobDetail.json.attachments[0].part_id}`);
  assert.deepEqual(attachment.bytes, content);

  const sentFolder = await folderByRole(alice, 'sent');
  const copy = (await listAll(alice, sentFolder.id)).find((message) => message.subject === subject);
  assert.ok(copy, 'the copy is in Sent');
  assert.equal(copy.id, sent.json.sent.id);
  assert.equal(copy.flags.seen, true);
  assert.equal(copy.message_id, `<${sent.json.message_id}>`);
  const copyDetail = await api(alice, `/messages/${copy.id}`);
  assert.deepEqual(copyDetail.json.bcc.map((entry) => entry.address), [alice.email], 'Sent keeps the Bcc');
  assert.ok(await findInbox(alice, subject), 'the Bcc recipient got it too');

  const reply = await api(bob, '/send', {
    method: 'POST',
    body: { to: [alice.email], subject: `Re: ${subject}`, text: 'Combinado.', in_reply_to: copy.message_id,
      references: [copy.message_id] },
  });
  assert.equal(reply.status, 201, `${reply.bytes}`);
  const replyReceived = await findInbox(alice, `Re: ${subject}`);
  assert.equal(replyReceived.in_reply_to, copy.message_id);
});

test('drafts save and replace', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alice = users.alice;
  const drafts = await folderByRole(alice, 'drafts');
  const created = await api(alice, '/drafts', { method: 'POST', body: { subject: 'Rascunho', text: 'primeira versão' } });
  assert.equal(created.status, 201, `${created.bytes}`);
  assert.equal(created.json.folder_id, drafts.id);
  const first = await api(alice, `/messages/${created.json.id}`);
  assert.equal(first.json.flags.draft, true);
  assert.equal(first.json.text, 'primeira versão');

  const updated = await api(alice, `/drafts/${created.json.id}`, {
    method: 'PUT', body: { to: [users.bob.email], subject: 'Rascunho', text: 'segunda versão' },
  });
  assert.equal(updated.status, 200, `${updated.bytes}`);
  assert.notEqual(updated.json.id, created.json.id);
  assertError(await api(alice, `/messages/${created.json.id}`), 404, 'message_not_found');
  assert.equal((await api(alice, `/messages/${updated.json.id}`)).json.text, 'segunda versão');
  assertError(await api(alice, `/drafts/${created.json.id}`, { method: 'PUT', body: { text: 'x' } }), 404, 'message_not_found');

  // Sending with draft_id deletes the draft once the message is sent.
  const subject = `Rascunho enviado ${crypto.randomUUID().slice(0, 8)}`;
  const sent = await api(alice, '/send', {
    method: 'POST', body: { to: [users.bob.email], subject, text: 'segunda versão', draft_id: updated.json.id },
  });
  assert.equal(sent.status, 201, `${sent.bytes}`);
  assertError(await api(alice, `/messages/${updated.json.id}`), 404, 'message_not_found');
  assert.ok(await findInbox(users.bob, subject));
  assertError(await api(alice, '/send', { method: 'POST', body: { to: [users.bob.email], draft_id: updated.json.id } }),
    404, 'message_not_found');

  const inboxSubject = `not a draft ${crypto.randomUUID()}`;
  await deliver(alice.email, plainMessage({ subject: inboxSubject }));
  const notDraft = await findInbox(alice, inboxSubject);
  assertError(await api(alice, `/drafts/${notDraft.id}`, { method: 'PUT', body: { text: 'x' } }), 404, 'message_not_found');
  assertError(await api(alice, '/send', { method: 'POST', body: { to: [users.bob.email], draft_id: notDraft.id } }),
    404, 'message_not_found');
  assert.equal((await api(alice, `/messages/${notDraft.id}`)).status, 200, 'a message outside Drafts is never replaced');
});

test('send-itip calendar part and method', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { alice, bob } = users;
  const subject = `Convite ${crypto.randomUUID().slice(0, 8)}`;
  const calendar = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//e2e//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT',
    `UID:${crypto.randomUUID()}`, 'DTSTAMP:20261205T100000Z', 'DTSTART:20261210T130000Z', 'SUMMARY:Reunião',
    `ORGANIZER:mailto:${alice.email}`, `ATTENDEE:mailto:${bob.email}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  const sent = await api(alice, '/send-itip', { method: 'POST', body: { to: [bob.email], subject, text: 'Convite para reunião', method: 'REQUEST', calendar } });
  assert.equal(sent.status, 201, `${sent.bytes}`);
  const received = await findInbox(bob, subject);
  const raw = (await api(bob, `/messages/${received.id}/raw`)).bytes.toString('latin1');
  assert.match(raw, /Content-Type: text\/calendar; charset=utf-8; method=REQUEST/);
  const detail = await api(bob, `/messages/${received.id}`);
  const part = detail.json.attachments.find((entry) => entry.content_type === 'text/calendar');
  assert.ok(part, 'the calendar part is listed');
  const ics = await api(bob, `/messages/${received.id}/attachments/${part.part_id}`);
  assert.equal(ics.bytes.toString(), calendar);
  assertError(await api(alice, '/send-itip', { method: 'POST', body: { to: [bob.email], method: 'PUBLISH', calendar } }),
    400, 'invalid_request');
  assertError(await api(alice, '/send-itip', { method: 'POST', body: { to: [bob.email], method: 'REQUEST', calendar: 'x' } }),
    400, 'invalid_request');
});

// ---- errors and limits ------------------------------------------------------------

test('errors carry stable codes', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alice = users.alice;
  const unauthenticated = await api(null, '/folders');
  assertError(unauthenticated, 401, 'missing_token');
  assert.match(unauthenticated.headers.get('www-authenticate'), /^Bearer/);
  assertError(await api({ token: 'not.a.token' }, '/folders'), 401, 'invalid_token');
  assertError(await api(alice, `/messages/${crypto.randomUUID()}`), 404, 'message_not_found');
  assertError(await api(alice, '/messages/nope/raw'), 404, 'message_not_found');
  assertError(await api(alice, '/send', { method: 'POST', body: 'not json' }), 400, 'invalid_request');
  assertError(await api(alice, '/send', { method: 'POST', body: { subject: 'no one' } }), 400, 'invalid_recipient');
  const bad = await api(alice, '/send', { method: 'POST', body: { to: ['bob@demo.expresso.test', 'not an address'] } });
  assertError(bad, 400, 'invalid_recipient');
  assert.equal(bad.json.error.detail.field, 'to[1]');
  const unknown = await api(alice, '/send', { method: 'POST', body: { to: ['nobody-here@demo.expresso.test'], text: 'x' } });
  assertError(unknown, 400, 'invalid_recipient');
  assert.equal(unknown.json.error.detail.recipient, 'nobody-here@demo.expresso.test');
  // Not an error: a recipient on another server is queued for outbound delivery.
  const remote = await api(alice, '/send', { method: 'POST', body: { to: ['someone@example.org'], text: 'x' } });
  assert.equal(remote.status, 201, JSON.stringify(remote.json));
  assert.ok(remote.json.queue_id, 'a queued message carries its queue id');
  assertError(await api(alice, '/send', { method: 'POST', body: { to: [alice.email], attachments: [{ drive_file_id: crypto.randomUUID() }] } }),
    404, 'attachment_not_found');

  const cookie = await api(null, '/folders', { headers: { Cookie: `expresso_session=${alice.token}` } });
  assert.equal(cookie.status, 200, 'the expresso_session cookie is accepted');

  // The sender's quota covers the copy in Sent.
  await tenantQuery(alice, 'UPDATE users SET quota_bytes = 1 WHERE id = $1', [alice.userId]);
  try {
    assertError(await api(alice, '/send', { method: 'POST', body: { to: [users.bob.email], text: 'x' } }), 413, 'quota_exceeded');
    assertError(await api(alice, '/drafts', { method: 'POST', body: { text: 'x' } }), 413, 'quota_exceeded');
  } finally {
    await tenantQuery(alice, 'UPDATE users SET quota_bytes = NULL WHERE id = $1', [alice.userId]);
  }
});

test('limits at and past the maximum', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { alice, bob } = users;
  const base = limited.url;
  const to = (count) => Array.from({ length: count }, () => bob.email);
  const attachment = (bytes) => [{ filename: 'a.bin', content: Buffer.alloc(bytes, 7).toString('base64') }];

  let result = await api(alice, '/drafts', { method: 'POST', base, body: { to: to(LIMIT_RECIPIENTS) } });
  assert.equal(result.status, 201, `${result.bytes}`);
  assertError(await api(alice, '/drafts', { method: 'POST', base, body: { to: to(LIMIT_RECIPIENTS + 1) } }), 400, 'too_many_recipients');

  result = await api(alice, '/drafts', { method: 'POST', base, body: { attachments: attachment(LIMIT_ATTACHMENT_BYTES) } });
  assert.equal(result.status, 201, `${result.bytes}`);
  assertError(await api(alice, '/drafts', { method: 'POST', base, body: { attachments: attachment(LIMIT_ATTACHMENT_BYTES + 1) } }),
    413, 'attachment_too_large');

  // Text counts against the message size before encoding, and the encoded message is checked again after building.
  result = await api(alice, '/drafts', { method: 'POST', base, body: { text: 'x'.repeat(LIMIT_MESSAGE_BYTES / 2) } });
  assert.equal(result.status, 201, `a message well below the limit is saved: ${result.bytes}`);
  assertError(await api(alice, '/drafts', { method: 'POST', base, body: { text: 'x'.repeat(LIMIT_MESSAGE_BYTES + 1) } }),
    413, 'message_too_large');
  assertError(await api(alice, '/send', { method: 'POST', base, body: { to: [bob.email], text: 'ção '.repeat(1500) } }),
    413, 'message_too_large');

  const atBody = JSON.stringify({ text: 'x'.repeat(LIMIT_BODY_BYTES - 11) });
  assert.equal(atBody.length, LIMIT_BODY_BYTES);
  const overBody = JSON.stringify({ text: 'x'.repeat(LIMIT_BODY_BYTES - 10) });
  assertError(await api(alice, '/drafts', { method: 'POST', base, body: atBody }), 413, 'message_too_large');
  assertError(await api(alice, '/drafts', { method: 'POST', base, body: overBody }), 413, 'payload_too_large');

  const inbox = await folderByRole(alice, 'inbox');
  result = await api(alice, `/folders/${inbox.id}/messages?limit=${LIMIT_PAGE}`, { base });
  assert.equal(result.status, 200);
  assert.ok(result.json.messages.length <= LIMIT_PAGE);
  assertError(await api(alice, `/folders/${inbox.id}/messages?limit=${LIMIT_PAGE + 1}`, { base }), 400, 'invalid_request');
});

// ---- isolation --------------------------------------------------------------------

test('isolation between tenants and users', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { alice, bob, carol } = users;
  const subject = `private ${crypto.randomUUID()}`;
  await deliver(carol.email, plainMessage({ subject }));
  const carolMessage = await findInbox(carol, subject);
  const carolFolder = await folderByRole(carol, 'archive');
  const aliceSubject = `alice only ${crypto.randomUUID()}`;
  await deliver(alice.email, plainMessage({ subject: aliceSubject }));
  const aliceMessage = await findInbox(alice, aliceSubject);
  const aliceArchive = await folderByRole(alice, 'archive');

  for (const [user, message, folder] of [[alice, carolMessage, carolFolder], [bob, aliceMessage, aliceArchive]]) {
    assertError(await api(user, `/messages/${message.id}`), 404, 'message_not_found');
    assertError(await api(user, `/messages/${message.id}/raw`), 404, 'message_not_found');
    assertError(await api(user, `/messages/${message.id}/attachments/1`), 404, 'message_not_found');
    assertError(await api(user, `/messages/${message.id}/flags`, { method: 'PATCH', body: { seen: true } }), 404, 'message_not_found');
    assertError(await api(user, `/messages/${message.id}/move`, { method: 'POST', body: { folder_id: folder.id } }), 404, 'message_not_found');
    assertError(await api(user, `/messages/${message.id}`, { method: 'DELETE' }), 404, 'message_not_found');
    assertError(await api(user, `/messages/${message.id}?permanent=true`, { method: 'DELETE' }), 404, 'message_not_found');
    assertError(await api(user, `/drafts/${message.id}`, { method: 'PUT', body: { text: 'x' } }), 404, 'message_not_found');
    assertError(await api(user, `/folders/${folder.id}/messages`), 404, 'folder_not_found');
    assertError(await api(user, `/folders/${folder.id}`, { method: 'PATCH', body: { name: 'Mine' } }), 404, 'folder_not_found');
    assertError(await api(user, `/folders/${folder.id}`, { method: 'DELETE' }), 404, 'folder_not_found');
    assert.ok(!(await folders(user)).some((entry) => entry.id === folder.id));
  }
  // Moving one's own message into another user's folder finds no such folder.
  assertError(await api(alice, `/messages/${aliceMessage.id}/move`, { method: 'POST', body: { folder_id: carolFolder.id } }),
    404, 'folder_not_found');
  const [row] = await tenantQuery(carol, 'SELECT flags FROM messages WHERE id = $1', [carolMessage.id]);
  assert.deepEqual(row.flags, [], "carol's message is unchanged");
  assert.equal((await api(carol, `/messages/${carolMessage.id}`)).status, 200);
});
