// Incoming iMIP (RFC 6047) through expresso-imip-dispatch. Python's
// smtplib sends iTIP messages from remote.test, a domain no tenant has,
// to the stack's MX. expresso-mail delivers them, and the dispatcher
// applies them to the recipient's calendars, which the test reads over
// CalDAV. Alice and Bob are in the demo tenant, Carol in acme.
//
// Needs: the stack up (scripts/run-local.sh) with expresso-imip-dispatch,
// the variables of stack.env, /usr/bin/python3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { promisify } from 'node:util';

import { addAlias, removeAlias } from './lib/aliases.mjs';
import { requireEnv } from './lib/stack.mjs';

const TEST_TIMEOUT_MS = 120_000;
const base = requireEnv('EXPRESSO_CALDAV_URL');
const dispatcher = requireEnv('EXPRESSO_IMIP_DISPATCH_URL');
const smtpPort = requireEnv('EXPRESSO_SMTP_PORT');
const users = {
  alice: { email: requireEnv('EXPRESSO_ALICE_EMAIL'), password: requireEnv('EXPRESSO_ALICE_APP_PASSWORD') },
  bob: { email: requireEnv('EXPRESSO_BOB_EMAIL'), password: requireEnv('EXPRESSO_BOB_APP_PASSWORD') },
  carol: { email: requireEnv('EXPRESSO_CAROL_EMAIL'), password: requireEnv('EXPRESSO_CAROL_APP_PASSWORD') },
};

// ---- CalDAV --------------------------------------------------------------------------

async function request(user, method, url, { body, type, headers = {} } = {}) {
  const authorization = `Basic ${Buffer.from(`${user.email}:${user.password}`).toString('base64')}`;
  const response = await fetch(`${base}${url}`, {
    method,
    headers: { Authorization: authorization, ...(body !== undefined ? { 'Content-Type': type ?? 'application/xml' } : {}), ...headers },
    body,
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

async function homeOf(user) {
  const root = await request(user, 'PROPFIND', '/', {
    body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>',
    headers: { Depth: '0' },
  });
  return root.text.match(/<d:current-user-principal><d:href>([^<]*)</)[1].replace('/principals/', '/calendars/');
}

function unescapeXml(text) {
  return text.replace(/&#13;/g, '\r').replace(/&#x[dD];/g, '\r').replace(/&lt;/g, '<').replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"').replace(/&amp;/g, '&');
}

// Returns the copies ({ href, etag, ical }) of the event UID in USER's calendars, found with a calendar-query.
async function copiesOf(user, uid) {
  const home = await homeOf(user);
  const listing = await request(user, 'PROPFIND', home, {
    body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/></d:prop></d:propfind>',
    headers: { Depth: '1' },
  });
  assert.equal(listing.status, 207, listing.text);
  const calendars = [...listing.text.matchAll(/<d:response><d:href>([^<]*)<\/d:href>[\s\S]*?<\/d:response>/g)]
    .filter((match) => /<cal:calendar\/>/.test(match[0])).map((match) => match[1]);
  const copies = [];
  for (const calendar of calendars) {
    const found = await request(user, 'REPORT', calendar, {
      headers: { Depth: '1' },
      body: '<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">' +
        '<d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR">' +
        `<c:comp-filter name="VEVENT"><c:prop-filter name="UID"><c:text-match collation="i;octet">${uid}</c:text-match>` +
        '</c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>',
    });
    assert.equal(found.status, 207, found.text);
    for (const match of found.text.matchAll(/<d:response><d:href>([^<]*)<\/d:href>([\s\S]*?)<\/d:response>/g)) {
      const etag = unescapeXml(match[2].match(/<d:getetag>([^<]*)</)?.[1] ?? '');
      const ical = unescapeXml(match[2].match(/<cal:calendar-data>([\s\S]*?)<\/cal:calendar-data>/)?.[1] ?? '');
      copies.push({ href: match[1], etag, ical });
    }
  }
  return copies;
}

async function syncTokenOf(user, calendar) {
  const found = await request(user, 'PROPFIND', `${await homeOf(user)}${calendar}/`, {
    body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:sync-token/></d:prop></d:propfind>',
    headers: { Depth: '0' },
  });
  assert.equal(found.status, 207, found.text);
  return found.text.match(/<d:sync-token>([^<]*)</)[1];
}

// Returns the texts of the iTIP messages in USER's schedule inbox.
async function inboxMessages(user) {
  const listing = await request(user, 'PROPFIND', `${await homeOf(user)}inbox/`, {
    body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>',
    headers: { Depth: '1' },
  });
  assert.equal(listing.status, 207, listing.text);
  const texts = [];
  for (const match of listing.text.matchAll(/<d:href>([^<]*\.ics)<\/d:href>/g)) {
    const message = await request(user, 'GET', match[1]);
    assert.equal(message.status, 200);
    texts.push(message.text);
  }
  return texts;
}

function unfold(ical) {
  return ical.replace(/\r\n[ \t]/g, '');
}

// Returns the ATTENDEE line of EMAIL in ICAL, unfolded, or undefined.
function attendeeLine(ical, email) {
  return unfold(ical).split('\r\n').find((l) => l.startsWith('ATTENDEE') && l.toLowerCase().endsWith(`mailto:${email}`));
}

function partstatOf(ical, email) {
  const line = attendeeLine(ical, email);
  if (line === undefined) return null;
  return line.match(/;PARTSTAT=([A-Z-]+)/)?.[1] ?? 'NEEDS-ACTION';
}

// ---- iCalendar and mail --------------------------------------------------------------

function vcalendar(method, lines) {
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Remote Test//iMIP e2e//EN', `METHOD:${method}`, 'BEGIN:VEVENT',
    ...lines, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
}

function eventLines(uid, organizer, attendees, { sequence = 0, dtstamp = '20261201T120000Z', summary = 'Reunião externa' } = {}) {
  return [`UID:${uid}`, `DTSTAMP:${dtstamp}`, 'DTSTART:20270110T130000Z', 'DTEND:20270110T140000Z', `SEQUENCE:${sequence}`,
    `SUMMARY:${summary}`, `ORGANIZER:mailto:${organizer}`, ...attendees.map((a) => `ATTENDEE;PARTSTAT=${a.partstat}:mailto:${a.email}`)];
}

// The sender script: builds a multipart/alternative message with a text/calendar part and sends it with smtplib.
const SEND_SCRIPT = `
import json, smtplib, sys
from email.message import EmailMessage
args = json.loads(sys.argv[1])
message = EmailMessage()
message['From'] = args['from']
message['To'] = args['to']
message['Subject'] = args['subject']
message['Message-ID'] = args['message_id']
message.set_content('Convite / invitation')
message.add_alternative(args['ical'], subtype='calendar', params={'method': args['method']})
with smtplib.SMTP('127.0.0.1', int(args['port']), local_hostname='mx.remote.test', timeout=30) as client:
    client.send_message(message, from_addr=args['envelope'], to_addrs=[args['to']])
`;

async function sendItip({ from, envelope = from, to, method, ical, messageId = `<${crypto.randomUUID()}@remote.test>` }) {
  const args = { from, envelope, to, method, ical, port: smtpPort, subject: `iTIP ${method}`, message_id: messageId };
  await promisify(execFile)('/usr/bin/python3', ['-c', SEND_SCRIPT, JSON.stringify(args)], { timeout: 30_000 });
}

// ---- the dispatcher's counters -------------------------------------------------------

async function counter(name) {
  const response = await fetch(`${dispatcher}/metrics`);
  assert.equal(response.status, 200);
  const text = await response.text();
  const line = text.split('\n').find((l) => l.startsWith(`expresso_${name} `) || l.startsWith(`expresso_${name}{`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

async function waitFor(description, probe, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// Sends a message and waits until the dispatcher has counted it under OUTCOME (imip_<outcome>_total).
async function sendAndWait(outcome, message) {
  const before = await counter(`imip_${outcome}_total`);
  await sendItip(message);
  await waitFor(`imip_${outcome}_total above ${before}`, async () => (await counter(`imip_${outcome}_total`)) > before);
}

// Stores an event that Alice organizes with the attendee EXTERNAL, with EXTRA lines (an RRULE); returns its UID and href.
async function aliceOrganizes(external, extra = []) {
  const uid = `imip-${crypto.randomUUID()}`;
  const href = `${await homeOf(users.alice)}default/${uid}.ics`;
  const body = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Expresso e2e//EN', 'BEGIN:VEVENT',
    ...eventLines(uid, users.alice.email, [{ email: users.alice.email, partstat: 'ACCEPTED' }, { email: external, partstat: 'NEEDS-ACTION' }]),
    ...extra, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  const stored = await request(users.alice, 'PUT', href, { body, type: 'text/calendar' });
  assert.equal(stored.status, 201, stored.text);
  return { uid, href };
}

// ---- tests ---------------------------------------------------------------------------

test('dispatcher health and metrics', async () => {
  assert.equal((await fetch(`${dispatcher}/health`)).status, 200);
  assert.equal((await fetch(`${dispatcher}/ready`)).status, 200);
  const metrics = await (await fetch(`${dispatcher}/metrics`)).text();
  for (const name of ['imip_applied_total', 'imip_ignored_sender_total', 'imip_ignored_method_total', 'imip_without_calendar_total']) {
    assert.ok(metrics.includes(`expresso_${name}`), `metrics list ${name}`);
  }
});

test('external REPLY updates organizer copy', { timeout: TEST_TIMEOUT_MS }, async () => {
  const external = `guest-${crypto.randomUUID()}@remote.test`;
  const { uid, href } = await aliceOrganizes(external);
  const reply = vcalendar('REPLY', eventLines(uid, users.alice.email, [{ email: external, partstat: 'ACCEPTED' }],
    { dtstamp: '20261202T090000Z' }));
  await sendItip({ from: `Guest <${external}>`, envelope: external, to: users.alice.email, method: 'REPLY', ical: reply });

  const updated = await waitFor('the ACCEPTED reply in Alice\'s copy', async () => {
    const copy = await request(users.alice, 'GET', href);
    return partstatOf(copy.text, external) === 'ACCEPTED' ? copy : null;
  });
  assert.match(attendeeLine(updated.text, external), /SCHEDULE-STATUS=2\.0/);
  assert.equal(partstatOf(updated.text, users.alice.email), 'ACCEPTED', 'Alice\'s own PARTSTAT is kept');
});

test('external REPLY for one instance', { timeout: TEST_TIMEOUT_MS }, async () => {
  const external = `guest-${crypto.randomUUID()}@remote.test`;
  const { uid, href } = await aliceOrganizes(external, ['RRULE:FREQ=DAILY;COUNT=3']);
  const reply = vcalendar('REPLY', [...eventLines(uid, users.alice.email, [{ email: external, partstat: 'DECLINED' }],
    { dtstamp: '20261202T090000Z' }), 'RECURRENCE-ID:20270111T130000Z']);
  await sendItip({ from: external, to: users.alice.email, method: 'REPLY', ical: reply });

  // The second day gets an override with the reply's PARTSTAT. The series stays NEEDS-ACTION.
  const updated = await waitFor('an override in Alice\'s copy', async () => {
    const copy = await request(users.alice, 'GET', href);
    return unfold(copy.text).includes('RECURRENCE-ID:20270111T130000Z') ? copy : null;
  });
  const [master, override] = unfold(updated.text).split('BEGIN:VEVENT').slice(1);
  assert.equal(partstatOf(master, external), 'NEEDS-ACTION');
  assert.match(master, /\r\nRRULE:FREQ=DAILY;COUNT=3\r\n/);
  assert.equal(partstatOf(override, external), 'DECLINED');
  assert.match(override, /\r\nDTSTART:20270111T130000Z\r\n/);
  assert.match(override, /\r\nDTEND:20270111T140000Z\r\n/);
  assert.ok(!override.includes('RRULE'), 'the override has no rule');
});

test('forged REPLY changes nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
  const external = `guest-${crypto.randomUUID()}@remote.test`;
  const { uid, href } = await aliceOrganizes(external);
  const before = await request(users.alice, 'GET', href);
  const reply = vcalendar('REPLY', eventLines(uid, users.alice.email, [{ email: external, partstat: 'DECLINED' }]));

  // Neither the From address nor the envelope sender is the attendee.
  await sendAndWait('ignored_sender', { from: 'mallory@remote.test', to: users.alice.email, method: 'REPLY', ical: reply });
  const after = await request(users.alice, 'GET', href);
  assert.equal(after.headers.get('etag'), before.headers.get('etag'));
  assert.equal(partstatOf(after.text, external), 'NEEDS-ACTION');
});

test('external REQUEST lands in attendee calendar', { timeout: TEST_TIMEOUT_MS }, async () => {
  const organizer = `boss-${crypto.randomUUID()}@remote.test`;
  const uid = `imip-${crypto.randomUUID()}`;
  const attendees = [{ email: organizer, partstat: 'ACCEPTED' }, { email: users.bob.email, partstat: 'NEEDS-ACTION' }];
  const invitation = vcalendar('REQUEST', eventLines(uid, organizer, attendees));
  const message = { from: organizer, to: users.bob.email, method: 'REQUEST', ical: invitation, messageId: `<${uid}@remote.test>` };
  const tokenBefore = await syncTokenOf(users.bob, 'default');
  await sendAndWait('applied', message);
  assert.notEqual(await syncTokenOf(users.bob, 'default'), tokenBefore, 'the new copy moved the sync-token');
  const inbox = await inboxMessages(users.bob);
  assert.equal(inbox.filter((text) => text.includes(`UID:${uid}`) && text.includes('METHOD:REQUEST')).length, 1,
    'the REQUEST is in Bob\'s schedule inbox');

  const copies = await copiesOf(users.bob, uid);
  assert.equal(copies.length, 1, 'one copy in Bob\'s calendars');
  assert.match(copies[0].href, /\/default\/[^/]+$/, 'the copy is in the default calendar');
  assert.equal(partstatOf(copies[0].ical, users.bob.email), 'NEEDS-ACTION');
  assert.ok(!/METHOD:/.test(copies[0].ical), 'the stored object carries no METHOD');
  assert.match(copies[0].ical, /SUMMARY:Reunião externa/);

  // The same message delivered twice applies once.
  await sendAndWait('ignored_duplicate', message);
  const again = await copiesOf(users.bob, uid);
  assert.equal(again.length, 1);
  assert.equal(again[0].etag, copies[0].etag, 'the duplicate left the copy as it was');

  // A newer SEQUENCE updates the copy, and an older one is ignored.
  const moved = vcalendar('REQUEST', eventLines(uid, organizer, attendees, { sequence: 2, summary: 'Reunião adiada' }));
  await sendAndWait('applied', { from: organizer, to: users.bob.email, method: 'REQUEST', ical: moved });
  const older = vcalendar('REQUEST', eventLines(uid, organizer, attendees, { sequence: 1, summary: 'Versão antiga' }));
  await sendAndWait('ignored_outdated', { from: organizer, to: users.bob.email, method: 'REQUEST', ical: older });
  const latest = await copiesOf(users.bob, uid);
  assert.equal(latest.length, 1);
  assert.match(latest[0].ical, /SUMMARY:Reunião adiada/);

  // CANCEL from the organizer marks Bob's copy cancelled.
  const cancel = vcalendar('CANCEL', [...eventLines(uid, organizer, attendees, { sequence: 3 }), 'STATUS:CANCELLED']);
  await sendAndWait('applied', { from: organizer, to: users.bob.email, method: 'CANCEL', ical: cancel });
  const cancelled = await copiesOf(users.bob, uid);
  assert.equal(cancelled.length, 1);
  assert.match(unfold(cancelled[0].ical), /\r\nSTATUS:CANCELLED\r\n/);
});

test('external REQUEST to an alias lands in its user calendar', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alias = `bob-imip-${crypto.randomUUID().slice(0, 8)}@${users.bob.email.split('@')[1]}`;
  await addAlias(users.bob.email, alias);
  try {
    const organizer = `boss-${crypto.randomUUID()}@remote.test`;
    const uid = `imip-${crypto.randomUUID()}`;
    const attendees = [{ email: organizer, partstat: 'ACCEPTED' }, { email: alias, partstat: 'NEEDS-ACTION' }];
    const invitation = vcalendar('REQUEST', eventLines(uid, organizer, attendees));
    await sendAndWait('applied', { from: organizer, to: alias, method: 'REQUEST', ical: invitation });
    const copies = await copiesOf(users.bob, uid);
    assert.equal(copies.length, 1, 'one copy in Bob\'s calendars');
    assert.equal(partstatOf(copies[0].ical, alias), 'NEEDS-ACTION');

    // The CANCEL to the alias reaches the same copy.
    const cancel = vcalendar('CANCEL', [...eventLines(uid, organizer, attendees, { sequence: 1 }), 'STATUS:CANCELLED']);
    await sendAndWait('applied', { from: organizer, to: alias, method: 'CANCEL', ical: cancel });
    assert.match(unfold((await copiesOf(users.bob, uid))[0].ical), /\r\nSTATUS:CANCELLED\r\n/);
  } finally {
    await removeAlias(users.bob.email, alias);
  }
});

test('CANCEL of one recurrence instance', { timeout: TEST_TIMEOUT_MS }, async () => {
  const organizer = `boss-${crypto.randomUUID()}@remote.test`;
  const uid = `imip-${crypto.randomUUID()}`;
  const attendees = [{ email: organizer, partstat: 'ACCEPTED' }, { email: users.bob.email, partstat: 'NEEDS-ACTION' }];
  const series = vcalendar('REQUEST', [...eventLines(uid, organizer, attendees), 'RRULE:FREQ=DAILY;COUNT=3']);
  await sendAndWait('applied', { from: organizer, to: users.bob.email, method: 'REQUEST', ical: series });

  // The organizer cancels the second day only: the master gets an EXDATE and stays confirmed.
  const cancel = vcalendar('CANCEL', [...eventLines(uid, organizer, attendees, { sequence: 1 }),
    'RECURRENCE-ID:20270111T130000Z', 'STATUS:CANCELLED']);
  await sendAndWait('applied', { from: organizer, to: users.bob.email, method: 'CANCEL', ical: cancel });
  const copies = await copiesOf(users.bob, uid);
  assert.equal(copies.length, 1);
  const ical = unfold(copies[0].ical);
  assert.match(ical, /\r\nEXDATE:20270111T130000Z\r\n/);
  assert.ok(!/STATUS:CANCELLED/.test(ical), 'the other instances are not cancelled');

  // A CANCEL from someone else than the organizer changes nothing.
  const forged = vcalendar('CANCEL', [...eventLines(uid, organizer, attendees, { sequence: 2 }), 'STATUS:CANCELLED']);
  await sendAndWait('ignored_sender', { from: 'mallory@remote.test', to: users.bob.email, method: 'CANCEL', ical: forged });
  assert.equal((await copiesOf(users.bob, uid))[0].etag, copies[0].etag);
});

test('REQUEST for a non-attendee is ignored', { timeout: TEST_TIMEOUT_MS }, async () => {
  const organizer = `boss-${crypto.randomUUID()}@remote.test`;
  const uid = `imip-${crypto.randomUUID()}`;
  const invitation = vcalendar('REQUEST', eventLines(uid, organizer, [{ email: 'someone@remote.test', partstat: 'NEEDS-ACTION' }]));
  await sendAndWait('ignored_not_participant', { from: organizer, to: users.bob.email, method: 'REQUEST', ical: invitation });
  assert.equal((await copiesOf(users.bob, uid)).length, 0);
});

test('METHOD PUBLISH is ignored', { timeout: TEST_TIMEOUT_MS }, async () => {
  const organizer = `boss-${crypto.randomUUID()}@remote.test`;
  const uid = `imip-${crypto.randomUUID()}`;
  const published = vcalendar('PUBLISH', eventLines(uid, organizer, [{ email: users.bob.email, partstat: 'NEEDS-ACTION' }]));
  await sendAndWait('ignored_method', { from: organizer, to: users.bob.email, method: 'PUBLISH', ical: published });
  assert.equal((await copiesOf(users.bob, uid)).length, 0);
});

test('other tenant events are untouched', { timeout: TEST_TIMEOUT_MS }, async () => {
  const external = `guest-${crypto.randomUUID()}@remote.test`;
  const { uid, href } = await aliceOrganizes(external);
  const before = await request(users.alice, 'GET', href);

  // The reply names Alice's event but goes to Carol, in another tenant.
  const reply = vcalendar('REPLY', eventLines(uid, users.alice.email, [{ email: external, partstat: 'ACCEPTED' }]));
  await sendAndWait('ignored_no_event', { from: external, to: users.carol.email, method: 'REPLY', ical: reply });
  const after = await request(users.alice, 'GET', href);
  assert.equal(after.headers.get('etag'), before.headers.get('etag'));
  assert.equal(partstatOf(after.text, external), 'NEEDS-ACTION');

  // An invitation to Carol with the UID of Alice's event lands only in Carol's calendar.
  const invitation = vcalendar('REQUEST', eventLines(uid, external, [{ email: users.carol.email, partstat: 'NEEDS-ACTION' }]));
  await sendAndWait('applied', { from: external, to: users.carol.email, method: 'REQUEST', ical: invitation });
  const carolCopies = await copiesOf(users.carol, uid);
  assert.equal(carolCopies.length, 1);
  const aliceAfter = await request(users.alice, 'GET', href);
  assert.equal(aliceAfter.headers.get('etag'), before.headers.get('etag'));
  // Other tests expect Carol's default calendar to be empty.
  assert.equal((await request(users.carol, 'DELETE', carolCopies[0].href, { headers: { 'Schedule-Reply': 'F' } })).status, 204);
});
