// The mail store's change rules, which triggers enforce for every writer
// (SMTP delivery, IMAP, the HTTP API, Sieve): UIDs and modseqs assigned on
// insert, a new modseq on a flag change, a move as a new UID in the target
// and an expunge in the source, expunges recorded for QRESYNC, unreferenced
// storage keys queued for the sweep, and one NOTIFY per mailbox and
// transaction. Connected as the application role, inside alice's tenant.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';

const appUrl = process.env.EXPRESSO_DATABASE_URL;
const aliceEmail = process.env.EXPRESSO_ALICE_EMAIL ?? 'alice@demo.expresso.test';
const TEST_TIMEOUT_MS = 60_000;
const NOTIFY_WAIT_MS = 2_000;

let app;
let listener;
let tenantId;
let userId;
const createdMailboxes = [];

// Runs FN(client) in one transaction bound to alice's tenant; rolls back when ROLLBACK is set.
async function inTenant(fn, { rollback = false } = {}) {
  await app.query('BEGIN');
  try {
    await app.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    const result = await fn(app);
    await app.query(rollback ? 'ROLLBACK' : 'COMMIT');
    return result;
  } catch (error) {
    await app.query('ROLLBACK');
    throw error;
  }
}

async function createMailbox(client, name) {
  const { rows } = await client.query(
    'INSERT INTO mailboxes (tenant_id, user_id, name) VALUES ($1, $2, $3) RETURNING id, uidvalidity',
    [tenantId, userId, name]);
  createdMailboxes.push(rows[0].id);
  return rows[0].id;
}

async function insertMessage(client, mailboxId, storageKey, size = 100) {
  const { rows } = await client.query(
    'INSERT INTO messages (tenant_id, mailbox_id, uid, size, storage_key) VALUES ($1, $2, NULL, $3, $4) ' +
    'RETURNING id, uid::int, modseq::int',
    [tenantId, mailboxId, size, storageKey]);
  return rows[0];
}

async function mailboxCounters(client, mailboxId) {
  const { rows } = await client.query(
    'SELECT uidnext::int, highestmodseq::int FROM mailboxes WHERE id = $1', [mailboxId]);
  return rows[0];
}

before(async () => {
  assert.ok(appUrl, 'EXPRESSO_DATABASE_URL is not set; run the tests through scripts/test.sh');
  app = new pg.Client({ connectionString: appUrl });
  await app.connect();
  const { rows } = await app.query('SELECT tenant_id, user_id FROM ex_tenant_for_login($1)', [aliceEmail]);
  assert.equal(rows.length, 1, `no account for ${aliceEmail}`);
  tenantId = rows[0].tenant_id;
  userId = rows[0].user_id;
  listener = new pg.Client({ connectionString: appUrl });
  await listener.connect();
  await listener.query('LISTEN expresso_mail');
});

after(async () => {
  if (createdMailboxes.length > 0) {
    await inTenant(async (client) => {
      await client.query('DELETE FROM mailboxes WHERE id = ANY($1::uuid[])', [createdMailboxes]);
      await client.query("DELETE FROM mail_object_garbage WHERE storage_key LIKE 'test-store/%'");
    });
  }
  await listener?.end();
  await app?.end();
});

test('insert assigns consecutive UIDs and rising modseqs', { timeout: TEST_TIMEOUT_MS }, async () => {
  await inTenant(async (client) => {
    const mailbox = await createMailbox(client, 'StoreTest/Insert');
    const first = await insertMessage(client, mailbox, 'test-store/insert-1');
    const second = await insertMessage(client, mailbox, 'test-store/insert-2');
    assert.equal(first.uid, 1);
    assert.equal(second.uid, 2);
    assert.ok(second.modseq > first.modseq, `modseq ${second.modseq} not above ${first.modseq}`);
    const counters = await mailboxCounters(client, mailbox);
    assert.equal(counters.uidnext, 3);
    assert.equal(counters.highestmodseq, second.modseq);
  }, { rollback: true });
});

test('flag change gives the message a new modseq', { timeout: TEST_TIMEOUT_MS }, async () => {
  await inTenant(async (client) => {
    const mailbox = await createMailbox(client, 'StoreTest/Flags');
    const message = await insertMessage(client, mailbox, 'test-store/flags-1');
    const { rows } = await client.query(
      "UPDATE messages SET flags = ARRAY['\\Seen'] WHERE id = $1 RETURNING uid::int, modseq::int", [message.id]);
    assert.equal(rows[0].uid, message.uid);
    assert.ok(rows[0].modseq > message.modseq);
    const unchanged = await client.query(
      "UPDATE messages SET flags = ARRAY['\\Seen'] WHERE id = $1 RETURNING modseq::int", [message.id]);
    assert.equal(unchanged.rows[0].modseq, rows[0].modseq, 'the same flags again must keep the modseq');
  }, { rollback: true });
});

test('UID cannot be changed in place', { timeout: TEST_TIMEOUT_MS }, async () => {
  await inTenant(async (client) => {
    const mailbox = await createMailbox(client, 'StoreTest/UidFixed');
    const message = await insertMessage(client, mailbox, 'test-store/uid-1');
    await assert.rejects(client.query('UPDATE messages SET uid = 99 WHERE id = $1', [message.id]),
      /UID of a message never changes/);
  }, { rollback: true });
});

test('move takes a new UID and records an expunge', { timeout: TEST_TIMEOUT_MS }, async () => {
  await inTenant(async (client) => {
    const source = await createMailbox(client, 'StoreTest/MoveFrom');
    const target = await createMailbox(client, 'StoreTest/MoveTo');
    await insertMessage(client, target, 'test-store/move-existing');
    const message = await insertMessage(client, source, 'test-store/move-1', 300);

    const { rows } = await client.query(
      'UPDATE messages SET mailbox_id = $2 WHERE id = $1 RETURNING uid::int, modseq::int', [message.id, target]);
    assert.equal(rows[0].uid, 2, 'the moved message takes the target mailbox next UID');

    const expunges = await client.query(
      'SELECT uid::int, modseq::int FROM message_expunges WHERE mailbox_id = $1', [source]);
    assert.deepEqual(expunges.rows.map((row) => row.uid), [message.uid]);
    const sourceCounters = await mailboxCounters(client, source);
    assert.equal(expunges.rows[0].modseq, sourceCounters.highestmodseq);

    const stats = await client.query(
      'SELECT mailbox_id, messages::int, bytes::int FROM mailbox_stats WHERE mailbox_id = ANY($1::uuid[])',
      [[source, target]]);
    const byMailbox = Object.fromEntries(stats.rows.map((row) => [row.mailbox_id, row]));
    assert.equal(byMailbox[source].messages, 0);
    assert.equal(byMailbox[target].messages, 2);
    assert.equal(byMailbox[target].bytes, 400);
  }, { rollback: true });
});

test('expunge is recorded and a shared key waits for its last row', { timeout: TEST_TIMEOUT_MS }, async () => {
  await inTenant(async (client) => {
    const mailbox = await createMailbox(client, 'StoreTest/Expunge');
    const copy = await createMailbox(client, 'StoreTest/ExpungeCopy');
    const original = await insertMessage(client, mailbox, 'test-store/shared-key');
    const copied = await insertMessage(client, copy, 'test-store/shared-key');

    await client.query('DELETE FROM messages WHERE id = $1', [original.id]);
    const garbageAfterFirst = await client.query(
      "SELECT 1 FROM mail_object_garbage WHERE storage_key = 'test-store/shared-key'");
    assert.equal(garbageAfterFirst.rowCount, 0, 'a key still named by a copy must not be queued');

    const expunged = await client.query(
      'SELECT uid::int, modseq::int FROM message_expunges WHERE mailbox_id = $1', [mailbox]);
    assert.equal(expunged.rows[0].uid, original.uid);
    assert.ok(expunged.rows[0].modseq > original.modseq);

    await client.query('DELETE FROM messages WHERE id = $1', [copied.id]);
    const garbageAfterLast = await client.query(
      "SELECT 1 FROM mail_object_garbage WHERE storage_key = 'test-store/shared-key'");
    assert.equal(garbageAfterLast.rowCount, 1, 'the key must be queued once no row names it');
  }, { rollback: true });
});

test('expunges are readable but not writable', { timeout: TEST_TIMEOUT_MS }, async () => {
  await inTenant(async (client) => {
    const mailbox = await createMailbox(client, 'StoreTest/ExpungeWrite');
    await assert.rejects(
      client.query('INSERT INTO message_expunges (tenant_id, mailbox_id, uid, modseq) VALUES ($1, $2, 1, 1)',
        [tenantId, mailbox]),
      /permission denied/);
  }, { rollback: true });
});

test('committed change notifies once per mailbox', { timeout: TEST_TIMEOUT_MS }, async () => {
  const mailbox = await inTenant((client) => createMailbox(client, 'StoreTest/Notify'));
  // Collect from here on; the mailbox creation's own notification may arrive first.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const received = [];
  const onNotification = (message) => received.push(message.payload);
  listener.on('notification', onNotification);
  try {
    await inTenant(async (client) => {
      for (let i = 0; i < 5; i++) await insertMessage(client, mailbox, `test-store/notify-${i}`);
      await client.query("UPDATE messages SET flags = ARRAY['\\Flagged'] WHERE mailbox_id = $1", [mailbox]);
    });
    const deadline = Date.now() + NOTIFY_WAIT_MS;
    while (received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    listener.off('notification', onNotification);
  }
  assert.deepEqual(received, [`${tenantId} ${userId} ${mailbox}`]);
});

test('rolled back change does not notify', { timeout: TEST_TIMEOUT_MS }, async () => {
  const mailbox = await inTenant((client) => createMailbox(client, 'StoreTest/NoNotify'));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const received = [];
  const onNotification = (message) => received.push(message.payload);
  listener.on('notification', onNotification);
  try {
    await inTenant((client) => insertMessage(client, mailbox, 'test-store/rolled-back'), { rollback: true });
    await new Promise((resolve) => setTimeout(resolve, 500));
  } finally {
    listener.off('notification', onNotification);
  }
  assert.deepEqual(received, []);
});
