// What implicit scheduling writes besides the organizer's object. Each
// copy written into another user's calendar publishes calendar.changed
// for its owner. An invitation that would take the attendee past
// EXPRESSO_CALENDAR_QUOTA is not stored, but the iTIP message still
// reaches the schedule inbox. iMIP outbox rows that expresso-mail queued
// are deleted after EXPRESSO_CALENDAR_ITIP_RETENTION_DAYS. Alice (demo)
// invites Bob (demo) and addresses at remote.test. The limit cases run
// against private expresso-calendar instances.
//
// Needs: the stack up (scripts/run-local.sh) and the variables of stack.env
// (EXPRESSO_DATABASE_OWNER_URL to backdate outbox rows).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { connect as connectNats } from 'nats';
import pg from 'pg';

import { buildDir, freePort, requireEnv, startDaemon, waitForHttp } from './lib/stack.mjs';

const TEST_TIMEOUT_MS = 120_000;
const host = '127.0.0.1';
const calendarBinary = path.join(buildDir, 'services', 'calendar', 'expresso-calendar');
const stackBase = requireEnv('EXPRESSO_CALDAV_URL');
const users = {
  alice: { email: requireEnv('EXPRESSO_ALICE_EMAIL'), password: requireEnv('EXPRESSO_ALICE_APP_PASSWORD') },
  bob: { email: requireEnv('EXPRESSO_BOB_EMAIL'), password: requireEnv('EXPRESSO_BOB_APP_PASSWORD') },
};
let nats;
const changes = [];

async function request(user, method, url, { body, type, headers = {}, base = stackBase } = {}) {
  const authorization = `Basic ${Buffer.from(`${user.email}:${user.password}`).toString('base64')}`;
  const response = await fetch(`${base}${url}`, {
    method,
    headers: { Authorization: authorization, ...(body !== undefined ? { 'Content-Type': type ?? 'application/xml' } : {}), ...headers },
    body,
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const propfind = (user, url, props, depth = '0') => request(user, 'PROPFIND', url, {
  body: `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop>${props}</d:prop></d:propfind>`,
  headers: { Depth: depth },
});

async function principalOf(user) {
  const root = await propfind(user, '/', '<d:current-user-principal/>');
  return root.text.match(/<d:current-user-principal><d:href>([^<]*)</)[1];
}

const homeOf = async (user) => (await principalOf(user)).replace('/principals/', '/calendars/');
const userIdOf = async (user) => (await principalOf(user)).split('/').filter(Boolean).pop();

async function quotaUsed(user) {
  const found = await propfind(user, await homeOf(user), '<d:quota-used-bytes/>');
  assert.equal(found.status, 207, found.text);
  return Number(found.text.match(/<d:quota-used-bytes>(\d+)</)[1]);
}

// Returns the names of the objects of USER's default calendar.
async function objectNames(user) {
  const listing = await propfind(user, `${await homeOf(user)}default/`, '<d:getetag/>', '1');
  assert.equal(listing.status, 207, listing.text);
  return new Set([...listing.text.matchAll(/<d:href>[^<]*\/default\/([^<]+)<\/d:href>/g)].map((match) => match[1]));
}

async function inboxCount(user, uid) {
  const listing = await propfind(user, `${await homeOf(user)}inbox/`, '<d:getetag/>', '1');
  let count = 0;
  for (const match of listing.text.matchAll(/<d:href>([^<]*\.ics)<\/d:href>/g)) {
    if ((await request(user, 'GET', match[1])).text.includes(`UID:${uid}`)) count++;
  }
  return count;
}

// Alice's invitation to Bob; every UID has the same length, so every copy of it has the same size.
function invitation(uid, attendee) {
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Expresso e2e//EN', 'BEGIN:VEVENT', `UID:${uid}`,
    'DTSTAMP:20261201T120000Z', 'DTSTART:20300110T130000Z', 'DTEND:20300110T140000Z', 'SUMMARY:Cota',
    `ORGANIZER:mailto:${users.alice.email}`, `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${users.alice.email}`,
    `ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${attendee}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
}

async function invite(base, attendee = users.bob.email) {
  const uid = crypto.randomUUID();
  const stored = await request(users.alice, 'PUT', `${await homeOf(users.alice)}default/${uid}.ics`,
    { body: invitation(uid, attendee), type: 'text/calendar', base });
  assert.equal(stored.status, 201, stored.text);
  return uid;
}

async function waitFor(description, probe, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// Runs WORK against a private expresso-calendar with the settings SETTINGS.
async function withCalendar(settings, work) {
  const port = await freePort();
  const daemon = startDaemon(calendarBinary, { EXPRESSO_HTTP_ADDRESS: host, EXPRESSO_HTTP_PORT: String(port), ...settings });
  try {
    await waitForHttp(`http://${host}:${port}/ready`, { timeoutMs: 20_000 });
    return await work(`http://${host}:${port}`);
  } finally {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
  }
}

before(async () => {
  nats = await connectNats({ servers: requireEnv('EXPRESSO_NATS_URL').replace(/^nats:\/\//, '') });
  const subscription = nats.subscribe('expresso.*.calendar.changed');
  (async () => {
    for await (const message of subscription) changes.push(JSON.parse(new TextDecoder().decode(message.data)));
  })();
});

after(async () => {
  await nats?.close();
});

test('scheduled copies publish calendar.changed', { timeout: TEST_TIMEOUT_MS }, async () => {
  const [aliceId, bobId] = [await userIdOf(users.alice), await userIdOf(users.bob)];
  const before = await objectNames(users.bob);
  const uid = await invite(stackBase);
  const created = [...await objectNames(users.bob)].filter((name) => !before.has(name));
  assert.equal(created.length, 1, 'one copy in Bob\'s default calendar');

  const bobEvent = await waitFor('calendar.changed for Bob\'s copy', () =>
    changes.find((event) => event.user === bobId && event.resource === created[0]));
  assert.equal(bobEvent.calendar, 'default');
  assert.equal(bobEvent.change, 'created');

  // Bob accepts: the merged reply in Alice's copy is announced to Alice.
  const href = `${await homeOf(users.bob)}default/${created[0]}`;
  const copy = await request(users.bob, 'GET', href);
  const accepted = copy.text.replace(/\r\n[ \t]/g, '').replace(`PARTSTAT=NEEDS-ACTION:mailto:${users.bob.email}`,
    `PARTSTAT=ACCEPTED:mailto:${users.bob.email}`);
  const put = await request(users.bob, 'PUT', href, { body: accepted, type: 'text/calendar', headers: { 'If-Match': copy.headers.get('etag') } });
  assert.equal(put.status, 204, put.text);
  const aliceEvent = await waitFor('calendar.changed for Alice\'s copy', () =>
    changes.find((event) => event.user === aliceId && event.resource === `${uid}.ics` && event.change === 'updated'));
  assert.equal(aliceEvent.calendar, 'default');
});

test('invitation copy quota limit', { timeout: TEST_TIMEOUT_MS }, async () => {
  // Bob must use more than Alice, so that a quota just above Bob's usage lets Alice's own PUTs through.
  const fillerUid = `filler-${crypto.randomUUID()}`;
  const missing = (await quotaUsed(users.alice)) + 20_000 - (await quotaUsed(users.bob));
  const fillerHref = `${await homeOf(users.bob)}default/${fillerUid}.ics`;
  if (missing > 0) {
    const filler = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Expresso e2e//EN', 'BEGIN:VEVENT', `UID:${fillerUid}`,
      'DTSTAMP:20261201T120000Z', 'DTSTART:20300101T130000Z', 'SUMMARY:Filler',
      ...Array.from({ length: Math.ceil(missing / 70) }, () => `COMMENT:${'x'.repeat(60)}`), 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    assert.equal((await request(users.bob, 'PUT', fillerHref, { body: filler, type: 'text/calendar' })).status, 201);
  }
  try {
    // The size of one copy, measured through the stack's calendar.
    let used = await quotaUsed(users.bob);
    await invite(stackBase);
    const copySize = (await quotaUsed(users.bob)) - used;
    assert.ok(copySize > 0, 'the probe invitation was stored');

    // At the limit: usage plus the copy equals the quota, so the copy is stored.
    used = await quotaUsed(users.bob);
    const atLimit = await withCalendar({ EXPRESSO_CALENDAR_QUOTA: String(used + copySize) }, async (base) => {
      const names = await objectNames(users.bob);
      const uid = await invite(base);
      return { uid, stored: [...await objectNames(users.bob)].filter((name) => !names.has(name)).length };
    });
    assert.equal(atLimit.stored, 1, 'the copy at the quota is stored');
    assert.equal(await quotaUsed(users.bob), used + copySize);

    // One byte past: the copy is left out, the REQUEST still reaches Bob's schedule inbox.
    used = await quotaUsed(users.bob);
    const past = await withCalendar({ EXPRESSO_CALENDAR_QUOTA: String(used + copySize - 1) }, async (base) => {
      const names = await objectNames(users.bob);
      const uid = await invite(base);
      return { uid, stored: [...await objectNames(users.bob)].filter((name) => !names.has(name)).length };
    });
    assert.equal(past.stored, 0, 'the copy past the quota is not stored');
    assert.equal(await quotaUsed(users.bob), used);
    assert.equal(await inboxCount(users.bob, past.uid), 1);
  } finally {
    await request(users.bob, 'DELETE', fillerHref);
  }
});

test('queued iMIP outbox retention', { timeout: TEST_TIMEOUT_MS }, async () => {
  const owner = new pg.Client({ connectionString: requireEnv('EXPRESSO_DATABASE_OWNER_URL'), application_name: 'expresso-e2e-itip-retention' });
  await owner.connect();
  try {
    // Row-level security is forced on the owner too, so the session binds Alice's tenant.
    const { tenant_id: tenant } = (await owner.query('SELECT tenant_id FROM ex_tenant_for_login($1)', [users.alice.email])).rows[0];
    await owner.query("SELECT set_config('app.tenant_id', $1, false)", [tenant]);
    // Two invitations to remote.test; the stack's expresso-mail queues their outbox rows.
    const [past, within] = [await invite(stackBase, 'past@remote.test'), await invite(stackBase, 'within@remote.test')];
    const queued = (uid) => owner.query('SELECT queued_at IS NOT NULL AS queued FROM calendar_itip_outbox WHERE uid = $1', [uid]);
    await waitFor('the outbox rows queued', async () => (await queued(past)).rows[0]?.queued && (await queued(within)).rows[0]?.queued);

    // One day is the retention: one row queued a minute more than a day ago, one a minute less, and one still waiting.
    await owner.query("UPDATE calendar_itip_outbox SET queued_at = now() - interval '1 day 1 minute' WHERE uid = $1", [past]);
    await owner.query("UPDATE calendar_itip_outbox SET queued_at = now() - interval '1 day' + interval '1 minute' WHERE uid = $1", [within]);
    const waiting = `waiting-${crypto.randomUUID()}`;
    // A copy of the second row that was never queued; only the trigger below publishes calendar.itip, after the pruning.
    await owner.query(`INSERT INTO calendar_itip_outbox (tenant_id, user_id, sender, recipient, method, uid, ical, created_at)
      SELECT tenant_id, user_id, sender, 'waiting@remote.test', method, $1, ical, now() - interval '2 days'
      FROM calendar_itip_outbox WHERE uid = $2`, [waiting, within]);

    await withCalendar({ EXPRESSO_CALENDAR_ITIP_RETENTION_DAYS: '1' }, (base) => invite(base, 'trigger@remote.test'));
    const count = async (uid) => Number((await owner.query('SELECT count(*) FROM calendar_itip_outbox WHERE uid = $1', [uid])).rows[0].count);
    assert.equal(await count(past), 0, 'the row queued past the retention is deleted');
    assert.equal(await count(within), 1, 'the row queued within the retention is kept');
    assert.equal(await count(waiting), 1, 'a row that was never queued is kept, however old');
    await owner.query('DELETE FROM calendar_itip_outbox WHERE uid = $1', [waiting]);
  } finally {
    await owner.end();
  }
});
