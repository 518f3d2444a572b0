// CalDAV scheduling (RFC 6638) in expresso-calendar, with iMIP (RFC 6047)
// through expresso-mail. Alice (demo) organizes events with Bob (demo)
// and an address at remote.test as attendees. Bob's schedule inbox and
// default calendar get the invitation. His replies, over CalDAV and over
// the JSON API, update Alice's copy. The external attendee's mail goes
// from calendar_itip_outbox through the stack's expresso-mail into the
// outbound queue, and a private expresso-mail instance, whose outbound
// routes send remote.test to an aiosmtpd server (smtp_remote.py),
// delivers it.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// /usr/bin/python3 with aiosmtpd (Debian python3-aiosmtpd).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { addAlias, removeAlias } from './lib/aliases.mjs';
import { buildDir, freeMailPorts, freePort, mailInstanceEnv, repoRoot, requireEnv, startDaemon, waitFor, waitForDaemon, waitForHttp } from './lib/stack.mjs';

const calendarBinary = path.join(buildDir, 'services', 'calendar', 'expresso-calendar');

const TEST_TIMEOUT_MS = 120_000;
const host = '127.0.0.1';
const mailBinary = path.join(buildDir, 'services', 'mail', 'expresso-mail');

const base = requireEnv('EXPRESSO_CALDAV_URL');
const users = {
  alice: { email: requireEnv('EXPRESSO_ALICE_EMAIL'), password: requireEnv('EXPRESSO_ALICE_APP_PASSWORD') },
  bob: { email: requireEnv('EXPRESSO_BOB_EMAIL'), password: requireEnv('EXPRESSO_BOB_APP_PASSWORD') },
};
let remote;
let instance;

// ---- HTTP ---------------------------------------------------------------------------

// Sends a request as USER: with a Bearer token when USER has one, else with Basic and the app password.
async function request(user, method, url, { body, type, headers = {} } = {}) {
  const authorization = user.token ? `Bearer ${user.token}` : `Basic ${Buffer.from(`${user.email}:${user.password}`).toString('base64')}`;
  const response = await fetch(`${base}${url}`, {
    method,
    headers: { Authorization: authorization, ...(body !== undefined ? { 'Content-Type': type ?? 'application/xml' } : {}), ...headers },
    body,
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const propfind = (user, url, props, depth = '0') => request(user, 'PROPFIND', url, {
  body: `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop>${props}</d:prop></d:propfind>`,
  headers: { Depth: depth },
});

async function principalOf(user) {
  const root = await propfind(user, '/', '<d:current-user-principal/>');
  return root.text.match(/<d:current-user-principal><d:href>([^<]*)</)[1];
}

// ---- iCalendar ----------------------------------------------------------------------

function invitation(uid, attendees, { summary = 'Reunião de planejamento', sequence = 0, organizerParams = '' } = {}) {
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Expresso e2e//EN', 'BEGIN:VEVENT', `UID:${uid}`,
    'DTSTAMP:20261201T120000Z', 'DTSTART:20270110T130000Z', 'DTEND:20270110T140000Z', `SEQUENCE:${sequence}`,
    `SUMMARY:${summary}`, `ORGANIZER${organizerParams}:mailto:${users.alice.email}`,
    `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${users.alice.email}`];
  for (const line of attendees) lines.push(line);
  lines.push('END:VEVENT', 'END:VCALENDAR', '');
  return lines.join('\r\n');
}

// Returns the PARTSTAT of the ATTENDEE EMAIL in an iCalendar text (unfolded), or null.
function partstatOf(ical, email) {
  const unfolded = ical.replace(/\r\n[ \t]/g, '');
  const line = unfolded.split('\r\n').find((l) => l.startsWith('ATTENDEE') && l.toLowerCase().endsWith(`mailto:${email}`));
  if (line === undefined) return null;
  return line.match(/;PARTSTAT=([A-Z-]+)/)?.[1] ?? 'NEEDS-ACTION';
}

function attendeeLine(ical, email) {
  return ical.replace(/\r\n[ \t]/g, '').split('\r\n').find((l) => l.startsWith('ATTENDEE') && l.toLowerCase().endsWith(`mailto:${email}`));
}

// Returns Bob's copy of the event UID through the JSON API of his default calendar, or undefined.
async function bobCopy(uid) {
  const listed = await request(users.bob, 'GET', '/api/v1/calendars/default/events');
  assert.equal(listed.status, 200, listed.text);
  return JSON.parse(listed.text).events.find((event) => event.uid === uid);
}

// Returns the texts of the iTIP messages in USER's schedule inbox.
async function inboxMessages(user) {
  const inbox = `${(await principalOf(user)).replace('/principals/', '/calendars/')}inbox/`;
  const listing = await propfind(user, inbox, '<d:getetag/>', '1');
  assert.equal(listing.status, 207, listing.text);
  const hrefs = [...listing.text.matchAll(/<d:href>([^<]*\.ics)<\/d:href>/g)].map((match) => match[1]);
  const messages = [];
  for (const href of hrefs) {
    const message = await request(user, 'GET', href);
    assert.equal(message.status, 200);
    messages.push({ href, text: message.text });
  }
  return messages;
}

// ---- the remote SMTP server and the delivering expresso-mail ------------------------

function startRemote(port, stateDir) {
  const child = spawn('/usr/bin/python3', [path.join(import.meta.dirname, 'smtp_remote.py'), String(port),
    path.join(stateDir, 'tls', 'server.pem'), path.join(stateDir, 'tls', 'server.key')],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  const server = { child, events: [], stderr: '' };
  let partial = '';
  child.stdout.on('data', (chunk) => {
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop();
    for (const line of lines) server.events.push(line === 'ready' ? { event: 'ready' } : JSON.parse(line));
  });
  child.stderr.on('data', (chunk) => { server.stderr += chunk.toString(); });
  server.exited = new Promise((resolve) => child.on('exit', resolve));
  return server;
}

function remoteMessage(recipient, method) {
  return waitFor(`an iMIP ${method} to ${recipient}`, () => remote.events.find((event) => event.event === 'message' &&
    event.rcpt_tos.includes(recipient) && event.head.includes(`method=${method}`)), 40_000);
}

before(async () => {
  const stateDir = requireEnv('EXPRESSO_STATE_DIR');
  assert.ok(existsSync(mailBinary), `${mailBinary} is missing: build the tree or set EXPRESSO_BUILD_DIR`);
  const remotePort = await freePort();
  remote = startRemote(remotePort, stateDir);
  await waitFor('the remote SMTP server', () => remote.events.some((event) => event.event === 'ready'), 15_000);

  const ports = await freeMailPorts();
  instance = startDaemon(mailBinary, {
    ...mailInstanceEnv(stateDir, ports),
    EXPRESSO_OUTBOUND_WORKERS: '1',
    EXPRESSO_OUTBOUND_TRANSPORTS: `remote.test=127.0.0.1:${remotePort}`,
    EXPRESSO_OUTBOUND_POLL_INTERVAL: '200ms',
    EXPRESSO_OUTBOUND_TIMEOUT: '10s',
  });
  await waitForDaemon(instance, `http://${host}:${ports.http}/ready`);
}, { timeout: TEST_TIMEOUT_MS });

after(async () => {
  if (instance !== undefined && instance.child.exitCode === null) {
    instance.child.kill('SIGTERM');
    await instance.exited;
  }
  if (remote !== undefined && remote.child.exitCode === null) {
    remote.child.kill('SIGTERM');
    await remote.exited;
  }
});

// ---- tests ----------------------------------------------------------------------------

test('principal scheduling properties', async () => {
  const principal = await principalOf(users.alice);
  const found = await propfind(users.alice, principal,
    '<c:calendar-user-address-set/><c:schedule-inbox-URL/><c:schedule-outbox-URL/><c:schedule-default-calendar-URL/>');
  assert.equal(found.status, 207);
  const home = principal.replace('/principals/', '/calendars/');
  assert.match(found.text, new RegExp(`<cal:calendar-user-address-set><d:href>mailto:${users.alice.email}</d:href>`));
  assert.ok(found.text.includes(`<d:href>${home}inbox/</d:href>`), found.text);
  assert.ok(found.text.includes(`<d:href>${home}outbox/</d:href>`), found.text);
  assert.ok(found.text.includes(`<d:href>${home}default/</d:href>`), found.text);
  assert.ok(!found.text.includes('404 Not Found'), found.text);

  const inbox = await propfind(users.alice, `${home}inbox/`, '<d:resourcetype/>');
  assert.equal(inbox.status, 207);
  assert.match(inbox.text, /<d:resourcetype><d:collection\/><cal:schedule-inbox\/><\/d:resourcetype>/);
  const outbox = await propfind(users.alice, `${home}outbox/`, '<d:resourcetype/>');
  assert.match(outbox.text, /<d:resourcetype><d:collection\/><cal:schedule-outbox\/><\/d:resourcetype>/);
  assert.equal((await request(users.alice, 'PUT', `${home}inbox/x.ics`, { body: 'x', type: 'text/calendar' })).status, 405);

  const options = await fetch(`${base}/dav/`, { method: 'OPTIONS' });
  assert.match(options.headers.get('dav'), /calendar-auto-schedule/);
});

test('invitation reaches colleague and external attendee', { timeout: TEST_TIMEOUT_MS }, async () => {
  const uid = `sched-${crypto.randomUUID()}`;
  const external = `guest-${crypto.randomUUID()}@remote.test`;
  const home = (await principalOf(users.alice)).replace('/principals/', '/calendars/');
  const href = `${home}default/${uid}.ics`;
  const body = invitation(uid, [
    `ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${users.bob.email}`,
    `ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${external}`,
  ]);
  const stored = await request(users.alice, 'PUT', href, { body, type: 'text/calendar' });
  assert.equal(stored.status, 201, stored.text);
  const scheduleTag = stored.headers.get('schedule-tag');
  assert.ok(scheduleTag, 'a PUT returns the Schedule-Tag');

  // Bob: the REQUEST in his inbox, the event in his default calendar.
  const requests = (await inboxMessages(users.bob)).filter((message) => message.text.includes(`UID:${uid}`));
  assert.equal(requests.length, 1);
  assert.match(requests[0].text, /METHOD:REQUEST/);
  const copy = await bobCopy(uid);
  assert.ok(copy, 'the event is in Bob\'s default calendar');
  assert.equal(copy.organizer, users.alice.email);
  assert.deepEqual(copy.attendees.map((a) => a.email).sort(), [users.alice.email, users.bob.email, external].sort());
  assert.equal(copy.attendees.find((a) => a.email === users.bob.email).partstat, 'NEEDS-ACTION');
  assert.equal(copy.summary, 'Reunião de planejamento');

  // The external attendee: an iMIP REQUEST from Alice.
  const mail = await remoteMessage(external, 'REQUEST');
  assert.equal(mail.mail_from, users.alice.email);
  assert.match(mail.head, /\r\nContent-Type: text\/calendar; charset=utf-8; method=REQUEST\r\n/);
  assert.match(mail.head, /^From: <alice@demo\.expresso\.test>\r\n/m);
  assert.match(mail.head, /\r\nSubject: =\?UTF-8\?B\?/);

  // Bob accepts over CalDAV: the REPLY updates Alice's copy.
  const bobHome = (await principalOf(users.bob)).replace('/principals/', '/calendars/');
  const bobHref = `${bobHome}default/${copy.name}`;
  const before = await request(users.bob, 'GET', bobHref);
  assert.equal(before.status, 200);
  const bobLine = attendeeLine(before.text, users.bob.email);
  assert.match(bobLine, /PARTSTAT=NEEDS-ACTION/, 'Bob\'s copy names him with NEEDS-ACTION');
  const accepted = before.text.replace(/\r\n[ \t]/g, '').replace(bobLine, bobLine.replace('PARTSTAT=NEEDS-ACTION', 'PARTSTAT=ACCEPTED'));
  const put = await request(users.bob, 'PUT', bobHref, { body: accepted, type: 'text/calendar', headers: { 'If-Match': before.headers.get('etag') } });
  assert.equal(put.status, 204, put.text);

  const organizerCopy = await request(users.alice, 'GET', href);
  assert.equal(partstatOf(organizerCopy.text, users.bob.email), 'ACCEPTED');
  assert.notEqual(organizerCopy.headers.get('etag'), stored.headers.get('etag'), 'the reply changed the organizer\'s copy');
  assert.equal(organizerCopy.headers.get('schedule-tag'), scheduleTag, 'merging a reply keeps the schedule-tag');
  const tagged = await propfind(users.alice, href, '<c:schedule-tag/>');
  assert.ok(tagged.text.includes(`<cal:schedule-tag>${scheduleTag.replaceAll('"', '&quot;')}</cal:schedule-tag>`) ||
    tagged.text.includes(`<cal:schedule-tag>${scheduleTag}</cal:schedule-tag>`), tagged.text);
  // calendar-multiget reports the same schedule-tag as PROPFIND.
  const multiget = await request(users.alice, 'REPORT', href.replace(/[^/]+$/, ''), {
    body: '<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
      + `<d:prop><d:getetag/><c:schedule-tag/></d:prop><d:href>${href}</d:href></c:calendar-multiget>`,
    type: 'application/xml',
    headers: { Depth: '1' },
  });
  assert.equal(multiget.status, 207, multiget.text);
  assert.ok(multiget.text.includes(`<cal:schedule-tag>${scheduleTag.replaceAll('"', '&quot;')}</cal:schedule-tag>`) ||
    multiget.text.includes(`<cal:schedule-tag>${scheduleTag}</cal:schedule-tag>`), multiget.text);
  const stale = await request(users.alice, 'PUT', href, { body: organizerCopy.text, type: 'text/calendar', headers: { 'If-Schedule-Tag-Match': '"stale"' } });
  assert.equal(stale.status, 412);
  assert.match(attendeeLine(organizerCopy.text, users.bob.email), /SCHEDULE-STATUS=2\.0/);
  assert.equal(partstatOf(organizerCopy.text, external), 'NEEDS-ACTION');
  const replies = (await inboxMessages(users.alice)).filter((message) => message.text.includes(`UID:${uid}`));
  assert.equal(replies.length, 1);
  assert.match(replies[0].text, /METHOD:REPLY/);
  assert.equal(attendeeLine(replies[0].text, users.alice.email), undefined, 'a REPLY names only the replier');

  // Saving the organizer's copy again changes nothing for the attendees: no new REQUEST.
  const resaved = await request(users.alice, 'PUT', href, { body: organizerCopy.text.replace('DTSTAMP:20261201T120000Z', 'DTSTAMP:20261202T120000Z'), type: 'text/calendar' });
  assert.equal(resaved.status, 204);
  assert.equal((await inboxMessages(users.bob)).filter((message) => message.text.includes(`UID:${uid}`)).length, 1);
  assert.equal((await bobCopy(uid)).attendees.find((a) => a.email === users.bob.email).partstat, 'ACCEPTED');

  // Alice deletes the event: Bob's copy is cancelled, the external attendee gets a CANCEL.
  assert.equal((await request(users.alice, 'DELETE', href)).status, 204);
  const cancelled = await request(users.bob, 'GET', bobHref);
  assert.match(cancelled.text, /STATUS:CANCELLED/);
  const cancel = await remoteMessage(external, 'CANCEL');
  assert.equal(cancel.mail_from, users.alice.email);
  await request(users.bob, 'DELETE', bobHref, { headers: { 'Schedule-Reply': 'F' } });
});

test('colleague declines one instance', { timeout: TEST_TIMEOUT_MS }, async () => {
  const uid = `instance-${crypto.randomUUID()}`;
  const home = (await principalOf(users.alice)).replace('/principals/', '/calendars/');
  const href = `${home}default/${uid}.ics`;
  const stored = await request(users.alice, 'PUT', href, { body: invitation(uid, [
    `ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${users.bob.email}`, 'RRULE:FREQ=DAILY;COUNT=3']), type: 'text/calendar' });
  assert.equal(stored.status, 201, stored.text);

  // Bob adds an override of the second day to his copy, declining that day only.
  const copy = await bobCopy(uid);
  const bobHref = `${(await principalOf(users.bob)).replace('/principals/', '/calendars/')}default/${copy.name}`;
  const before = await request(users.bob, 'GET', bobHref);
  const text = before.text.replace(/\r\n[ \t]/g, '');
  const master = text.slice(text.indexOf('BEGIN:VEVENT'), text.indexOf('END:VEVENT') + 'END:VEVENT\r\n'.length);
  const override = master.split('\r\n').filter((line) => !line.startsWith('RRULE')).map((line) => {
    if (line.startsWith('DTSTART')) return 'DTSTART:20270111T130000Z\r\nRECURRENCE-ID:20270111T130000Z';
    if (line.startsWith('DTEND')) return 'DTEND:20270111T140000Z';
    if (line.startsWith('ATTENDEE') && line.toLowerCase().endsWith(`mailto:${users.bob.email}`)) {
      return line.replace(/PARTSTAT=[A-Z-]+/, 'PARTSTAT=DECLINED');
    }
    return line;
  }).join('\r\n');
  const put = await request(users.bob, 'PUT', bobHref, { body: text.replace('END:VCALENDAR', `${override}END:VCALENDAR`),
    type: 'text/calendar', headers: { 'If-Match': before.headers.get('etag') } });
  assert.equal(put.status, 204, put.text);

  // Alice's copy: the series is still NEEDS-ACTION for Bob, and the second day has his DECLINED.
  const organizerCopy = (await request(users.alice, 'GET', href)).text.replace(/\r\n[ \t]/g, '');
  const [series, instance] = organizerCopy.split('BEGIN:VEVENT').slice(1);
  assert.equal(partstatOf(series, users.bob.email), 'NEEDS-ACTION');
  assert.ok(instance !== undefined, organizerCopy);
  assert.match(instance, /\r\nRECURRENCE-ID:20270111T130000Z\r\n/);
  assert.equal(partstatOf(instance, users.bob.email), 'DECLINED');
  assert.equal((await request(users.alice, 'DELETE', href)).status, 204);
});

test('rsvp through the JSON API', { timeout: TEST_TIMEOUT_MS }, async () => {
  const uid = `rsvp-${crypto.randomUUID()}`;
  const home = (await principalOf(users.alice)).replace('/principals/', '/calendars/');
  const href = `${home}default/${uid}.ics`;
  const stored = await request(users.alice, 'PUT', href, {
    body: invitation(uid, [`ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${users.bob.email}`]), type: 'text/calendar' });
  assert.equal(stored.status, 201);
  const copy = await bobCopy(uid);
  const rsvpUrl = `/api/v1/calendars/default/events/${encodeURIComponent(copy.name)}/rsvp`;

  const invalid = await request(users.bob, 'POST', rsvpUrl, { body: '{"partstat":"maybe"}', type: 'application/json' });
  assert.equal(invalid.status, 400);
  assert.equal(JSON.parse(invalid.text).error.code, 'invalid_partstat');

  const declined = await request(users.bob, 'POST', rsvpUrl, { body: '{"partstat":"declined"}', type: 'application/json' });
  assert.equal(declined.status, 200, declined.text);
  assert.equal(JSON.parse(declined.text).partstat, 'DECLINED');
  assert.equal(partstatOf((await request(users.alice, 'GET', href)).text, users.bob.email), 'DECLINED');
  assert.equal((await bobCopy(uid)).attendees.find((a) => a.email === users.bob.email).partstat, 'DECLINED');

  // A reply sent with a Bearer token from the development identity provider.
  const { stdout } = await promisify(execFile)(path.join(repoRoot, 'scripts', 'dev-token.sh'), [users.bob.email], { timeout: 30_000 });
  const bobBearer = { email: users.bob.email, token: stdout.trim() };
  const tentative = await request(bobBearer, 'POST', rsvpUrl, { body: '{"partstat":"Tentative"}', type: 'application/json' });
  assert.equal(tentative.status, 200);
  assert.equal(partstatOf((await request(users.alice, 'GET', href)).text, users.bob.email), 'TENTATIVE');

  // Alice's own event without her as an attendee: 409.
  const solo = `solo-${crypto.randomUUID()}`;
  const soloBody = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Expresso e2e//EN', 'BEGIN:VEVENT', `UID:${solo}`,
    'DTSTAMP:20261201T120000Z', 'DTSTART:20270111T130000Z', 'SUMMARY:Solo', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  assert.equal((await request(users.alice, 'PUT', `${home}default/${solo}.ics`, { body: soloBody, type: 'text/calendar' })).status, 201);
  const notAttendee = await request(users.alice, 'POST', `/api/v1/calendars/default/events/${solo}.ics/rsvp`,
    { body: '{"partstat":"accepted"}', type: 'application/json' });
  assert.equal(notAttendee.status, 409);
  assert.equal(JSON.parse(notAttendee.text).error.code, 'not_an_attendee');
  const missing = await request(users.bob, 'POST', '/api/v1/calendars/default/events/missing.ics/rsvp',
    { body: '{"partstat":"accepted"}', type: 'application/json' });
  assert.equal(missing.status, 404);

  // Bob deletes his copy: a declining REPLY reaches Alice.
  assert.equal((await request(users.bob, 'DELETE', `/api/v1/calendars/default/events/${encodeURIComponent(copy.name)}`)).status, 204);
  assert.equal(partstatOf((await request(users.alice, 'GET', href)).text, users.bob.email), 'DECLINED');
  await request(users.alice, 'DELETE', `${home}default/${solo}.ics`);
  await request(users.alice, 'DELETE', href);
});

test('invitation to an alias reaches its user, who replies as the alias', { timeout: TEST_TIMEOUT_MS }, async () => {
  const alias = `bob-alias-${crypto.randomUUID().slice(0, 8)}@${users.bob.email.split('@')[1]}`;
  await addAlias(users.bob.email, alias);
  const uid = `alias-${crypto.randomUUID()}`;
  const home = (await principalOf(users.alice)).replace('/principals/', '/calendars/');
  const href = `${home}default/${uid}.ics`;
  try {
    const stored = await request(users.alice, 'PUT', href, {
      body: invitation(uid, [`ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${alias.toUpperCase()}`]), type: 'text/calendar' });
    assert.equal(stored.status, 201, stored.text);

    // The copy lands in Bob's calendar, and Bob's reply names the alias he was invited as.
    const copy = await bobCopy(uid);
    assert.ok(copy !== undefined, 'Bob has a copy of the invitation sent to his alias');
    const rsvpUrl = `/api/v1/calendars/default/events/${encodeURIComponent(copy.name)}/rsvp`;
    const accepted = await request(users.bob, 'POST', rsvpUrl, { body: '{"partstat":"accepted"}', type: 'application/json' });
    assert.equal(accepted.status, 200, accepted.text);
    const organizerCopy = (await request(users.alice, 'GET', href)).text;
    assert.equal(partstatOf(organizerCopy, alias), 'ACCEPTED');
    assert.equal(partstatOf(organizerCopy, users.bob.email), null);

    // Bob's principal lists the alias after his email, and he may organize a free-busy request as the alias.
    const bobPrincipal = await principalOf(users.bob);
    const addresses = await propfind(users.bob, bobPrincipal, '<c:calendar-user-address-set/>');
    assert.match(addresses.text, new RegExp(`<d:href>mailto:${users.bob.email}</d:href><d:href>mailto:${alias}</d:href>`));
    const outbox = `${bobPrincipal.replace('/principals/', '/calendars/')}outbox/`;
    const freebusyRequest = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Expresso e2e//EN', 'METHOD:REQUEST', 'BEGIN:VFREEBUSY',
      'DTSTAMP:20261205T100000Z', `ORGANIZER:mailto:${alias}`, 'DTSTART:20270110T000000Z', 'DTEND:20270111T000000Z',
      `UID:${crypto.randomUUID()}`, `ATTENDEE:mailto:${users.alice.email}`, 'END:VFREEBUSY', 'END:VCALENDAR', ''].join('\r\n');
    const asAlias = await request(users.bob, 'POST', outbox, { body: freebusyRequest, type: 'text/calendar' });
    assert.equal(asAlias.status, 200, asAlias.text);
    assert.match(asAlias.text, /2\.0;Success/);
    const asOther = await request(users.bob, 'POST', outbox,
      { body: freebusyRequest.replace(`mailto:${alias}`, `mailto:${users.alice.email}`), type: 'text/calendar' });
    assert.equal(asOther.status, 403, asOther.text);

    // Free/busy asked by the alias finds Bob.
    const freebusy = await request(users.alice, 'GET',
      `/api/v1/calendars/freebusy?start=20270110T000000Z&end=20270111T000000Z&users=${encodeURIComponent(alias)}`);
    assert.equal(freebusy.status, 200, freebusy.text);
    assert.deepEqual(JSON.parse(freebusy.text).users[0].busy.map((b) => `${b.start}/${b.end}`),
      ['20270110T130000Z/20270110T140000Z']);
  } finally {
    await request(users.alice, 'DELETE', href);
    await removeAlias(users.bob.email, alias);
  }
});

test('SCHEDULE-AGENT=CLIENT skips server scheduling', async () => {
  const home = (await principalOf(users.alice)).replace('/principals/', '/calendars/');
  const forAttendee = `client-${crypto.randomUUID()}`;
  const skipped = await request(users.alice, 'PUT', `${home}default/${forAttendee}.ics`, {
    body: invitation(forAttendee, [`ATTENDEE;SCHEDULE-AGENT=CLIENT:mailto:${users.bob.email}`]), type: 'text/calendar' });
  assert.equal(skipped.status, 201);
  const forOrganizer = `client-${crypto.randomUUID()}`;
  const off = await request(users.alice, 'PUT', `${home}default/${forOrganizer}.ics`, {
    body: invitation(forOrganizer, [`ATTENDEE:mailto:${users.bob.email}`], { organizerParams: ';SCHEDULE-AGENT=CLIENT' }),
    type: 'text/calendar' });
  assert.equal(off.status, 201);
  assert.equal(await bobCopy(forAttendee), undefined);
  assert.equal(await bobCopy(forOrganizer), undefined);
  const messages = await inboxMessages(users.bob);
  assert.ok(!messages.some((message) => message.text.includes(forAttendee) || message.text.includes(forOrganizer)));
  await request(users.alice, 'DELETE', `${home}default/${forAttendee}.ics`);
  await request(users.alice, 'DELETE', `${home}default/${forOrganizer}.ics`);
});

test('import sends no invitations', async () => {
  const uid = `import-${crypto.randomUUID()}`;
  const imported = await request(users.alice, 'POST', '/api/v1/calendars/default/import', {
    body: invitation(uid, [`ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${users.bob.email}`]), type: 'text/calendar' });
  assert.equal(imported.status, 200, imported.text);
  assert.equal(JSON.parse(imported.text).imported, 1);
  assert.equal(await bobCopy(uid), undefined);
  assert.ok(!(await inboxMessages(users.bob)).some((message) => message.text.includes(uid)));
  const listed = JSON.parse((await request(users.alice, 'GET', '/api/v1/calendars/default/events')).text);
  const event = listed.events.find((candidate) => candidate.uid === uid);
  assert.equal(event.organizer, users.alice.email);
  await request(users.alice, 'DELETE', `/api/v1/calendars/default/events/${encodeURIComponent(event.name)}`, { headers: { 'Schedule-Reply': 'F' } });
});

test('free/busy of users across calendars', async () => {
  const bobHome = (await principalOf(users.bob)).replace('/principals/', '/calendars/');
  const event = (uid, extra, count) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Expresso e2e//EN', 'BEGIN:VEVENT', `UID:${uid}`,
    'DTSTAMP:20261201T120000Z', 'DTSTART:20280301T090000Z', 'DTEND:20280301T100000Z', `RRULE:FREQ=DAILY;COUNT=${count}`,
    'SUMMARY:Private detail', ...extra, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  const names = [];
  // Two daily instances busy, one transparent, one cancelled, one tentative instance.
  for (const [uid, extra, count] of [[`busy-${crypto.randomUUID()}`, [], 2], [`free-${crypto.randomUUID()}`, ['TRANSP:TRANSPARENT'], 2],
    [`gone-${crypto.randomUUID()}`, ['STATUS:CANCELLED'], 2], [`maybe-${crypto.randomUUID()}`, ['STATUS:TENTATIVE'], 1]]) {
    names.push(`${bobHome}default/${uid}.ics`);
    const body = event(uid, extra, count);
    assert.equal((await request(users.bob, 'PUT', names.at(-1), { body, type: 'text/calendar' })).status, 201);
  }
  const query = (list) => request(users.alice, 'GET',
    `/api/v1/calendars/freebusy?start=20280301T000000Z&end=20280303T000000Z&users=${encodeURIComponent(list.join(','))}`);

  const answer = await query([users.bob.email.toUpperCase(), 'nobody@demo.expresso.test']);
  assert.equal(answer.status, 200, answer.text);
  const result = JSON.parse(answer.text);
  assert.equal(result.start, '20280301T000000Z');
  const bob = result.users.find((user) => user.email === users.bob.email);
  assert.deepEqual(bob.busy.map((b) => `${b.type} ${b.start}/${b.end}`).sort(), [
    'BUSY 20280301T090000Z/20280301T100000Z', 'BUSY 20280302T090000Z/20280302T100000Z',
    'BUSY-TENTATIVE 20280301T090000Z/20280301T100000Z'].sort());
  assert.ok(!answer.text.includes('Private detail'), 'free/busy carries no event details');
  assert.deepEqual(result.users.find((user) => user.email === 'nobody@demo.expresso.test'), { email: 'nobody@demo.expresso.test', error: 'unknown_user' });

  // EXPRESSO_CALENDAR_MAX_FREEBUSY_USERS is 20 on the stack: 20 addresses pass, 21 do not.
  const many = Array.from({ length: 21 }, (_, i) => `user${i}@demo.expresso.test`);
  assert.equal((await query(many.slice(0, 20))).status, 200);
  const tooMany = await query(many);
  assert.equal(tooMany.status, 400);
  assert.equal(JSON.parse(tooMany.text).error.code, 'invalid_users');
  assert.equal((await query(['not-an-address'])).status, 400);
  assert.equal((await request(users.alice, 'GET', '/api/v1/calendars/freebusy?users=a@b.c')).status, 400);
  for (const name of names) await request(users.bob, 'DELETE', name);
});

test('attendee limit at the limit and one past', { timeout: TEST_TIMEOUT_MS }, async () => {
  const port = await freePort();
  const daemon = startDaemon(calendarBinary, { EXPRESSO_HTTP_ADDRESS: host, EXPRESSO_HTTP_PORT: String(port), EXPRESSO_CALDAV_MAX_ATTENDEES: '3' });
  try {
    await waitForHttp(`http://${host}:${port}/ready`, { timeoutMs: 20_000 });
    const put = async (uid, count) => {
      // Alice is the first attendee; SCHEDULE-AGENT=CLIENT keeps the others out of scheduling.
      const others = Array.from({ length: count - 1 }, (_, i) => `ATTENDEE;SCHEDULE-AGENT=CLIENT:mailto:guest${i}@example.invalid`);
      const home = (await principalOf(users.alice)).replace('/principals/', '/calendars/');
      const authorization = `Basic ${Buffer.from(`${users.alice.email}:${users.alice.password}`).toString('base64')}`;
      const response = await fetch(`http://${host}:${port}${home}default/${uid}.ics`, {
        method: 'PUT', headers: { Authorization: authorization, 'Content-Type': 'text/calendar' }, body: invitation(uid, others) });
      return { status: response.status, text: await response.text(), href: `${home}default/${uid}.ics` };
    };
    const atLimit = await put(`limit-${crypto.randomUUID()}`, 3);
    assert.equal(atLimit.status, 201, atLimit.text);
    const pastLimit = await put(`limit-${crypto.randomUUID()}`, 4);
    assert.equal(pastLimit.status, 403);
    assert.match(pastLimit.text, /max-attendees-per-instance/);
    assert.match(pastLimit.text, /4 attendees, more than the 3 allowed/);
    assert.equal((await request(users.alice, 'GET', pastLimit.href)).status, 404, 'nothing was stored');

    const home = (await principalOf(users.alice)).replace('/principals/', '/calendars/');
    const authorization = `Basic ${Buffer.from(`${users.alice.email}:${users.alice.password}`).toString('base64')}`;
    const property = await fetch(`http://${host}:${port}${home}default/`, {
      method: 'PROPFIND', headers: { Authorization: authorization, Depth: '0', 'Content-Type': 'application/xml' },
      body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:max-attendees-per-instance/></d:prop></d:propfind>' });
    assert.match(await property.text(), /<cal:max-attendees-per-instance>3<\/cal:max-attendees-per-instance>/);
    await request(users.alice, 'DELETE', atLimit.href);
  } finally {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
  }
});
