// expresso-calendar over raw HTTP (fetch), as a CalDAV client uses it.
// Covered: discovery (well-known, principal, home), MKCALENDAR and
// extended MKCOL, conditional PUT/GET/DELETE, the iCalendar checks and
// their preconditions, calendar-query with time ranges over recurring
// events, calendar-multiget, sync-collection rounds, free-busy-query,
// PROPPATCH, limits at and one past, hostile XML, tenant isolation on
// every URL form, calendar.changed events, the .ics corpus in
// tests/corpus/ics round-tripped property by property, and the JSON API
// under /api/v1/calendars.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { connect as connectNats } from 'nats';

import { requireEnv } from './lib/stack.mjs';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');

const BASE = requireEnv('EXPRESSO_CALDAV_URL');
const MAX_RESOURCE_SIZE = 1024 * 1024; // EXPRESSO_CALDAV_MAX_RESOURCE_SIZE default
const MAX_XML_BYTES = 1024 * 1024; // EXPRESSO_DAV_MAX_XML_BYTES default
const MAX_XML_DEPTH = 32; // EXPRESSO_DAV_MAX_XML_DEPTH default

const accounts = {
  alice: { email: requireEnv('EXPRESSO_ALICE_EMAIL'), password: requireEnv('EXPRESSO_ALICE_APP_PASSWORD') },
  bob: { email: requireEnv('EXPRESSO_BOB_EMAIL'), password: requireEnv('EXPRESSO_BOB_APP_PASSWORD') },
  carol: { email: requireEnv('EXPRESSO_CAROL_EMAIL'), password: requireEnv('EXPRESSO_CAROL_APP_PASSWORD') },
};

function basic(user) {
  const { email, password } = accounts[user];
  return `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`;
}

// Sends one request; PUT bodies are text/calendar and other bodies application/xml unless HEADERS set another type.
async function dav(method, url, { user = 'alice', headers = {}, body, authorization } = {}) {
  const contentType = body === undefined ? {} : { 'Content-Type': method === 'PUT' ? 'text/calendar; charset=utf-8' : 'application/xml' };
  const response = await fetch(url.startsWith('http') ? url : BASE + url, {
    method,
    headers: { Authorization: authorization ?? basic(user), ...contentType, ...headers },
    body,
    redirect: 'manual',
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const NS = 'xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/"';

async function propfind(url, props, { depth = '0', user = 'alice' } = {}) {
  return dav('PROPFIND', url, { user, headers: { Depth: depth }, body: `<?xml version="1.0"?><d:propfind ${NS}><d:prop>${props}</d:prop></d:propfind>` });
}

function decodeEntities(text) {
  return text.replace(/&quot;/g, '"').replace(/&#13;/g, '\r').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

// Splits a multistatus into [{href, body}] per d:response, with character references in text decoded.
function responses(xml) {
  return [...xml.matchAll(/<d:response>([\s\S]*?)<\/d:response>/g)].map((match) => ({
    href: decodeURIComponent(match[1].match(/<d:href>([^<]*)<\/d:href>/)[1]),
    body: decodeEntities(match[1]),
  }));
}

const names = (xml) => responses(xml).map((item) => item.href.split('/').pop()).filter(Boolean).sort();

function firstHref(xml, property) {
  const match = xml.match(new RegExp(`<${property}><d:href>([^<]*)</d:href></${property}>`));
  return match ? match[1] : null;
}

function syncToken(xml) {
  const match = xml.match(/<d:sync-token>([^<]*)<\/d:sync-token>/);
  return match ? match[1] : null;
}

function calendar(body) {
  return `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//expresso tests//EN\r\n${body}END:VCALENDAR\r\n`;
}

function event(uid, start, end, extra = '') {
  return calendar(`BEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:${start}\r\nDTEND:${end}\r\nSUMMARY:${uid}\r\n${extra}END:VEVENT\r\n`);
}

async function query(url, filter, { user = 'alice', props = '<d:getetag/>' } = {}) {
  const response = await dav('REPORT', url, {
    user,
    headers: { Depth: '1' },
    body: `<?xml version="1.0"?><c:calendar-query ${NS}><d:prop>${props}</d:prop><c:filter>${filter}</c:filter></c:calendar-query>`,
  });
  assert.equal(response.status, 207, response.text);
  return names(response.text);
}

const range = (component, start, end) => `<c:comp-filter name="VCALENDAR"><c:comp-filter name="${component}"><c:time-range start="${start}" end="${end}"/></c:comp-filter></c:comp-filter>`;

async function sync(url, token, user = 'alice', extra = '') {
  return dav('REPORT', url, {
    user,
    body: `<?xml version="1.0"?><d:sync-collection ${NS}><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level>${extra}<d:prop><d:getetag/></d:prop></d:sync-collection>`,
  });
}

let alice = {};

async function discover(user) {
  const root = await propfind('/', '<d:current-user-principal/>', { user });
  assert.equal(root.status, 207, root.text);
  const principal = firstHref(root.text, 'd:current-user-principal');
  const found = await propfind(principal, '<c:calendar-home-set/>', { user });
  assert.equal(found.status, 207, found.text);
  const home = firstHref(found.text, 'cal:calendar-home-set');
  return { principal, home, calendar: `${home}default/`, tasks: `${home}tasks/` };
}

test('setup: discover alice', async () => {
  alice = await discover('alice');
  assert.match(alice.principal, /^\/dav\/principals\/[0-9a-f-]{36}\/$/);
  assert.match(alice.home, /^\/dav\/calendars\/[0-9a-f-]{36}\/$/);
});

test('well-known redirect and OPTIONS advertise CalDAV', async () => {
  const redirect = await fetch(`${BASE}/.well-known/caldav`, { redirect: 'manual' });
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get('location'), '/dav/');
  const options = await fetch(`${BASE}/dav/`, { method: 'OPTIONS' });
  assert.equal(options.status, 200);
  assert.match(options.headers.get('dav'), /\bcalendar-access\b/);
  // POST is for the scheduling outbox (RFC 6638 free-busy requests).
  for (const method of ['PROPFIND', 'PROPPATCH', 'REPORT', 'MKCALENDAR', 'MKCOL', 'PUT', 'DELETE', 'POST'])
    assert.match(options.headers.get('allow'), new RegExp(`\\b${method}\\b`));
  const none = await fetch(`${BASE}/dav/`, { method: 'PROPFIND', headers: { Depth: '0' } });
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate'), /Basic realm=/);
});

test('home lists a default calendar and a task list, never itself a calendar', async () => {
  const home = await propfind(alice.home, '<d:resourcetype/><d:displayname/><c:supported-calendar-component-set/><cs:getctag/><d:sync-token/>', { depth: '1' });
  assert.equal(home.status, 207);
  const items = responses(home.text);
  const self = items.find((item) => item.href === alice.home);
  assert.doesNotMatch(self.body, /<cal:calendar[ /]/, 'the home is a plain collection');
  const calendarItem = items.find((item) => item.href === alice.calendar);
  assert.match(calendarItem.body, /<cal:calendar[ /]/);
  assert.match(calendarItem.body, /<cal:comp name="VEVENT"\/>/);
  assert.doesNotMatch(calendarItem.body, /name="VTODO"/);
  const tasks = items.find((item) => item.href === alice.tasks);
  assert.match(tasks.body, /<cal:comp name="VTODO"\/>/);
  assert.match(calendarItem.body, /<cs:getctag>urn:x-expresso:sync:/);
  const principal = await propfind(alice.principal, '<d:principal-URL/><c:calendar-home-set/><d:current-user-principal/>');
  assert.match(principal.text, /<d:principal-URL><d:href>\/dav\/principals\//);
});

test('MKCALENDAR with properties, then refusals', async () => {
  const url = `${alice.home}work/`;
  await dav('DELETE', url);
  const created = await dav('MKCALENDAR', url, {
    body: `<?xml version="1.0"?><c:mkcalendar ${NS}><d:set><d:prop><d:displayname>Trabalho</d:displayname>
<c:calendar-description>Reuniões</c:calendar-description>
<c:supported-calendar-component-set><c:comp name="VEVENT"/><c:comp name="VTODO"/></c:supported-calendar-component-set>
<x:calendar-color xmlns:x="http://apple.com/ns/ical/">#FF0000</x:calendar-color></d:prop></d:set></c:mkcalendar>`,
  });
  assert.equal(created.status, 201, created.text);
  const read = await propfind(url, '<d:displayname/><c:calendar-description/><c:supported-calendar-component-set/><x:calendar-color xmlns:x="http://apple.com/ns/ical/"/><c:max-resource-size/>');
  assert.match(read.text, /<d:displayname>Trabalho<\/d:displayname>/);
  assert.match(read.text, /<cal:calendar-description>Reuniões<\/cal:calendar-description>/);
  assert.match(read.text, /name="VEVENT"/);
  assert.match(read.text, /name="VTODO"/);
  assert.match(read.text, /#FF0000/);
  assert.match(read.text, new RegExp(`<cal:max-resource-size>${MAX_RESOURCE_SIZE}</cal:max-resource-size>`));

  const again = await dav('MKCALENDAR', url);
  assert.equal(again.status, 405);
  const badComponent = await dav('MKCALENDAR', `${alice.home}bad/`, { body: `<c:mkcalendar ${NS}><d:set><d:prop><c:supported-calendar-component-set><c:comp name="VCARD"/></c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>` });
  assert.equal(badComponent.status, 403);
  assert.match(badComponent.text, /<cal:supported-calendar-component[ /]/);
  const inside = await dav('MKCALENDAR', `${url}nested.ics`);
  assert.equal(inside.status, 403);
  const wrongType = await dav('MKCOL', `${alice.home}book/`, { body: `<d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><card:addressbook/></d:resourcetype></d:prop></d:set></d:mkcol>` });
  assert.equal(wrongType.status, 403);
  assert.match(wrongType.text, /valid-resourcetype/);
  const extended = await dav('MKCOL', `${alice.home}extended/`, { body: `<d:mkcol ${NS}><d:set><d:prop><d:resourcetype><d:collection/><c:calendar/></d:resourcetype><d:displayname>Ext</d:displayname></d:prop></d:set></d:mkcol>` });
  assert.equal(extended.status, 201);
  assert.equal((await dav('DELETE', `${alice.home}extended/`)).status, 204);
  assert.equal((await dav('DELETE', url)).status, 204);
  assert.equal((await propfind(url, '<d:displayname/>')).status, 404);
});

test('PUT, GET and DELETE with strong ETags and preconditions', async () => {
  const url = `${alice.calendar}conditional.ics`;
  await dav('DELETE', url);
  const body = event('conditional-1', '20260301T100000Z', '20260301T110000Z');
  const created = await dav('PUT', url, { body, headers: { 'If-None-Match': '*' } });
  assert.equal(created.status, 201, created.text);
  const etag = created.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{64}"$/);

  const overwrite = await dav('PUT', url, { body, headers: { 'If-None-Match': '*' } });
  assert.equal(overwrite.status, 412, 'If-None-Match: * never overwrites');
  const read = await dav('GET', url);
  assert.equal(read.status, 200);
  assert.equal(read.text, body, 'stored byte for byte');
  assert.equal(read.headers.get('etag'), etag);
  assert.match(read.headers.get('content-type'), /^text\/calendar/);
  assert.equal((await dav('GET', url, { headers: { 'If-None-Match': etag } })).status, 304);

  const before = syncToken((await propfind(alice.calendar, '<d:sync-token/>')).text);
  const same = await dav('PUT', url, { body, headers: { 'If-Match': etag } });
  assert.equal(same.status, 204);
  assert.equal(same.headers.get('etag'), etag, 'the same bytes keep the ETag');
  assert.equal(syncToken((await propfind(alice.calendar, '<d:sync-token/>')).text), before, 'and the sync-token');

  // Repeated edits from two clients, each with the latest ETag.
  let current = etag;
  for (let round = 1; round <= 5; round++) {
    const edited = event('conditional-1', '20260301T100000Z', '20260301T110000Z', `DESCRIPTION:edit ${round}\r\n`);
    const stale = await dav('PUT', url, { body: edited, headers: { 'If-Match': round === 1 ? '"0000"' : etag } });
    assert.equal(stale.status, 412, `round ${round}: a stale ETag is refused`);
    const saved = await dav('PUT', url, { body: edited, headers: { 'If-Match': current } });
    assert.equal(saved.status, 204, `round ${round}`);
    assert.notEqual(saved.headers.get('etag'), current);
    current = saved.headers.get('etag');
  }
  assert.match((await dav('GET', url)).text, /DESCRIPTION:edit 5/);
  assert.equal((await dav('DELETE', url, { headers: { 'If-Match': etag } })).status, 412);
  assert.equal((await dav('DELETE', url, { headers: { 'If-Match': current } })).status, 204);
  assert.equal((await dav('GET', url)).status, 404);
  assert.equal((await dav('DELETE', url)).status, 404);
});

test('iCalendar checks answer their CalDAV preconditions', async () => {
  const url = (name) => `${alice.calendar}${name}.ics`;
  const cases = [
    ['not-ical', 'hello', 403, 'valid-calendar-data'],
    ['vcard', 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEND:VCARD\r\n', 403, 'valid-calendar-data'],
    ['bad-date', calendar('BEGIN:VEVENT\r\nUID:bad-date\r\nDTSTART:tomorrow\r\nEND:VEVENT\r\n'), 403, 'valid-calendar-data'],
    ['two-uids', calendar('BEGIN:VEVENT\r\nUID:u1\r\nDTSTART:20260101T100000Z\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:u2\r\nDTSTART:20260101T100000Z\r\nEND:VEVENT\r\n'), 403, 'valid-calendar-object-resource'],
    ['empty', calendar(''), 403, 'valid-calendar-object-resource'],
    ['todo-in-events', calendar('BEGIN:VTODO\r\nUID:t1\r\nEND:VTODO\r\n'), 403, 'supported-calendar-component'],
  ];
  for (const [name, body, status, condition] of cases) {
    const response = await dav('PUT', url(name), { body });
    assert.equal(response.status, status, `${name}: ${response.text}`);
    assert.match(response.text, new RegExp(`<cal:${condition}[ /]`), name);
  }
  const wrongType = await dav('PUT', url('wrong-type'), { body: event('wt', '20260101T100000Z', '20260101T110000Z'), headers: { 'Content-Type': 'text/vcard' } });
  assert.equal(wrongType.status, 415);
  assert.match(wrongType.text, /supported-calendar-data/);

  assert.equal((await dav('PUT', url('uid-a'), { body: event('same-uid', '20260101T100000Z', '20260101T110000Z') })).status, 201);
  const conflict = await dav('PUT', url('uid-b'), { body: event('same-uid', '20260102T100000Z', '20260102T110000Z') });
  assert.equal(conflict.status, 403);
  assert.match(conflict.text, /<cal:no-uid-conflict[ /]/);
  assert.match(conflict.text, /uid-a\.ics/, 'names the resource that has the UID');
  assert.equal((await dav('DELETE', url('uid-a'))).status, 204);
  assert.equal((await dav('PUT', url('uid-b'), { body: event('same-uid', '20260102T100000Z', '20260102T110000Z') })).status, 201, 'the UID is free after the DELETE');
  assert.equal((await dav('DELETE', url('uid-b'))).status, 204);
});

function paddedEvent(uid, size) {
  const head = `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTART:20260101T100000Z\r\nDESCRIPTION:`;
  const tail = '\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n';
  return head + 'x'.repeat(size - head.length - tail.length) + tail;
}

test('resource size limit: at the limit stored, one byte past refused alone', async () => {
  await dav('DELETE', `${alice.calendar}at-limit.ics`);
  await dav('DELETE', `${alice.calendar}after-limit.ics`);
  const atLimit = await dav('PUT', `${alice.calendar}at-limit.ics`, { body: paddedEvent('at-limit', MAX_RESOURCE_SIZE) });
  assert.equal(atLimit.status, 201, atLimit.text);
  const past = await dav('PUT', `${alice.calendar}past-limit.ics`, { body: paddedEvent('past-limit', MAX_RESOURCE_SIZE + 1) });
  assert.equal(past.status, 413);
  assert.match(past.text, /<cal:max-resource-size[ /]/);
  const next = await dav('PUT', `${alice.calendar}after-limit.ics`, { body: event('after-limit', '20260101T100000Z', '20260101T110000Z') });
  assert.equal(next.status, 201, 'the refusal stops nothing else');
  await dav('DELETE', `${alice.calendar}at-limit.ics`);
  await dav('DELETE', `${alice.calendar}after-limit.ics`);
});

test('calendar-query: time ranges over recurrences, exceptions and todos', async () => {
  const url = `${alice.home}query/`;
  await dav('DELETE', url);
  assert.equal((await dav('MKCALENDAR', url)).status, 201);
  const put = async (name, body) => assert.equal((await dav('PUT', `${url}${name}`, { body })).status, 201, name);
  // Mondays 09:30 in São Paulo (UTC-3, no daylight saving time since 2019), two dates cancelled, one moved.
  await put('weekly.ics', calendar(`BEGIN:VTIMEZONE\r\nTZID:America/Sao_Paulo\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:-0300\r\nTZOFFSETTO:-0300\r\nEND:STANDARD\r\nEND:VTIMEZONE\r
BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Reunião semanal\r\nDTSTART;TZID=America/Sao_Paulo:20270104T093000\r\nDTEND;TZID=America/Sao_Paulo:20270104T100000\r
RRULE:FREQ=WEEKLY;UNTIL=20270630T025959Z;BYDAY=MO\r\nEXDATE;TZID=America/Sao_Paulo:20270208T093000,20270215T093000\r\nEND:VEVENT\r
BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Reunião adiada\r\nRECURRENCE-ID;TZID=America/Sao_Paulo:20270301T093000\r\nDTSTART;TZID=America/Sao_Paulo:20270301T140000\r\nDTEND;TZID=America/Sao_Paulo:20270301T143000\r\nEND:VEVENT\r\n`));
  await put('daily-forever.ics', event('daily', '20200101T080000Z', '20200101T081500Z', 'RRULE:FREQ=DAILY\r\n'));
  await put('once.ics', event('once', '20270210T150000Z', '20270210T160000Z'));
  await put('allday.ics', calendar('BEGIN:VEVENT\r\nUID:allday\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20270215\r\nSUMMARY:Feriado\r\nEND:VEVENT\r\n'));
  await put('task.ics', calendar('BEGIN:VTODO\r\nUID:task\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Relatório\r\nDUE:20270212T170000Z\r\nEND:VTODO\r\n'));
  await put('undated-task.ics', calendar('BEGIN:VTODO\r\nUID:undated\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Someday\r\nEND:VTODO\r\n'));

  assert.deepEqual(await query(url, range('VEVENT', '20270201T000000Z', '20270301T000000Z')), ['allday.ics', 'daily-forever.ics', 'once.ics', 'weekly.ics']);
  // Weeks of 8 and 15 February are cancelled: only the daily event, the one-off and the holiday remain that week.
  assert.deepEqual(await query(url, range('VEVENT', '20270208T120000Z', '20270208T130000Z')), []);
  assert.deepEqual(await query(url, range('VEVENT', '20270201T123000Z', '20270201T124500Z')), ['weekly.ics']);
  // The moved instance is found at its new time, not the old one.
  assert.deepEqual(await query(url, range('VEVENT', '20270301T170000Z', '20270301T173000Z')), ['weekly.ics']);
  assert.deepEqual(await query(url, range('VEVENT', '20270301T123000Z', '20270301T130000Z')), []);
  // After UNTIL only the never-ending daily series is left.
  assert.deepEqual(await query(url, range('VEVENT', '20270701T000000Z', '20270801T000000Z')), ['daily-forever.ics']);
  assert.deepEqual(await query(url, range('VEVENT', '20191201T000000Z', '20191231T000000Z')), []);
  // Todos: the dated one in its week, the undated one always.
  assert.deepEqual(await query(url, range('VTODO', '20270210T000000Z', '20270215T000000Z')), ['task.ics', 'undated-task.ics']);
  assert.deepEqual(await query(url, range('VTODO', '20270301T000000Z', '20270401T000000Z')), ['undated-task.ics']);
  // Text and property filters.
  assert.deepEqual(await query(url, '<c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="SUMMARY"><c:text-match>REUNIÃO</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter>'), [], 'i;ascii-casemap keeps non-ASCII case');
  assert.deepEqual(await query(url, '<c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="SUMMARY"><c:text-match collation="i;unicode-casemap">REUNIÃO</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter>'), ['weekly.ics']);
  // The moved instance of weekly.ics is a VEVENT without RRULE, so that object matches too (RFC 4791 section 9.7.1).
  assert.deepEqual(await query(url, '<c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="RRULE"><c:is-not-defined/></c:prop-filter></c:comp-filter></c:comp-filter>'), ['allday.ics', 'once.ics', 'weekly.ics']);
  assert.deepEqual(await query(url, '<c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="RECURRENCE-ID"/></c:comp-filter></c:comp-filter>'), ['weekly.ics']);
  assert.deepEqual(await query(url, '<c:comp-filter name="VCALENDAR"><c:comp-filter name="VTODO"/></c:comp-filter>'), ['task.ics', 'undated-task.ics']);

  const withData = await dav('REPORT', url, { headers: { Depth: '1' }, body: `<c:calendar-query ${NS}><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter>${range('VEVENT', '20270210T150000Z', '20270210T153000Z')}</c:filter></c:calendar-query>` });
  const once = responses(withData.text).find((item) => item.href.endsWith('once.ics'));
  assert.ok(once.body.includes(event('once', '20270210T150000Z', '20270210T160000Z')), 'calendar-data is the stored object');

  const badCollation = await dav('REPORT', url, { body: `<c:calendar-query ${NS}><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="SUMMARY"><c:text-match collation="i;klingon">x</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>` });
  assert.equal(badCollation.status, 403);
  assert.match(badCollation.text, /<cal:supported-collation[ /]/);
  const badRange = await dav('REPORT', url, { body: `<c:calendar-query ${NS}><d:prop><d:getetag/></d:prop><c:filter>${range('VEVENT', '2027-01-01', '20270201T000000Z')}</c:filter></c:calendar-query>` });
  assert.equal(badRange.status, 403);
  assert.match(badRange.text, /<cal:valid-filter[ /]/);

  const freeBusy = await dav('REPORT', url, { body: `<c:free-busy-query ${NS}><c:time-range start="20270201T000000Z" end="20270208T000000Z"/></c:free-busy-query>` });
  assert.equal(freeBusy.status, 200);
  assert.match(freeBusy.headers.get('content-type'), /^text\/calendar/);
  const periods = [...freeBusy.text.matchAll(/^FREEBUSY;FBTYPE=BUSY:(\S+)$/gm)].map((match) => match[1]);
  assert.ok(periods.includes('20270201T123000Z/20270201T130000Z'), freeBusy.text);
  assert.equal(periods.filter((period) => period.endsWith('T081500Z')).length, 7, 'the daily series once per day');

  const multiget = await dav('REPORT', url, { body: `<c:calendar-multiget ${NS}><d:prop><d:getetag/><c:calendar-data/></d:prop><d:href>${url}once.ics</d:href><d:href>${BASE}${url}task.ics</d:href><d:href>${url}missing.ics</d:href></c:calendar-multiget>` });
  assert.equal(multiget.status, 207);
  const got = responses(multiget.text);
  assert.equal(got.length, 3);
  assert.match(got.find((item) => item.href.endsWith('once.ics')).body, /UID:once/);
  assert.match(got.find((item) => item.href.endsWith('task.ics')).body, /UID:task/);
  assert.match(got.find((item) => item.href.endsWith('missing.ics')).body, /404/);
  assert.equal((await dav('DELETE', url)).status, 204);
});

test('sync-collection: initial, delta with deletions, no change, bad token, limit', async () => {
  const url = `${alice.home}sync/`;
  await dav('DELETE', url);
  assert.equal((await dav('MKCALENDAR', url)).status, 201);
  for (const name of ['a', 'b']) await dav('PUT', `${url}${name}.ics`, { body: event(`sync-${name}`, '20260101T100000Z', '20260101T110000Z') });
  const initial = await sync(url, '');
  assert.equal(initial.status, 207);
  assert.deepEqual(names(initial.text), ['a.ics', 'b.ics']);
  const token1 = syncToken(initial.text);
  const ctag = (await propfind(url, '<cs:getctag/>')).text.match(/<cs:getctag>([^<]*)</)[1];
  assert.equal(ctag, token1);

  await dav('PUT', `${url}c.ics`, { body: event('sync-c', '20260101T100000Z', '20260101T110000Z') });
  await dav('PUT', `${url}a.ics`, { body: event('sync-a', '20260101T100000Z', '20260101T120000Z') });
  await dav('DELETE', `${url}b.ics`);
  const delta = await sync(url, token1);
  const items = responses(delta.text);
  assert.deepEqual(items.map((item) => item.href.split('/').pop()).sort(), ['a.ics', 'b.ics', 'c.ics']);
  assert.match(items.find((item) => item.href.endsWith('b.ics')).body, /404/);
  const token2 = syncToken(delta.text);
  assert.notEqual(token2, token1);
  assert.deepEqual(responses((await sync(url, token2)).text), [], 'a second sync transfers nothing');

  for (const bad of ['urn:x-expresso:sync:00000000-0000-0000-0000-000000000000:1', 'garbage', `${token2}9`]) {
    const refused = await sync(url, bad);
    assert.equal(refused.status, 403, bad);
    assert.match(refused.text, /<d:valid-sync-token\/>/);
  }
  const limited = await sync(url, '', 'alice', '<d:limit><d:nresults>1</d:nresults></d:limit>');
  assert.equal(limited.status, 207);
  assert.equal(responses(limited.text).filter((item) => item.href !== url).length, 1);
  assert.match(limited.text, /number-of-matches-within-limits/);
  assert.equal((await dav('DELETE', url)).status, 204);
});

test('PROPPATCH stores live and dead properties, protected ones refused', async () => {
  const set = (props) => `<?xml version="1.0"?><d:propertyupdate ${NS} xmlns:x="urn:x-test"><d:set><d:prop>${props}</d:prop></d:set></d:propertyupdate>`;
  const saved = await dav('PROPPATCH', alice.calendar, { body: set('<d:displayname>Agenda</d:displayname><x:note lang="pt">olá</x:note>') });
  assert.equal(saved.status, 207);
  assert.match(saved.text, /200 OK/);
  const read = await propfind(alice.calendar, '<d:displayname/><x:note xmlns:x="urn:x-test"/>');
  assert.match(read.text, /<d:displayname>Agenda<\/d:displayname>/);
  assert.match(read.text, /olá/);
  const refused = await dav('PROPPATCH', alice.calendar, { body: set('<d:displayname>Nope</d:displayname><c:supported-calendar-component-set/>') });
  assert.match(refused.text, /403 Forbidden/);
  assert.match(refused.text, /424 Failed Dependency/);
  assert.match((await propfind(alice.calendar, '<d:displayname/>')).text, /Agenda/, 'all or nothing');
  await dav('PROPPATCH', alice.calendar, { body: set('<d:displayname>Calendar</d:displayname>') });
});

test('PROPFIND Depth infinity is refused with propfind-finite-depth', async () => {
  for (const headers of [{ Depth: 'infinity' }, {}]) {
    const response = await dav('PROPFIND', alice.home, { headers, body: `<d:propfind ${NS}><d:prop><d:displayname/></d:prop></d:propfind>` });
    assert.equal(response.status, 403);
    assert.match(response.text, /<d:propfind-finite-depth\/>/);
  }
});

test('XML limits: size, nesting depth, DOCTYPE and entity bomb', async () => {
  const base = `<?xml version="1.0"?><d:propfind ${NS}><d:prop><d:displayname/></d:prop></d:propfind>`;
  const padded = (size) => base.replace('<d:prop>', `<d:prop>${' '.repeat(size - base.length)}`);
  assert.equal((await dav('PROPFIND', alice.calendar, { headers: { Depth: '0' }, body: padded(MAX_XML_BYTES) })).status, 207);
  const tooLarge = await dav('PROPFIND', alice.calendar, { headers: { Depth: '0' }, body: padded(MAX_XML_BYTES + 1) });
  assert.equal(tooLarge.status, 413);
  const nested = (levels) => `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:x="urn:x"><d:prop>${'<x:n>'.repeat(levels - 2)}${'</x:n>'.repeat(levels - 2)}</d:prop></d:propfind>`;
  assert.equal((await dav('PROPFIND', alice.calendar, { headers: { Depth: '0' }, body: nested(MAX_XML_DEPTH) })).status, 207);
  assert.equal((await dav('PROPFIND', alice.calendar, { headers: { Depth: '0' }, body: nested(MAX_XML_DEPTH + 1) })).status, 400);
  const bomb = `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<c:calendar-query ${NS}><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="SUMMARY"><c:text-match>&lol3;</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`;
  const started = Date.now();
  const refused = await dav('REPORT', alice.calendar, { body: bomb });
  assert.equal(refused.status, 400);
  assert.match(refused.text, /DOCTYPE/);
  assert.ok(Date.now() - started < 2000);
  assert.equal((await propfind(alice.calendar, '<d:displayname/>')).status, 207, 'the daemon still serves');
});

test('tenant isolation: other users reach none of alice\'s URLs', async () => {
  const object = `${alice.calendar}private.ics`;
  const body = event('private-1', '20260401T100000Z', '20260401T110000Z', 'DESCRIPTION:Consulta médica\r\n');
  assert.equal((await dav('PUT', object, { body })).status, 201);
  const userId = alice.principal.split('/')[3];
  const encodedId = [...userId].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
  const urls = [alice.principal, alice.home, alice.calendar, object, `/dav/principals/${encodedId}/`,
    `/dav/calendars/${encodedId}/default/private.ics`, `/dav/calendars/${userId}/default/private%2Eics`];
  for (const user of ['carol', 'bob']) {
    for (const url of urls) {
      const read = await propfind(url, '<d:displayname/><d:getetag/>', { user, depth: '1' });
      assert.equal(read.status, 404, `${user} PROPFIND ${url}`);
      assert.doesNotMatch(read.text, /Consulta/);
    }
    assert.equal((await dav('GET', object, { user })).status, 404);
    assert.equal((await dav('PUT', object, { user, body: event('private-1', '20260401T100000Z', '20260401T110000Z') })).status, 404);
    assert.equal((await dav('DELETE', object, { user })).status, 404);
    assert.equal((await dav('DELETE', alice.calendar, { user })).status, 404);
    assert.equal((await dav('MKCALENDAR', `${alice.home}stolen/`, { user })).status, 404);
    assert.equal((await sync(alice.calendar, '', user)).status, 404);
    assert.equal((await dav('REPORT', alice.calendar, { user, body: `<c:free-busy-query ${NS}><c:time-range start="20260401T000000Z" end="20260402T000000Z"/></c:free-busy-query>` })).status, 404);
    // The well-known URL leads each user to their own principal.
    const theirs = await discover(user);
    assert.notEqual(theirs.principal, alice.principal);
    const multiget = await dav('REPORT', theirs.calendar, { user, body: `<c:calendar-multiget ${NS}><d:prop><c:calendar-data/></d:prop><d:href>${object}</d:href></c:calendar-multiget>` });
    assert.equal(multiget.status, 207);
    assert.doesNotMatch(multiget.text, /Consulta/);
    const found = await query(theirs.calendar, range('VEVENT', '20260401T000000Z', '20260402T000000Z'), { user });
    assert.ok(!found.includes('private.ics'));
  }
  assert.equal((await dav('GET', object)).text, body);
  await dav('DELETE', object);
});

test('each change publishes calendar.changed on the bus', async () => {
  const state = JSON.parse(readFileSync(path.join(requireEnv('EXPRESSO_STATE_DIR'), 'accounts.json'), 'utf8'));
  const aliceAccount = state.users.find((user) => user.email === accounts.alice.email);
  const tenantId = state.tenants.find((tenant) => tenant.slug === aliceAccount.tenant).id;
  const nats = await connectNats({ servers: requireEnv('EXPRESSO_NATS_URL').replace(/^nats:\/\//, '') });
  try {
    const subscription = nats.subscribe(`expresso.${tenantId}.calendar.changed`, { max: 2 });
    const events = (async () => {
      const received = [];
      for await (const message of subscription) received.push(JSON.parse(new TextDecoder().decode(message.data)));
      return received;
    })();
    const timer = setTimeout(() => subscription.unsubscribe(), 5000);
    const url = `${alice.calendar}event-probe.ics`;
    assert.equal((await dav('PUT', url, { body: event('event-probe', '20260101T100000Z', '20260101T110000Z', 'DESCRIPTION:Secret agenda\r\n') })).status, 201);
    assert.equal((await dav('DELETE', url)).status, 204);
    const received = await events;
    clearTimeout(timer);
    assert.equal(received.length, 2, 'one event per change');
    assert.equal(received[0].change, 'created');
    assert.equal(received[1].change, 'deleted');
    for (const message of received) {
      assert.equal(message.tenant, tenantId);
      assert.equal(message.user, aliceAccount.id);
      assert.equal(message.calendar, 'default');
      assert.equal(message.resource, 'event-probe.ics');
      assert.equal(JSON.stringify(message).includes('Secret'), false, 'events carry no calendar data');
    }
  } finally {
    await nats.close();
  }
});

// ---- corpus round trip ----

// Unfolds an iCalendar text into logical lines (CRLF or LF followed by a space or tab).
function unfold(text) {
  const logical = [];
  for (const line of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && logical.length) logical[logical.length - 1] += line.slice(1);
    else if (line !== '') logical.push(line);
  }
  return logical;
}

// Splits a VCALENDAR into one text per UID and component type, each with every VTIMEZONE and calendar property, as clients upload them.
function splitObjects(text) {
  const lines = unfold(text);
  const header = [];
  const timezones = [];
  const groups = new Map();
  let current = null;
  let depth = 0;
  for (const line of lines) {
    if (/^BEGIN:VCALENDAR$/i.test(line) || /^END:VCALENDAR$/i.test(line)) continue;
    if (depth === 0 && /^BEGIN:/i.test(line)) current = { type: line.slice(6).toUpperCase(), lines: [] };
    if (depth === 0 && !current) { header.push(line); continue; }
    if (/^BEGIN:/i.test(line)) depth++;
    current.lines.push(line);
    if (/^END:/i.test(line)) depth--;
    if (depth === 0) {
      if (current.type === 'VTIMEZONE') timezones.push(...current.lines);
      else {
        const uid = (current.lines.find((l) => /^UID[:;]/i.test(l)) ?? 'UID:').replace(/^UID[^:]*:/i, '');
        const key = `${current.type}/${uid}`;
        if (!groups.has(key)) groups.set(key, { type: current.type, uid, lines: [] });
        groups.get(key).lines.push(...current.lines);
      }
      current = null;
    }
  }
  return [...groups.values()].map((group) => ({
    ...group,
    text: ['BEGIN:VCALENDAR', ...header, ...timezones, ...group.lines, 'END:VCALENDAR', ''].join('\r\n'),
  }));
}

const corpusDir = path.join(repoRoot, 'tests', 'corpus', 'ics');
const corpus = readdirSync(corpusDir).filter((name) => name.endsWith('.ics')).sort();

// Files a server must refuse whole, and the precondition each gets.
const refusedWhole = {
  'malformed-vtimezone-lone-cr-formfeed-tzid.ics': 'valid-calendar-data',
  'podio-request-altrep-data-uri-x-alt-desc-trailing-junk.ics': 'valid-calendar-data',
  'utf8-bom-empty-vcalendar.ics': 'valid-calendar-object-resource',
  'calendarserver-zoneinfo-windows-name-yakutsk-standard-time.ics': 'valid-calendar-object-resource',
  'override-before-master-multiple-uids-umlauts.ics': 'valid-calendar-object-resource',
  'thunderbird-ptbr-feriado-dia-inteiro-e-tarefa.ics': 'valid-calendar-object-resource',
  'mixed-floating-and-tzid-with-z-suffix-wiki-feed.ics': 'valid-calendar-object-resource',
  'ns-international-train-tickets-tzurl-brussels-lmt-trigger-pt-minus.ics': 'valid-calendar-object-resource',
  'sixt-booking-vfreebusy-organizer-without-value-french.ics': 'supported-calendar-component',
};

test('corpus: every file stored property by property or refused with its precondition', async () => {
  const url = `${alice.home}corpus/`;
  await dav('DELETE', url);
  assert.equal((await dav('MKCALENDAR', url)).status, 201);
  assert.equal(corpus.length, 28);
  let stored = 0;
  for (const file of corpus) {
    const raw = readFileSync(path.join(corpusDir, file), 'utf8');
    const whole = await dav('PUT', `${url}${file}`, { body: raw });
    if (refusedWhole[file]) {
      assert.equal(whole.status, 403, `${file}: ${whole.text}`);
      assert.match(whole.text, new RegExp(`<cal:${refusedWhole[file]}[ /]`), file);
    } else {
      assert.equal(whole.status, 201, `${file}: ${whole.text}`);
      const read = await dav('GET', `${url}${file}`);
      assert.equal(read.text, raw, `${file}: stored byte for byte`);
      assert.deepEqual(unfold(read.text), unfold(raw), `${file}: property by property`);
      await dav('DELETE', `${url}${file}`);
    }
    // Each UID on its own, as a client that splits a feed uploads it.
    for (const [index, object] of splitObjects(raw).entries()) {
      const objectUrl = `${url}${file.replace(/\.ics$/, '')}-${index}.ics`;
      const response = await dav('PUT', objectUrl, { body: object.text });
      if (object.type === 'VFREEBUSY') {
        assert.equal(response.status, 403, `${file} #${index}`);
        assert.match(response.text, /<cal:supported-calendar-component[ /]/);
        continue;
      }
      if (file.startsWith('malformed-')) {
        assert.equal(response.status, 403);
        continue;
      }
      assert.equal(response.status, 201, `${file} #${index}: ${response.text}`);
      stored++;
      const read = await dav('GET', objectUrl);
      const sent = unfold(object.text);
      const got = unfold(read.text);
      assert.equal(got.length, sent.length, `${file} #${index}: property count`);
      for (let i = 0; i < sent.length; i++) assert.equal(got[i], sent[i], `${file} #${index}: property ${i}`);
      if (object.uid) {
        const uidFilter = `<c:comp-filter name="VCALENDAR"><c:comp-filter name="${object.type}"><c:prop-filter name="UID"><c:text-match collation="i;octet" match-type="equals">${object.uid.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter>`;
        assert.ok((await query(url, uidFilter)).includes(objectUrl.split('/').pop()), `${file} #${index}: found by UID`);
      }
      // An object with a DTSTART is found by a time range around it.
      const start = sent.slice(sent.findIndex((line) => /^BEGIN:VEVENT$/i.test(line))).find((line) => /^DTSTART[;:]/i.test(line));
      const day = start?.match(/:(\d{8})/)?.[1];
      if (day && object.type === 'VEVENT') {
        const from = new Date(Date.UTC(+day.slice(0, 4), +day.slice(4, 6) - 1, +day.slice(6, 8)) - 2 * 86400000);
        const to = new Date(from.getTime() + 4 * 86400000);
        const fmt = (date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
        assert.ok((await query(url, range('VEVENT', fmt(from), fmt(to)))).includes(objectUrl.split('/').pop()), `${file} #${index}: found by time range ${fmt(from)}`);
      }
    }
  }
  assert.ok(stored >= 24, `stored ${stored} objects`);
  assert.equal((await dav('DELETE', url)).status, 204);
});

test('metrics count changes, failed logins and rejected bodies', async () => {
  const text = await (await fetch(`${BASE}/metrics`)).text();
  const value = (name) => Number(text.match(new RegExp(`^expresso_${name}\\{[^}]*\\} (\\d+)$`, 'm'))?.[1]);
  assert.ok(value('calendar_changes_total') > 0);
  assert.ok(value('calendar_auth_failures_total') > 0);
  assert.ok(value('calendar_rejected_bodies_total') > 0);
});

// ---- JSON API ----

const API = `${BASE}/api/v1/calendars`;
const MAX_IMPORT_SIZE = 10 * 1024 * 1024; // EXPRESSO_CALENDAR_MAX_IMPORT_SIZE default

async function api(method, pathname, { body, contentType = 'application/json', user = 'alice', authorization } = {}) {
  const response = await fetch(`${API}${pathname}`, {
    method,
    headers: { Authorization: authorization ?? basic(user), ...(body === undefined ? {} : { 'Content-Type': contentType }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, headers: response.headers, text, json };
}

test('JSON API: calendars listed, created, changed and deleted', async () => {
  assert.equal((await api('GET', '', { authorization: 'Bearer not-a-token' })).status, 401);
  await api('DELETE', '/api-calendar');
  const created = await api('POST', '', { body: { name: 'api-calendar', displayname: 'Projetos', components: ['VEVENT', 'VTODO'], color: '#336699' } });
  assert.equal(created.status, 201, created.text);
  assert.equal((await api('POST', '', { body: { name: 'api-calendar' } })).json.error.code, 'calendar_exists');
  assert.equal((await api('POST', '', { body: { name: '../x' } })).json.error.code, 'invalid_name');
  assert.equal((await api('POST', '', { body: { name: 'x1', components: ['VCARD'] } })).json.error.code, 'invalid_components');
  assert.equal((await api('POST', '', { body: 'not json' })).status, 400);
  assert.equal((await api('PATCH', '/api-calendar', { body: { displayname: 'Projetos 2026' } })).status, 204);
  const listed = (await api('GET', '')).json.calendars.find((item) => item.name === 'api-calendar');
  assert.equal(listed.displayname, 'Projetos 2026');
  assert.deepEqual(listed.components, ['VEVENT', 'VTODO']);
  assert.equal(listed.color, '#336699');
  assert.match(listed.ctag, /^urn:x-expresso:sync:/);
  // The DAV side sees the same calendar.
  assert.match((await propfind(`${alice.home}api-calendar/`, '<d:displayname/>')).text, /Projetos 2026/);
  assert.equal((await api('PATCH', '/missing-calendar', { body: { displayname: 'x' } })).status, 404);
  assert.equal((await api('DELETE', '/api-calendar')).status, 204);
  assert.equal((await api('GET', '/api-calendar/events')).status, 404);
  // Another tenant's user cannot reach alice's calendars by name.
  assert.equal((await api('GET', '/default/events', { user: 'carol' })).json.events.length, 0);
});

test('JSON API: events in iCalendar, time ranges, free/busy, export and import', async () => {
  await api('DELETE', '/api-events');
  await api('DELETE', '/api-copy');
  assert.equal((await api('POST', '', { body: { name: 'api-events', components: ['VEVENT'] } })).status, 201);
  const body = event('api-weekly', '20260105T130000Z', '20260105T140000Z', 'RRULE:FREQ=WEEKLY;COUNT=4\r\n');
  const put = await api('PUT', '/api-events/events/weekly.ics', { body, contentType: 'text/calendar' });
  assert.equal(put.status, 201, put.text);
  const etag = put.headers.get('etag');
  const read = await api('GET', '/api-events/events/weekly.ics');
  assert.equal(read.text, body);
  assert.equal(read.headers.get('etag'), etag);
  const conflict = await api('PUT', '/api-events/events/other.ics', { body, contentType: 'text/calendar' });
  assert.equal(conflict.status, 403);
  assert.equal(conflict.json.error.code, 'no_uid_conflict');
  const invalid = await api('PUT', '/api-events/events/bad.ics', { body: 'BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n', contentType: 'text/calendar' });
  assert.equal(invalid.json.error.code, 'valid_calendar_object_resource');

  const january = await api('GET', '/api-events/events?start=20260119T000000Z&end=20260120T000000Z');
  assert.deepEqual(january.json.events.map((item) => item.uid), ['api-weekly']);
  assert.equal(january.json.events[0].summary, 'api-weekly');
  assert.deepEqual((await api('GET', '/api-events/events?start=20260201T000000Z&end=20260301T000000Z')).json.events, []);
  assert.equal((await api('GET', '/api-events/events?start=2026-01-01')).json.error.code, 'invalid_range');

  const busy = await api('GET', '/api-events/freebusy?start=20260101T000000Z&end=20260201T000000Z');
  assert.equal(busy.status, 200);
  assert.deepEqual(busy.json.busy.map((period) => period.start), ['20260105T130000Z', '20260112T130000Z', '20260119T130000Z', '20260126T130000Z']);
  assert.equal((await api('GET', '/api-events/freebusy?start=20260101T000000Z')).status, 400, 'free/busy needs both ends');

  const exported = await api('GET', '/api-events/export.ics');
  assert.equal(exported.status, 200);
  assert.match(exported.headers.get('content-type'), /^text\/calendar/);
  assert.match(exported.text, /UID:api-weekly/);

  // A feed with two UIDs and a todo: the events are stored one per UID, the todo is refused by this calendar.
  const feed = calendar('BEGIN:VEVENT\r\nUID:feed-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\nSUMMARY:Um\r\nEND:VEVENT\r\n'
    + 'BEGIN:VEVENT\r\nUID:feed-2\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260302T100000Z\r\nSUMMARY:Dois\r\nEND:VEVENT\r\n'
    + 'BEGIN:VTODO\r\nUID:feed-3\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Tarefa\r\nEND:VTODO\r\n');
  const imported = await api('POST', '/api-events/import', { body: feed, contentType: 'text/calendar' });
  assert.equal(imported.status, 207, imported.text);
  assert.equal(imported.json.imported, 2);
  assert.deepEqual(imported.json.failed.map((item) => [item.uid, item.error]), [['feed-3', 'supported-calendar-component']]);
  assert.deepEqual((await api('GET', '/api-events/events')).json.events.map((item) => item.uid).sort(), ['api-weekly', 'feed-1', 'feed-2']);
  assert.equal((await api('POST', '/api-events/import', { body: 'hello', contentType: 'text/calendar' })).status, 400);

  // Export, then import into a new calendar: the same events come back.
  assert.equal((await api('POST', '', { body: { name: 'api-copy', components: ['VEVENT'] } })).status, 201);
  const whole = await api('GET', '/api-events/export.ics');
  const copied = await api('POST', '/api-copy/import', { body: whole.text, contentType: 'text/calendar' });
  assert.equal(copied.status, 200, copied.text);
  assert.equal(copied.json.imported, 3);
  const copy = (await api('GET', '/api-copy/events?start=20260119T000000Z&end=20260120T000000Z')).json.events;
  assert.deepEqual(copy.map((item) => item.uid), ['api-weekly'], 'the recurrence survives the round trip');

  assert.equal((await api('DELETE', '/api-events/events/weekly.ics')).status, 204);
  assert.equal((await api('GET', '/api-events/events/weekly.ics')).status, 404);
  await api('DELETE', '/api-events');
  await api('DELETE', '/api-copy');
});

test('JSON API: import size limit at the limit and one past', async () => {
  await api('DELETE', '/api-import');
  assert.equal((await api('POST', '', { body: { name: 'api-import', components: ['VEVENT'] } })).status, 201);
  const head = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nX-PADDING:';
  const tail = '\r\nBEGIN:VEVENT\r\nUID:big-import\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n';
  const padded = (size) => head + 'x'.repeat(size - head.length - tail.length) + tail;
  const atLimit = await api('POST', '/api-import/import', { body: padded(MAX_IMPORT_SIZE), contentType: 'text/calendar' });
  assert.equal(atLimit.status, 200, atLimit.text.slice(0, 300));
  assert.equal(atLimit.json.imported, 1);
  const past = await api('POST', '/api-import/import', { body: padded(MAX_IMPORT_SIZE + 1), contentType: 'text/calendar' });
  assert.equal(past.status, 413);
  assert.equal(past.json.error.code, 'import_too_large');
  await api('DELETE', '/api-import');
});

test('calendar-multiget href limit at and one past', async () => {
  const hrefs = (count) => Array.from({ length: count }, (_, i) => `<d:href>${alice.calendar}missing-${i}.ics</d:href>`).join('');
  const atLimit = await dav('REPORT', alice.calendar, { body: `<c:calendar-multiget ${NS}><d:prop><d:getetag/></d:prop>${hrefs(1000)}</c:calendar-multiget>` });
  assert.equal(atLimit.status, 207);
  assert.equal(responses(atLimit.text).length, 1000);
  const past = await dav('REPORT', alice.calendar, { body: `<c:calendar-multiget ${NS}><d:prop><d:getetag/></d:prop>${hrefs(1001)}</c:calendar-multiget>` });
  assert.equal(past.status, 400);
  assert.match(past.text, /limited to 1000 hrefs/);
});

test('calendar-data comp and prop subsets in query and multiget', async () => {
  const url = `${alice.home}subset/`;
  await dav('DELETE', url);
  assert.equal((await dav('MKCALENDAR', url)).status, 201);
  const stored = event('subset', '20270310T150000Z', '20270310T160000Z',
    'DESCRIPTION:Long agenda\r\nATTENDEE:mailto:bob@example.com\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nDESCRIPTION:Soon\r\nEND:VALARM\r\n');
  assert.equal((await dav('PUT', `${url}subset.ics`, { body: stored })).status, 201);
  const data = '<c:calendar-data><c:comp name="VCALENDAR"><c:prop name="VERSION"/><c:comp name="VEVENT"><c:prop name="SUMMARY"/><c:prop name="UID"/><c:prop name="DTSTART"/></c:comp></c:comp></c:calendar-data>';

  const queried = await dav('REPORT', url, { headers: { Depth: '1' }, body: `<c:calendar-query ${NS}><d:prop><d:getetag/>${data}</d:prop><c:filter>${range('VEVENT', '20270310T000000Z', '20270311T000000Z')}</c:filter></c:calendar-query>` });
  assert.equal(queried.status, 207, queried.text);
  const multiget = await dav('REPORT', url, { body: `<c:calendar-multiget ${NS}><d:prop>${data}</d:prop><d:href>${url}subset.ics</d:href></c:calendar-multiget>` });
  assert.equal(multiget.status, 207, multiget.text);
  for (const [report, response] of [['calendar-query', queried], ['calendar-multiget', multiget]]) {
    const [item] = responses(response.text);
    assert.ok(item, `${report} returned the object`);
    for (const kept of ['VERSION:2.0', 'BEGIN:VEVENT', 'SUMMARY:subset', 'UID:subset', 'DTSTART:20270310T150000Z']) assert.ok(item.body.includes(kept), `${report} keeps ${kept}`);
    for (const dropped of ['PRODID', 'DTSTAMP', 'DTEND', 'DESCRIPTION', 'ATTENDEE', 'VALARM']) assert.ok(!item.body.includes(dropped), `${report} drops ${dropped}`);
  }

  const everything = await dav('REPORT', url, { body: `<c:calendar-multiget ${NS}><d:prop><c:calendar-data><c:comp name="VCALENDAR"><c:allprop/><c:allcomp/></c:comp></c:calendar-data></d:prop><d:href>${url}subset.ics</d:href></c:calendar-multiget>` });
  assert.equal(everything.status, 207, everything.text);
  for (const kept of ['PRODID', 'DESCRIPTION:Long agenda', 'ATTENDEE:mailto:bob@example.com', 'TRIGGER:-PT10M']) assert.ok(responses(everything.text)[0].body.includes(kept), `allprop and allcomp keep ${kept}`);

  const wrongRoot = await dav('REPORT', url, { body: `<c:calendar-multiget ${NS}><d:prop><c:calendar-data><c:comp name="VEVENT"/></c:calendar-data></d:prop><d:href>${url}subset.ics</d:href></c:calendar-multiget>` });
  assert.equal(wrongRoot.status, 400);
  assert.match(wrongRoot.text, /must name VCALENDAR/);
  const unnamed = await dav('REPORT', url, { body: `<c:calendar-multiget ${NS}><d:prop><c:calendar-data><c:comp name="VCALENDAR"><c:prop/></c:comp></c:calendar-data></d:prop><d:href>${url}subset.ics</d:href></c:calendar-multiget>` });
  assert.equal(unnamed.status, 400);
  assert.match(unnamed.text, /needs a name attribute/);
  assert.equal((await dav('DELETE', url)).status, 204);
});
