// Attachments given by drive file id in POST /api/v1/mail/send and the
// drafts routes. Files are uploaded to expresso-drive with tus-js-client,
// attached by id, and the delivered message is read back through the mail
// API: the bytes (sha256), the filename with Portuguese accents and the
// media type must be drive's. Another user's or tenant's file is
// attachment_not_found. The limits and a stopped expresso-drive
// (drive_unavailable) are tested on private instances of expresso-mail and
// expresso-drive started by this file.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// scripts/dev-token.sh with curl, jq and openssl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tus from 'tus-js-client';

import { buildDir, freePort, mailListenersOff, repoRoot, requireEnv, startDaemon, waitForHttp } from './lib/stack.mjs';

const host = '127.0.0.1';
const TEST_TIMEOUT_MS = 120_000;
const UPLOADS = '/api/v1/drive/uploads';

// Limits of the private expresso-mail instance.
const LIMIT_ATTACHMENT_BYTES = 3000;
const LIMIT_MESSAGE_BYTES = 8192;

const env = {};
const tokens = {};
const daemons = [];
let limited;
let ownDrive;
let mailOnOwnDrive;
// A per-run suffix keeps file names of this run apart from earlier runs.
const run = crypto.randomBytes(4).toString('hex');

const sha256 = (buffer) => crypto.createHash('sha256').update(buffer).digest('hex');

async function devToken(email) {
  const { stdout } = await promisify(execFile)(path.join(repoRoot, 'scripts', 'dev-token.sh'), [email], { timeout: 30_000 });
  return stdout.trim();
}

async function mailApi(token, pathname, { method = 'GET', body, base = env.EXPRESSO_MAIL_API_URL } = {}) {
  const response = await fetch(`${base}/api/v1/mail${pathname}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  let json;
  if ((response.headers.get('content-type') || '').startsWith('application/json')) json = JSON.parse(bytes.toString());
  return { status: response.status, json, bytes };
}

function assertError(result, status, code) {
  assert.equal(result.status, status, `expected ${status} ${code}, got ${result.status} ${result.bytes}`);
  assert.equal(result.json?.error?.code, code, `${result.bytes}`);
  assert.ok(result.json.error.message.length > 10, 'the error has a message');
}

// Uploads CONTENT to drive as TOKEN with tus-js-client and returns the new file's id.
async function upload(token, content, name, type, driveUrl = env.EXPRESSO_DRIVE_URL) {
  await new Promise((resolve, reject) => {
    const tusUpload = new tus.Upload(content, {
      endpoint: driveUrl + UPLOADS,
      chunkSize: 64 * 1024,
      retryDelays: [],
      headers: { Authorization: `Bearer ${token}` },
      metadata: { filename: name, filetype: type },
      storeFingerprintForResuming: false,
      onError: reject,
      onSuccess: resolve,
    });
    tusUpload.start();
  });
  const response = await fetch(`${driveUrl}/api/v1/drive/folders/root?limit=1000`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200);
  const entry = (await response.json()).entries.find((item) => item.type === 'file' && item.name === name);
  assert.ok(entry, `the uploaded file ${name} is listed in drive`);
  return entry.id;
}

async function folderByRole(token, role) {
  const result = await mailApi(token, '/folders');
  assert.equal(result.status, 200, `${result.bytes}`);
  const found = result.json.folders.find((folder) => folder.role === role);
  assert.ok(found, `${role} folder is listed`);
  return found;
}

// Finds the message with SUBJECT in the folder of ROLE, waiting briefly for delivery to commit.
async function findMessage(token, role, subject) {
  const folder = await folderByRole(token, role);
  for (let attempt = 0; attempt < 30; attempt++) {
    const list = await mailApi(token, `/folders/${folder.id}/messages?limit=200`);
    assert.equal(list.status, 200, `${list.bytes}`);
    const found = list.json.messages.find((message) => message.subject === subject);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`no message "${subject}" in ${role}`);
}

// Reads the only attachment of MESSAGE_ID and returns its listing entry and bytes.
async function readAttachment(token, messageId) {
  const detail = await mailApi(token, `/messages/${messageId}`);
  assert.equal(detail.status, 200, `${detail.bytes}`);
  assert.equal(detail.json.attachments.length, 1, 'the message has one attachment');
  const [part] = detail.json.attachments;
  const download = await mailApi(token, `/messages/${messageId}/attachments/${part.part_id}`);
  assert.equal(download.status, 200);
  return { part, bytes: download.bytes };
}

async function startMail(extraEnv) {
  const ports = { http: await freePort(), smtp: await freePort(), submission: await freePort(), submissions: await freePort() };
  const daemon = startDaemon(path.join(buildDir, 'services', 'mail', 'expresso-mail'), {
    ...mailListenersOff,
    EXPRESSO_HTTP_ADDRESS: host,
    EXPRESSO_HTTP_PORT: String(ports.http),
    EXPRESSO_SMTP_PORT: String(ports.smtp),
    EXPRESSO_SUBMISSION_PORT: String(ports.submission),
    EXPRESSO_SUBMISSIONS_PORT: String(ports.submissions),
    EXPRESSO_STORAGE_DIR: path.join(env.EXPRESSO_STATE_DIR, 'storage'),
    EXPRESSO_TLS_CERT: path.join(env.EXPRESSO_STATE_DIR, 'tls', 'server.pem'),
    EXPRESSO_TLS_KEY: path.join(env.EXPRESSO_STATE_DIR, 'tls', 'server.key'),
    ...extraEnv,
  });
  daemons.push(daemon);
  daemon.url = `http://${host}:${ports.http}`;
  try {
    await waitForHttp(`${daemon.url}/ready`, { timeoutMs: 20_000 });
  } catch (error) {
    throw new Error(`${error.message}; daemon output:\n${daemon.lines.slice(-10).join('\n')}`);
  }
  return daemon;
}

async function startDrive() {
  const port = await freePort();
  const daemon = startDaemon(path.join(buildDir, 'services', 'drive', 'expresso-drive'), {
    EXPRESSO_HTTP_ADDRESS: host,
    EXPRESSO_HTTP_PORT: String(port),
    EXPRESSO_STORAGE_DIR: path.join(env.EXPRESSO_STATE_DIR, 'storage'),
  });
  daemons.push(daemon);
  daemon.url = `http://${host}:${port}`;
  await waitForHttp(`${daemon.url}/ready`, { timeoutMs: 30_000 });
  return daemon;
}

async function stop(daemon) {
  if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGTERM');
  await daemon.exited;
}

before(async () => {
  for (const name of ['EXPRESSO_MAIL_API_URL', 'EXPRESSO_DRIVE_URL', 'EXPRESSO_STATE_DIR', 'EXPRESSO_ALICE_EMAIL',
    'EXPRESSO_BOB_EMAIL', 'EXPRESSO_CAROL_EMAIL']) env[name] = requireEnv(name);
  for (const [name, email] of [['alice', env.EXPRESSO_ALICE_EMAIL], ['bob', env.EXPRESSO_BOB_EMAIL], ['carol', env.EXPRESSO_CAROL_EMAIL]])
    tokens[name] = { email, token: await devToken(email) };

  limited = await startMail({
    EXPRESSO_MAIL_DRIVE_URL: env.EXPRESSO_DRIVE_URL,
    EXPRESSO_SMTP_MAX_MESSAGE_SIZE: String(LIMIT_MESSAGE_BYTES),
    EXPRESSO_MAIL_API_MAX_ATTACHMENT_SIZE: String(LIMIT_ATTACHMENT_BYTES),
  });
  ownDrive = await startDrive();
  mailOnOwnDrive = await startMail({ EXPRESSO_MAIL_DRIVE_URL: ownDrive.url, EXPRESSO_MAIL_DRIVE_TIMEOUT: '3s' });
});

after(async () => {
  for (const daemon of daemons) await stop(daemon);
});

test('send a drive file to a local user', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { alice, bob } = tokens;
  const content = crypto.randomBytes(300 * 1024);
  const name = `Relatório de ação — orçamento ${run}.pdf`;
  const fileId = await upload(alice.token, content, name, 'application/pdf');
  const subject = `Anexo do drive ${crypto.randomUUID().slice(0, 8)}`;

  const sent = await mailApi(alice.token, '/send', {
    method: 'POST',
    body: { to: [bob.email], subject, text: 'Segue o relatório.', attachments: [{ drive_file_id: fileId }] },
  });
  assert.equal(sent.status, 201, `${sent.bytes}`);

  const received = await findMessage(bob.token, 'inbox', subject);
  const { part, bytes } = await readAttachment(bob.token, received.id);
  assert.equal(part.filename, name);
  assert.equal(part.content_type, 'application/pdf');
  assert.equal(bytes.length, content.length);
  assert.equal(sha256(bytes), sha256(content));

  const copy = await findMessage(alice.token, 'sent', subject);
  assert.equal(sha256((await readAttachment(alice.token, copy.id)).bytes), sha256(content), 'the copy in Sent has the same file');
});

test('save and replace a draft with a drive file', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { alice } = tokens;
  const first = Buffer.from('primeira versão\n');
  const second = Buffer.from('segunda versão, com acentuação\n');
  const firstId = await upload(alice.token, first, `rascunho ${run}.txt`, 'text/plain');
  const secondId = await upload(alice.token, second, `revisão ${run}.txt`, 'text/plain');
  const subject = `Rascunho ${crypto.randomUUID().slice(0, 8)}`;

  const created = await mailApi(alice.token, '/drafts', {
    method: 'POST', body: { subject, attachments: [{ drive_file_id: firstId }] },
  });
  assert.equal(created.status, 201, `${created.bytes}`);
  let draft = await findMessage(alice.token, 'drafts', subject);
  assert.equal(sha256((await readAttachment(alice.token, draft.id)).bytes), sha256(first));

  // A filename given with the id replaces drive's.
  const updated = await mailApi(alice.token, `/drafts/${draft.id}`, {
    method: 'PUT', body: { subject, attachments: [{ drive_file_id: secondId, filename: 'versão final.txt' }] },
  });
  assert.equal(updated.status, 200, `${updated.bytes}`);
  draft = await findMessage(alice.token, 'drafts', subject);
  const { part, bytes } = await readAttachment(alice.token, draft.id);
  assert.equal(part.filename, 'versão final.txt');
  assert.equal(sha256(bytes), sha256(second));
});

test('another user or tenant file is not found', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { alice, bob, carol } = tokens;
  const bobFile = await upload(bob.token, Buffer.from('do Bob'), `bob ${run}.txt`, 'text/plain');
  const carolFile = await upload(carol.token, Buffer.from('da Carol'), `carol ${run}.txt`, 'text/plain');

  for (const fileId of [bobFile, carolFile, crypto.randomUUID()]) {
    const result = await mailApi(alice.token, '/send', {
      method: 'POST', body: { to: [bob.email], subject: 'x', attachments: [{ drive_file_id: fileId }] },
    });
    assertError(result, 404, 'attachment_not_found');
    assert.equal(result.json.error.detail.index, 0);
    assertError(await mailApi(alice.token, '/drafts', { method: 'POST', body: { attachments: [{ drive_file_id: fileId }] } }),
      404, 'attachment_not_found');
  }
  // Bob can send his own file.
  const own = await mailApi(bob.token, '/send', {
    method: 'POST', body: { to: [bob.email], subject: `own ${run}`, attachments: [{ drive_file_id: bobFile }] },
  });
  assert.equal(own.status, 201, `${own.bytes}`);
  assertError(await mailApi(alice.token, '/send', {
    method: 'POST', body: { to: [bob.email], attachments: [{ drive_file_id: bobFile, content: 'MDEy' }] },
  }), 400, 'invalid_request');
});

test('drive attachments at the limits', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { alice, bob } = tokens;
  const atLimit = crypto.randomBytes(LIMIT_ATTACHMENT_BYTES);
  const atLimitId = await upload(alice.token, atLimit, `limite ${run}.bin`, 'application/octet-stream');
  const pastLimitId = await upload(alice.token, crypto.randomBytes(LIMIT_ATTACHMENT_BYTES + 1), `além ${run}.bin`,
    'application/octet-stream');
  const base = limited.url;
  const subject = `limite ${crypto.randomUUID().slice(0, 8)}`;

  const sent = await mailApi(alice.token, '/send', {
    method: 'POST', base, body: { to: [bob.email], subject, attachments: [{ drive_file_id: atLimitId }] },
  });
  assert.equal(sent.status, 201, `${sent.bytes}`);
  const received = await findMessage(bob.token, 'inbox', subject);
  assert.equal(sha256((await readAttachment(bob.token, received.id)).bytes), sha256(atLimit));

  assertError(await mailApi(alice.token, '/send', {
    method: 'POST', base, body: { to: [bob.email], attachments: [{ drive_file_id: pastLimitId }] },
  }), 413, 'attachment_too_large');

  // The text takes most of the message limit, so the file passes what is left of it.
  const text = 'x'.repeat(LIMIT_MESSAGE_BYTES - LIMIT_ATTACHMENT_BYTES + 1);
  assertError(await mailApi(alice.token, '/send', {
    method: 'POST', base, body: { to: [bob.email], text, attachments: [{ drive_file_id: atLimitId }] },
  }), 413, 'message_too_large');
});

test('stopped drive is drive_unavailable', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { alice, bob } = tokens;
  const content = Buffer.from('arquivo enviado pelo drive privado\n');
  const fileId = await upload(alice.token, content, `privado ${run}.txt`, 'text/plain', ownDrive.url);
  const subject = `drive privado ${crypto.randomUUID().slice(0, 8)}`;
  const sent = await mailApi(alice.token, '/send', {
    method: 'POST', base: mailOnOwnDrive.url, body: { to: [bob.email], subject, attachments: [{ drive_file_id: fileId }] },
  });
  assert.equal(sent.status, 201, `${sent.bytes}`);
  assert.equal(sha256((await readAttachment(bob.token, (await findMessage(bob.token, 'inbox', subject)).id)).bytes), sha256(content));

  await stop(ownDrive);
  const started = Date.now();
  const result = await mailApi(alice.token, '/send', {
    method: 'POST', base: mailOnOwnDrive.url, body: { to: [bob.email], subject: 'x', attachments: [{ drive_file_id: fileId }] },
  });
  assertError(result, 502, 'drive_unavailable');
  assert.ok(Date.now() - started < 10_000, 'the failure comes within the drive timeout');
  assert.ok(mailOnOwnDrive.lines.some((line) => line.includes('mail_drive_unavailable')), 'the failure is logged');
});
