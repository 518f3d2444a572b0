// The outbound queue of expresso-mail: MX routing through the configured
// DNS server, delay notices (RFC 3464 action "delayed"), a worker killed
// between the remote's reply to the final dot and its QUIT, and notices
// that a crash left unrecorded.
//
// A private instance of the daemon asks a local DNS server (lib/
// dns_server.py) for MX, A and AAAA records and sends MX mail to the port
// of an aiosmtpd server (smtp_remote.py), which also takes remote.test
// through a transport. Alice submits on port 587; DSNs land in her INBOX,
// read through PostgreSQL and the local-disk storage.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// /usr/bin/python3 with aiosmtpd and dnslib (Debian python3-aiosmtpd,
// python3-dnslib).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { openSubmission } from './lib/smtp_client.mjs';
import {
  buildDir, freeMailPorts, freePort, helperEvent, mailInstanceEnv, runToExit, startDaemon,
  startPythonHelper, waitFor, waitForDaemon,
} from './lib/stack.mjs';
import { openOutboundContext, startSmtpRemote } from './lib/outbound.mjs';
import { tenantQuery } from './lib/tenant_db.mjs';

const TEST_TIMEOUT_MS = 120_000;
const host = '127.0.0.1';
const binary = path.join(buildDir, 'services', 'mail', 'expresso-mail');

// Retries every second; a message still queued after 3 s gets a delay notice.
const DELAY_NOTICE_SECONDS = 3;

// mx1.dns.test and ghost.dns.test exist only in the test's DNS server; ghost has no address.
const ZONE = {
  'dns.test': { MX: ['10 ghost.dns.test', '20 mx1.dns.test'] },
  'nohost.test': { MX: ['10 ghost.dns.test'] },
  'mx1.dns.test': { A: ['127.0.0.1'] },
  'ghost.dns.test': {},
};

const env = {};
const startedAt = new Date();
let owner;
let ca;
let alice;
let remote;
let dns;
let instance;
let instanceEnv;

// ---- helper processes -------------------------------------------------------------

async function stopProcess(child, exited) {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await exited;
  }
}

// Appends the log lines of the instance that ran so far to the state directory's logs, for a failed test.
function saveInstanceLog() {
  if (instance !== undefined) {
    appendFileSync(path.join(env.EXPRESSO_STATE_DIR, 'logs', 'outbound_queue-instance.log'), `${instance.lines.join('\n')}\n`);
  }
}

async function startInstance() {
  saveInstanceLog();
  instance = startDaemon(binary, instanceEnv);
  await waitForDaemon(instance, `http://${host}:${instanceEnv.EXPRESSO_HTTP_PORT}/ready`);
}

// ---- the store ------------------------------------------------------------------

// Returns the stored DSNs in Alice's INBOX whose subject is like SUBJECT and that name ADDRESS.
async function findDsns(address, subject) {
  const rows = await tenantQuery(owner, alice.tenantId,
    `SELECT m.storage_key FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
      WHERE b.user_id = $1 AND b.name = 'INBOX' AND m.subject LIKE $2`, [alice.userId, subject]);
  return rows.map((row) => readFileSync(path.join(env.EXPRESSO_STATE_DIR, 'storage', alice.tenantId, row.storage_key)).toString('utf8'))
    .filter((object) => object.includes(`Final-Recipient: rfc822; ${address}\r\n`));
}

const DELAYED = 'Delayed Mail%';

async function recipientRows(queueId) {
  return tenantQuery(owner, alice.tenantId,
    'SELECT q.attempts, q.locked_until, r.address, r.status, r.status_code, r.delay_notified FROM mail_queue q ' +
    'JOIN mail_queue_recipients r ON r.queue_id = q.id WHERE q.id = $1 ORDER BY r.position', [queueId]);
}

// Waits until every recipient of QUEUE_ID has been tried at least ATTEMPTS times; returns the rows.
async function attemptsDone(queueId, attempts) {
  return waitFor(`${attempts} attempts`, async () => {
    const rows = await recipientRows(queueId);
    return rows.length > 0 && rows[0].attempts >= attempts ? rows : null;
  });
}

// ---- submission ------------------------------------------------------------------

// Submits a message as Alice to RECIPIENTS, each {address, parameters}; returns the queue id of its remote copy.
async function submit(subject, recipients) {
  const since = new Date(Date.now() - 1000);
  const to = recipients.map((recipient) => recipient.address).join(', ');
  const content = Buffer.from(`From: Alice <${alice.email}>\r\nTo: ${to}\r\nSubject: ${subject}\r\n` +
    `Message-ID: <${crypto.randomUUID()}@e2e.expresso.test>\r\n\r\nHello from the queue test.\r\n`);
  const client = await openSubmission(instanceEnv.EXPRESSO_SUBMISSION_PORT,
    { ca, user: alice.email, password: env.EXPRESSO_ALICE_APP_PASSWORD });
  assert.match((await client.command(`MAIL FROM:<${alice.email}>`)).text, /^250 /);
  for (const recipient of recipients) {
    assert.match((await client.command(`RCPT TO:<${recipient.address}>${recipient.parameters ?? ''}`)).text, /^250 /);
  }
  assert.match((await client.data(content)).text, /^250 /);
  await client.command('QUIT');
  client.close();
  return waitFor('a queue row', async () => {
    const rows = await tenantQuery(owner, alice.tenantId,
      'SELECT q.id FROM mail_queue q JOIN mail_queue_recipients r ON r.queue_id = q.id ' +
      'WHERE q.user_id = $1 AND q.created_at >= $2 AND r.address = $3', [alice.userId, since, recipients[0].address]);
    return rows[0]?.id;
  }, 5_000);
}

// ---- setup ------------------------------------------------------------------------

before(async () => {
  const context = await openOutboundContext(binary);
  Object.assign(env, context.env);
  ({ ca, owner, alice } = context);

  const remotePort = await freePort();
  remote = startSmtpRemote(remotePort, env.EXPRESSO_STATE_DIR);
  await helperEvent(remote, (event) => event.event === 'ready', 15_000);
  const dnsPort = await freePort();
  dns = startPythonHelper(path.join(import.meta.dirname, 'lib', 'dns_server.py'), [String(dnsPort), JSON.stringify(ZONE)]);
  await helperEvent(dns, (event) => event.event === 'ready', 15_000);

  instanceEnv = {
    ...mailInstanceEnv(env.EXPRESSO_STATE_DIR, await freeMailPorts()),
    EXPRESSO_OUTBOUND_WORKERS: '2',
    EXPRESSO_OUTBOUND_TRANSPORTS: `remote.test=127.0.0.1:${remotePort}`,
    EXPRESSO_OUTBOUND_RESOLVER: `127.0.0.1:${dnsPort}`,
    EXPRESSO_OUTBOUND_MX_PORT: String(remotePort),
    EXPRESSO_OUTBOUND_DELAY_NOTICE: `${DELAY_NOTICE_SECONDS}s`,
    EXPRESSO_OUTBOUND_RETRY_MIN: '1s',
    EXPRESSO_OUTBOUND_RETRY_MAX: '1s',
    EXPRESSO_OUTBOUND_MAX_LIFETIME: '120s',
    EXPRESSO_OUTBOUND_POLL_INTERVAL: '200ms',
    EXPRESSO_OUTBOUND_TIMEOUT: '10s',
  };
  await startInstance();
}, { timeout: TEST_TIMEOUT_MS });

after(async () => {
  if (instance !== undefined) await stopProcess(instance.child, instance.exited);
  saveInstanceLog();
  if (remote !== undefined) await stopProcess(remote.child, remote.exited);
  if (dns !== undefined) await stopProcess(dns.child, dns.exited);
  // Deferred messages of these tests would otherwise wait for the next instance with workers.
  if (alice !== undefined) {
    await tenantQuery(owner, alice.tenantId, 'DELETE FROM mail_queue WHERE user_id = $1 AND created_at >= $2', [alice.userId, startedAt]);
  }
  await owner?.end();
});

// ---- tests ------------------------------------------------------------------------

test('MX hosts resolved through the configured resolver', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `ok-${crypto.randomUUID()}@dns.test`;
  const queueId = await submit('MX test', [{ address: recipient }]);
  const received = await helperEvent(remote, (event) => event.event === 'message' && event.rcpt_tos.includes(recipient));
  assert.equal(received.mail_from, alice.email);
  assert.ok(dns.events.some((event) => event.name === 'dns.test' && event.type === 'MX'));
  // ghost.dns.test (preference 10) has no address, so mx1.dns.test (20) took the message.
  assert.ok(dns.events.some((event) => event.name === 'ghost.dns.test' && event.type === 'A'));
  assert.ok(dns.events.some((event) => event.name === 'mx1.dns.test' && event.type === 'A'));
  await waitFor('the queue row to go', async () => (await recipientRows(queueId)).length === 0);
});

test('MX host without an address stays queued', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `ok-${crypto.randomUUID()}@nohost.test`;
  const queueId = await submit('No address test', [{ address: recipient, parameters: ' NOTIFY=FAILURE' }]);
  const [row] = await attemptsDone(queueId, 1);
  assert.equal(row.status, 'queued');
  assert.equal(row.status_code, '4.4.3');
  assert.ok(dns.events.some((event) => event.name === 'ghost.dns.test' && event.type === 'AAAA'),
    'without an A record the AAAA record is asked for too');
});

test('delay notice sent once after the delay', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `defer-${crypto.randomUUID()}@remote.test`;
  const submittedAt = Date.now();
  const queueId = await submit('Delay test', [{ address: recipient }]);

  const [first] = await attemptsDone(queueId, 1);
  assert.equal(first.status, 'queued');
  if (Date.now() - submittedAt < (DELAY_NOTICE_SECONDS - 1) * 1000) {
    assert.deepEqual(await findDsns(recipient, DELAYED), [], 'no notice before the delay');
  }

  const notice = await waitFor('a delay notice', async () => (await findDsns(recipient, DELAYED))[0] ?? null, 20_000);
  assert.ok(Date.now() - submittedAt >= DELAY_NOTICE_SECONDS * 1000, 'the notice came after the delay');
  assert.ok(notice.includes(`Final-Recipient: rfc822; ${recipient}\r\nAction: delayed\r\nStatus: 4.3.0\r\n`));
  assert.ok(notice.includes('Remote-MTA: dns; 127.0.0.1\r\n'));
  assert.match(notice, /Diagnostic-Code: smtp; 451 4\.3\.0 <defer-[^>]+>: try again later\r\n/);
  assert.match(notice, /Will-Retry-Until: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n/);
  assert.ok(notice.includes('Content-Type: text/rfc822-headers'), 'a delay notice returns the header only');

  const [noticed] = await recipientRows(queueId);
  const rows = await attemptsDone(queueId, noticed.attempts + 2);
  assert.equal(rows[0].status, 'queued');
  assert.equal(rows[0].delay_notified, true);
  assert.equal((await findDsns(recipient, DELAYED)).length, 1, 'one notice only');
});

test('NOTIFY without DELAY gets no delay notice', { timeout: TEST_TIMEOUT_MS }, async () => {
  const asked = `defer-delay-${crypto.randomUUID()}@remote.test`;
  const failureOnly = `defer-failure-${crypto.randomUUID()}@remote.test`;
  const never = `defer-never-${crypto.randomUUID()}@remote.test`;
  const queueId = await submit('Delay choice test', [
    { address: asked, parameters: ' NOTIFY=DELAY,FAILURE' },
    { address: failureOnly, parameters: ' NOTIFY=FAILURE' },
    { address: never, parameters: ' NOTIFY=NEVER' },
  ]);

  const notice = await waitFor('a delay notice', async () => (await findDsns(asked, DELAYED))[0] ?? null, 40_000);
  assert.ok(!notice.includes(`Final-Recipient: rfc822; ${failureOnly}`), 'NOTIFY=FAILURE is not in the notice');
  assert.ok(!notice.includes(`Final-Recipient: rfc822; ${never}`), 'NOTIFY=NEVER is not in the notice');

  const [noticed] = await recipientRows(queueId);
  const rows = await attemptsDone(queueId, noticed.attempts + 2);
  assert.deepEqual(rows.map((row) => row.delay_notified), [true, false, false]);
  assert.deepEqual(await findDsns(failureOnly, DELAYED), []);
  assert.deepEqual(await findDsns(never, DELAYED), []);
});

// Returns the Message-IDs of the notices in Alice's INBOX whose subject is like SUBJECT and that name ADDRESS.
async function noticeIds(address, subject) {
  const rows = await tenantQuery(owner, alice.tenantId,
    `SELECT m.message_id, m.storage_key FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
      WHERE b.user_id = $1 AND b.name = 'INBOX' AND m.subject LIKE $2`, [alice.userId, subject]);
  return rows.filter((row) => readFileSync(path.join(env.EXPRESSO_STATE_DIR, 'storage', alice.tenantId, row.storage_key))
    .toString('utf8').includes(`Final-Recipient: rfc822; ${address}\r\n`)).map((row) => row.message_id);
}

const FAILED = 'Undelivered Mail%';

// Waits for a pass over QUEUE_ID to record its notices: no Message-ID left reserved and no DSN pending.
async function noticesRecorded(queueId) {
  let row;
  try {
    await waitFor('the notices to be recorded', async () => {
      [row] = await tenantQuery(owner, alice.tenantId,
        'SELECT q.attempts, q.next_attempt_at, q.locked_until, q.failure_notice_id, q.delay_notice_id, ' +
        'bool_or(r.dsn_pending) AS dsn_pending FROM mail_queue q JOIN mail_queue_recipients r ON r.queue_id = q.id ' +
        'WHERE q.id = $1 GROUP BY q.id', [queueId]);
      return row !== undefined && row.failure_notice_id === null && row.delay_notice_id === null && !row.dsn_pending;
    }, 60_000);
  } catch (error) {
    throw new Error(`${error.message}; the queue row: ${JSON.stringify(row)}`);
  }
}

test('notices delivered before a crash are not sent again', { timeout: TEST_TIMEOUT_MS }, async () => {
  const rejected = `reject-${crypto.randomUUID()}@remote.test`;
  const deferred = `defer-${crypto.randomUUID()}@remote.test`;
  const queueId = await submit('Notice crash test', [{ address: rejected }, { address: deferred }]);
  const [failure] = await waitFor('a failure DSN', async () => {
    const ids = await noticeIds(rejected, FAILED);
    return ids.length > 0 ? ids : null;
  }, 20_000);
  const [delay] = await waitFor('a delay notice', async () => {
    const ids = await noticeIds(deferred, DELAYED);
    return ids.length > 0 ? ids : null;
  }, 20_000);
  assert.match(failure, /^<dsn\.[0-9a-f-]{36}@mx\.test\.invalid>$/);

  // A crash after each notice reached Alice's INBOX and before it was recorded leaves this state. The
  // daemon is stopped cleanly while the state is written, so that no pass or lease of its own is left.
  await stopProcess(instance.child, instance.exited);
  await tenantQuery(owner, alice.tenantId, "UPDATE mail_queue SET failure_notice_id = $2, delay_notice_id = $3, locked_until = NULL, " +
    'lease_token = NULL, next_attempt_at = now() WHERE id = $1', [queueId, failure.slice(1, -1), delay.slice(1, -1)]);
  await tenantQuery(owner, alice.tenantId, "UPDATE mail_queue_recipients SET dsn_pending = (address = $2), delay_notified = false " +
    'WHERE queue_id = $1', [queueId, rejected]);
  await startInstance();

  await noticesRecorded(queueId);
  assert.deepEqual(await noticeIds(rejected, FAILED), [failure], 'one failure DSN');
  assert.deepEqual(await noticeIds(deferred, DELAYED), [delay], 'one delay notice');
  const rows = await recipientRows(queueId);
  assert.deepEqual(rows.map((row) => row.delay_notified), [false, true]);

  // A crash after the Message-ID was written and before the notice was submitted: it is sent with that id.
  await stopProcess(instance.child, instance.exited);
  const reserved = `dsn.${crypto.randomUUID()}@mx.test.invalid`;
  await tenantQuery(owner, alice.tenantId, 'UPDATE mail_queue SET failure_notice_id = $2, locked_until = NULL, lease_token = NULL, ' +
    'next_attempt_at = now() WHERE id = $1', [queueId, reserved]);
  await tenantQuery(owner, alice.tenantId, 'UPDATE mail_queue_recipients SET dsn_pending = (address = $2) WHERE queue_id = $1',
    [queueId, rejected]);
  await startInstance();
  await noticesRecorded(queueId);
  assert.deepEqual((await noticeIds(rejected, FAILED)).sort(), [failure, `<${reserved}>`].sort());
});

test('worker killed before QUIT does not send again', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `hangquit-${crypto.randomUUID()}@remote.test`;
  const queueId = await submit('Kill test', [{ address: recipient }]);

  // The remote has answered 250 to the final dot and holds back its reply to QUIT.
  await helperEvent(remote, (event) => event.event === 'message' && event.rcpt_tos.includes(recipient));
  await helperEvent(remote, (event) => event.event === 'quit_held');
  const [recorded] = await waitFor('the result to be recorded', async () => {
    const rows = await recipientRows(queueId);
    return rows[0]?.status === 'delivered' ? rows : null;
  }, 5_000);
  assert.equal(recorded.status_code, '2.0.0');

  instance.child.kill('SIGKILL');
  await instance.exited;
  // The killed worker's lease would hold the message for minutes; end it as if that time had passed.
  await tenantQuery(owner, alice.tenantId, "UPDATE mail_queue SET locked_until = now() - interval '1 second' WHERE id = $1", [queueId]);
  await startInstance();

  await waitFor('the queue row to go', async () => (await recipientRows(queueId)).length === 0);
  const copies = remote.events.filter((event) => event.event === 'message' && event.rcpt_tos.includes(recipient));
  assert.equal(copies.length, 1, 'the remote received the message once');
});

test('worker whose lease is taken never ends the data', { timeout: TEST_TIMEOUT_MS }, async () => {
  const recipient = `holdrcpt-${crypto.randomUUID()}@remote.test`;
  const queueId = await submit('Lease test', [{ address: recipient }]);

  // While the remote holds its reply to RCPT, another worker takes the lease.
  await helperEvent(remote, (event) => event.event === 'rcpt_held' && event.address === recipient);
  await tenantQuery(owner, alice.tenantId, 'UPDATE mail_queue SET lease_token = gen_random_uuid() WHERE id = $1', [queueId]);
  await waitFor('the worker to find its lease gone', async () =>
    instance.lines.some((line) => line.includes('"outbound_lease_lost"') && line.includes(queueId)), 15_000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const early = remote.events.filter((event) => event.event === 'message' && event.rcpt_tos.includes(recipient));
  assert.equal(early.length, 0, 'the remote got no message from the worker that lost its lease');

  // That other worker's lease runs out without a send: the next pass delivers the message once.
  await tenantQuery(owner, alice.tenantId, 'UPDATE mail_queue SET lease_token = NULL, locked_until = NULL, next_attempt_at = now() ' +
    'WHERE id = $1', [queueId]);
  await waitFor('the queue row to go', async () => (await recipientRows(queueId)).length === 0, 30_000);
  const copies = remote.events.filter((event) => event.event === 'message' && event.rcpt_tos.includes(recipient));
  assert.equal(copies.length, 1, 'the remote received the message once');
});

test('MX port setting checked at its limits', { timeout: TEST_TIMEOUT_MS }, async () => {
  for (const port of ['0', '65536']) {
    const result = await runToExit(binary, [], { ...instanceEnv, EXPRESSO_HTTP_PORT: String(await freePort()),
      EXPRESSO_OUTBOUND_MX_PORT: port });
    assert.notEqual(result.code, 0, `port ${port} is rejected`);
    assert.match(result.stderr, /EXPRESSO_OUTBOUND_MX_PORT/);
  }
});
