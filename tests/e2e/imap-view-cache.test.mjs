// The per-process mailbox cache of expresso-mail keeps UIDs, modseqs and
// flags that SELECT and FETCH FLAGS read from memory, and it is never
// served stale. A flag change, an append and an expunge are made by
// another session of the same process and by a session on a second
// replica started here on the same database. After them, SELECT and FETCH
// FLAGS on the first process return the new state. FETCH FLAGS from the cache also matches
// FETCH FLAGS read with other items from the messages rows.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// imapflow (package.json).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';

import { buildDir, freePort, requireEnv, startDaemon, waitForHttp } from './lib/stack.mjs';

const TEST_TIMEOUT_MS = 120_000;
const host = '127.0.0.1';
const runId = crypto.randomBytes(4).toString('hex');
const mailbox = `Cache-${runId}`;
const env = {};
let replica;

before(async () => {
  for (const name of ['EXPRESSO_IMAPS_PORT', 'EXPRESSO_TLS_CA', 'EXPRESSO_STATE_DIR', 'EXPRESSO_ALICE_EMAIL',
    'EXPRESSO_ALICE_APP_PASSWORD']) {
    env[name] = requireEnv(name);
  }
  const ports = { http: await freePort(), imaps: await freePort() };
  replica = startDaemon(path.join(buildDir, 'services', 'mail', 'expresso-mail'), {
    EXPRESSO_HTTP_ADDRESS: host,
    EXPRESSO_HTTP_PORT: String(ports.http),
    EXPRESSO_SMTP_PORT: '0',
    EXPRESSO_SUBMISSION_PORT: '0',
    EXPRESSO_SUBMISSIONS_PORT: '0',
    EXPRESSO_IMAP_PORT: '0',
    EXPRESSO_IMAPS_PORT: String(ports.imaps),
    EXPRESSO_MANAGESIEVE_PORT: '0',
    EXPRESSO_OUTBOUND_WORKERS: '0',
    EXPRESSO_STORAGE_DIR: path.join(env.EXPRESSO_STATE_DIR, 'storage'),
    EXPRESSO_TLS_CERT: path.join(env.EXPRESSO_STATE_DIR, 'tls', 'server.pem'),
    EXPRESSO_TLS_KEY: path.join(env.EXPRESSO_STATE_DIR, 'tls', 'server.key'),
  });
  Object.assign(replica, { url: `http://${host}:${ports.http}`, imapsPort: ports.imaps });
  try {
    await waitForHttp(`${replica.url}/ready`, { timeoutMs: 20_000 });
  } catch (error) {
    replica.child.kill('SIGKILL');
    throw new Error(`${error.message}; daemon output:\n${replica.lines.slice(-10).join('\n')}`);
  }
  const setup = imapflow(Number(env.EXPRESSO_IMAPS_PORT));
  await setup.connect();
  try {
    await setup.mailboxCreate(mailbox);
    for (let number = 1; number <= 3; number++) {
      await setup.append(mailbox, testMessage(`cache ${runId} ${number}`), number === 3 ? [] : ['\\Seen']);
    }
  } finally {
    await setup.logout().catch(() => {});
  }
});

after(async () => {
  const cleanup = imapflow(Number(env.EXPRESSO_IMAPS_PORT));
  await cleanup.connect().then(() => cleanup.mailboxDelete(mailbox)).catch(() => {});
  await cleanup.logout().catch(() => {});
  if (replica && replica.child.exitCode === null) {
    replica.child.kill('SIGTERM');
    await replica.exited;
  }
});

function imapflow(port) {
  return new ImapFlow({
    host,
    port,
    secure: true,
    tls: { ca: readFileSync(env.EXPRESSO_TLS_CA), checkServerIdentity: () => undefined },
    auth: { user: env.EXPRESSO_ALICE_EMAIL, pass: env.EXPRESSO_ALICE_APP_PASSWORD },
    logger: false,
  });
}

function testMessage(subject) {
  return [
    'From: Remetente <sender@example.org>', `To: ${env.EXPRESSO_ALICE_EMAIL}`, `Subject: ${subject}`,
    `Message-ID: <${crypto.randomUUID()}@e2e.expresso.test>`, 'Date: Sat, 05 Dec 2026 12:00:00 +0000', '',
    'Corpo de teste.', '',
  ].join('\r\n');
}

// Returns {uid: 'sorted flags'} of every message in the selected mailbox, from UID FETCH 1:* (FLAGS).
async function flagsByUid(client) {
  const flags = {};
  for await (const message of client.fetch('1:*', { uid: true, flags: true }, { uid: true })) {
    flags[message.uid] = [...message.flags].sort().join(' ');
  }
  return flags;
}

// Opens a new session on PORT, selects the test mailbox and returns it with the UID FETCH FLAGS result.
async function freshLook(port) {
  const client = imapflow(port);
  await client.connect();
  const opened = await client.mailboxOpen(mailbox);
  const flags = await flagsByUid(client);
  return { client, opened, flags };
}

test('cache follows changes on both replicas', { timeout: TEST_TIMEOUT_MS }, async () => {
  const stackPort = Number(env.EXPRESSO_IMAPS_PORT);
  const watcher = await freshLook(stackPort);
  const local = imapflow(stackPort);
  const remote = imapflow(replica.imapsPort);
  const sessions = [watcher.client, local, remote];
  try {
    assert.equal(watcher.opened.exists, 3);
    const uids = Object.keys(watcher.flags).map(Number).sort((a, b) => a - b);
    assert.equal(uids.length, 3);
    assert.equal(watcher.flags[uids[0]], '\\Seen');
    assert.equal(watcher.flags[uids[2]], '');

    // A flag change by another session of the same process.
    await local.connect();
    await local.mailboxOpen(mailbox);
    await local.messageFlagsAdd(String(uids[2]), ['\\Answered'], { uid: true });
    const afterLocal = await flagsByUid(watcher.client);
    assert.equal(afterLocal[uids[2]], '\\Answered');

    // A flag change, an append and an expunge on the other replica.
    await remote.connect();
    await remote.mailboxOpen(mailbox);
    await remote.messageFlagsAdd(String(uids[1]), ['\\Flagged'], { uid: true });
    await remote.append(mailbox, testMessage(`cache ${runId} 4`), ['$Forwarded']);
    await remote.messageDelete(String(uids[0]), { uid: true });

    await watcher.client.noop();
    const afterRemote = await flagsByUid(watcher.client);
    assert.equal(afterRemote[uids[0]], undefined, JSON.stringify(afterRemote));
    assert.equal(afterRemote[uids[1]], '\\Flagged \\Seen');
    assert.equal(afterRemote[uids[2]], '\\Answered');
    const appended = Object.keys(afterRemote).map(Number).filter((uid) => uid > uids[2]);
    assert.equal(appended.length, 1, JSON.stringify(afterRemote));
    assert.equal(afterRemote[appended[0]], '$Forwarded');

    // A new SELECT on the first process lists the same messages, with no message left from before.
    const reopened = await freshLook(stackPort);
    sessions.push(reopened.client);
    assert.equal(reopened.opened.exists, 3);
    assert.deepEqual(reopened.flags, afterRemote);
  } finally {
    for (const client of sessions) {
      await client.logout().catch(() => {});
    }
  }
});

test('flag-only and full fetch agree', { timeout: TEST_TIMEOUT_MS }, async () => {
  // FETCH FLAGS comes from the cache, FETCH (FLAGS INTERNALDATE) from the messages rows.
  const look = await freshLook(Number(env.EXPRESSO_IMAPS_PORT));
  try {
    const fromRows = {};
    for await (const message of look.client.fetch('1:*', { uid: true, flags: true, internalDate: true }, { uid: true })) {
      fromRows[message.uid] = [...message.flags].sort().join(' ');
    }
    assert.deepEqual(look.flags, fromRows);
    const sequence = await look.client.fetch('2:3', { flags: true });
    const seen = [];
    for await (const message of sequence) {
      seen.push(message.seq);
    }
    assert.deepEqual(seen, [2, 3]);
  } finally {
    await look.client.logout().catch(() => {});
  }
});
