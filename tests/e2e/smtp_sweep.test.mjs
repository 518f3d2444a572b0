// The orphan object sweep of expresso-mail. A private instance with a
// test-only pause between writing a delivery's object and committing its
// row is killed with SIGKILL inside that pause. The object is on disk and
// listed in mail_object_garbage, but no row names it. A second instance
// with a short sweep interval and grace period then deletes the object
// and its entry. The second test kills a delivery whose key was reserved
// by the delivery before it, so its garbage entry comes from that
// delivery's transaction.
//
// Needs: the stack up (scripts/run-local.sh) and the variables of stack.env.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

import { SmtpClient, dotStuff } from './lib/smtp_client.mjs';
import {
  buildDir, freePort, mailListenersOff, requireBuilt, requireEnv, startDaemon, waitFor, waitForHttp,
} from './lib/stack.mjs';
import { findAccount, tenantQuery } from './lib/tenant_db.mjs';

const TEST_TIMEOUT_MS = 240_000;
// The sweep handles up to 500 entries of a tenant per transaction, so a backlog of earlier tests' entries takes seconds.
const SWEEP_WAIT_MS = 30_000;
const POLL_INTERVAL_MS = 100;
const host = '127.0.0.1';
const binary = path.join(buildDir, 'services', 'mail', 'expresso-mail');

let owner;
let alice;
let stateDir;
const instances = [];

function objectPath(key) {
  return path.join(stateDir, 'storage', alice.tenantId, key);
}

// Waits until a sweep has deleted the object under KEY and then its mail_object_garbage entry.
// The sweep deletes the object before its transaction deletes the entry and commits.
async function waitForSweep(key) {
  await waitFor('the sweep to delete the object', async () => !existsSync(objectPath(key)), SWEEP_WAIT_MS, POLL_INTERVAL_MS);
  await waitFor('the sweep to delete the garbage entry', async () => {
    const entries = await tenantQuery(owner, alice.tenantId, 'SELECT 1 FROM mail_object_garbage WHERE storage_key = $1', [key]);
    return entries.length === 0;
  }, 30_000, POLL_INTERVAL_MS);
}

async function startInstance(extraEnv) {
  const ports = { http: await freePort(), smtp: await freePort() };
  const daemon = startDaemon(binary, {
    ...mailListenersOff,
    EXPRESSO_HTTP_ADDRESS: host,
    EXPRESSO_HTTP_PORT: String(ports.http),
    EXPRESSO_SMTP_PORT: String(ports.smtp),
    EXPRESSO_SUBMISSION_PORT: '0',
    EXPRESSO_SUBMISSIONS_PORT: '0',
    EXPRESSO_STORAGE_DIR: path.join(stateDir, 'storage'),
    EXPRESSO_SMTP_GREETING_DELAY: '0',
    EXPRESSO_OUTBOUND_WORKERS: '0',
    ...extraEnv,
  });
  instances.push(daemon);
  await waitForHttp(`http://${host}:${ports.http}/ready`, { timeoutMs: 20_000 });
  return { ...daemon, ports };
}

before(async () => {
  stateDir = requireEnv('EXPRESSO_STATE_DIR');
  requireBuilt(binary);
  owner = new pg.Pool({ connectionString: requireEnv('EXPRESSO_DATABASE_OWNER_URL'), max: 2 });
  alice = await findAccount(owner, requireEnv('EXPRESSO_ALICE_EMAIL'));
});

after(async () => {
  for (const daemon of instances) {
    if (daemon.child.exitCode === null && daemon.child.signalCode === null) {
      daemon.child.kill('SIGKILL');
      await daemon.exited;
    }
  }
  await owner?.end();
});

test('SIGKILL between object and row leaves an orphan the sweep removes', { timeout: TEST_TIMEOUT_MS }, async () => {
  const since = new Date();
  const crashing = await startInstance({ EXPRESSO_MAIL_TEST_COMMIT_DELAY: '30s', EXPRESSO_MAIL_SWEEP_INTERVAL: '0' });
  const client = await SmtpClient.connect(crashing.ports.smtp);
  await client.ehlo();
  assert.match((await client.command('MAIL FROM:<someone@example.org>')).text, /^250 /);
  assert.match((await client.command(`RCPT TO:<${alice.email}>`)).text, /^250 /);
  assert.equal((await client.command('DATA')).code, 354);
  const body = `Subject: crash ${crypto.randomUUID()}\r\n\r\nlost before commit\r\n`;
  const finalReply = client.reply(60_000);
  await client.write(dotStuff(Buffer.from(body)));

  // The key is listed before the object is written; wait until the object is durable too.
  const key = await waitFor('the garbage entry and its object', async () => {
    const rows = await tenantQuery(owner, alice.tenantId,
      'SELECT storage_key FROM mail_object_garbage WHERE storage_key LIKE $1 AND queued_at >= $2',
      [`mail/${alice.userId}/%`, since]);
    const found = rows.find((row) => existsSync(objectPath(row.storage_key)));
    return found?.storage_key;
  }, 30_000, POLL_INTERVAL_MS);
  crashing.child.kill('SIGKILL');
  await crashing.exited;
  assert.equal((await finalReply).code, 0, 'the client got no 250 for the message');
  client.close();

  assert.ok(existsSync(objectPath(key)), 'the object survived the crash');
  assert.deepEqual(await tenantQuery(owner, alice.tenantId, 'SELECT uid FROM messages WHERE storage_key = $1', [key]), [],
    'no row names the object');

  const sweeping = await startInstance({ EXPRESSO_MAIL_SWEEP_INTERVAL: '300ms', EXPRESSO_MAIL_SWEEP_GRACE: '1s',
    EXPRESSO_DELIVERY_KEY_RESERVE_AGE: '500ms' });
  // With a grace of 1 s this instance also sweeps every entry that earlier tests left (each deleted
  // message lists its object), so in a full run the orphan waits behind them.
  await waitForSweep(key);
  assert.ok(!existsSync(objectPath(key)), 'the object stays deleted with its entry');

  // Every row of Alice's still names an object on disk.
  const rows = await tenantQuery(owner, alice.tenantId,
    'SELECT m.storage_key FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.user_id = $1', [alice.userId]);
  for (const row of rows) assert.ok(existsSync(objectPath(row.storage_key)), `object of ${row.storage_key} exists`);

  // A delivery through the sweeping instance commits and clears its own entry.
  const ok = await SmtpClient.connect(sweeping.ports.smtp);
  await ok.ehlo();
  await ok.command('MAIL FROM:<someone@example.org>');
  await ok.command(`RCPT TO:<${alice.email}>`);
  assert.match((await ok.data(Buffer.from('Subject: kept\r\n\r\nkept\r\n'))).text, /^250 /);
  ok.close();
  const left = await tenantQuery(owner, alice.tenantId,
    'SELECT g.storage_key FROM mail_object_garbage g JOIN messages m ON m.tenant_id = g.tenant_id AND m.storage_key = g.storage_key');
  assert.deepEqual(left, [], 'no committed message is still listed as garbage');
  // Its grace of 1 s must not reach the keys that the next test's instance reserves for 15 minutes.
  sweeping.child.kill('SIGTERM');
  await sweeping.exited;
});

test('SIGKILL on a reserved key leaves an orphan the sweep removes', { timeout: TEST_TIMEOUT_MS }, async () => {
  const [{ now: since }] = await tenantQuery(owner, alice.tenantId, 'SELECT now()');
  const crashing = await startInstance({ EXPRESSO_MAIL_TEST_COMMIT_DELAY: '1s', EXPRESSO_MAIL_SWEEP_INTERVAL: '0' });
  const send = async (subject) => {
    const client = await SmtpClient.connect(crashing.ports.smtp);
    await client.ehlo();
    assert.match((await client.command('MAIL FROM:<someone@example.org>')).text, /^250 /);
    assert.match((await client.command(`RCPT TO:<${alice.email}>`)).text, /^250 /);
    assert.equal((await client.command('DATA')).code, 354);
    const reply = client.reply(60_000);
    await client.write(dotStuff(Buffer.from(`Subject: ${subject} ${crypto.randomUUID()}\r\n\r\nbody\r\n`)));
    return { client, reply };
  };

  // The first delivery commits and reserves Alice's next key in its rows' transaction.
  const first = await send('committed');
  assert.match((await first.reply).text, /^250 /);
  first.client.close();
  const reserved = await tenantQuery(owner, alice.tenantId,
    'SELECT g.storage_key FROM mail_object_garbage g WHERE g.storage_key LIKE $1 AND g.queued_at >= $2 ' +
    'AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = g.tenant_id AND m.storage_key = g.storage_key)',
    [`mail/${alice.userId}/%`, since]);
  assert.equal(reserved.length, 1, 'one key is reserved');
  const key = reserved[0].storage_key;
  assert.ok(!existsSync(objectPath(key)), 'no object is written under the reserved key yet');

  // The second delivery writes its object under that key and is killed before its rows commit.
  const second = await send('lost');
  await waitFor('the object under the reserved key', async () => existsSync(objectPath(key)), 30_000, POLL_INTERVAL_MS);
  crashing.child.kill('SIGKILL');
  await crashing.exited;
  assert.equal((await second.reply).code, 0, 'the client got no 250 for the message');
  second.client.close();
  assert.deepEqual(await tenantQuery(owner, alice.tenantId, 'SELECT uid FROM messages WHERE storage_key = $1', [key]), [],
    'no row names the object');

  await startInstance({ EXPRESSO_MAIL_SWEEP_INTERVAL: '300ms', EXPRESSO_MAIL_SWEEP_GRACE: '1s',
    EXPRESSO_DELIVERY_KEY_RESERVE_AGE: '500ms' });
  await waitForSweep(key);
});
