// Free-busy requests POSTed to the schedule outbox (RFC 6638 section 5):
// raw POSTs shaped as Thunderbird and Apple Calendar send them, and
// python3-caldav's Principal.freebusy_request. Bob (demo) has busy,
// tentative, transparent, cancelled and private events. Alice requests
// his busy time, and Carol is in another tenant.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// /usr/bin/python3 with python3-caldav.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { promisify } from 'node:util';

import { requireEnv } from './lib/stack.mjs';

const base = requireEnv('EXPRESSO_CALDAV_URL');
const users = {
  alice: { email: requireEnv('EXPRESSO_ALICE_EMAIL'), password: requireEnv('EXPRESSO_ALICE_APP_PASSWORD') },
  bob: { email: requireEnv('EXPRESSO_BOB_EMAIL'), password: requireEnv('EXPRESSO_BOB_APP_PASSWORD') },
  carol: { email: requireEnv('EXPRESSO_CAROL_EMAIL'), password: requireEnv('EXPRESSO_CAROL_APP_PASSWORD') },
};
// A day in 2031 that no other test writes events into.
const DAY = '20310310';
let aliceOutbox;

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

async function putEvent(user, lines) {
  const uid = `fb-${crypto.randomUUID()}`;
  const body = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Expresso e2e//EN', 'BEGIN:VEVENT', `UID:${uid}`,
    'DTSTAMP:20261201T120000Z', ...lines, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  const stored = await request(user, 'PUT', `${await homeOf(user)}default/${uid}.ics`, { body, type: 'text/calendar' });
  assert.equal(stored.status, 201, stored.text);
}

// A VFREEBUSY REQUEST as Thunderbird 115 writes it.
function thunderbirdRequest(organizer, attendees, { start = `${DAY}T000000Z`, end = `${DAY}T235959Z`, method = 'REQUEST' } = {}) {
  return ['BEGIN:VCALENDAR', 'PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN', 'VERSION:2.0', `METHOD:${method}`,
    'BEGIN:VFREEBUSY', 'DTSTAMP:20261205T100000Z', `ORGANIZER:mailto:${organizer}`, `DTSTART:${start}`, `DTEND:${end}`,
    `UID:${crypto.randomUUID()}`,
    ...attendees.map((a) => `ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;CUTYPE=INDIVIDUAL:mailto:${a}`),
    'END:VFREEBUSY', 'END:VCALENDAR', ''].join('\r\n');
}

function post(user, body, headers = {}) {
  return request(user, 'POST', aliceOutbox, { body, type: 'text/calendar; charset=utf-8', headers });
}

function unescapeXml(text) {
  return text.replace(/&#13;/g, '\r').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
}

// Returns the responses of a schedule-response: { recipient, status, data }.
function responses(xml) {
  return [...xml.matchAll(/<C:response>([\s\S]*?)<\/C:response>/g)].map((match) => ({
    recipient: match[1].match(/<D:href>([^<]*)<\/D:href>/)[1],
    status: match[1].match(/<C:request-status>([^<]*)</)[1],
    data: unescapeXml(match[1].match(/<C:calendar-data>([\s\S]*?)<\/C:calendar-data>/)?.[1] ?? ''),
  }));
}

before(async () => {
  aliceOutbox = `${await homeOf(users.alice)}outbox/`;
  // Two overlapping busy events merge into 09:00-11:00; then a tentative hour, a transparent, a cancelled and a private event.
  await putEvent(users.bob, [`DTSTART:${DAY}T090000Z`, `DTEND:${DAY}T100000Z`, 'SUMMARY:Planejamento']);
  await putEvent(users.bob, [`DTSTART:${DAY}T093000Z`, `DTEND:${DAY}T110000Z`, 'SUMMARY:Revisão']);
  await putEvent(users.bob, [`DTSTART:${DAY}T130000Z`, `DTEND:${DAY}T140000Z`, 'STATUS:TENTATIVE', 'SUMMARY:Talvez']);
  await putEvent(users.bob, [`DTSTART:${DAY}T150000Z`, `DTEND:${DAY}T160000Z`, 'TRANSP:TRANSPARENT', 'SUMMARY:Lembrete']);
  await putEvent(users.bob, [`DTSTART:${DAY}T170000Z`, `DTEND:${DAY}T180000Z`, 'STATUS:CANCELLED', 'SUMMARY:Cancelado']);
  await putEvent(users.bob, [`DTSTART:${DAY}T190000Z`, `DTEND:${DAY}T200000Z`, 'CLASS:PRIVATE', 'SUMMARY:Segredo médico']);
});

test('outbox POST answers Thunderbird request', async () => {
  const answer = await post(users.alice, thunderbirdRequest(users.alice.email, [users.bob.email, 'nobody@remote.test', users.carol.email]),
    { Originator: `mailto:${users.alice.email}`, Recipient: `mailto:${users.bob.email}` });
  assert.equal(answer.status, 200, answer.text);
  assert.match(answer.headers.get('content-type'), /^application\/xml/);
  assert.match(answer.text, /<C:schedule-response xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">/);
  const [bob, nobody, carol] = responses(answer.text);

  assert.equal(bob.recipient, `mailto:${users.bob.email}`);
  assert.equal(bob.status, '2.0;Success');
  assert.match(bob.data, /METHOD:REPLY\r\n/);
  assert.match(bob.data, /BEGIN:VFREEBUSY\r\n/);
  assert.match(bob.data, new RegExp(`ATTENDEE:mailto:${users.bob.email}\r\n`));
  const busy = bob.data.split('\r\n').filter((line) => line.startsWith('FREEBUSY'));
  assert.deepEqual(busy, [
    `FREEBUSY;FBTYPE=BUSY:${DAY}T090000Z/${DAY}T110000Z`,
    `FREEBUSY;FBTYPE=BUSY:${DAY}T190000Z/${DAY}T200000Z`,
    `FREEBUSY;FBTYPE=BUSY-TENTATIVE:${DAY}T130000Z/${DAY}T140000Z`,
  ]);
  for (const secret of ['Segredo', 'Planejamento', 'SUMMARY', 'CLASS']) {
    assert.ok(!answer.text.includes(secret), `the answer does not show ${secret}`);
  }

  assert.equal(nobody.status, '3.7;Invalid calendar user');
  assert.equal(nobody.data, '');
  assert.equal(carol.recipient, `mailto:${users.carol.email}`);
  assert.equal(carol.status, '3.7;Invalid calendar user', 'a user of another tenant is unknown here');
});

test('outbox POST answers Apple Calendar request', async () => {
  const body = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Apple Inc.//macOS 14.0//EN', 'METHOD:REQUEST', 'BEGIN:VFREEBUSY',
    `UID:${crypto.randomUUID().toUpperCase()}`, 'DTSTAMP:20261205T100000Z', `DTSTART:${DAY}T120000Z`, `DTEND:${DAY}T200000Z`,
    `ORGANIZER;CN=Alice:mailto:${users.alice.email}`, `ATTENDEE;CN=Alice:mailto:${users.alice.email}`,
    `ATTENDEE;CN=Bob:mailto:${users.bob.email.toUpperCase()}`, 'X-CALENDARSERVER-MASK-UID:abc', 'END:VFREEBUSY',
    'END:VCALENDAR', ''].join('\r\n');
  const answer = await post(users.alice, body);
  assert.equal(answer.status, 200, answer.text);
  const [alice, bob] = responses(answer.text);
  assert.equal(alice.status, '2.0;Success');
  assert.equal(bob.status, '2.0;Success', 'addresses compare without case');
  // Only the part of the range asked for: the morning block is outside it, the private hour ends at the range end.
  assert.deepEqual(bob.data.split('\r\n').filter((line) => line.startsWith('FREEBUSY')), [
    `FREEBUSY;FBTYPE=BUSY:${DAY}T190000Z/${DAY}T200000Z`,
    `FREEBUSY;FBTYPE=BUSY-TENTATIVE:${DAY}T130000Z/${DAY}T140000Z`,
  ]);
});

test('outbox POST rejects invalid requests', async () => {
  const notMine = await post(users.alice, thunderbirdRequest(users.bob.email, [users.bob.email]));
  assert.equal(notMine.status, 403);
  assert.match(notMine.text, /organizer-allowed/);

  const publish = await post(users.alice, thunderbirdRequest(users.alice.email, [users.bob.email], { method: 'PUBLISH' }));
  assert.equal(publish.status, 403);
  assert.match(publish.text, /valid-scheduling-message/);

  const backwards = await post(users.alice, thunderbirdRequest(users.alice.email, [users.bob.email],
    { start: `${DAY}T120000Z`, end: `${DAY}T110000Z` }));
  assert.equal(backwards.status, 403);
  assert.match(backwards.text, /DTEND must be after/);

  const none = await post(users.alice, thunderbirdRequest(users.alice.email, []));
  assert.equal(none.status, 403);
  assert.match(none.text, /recipient-specified/);

  const garbage = await post(users.alice, 'not a calendar');
  assert.equal(garbage.status, 403);
  assert.match(garbage.text, /valid-calendar-data/);

  const xml = await request(users.alice, 'POST', aliceOutbox, { body: '<x/>', type: 'application/xml' });
  assert.equal(xml.status, 415);

  const elsewhere = await request(users.alice, 'POST', `${await homeOf(users.alice)}default/`,
    { body: thunderbirdRequest(users.alice.email, [users.bob.email]), type: 'text/calendar' });
  assert.equal(elsewhere.status, 405);

  const bobsOutbox = await request(users.bob, 'POST', aliceOutbox,
    { body: thunderbirdRequest(users.bob.email, [users.alice.email]), type: 'text/calendar' });
  assert.equal(bobsOutbox.status, 404, 'another user\'s outbox does not exist for Bob');

  const get = await request(users.alice, 'GET', aliceOutbox);
  assert.equal(get.status, 405);
  assert.match(get.headers.get('allow'), /POST/);
});

test('outbox POST attendee limit', async () => {
  // EXPRESSO_CALENDAR_MAX_FREEBUSY_USERS is 20 on the stack (its default).
  const twenty = Array.from({ length: 20 }, (_, i) => `guest${i}@remote.test`);
  const atLimit = await post(users.alice, thunderbirdRequest(users.alice.email, twenty));
  assert.equal(atLimit.status, 200, atLimit.text);
  assert.equal(responses(atLimit.text).length, 20);

  const past = await post(users.alice, thunderbirdRequest(users.alice.email, [...twenty, users.bob.email]));
  assert.equal(past.status, 403);
  assert.match(past.text, /names 21 attendees; at most 20/);
});

test('python3-caldav freebusy_request', async () => {
  // python-caldav 0.11 parses the response as a DAV:multistatus and returns {None: {}} for a
  // CALDAV:schedule-response, so the script records the raw response of the client's POST.
  const script = `
import sys, datetime, caldav
client = caldav.DAVClient(url=sys.argv[1] + '/dav/', username=sys.argv[2], password=sys.argv[3])
principal = client.principal()
answers = []
original_post = client.post
def recording_post(*args, **kwargs):
    response = original_post(*args, **kwargs)
    answers.append(response)
    return response
client.post = recording_post
start = datetime.datetime(2031, 3, 10, 0, 0, tzinfo=datetime.timezone.utc)
end = datetime.datetime(2031, 3, 11, 0, 0, tzinfo=datetime.timezone.utc)
principal.freebusy_request(start, end, ['mailto:' + sys.argv[4]])
print(answers[0].status)
print(answers[0].raw.decode())
`;
  const { stdout } = await promisify(execFile)('/usr/bin/python3',
    ['-c', script, base, users.alice.email, users.alice.password, users.bob.email], { timeout: 60_000 });
  const [status, ...rest] = stdout.split('\n');
  assert.equal(status, '200');
  const [bob] = responses(rest.join('\n'));
  assert.equal(bob.recipient, `mailto:${users.bob.email}`);
  assert.equal(bob.status, '2.0;Success');
  assert.match(bob.data, /\r\nFREEBUSY;FBTYPE=BUSY:20310310T090000Z\/20310310T110000Z\r\n/);
});
