// calendar-data options and floating times of expresso-calendar:
// CALDAV:expand and limit-recurrence-set in calendar-query and
// calendar-multiget (RFC 4791 sections 9.6.5 to 9.6.7) over raw HTTP and
// through python3-caldav, the instance limit of an expansion at and one
// past its default, and floating times read in the calendar's
// CALDAV:calendar-timezone (RFC 4791 section 9.9).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { requireEnv } from './lib/stack.mjs';

const BASE = requireEnv('EXPRESSO_CALDAV_URL');
const EMAIL = requireEnv('EXPRESSO_ALICE_EMAIL');
const PASSWORD = requireEnv('EXPRESSO_ALICE_APP_PASSWORD');
const MAX_EXPANDED_INSTANCES = 10000; // EXPRESSO_CALDAV_MAX_EXPANDED_INSTANCES default
const authorization = `Basic ${Buffer.from(`${EMAIL}:${PASSWORD}`).toString('base64')}`;
const NS = 'xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"';

async function dav(method, url, { headers = {}, body } = {}) {
  const contentType = body === undefined ? {} : { 'Content-Type': method === 'PUT' ? 'text/calendar; charset=utf-8' : 'application/xml' };
  const response = await fetch(BASE + url, { method, headers: { Authorization: authorization, ...contentType, ...headers }, body });
  return { status: response.status, text: await response.text() };
}

function decodeEntities(text) {
  return text.replace(/&quot;/g, '"').replace(/&#13;/g, '\r').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

// Returns the calendar-data of each response of a multistatus, by object name.
function calendarData(xml) {
  const out = {};
  for (const match of xml.matchAll(/<d:response>([\s\S]*?)<\/d:response>/g)) {
    const name = match[1].match(/<d:href>([^<]*)<\/d:href>/)[1].split('/').pop();
    const data = match[1].match(/<cal:calendar-data>([\s\S]*?)<\/cal:calendar-data>/);
    out[decodeURIComponent(name)] = data ? decodeEntities(data[1]) : null;
  }
  return out;
}

const count = (text, needle) => text.split(needle).length - 1;
const lines = (text, name) => text.split(/\r?\n/).filter((line) => line.startsWith(`${name}:`) || line.startsWith(`${name};`)).sort();

const SAO_PAULO = 'BEGIN:VTIMEZONE\r\nTZID:America/Sao_Paulo\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n' +
  'TZOFFSETFROM:-0300\r\nTZOFFSETTO:-0300\r\nTZNAME:-03\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n';

function calendar(body) {
  return `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//expresso tests//EN\r\n${body}END:VCALENDAR\r\n`;
}

// Six Mondays at 09:00 Sao Paulo (12:00 UTC) from 4 January 2027; the 18th cancelled, the 25th moved to the 26th at 15:00.
const WEEKLY = calendar(SAO_PAULO +
  'BEGIN:VEVENT\r\nUID:expand-weekly\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Weekly\r\n' +
  'DTSTART;TZID=America/Sao_Paulo:20270104T090000\r\nDTEND;TZID=America/Sao_Paulo:20270104T100000\r\n' +
  'RRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE;TZID=America/Sao_Paulo:20270118T090000\r\nEND:VEVENT\r\n' +
  'BEGIN:VEVENT\r\nUID:expand-weekly\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Weekly (moved)\r\n' +
  'RECURRENCE-ID;TZID=America/Sao_Paulo:20270125T090000\r\n' +
  'DTSTART;TZID=America/Sao_Paulo:20270126T150000\r\nDTEND;TZID=America/Sao_Paulo:20270126T160000\r\nEND:VEVENT\r\n');

const SINGLE = calendar('BEGIN:VEVENT\r\nUID:expand-single\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Single\r\n' +
  'DTSTART:20270112T180000Z\r\nDTEND:20270112T190000Z\r\nEND:VEVENT\r\n');

// One instance every hour from 1 March 2027, without end.
const HOURLY = calendar('BEGIN:VEVENT\r\nUID:expand-hourly\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Hourly\r\n' +
  'DTSTART:20270301T000000Z\r\nDURATION:PT15M\r\nRRULE:FREQ=HOURLY\r\nEND:VEVENT\r\n');

// 09:00 to 10:00 on 4 January 2027 with no time zone: 12:00 UTC in Sao Paulo, 09:00 UTC elsewhere.
const FLOATING = calendar('BEGIN:VEVENT\r\nUID:floating-meeting\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Floating\r\n' +
  'DTSTART:20270104T090000\r\nDTEND:20270104T100000\r\nEND:VEVENT\r\n');

let home;
const expandCalendar = () => `${home}expand-test/`;
const zonedCalendar = () => `${home}floating-sao-paulo/`;
const plainCalendar = () => `${home}floating-utc/`;

function calendarQuery(data, filter) {
  return `<?xml version="1.0"?><c:calendar-query ${NS}><d:prop><d:getetag/>${data}</d:prop><c:filter>${filter}</c:filter></c:calendar-query>`;
}

const range = (start, end) => `<c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="${start}" end="${end}"/></c:comp-filter></c:comp-filter>`;
const expandData = (start, end) => `<c:calendar-data><c:expand start="${start}" end="${end}"/></c:calendar-data>`;

async function report(url, body) {
  return dav('REPORT', url, { headers: { Depth: '1' }, body });
}

before(async () => {
  const root = await dav('PROPFIND', '/', { headers: { Depth: '0' }, body: `<?xml version="1.0"?><d:propfind ${NS}><d:prop><d:current-user-principal/></d:prop></d:propfind>` });
  const principal = root.text.match(/<d:current-user-principal><d:href>([^<]*)<\/d:href>/)[1];
  const found = await dav('PROPFIND', principal, { headers: { Depth: '0' }, body: `<?xml version="1.0"?><d:propfind ${NS}><d:prop><c:calendar-home-set/></d:prop></d:propfind>` });
  home = found.text.match(/<cal:calendar-home-set><d:href>([^<]*)<\/d:href>/)[1];

  for (const url of [expandCalendar(), zonedCalendar(), plainCalendar()]) await dav('DELETE', url);
  assert.equal((await dav('MKCALENDAR', expandCalendar())).status, 201);
  const timezone = calendar(SAO_PAULO).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const zoned = await dav('MKCALENDAR', zonedCalendar(), {
    body: `<?xml version="1.0"?><c:mkcalendar ${NS}><d:set><d:prop><c:calendar-timezone>${timezone}</c:calendar-timezone></d:prop></d:set></c:mkcalendar>`,
  });
  assert.equal(zoned.status, 201, zoned.text);
  assert.equal((await dav('MKCALENDAR', plainCalendar())).status, 201);

  for (const [name, body] of [['weekly.ics', WEEKLY], ['single.ics', SINGLE], ['hourly.ics', HOURLY]])
    assert.equal((await dav('PUT', `${expandCalendar()}${name}`, { body })).status, 201);
  for (const url of [zonedCalendar(), plainCalendar()])
    assert.equal((await dav('PUT', `${url}floating.ics`, { body: FLOATING })).status, 201);
});

after(async () => {
  for (const url of [expandCalendar(), zonedCalendar(), plainCalendar()]) await dav('DELETE', url);
});

test('calendar-query expands a series into UTC instances', async () => {
  const response = await report(expandCalendar(), calendarQuery(expandData('20270101T000000Z', '20270201T000000Z'), range('20270101T000000Z', '20270201T000000Z')));
  assert.equal(response.status, 207, response.text);
  const data = calendarData(response.text);
  assert.deepEqual(Object.keys(data).sort(), ['single.ics', 'weekly.ics']);

  const weekly = data['weekly.ics'];
  assert.equal(count(weekly, 'BEGIN:VEVENT'), 3);
  for (const forbidden of ['RRULE', 'EXDATE', 'RDATE', 'VTIMEZONE', 'TZID']) assert.equal(count(weekly, forbidden), 0, `${forbidden} in\n${weekly}`);
  assert.deepEqual(lines(weekly, 'RECURRENCE-ID'), ['RECURRENCE-ID:20270104T120000Z', 'RECURRENCE-ID:20270111T120000Z', 'RECURRENCE-ID:20270125T120000Z']);
  assert.deepEqual(lines(weekly, 'DTSTART'), ['DTSTART:20270104T120000Z', 'DTSTART:20270111T120000Z', 'DTSTART:20270126T180000Z']);
  assert.deepEqual(lines(weekly, 'DTEND'), ['DTEND:20270104T130000Z', 'DTEND:20270111T130000Z', 'DTEND:20270126T190000Z']);
  assert.equal(count(weekly, 'SUMMARY:Weekly (moved)'), 1);

  // A single event comes back whole, without a RECURRENCE-ID.
  assert.equal(count(data['single.ics'], 'BEGIN:VEVENT'), 1);
  assert.equal(count(data['single.ics'], 'RECURRENCE-ID'), 0);
});

test('expand range narrower than the filter range', async () => {
  const response = await report(expandCalendar(), calendarQuery(expandData('20270110T000000Z', '20270120T000000Z'), range('20270101T000000Z', '20270201T000000Z')));
  assert.equal(response.status, 207, response.text);
  const data = calendarData(response.text);
  assert.deepEqual(lines(data['weekly.ics'], 'RECURRENCE-ID'), ['RECURRENCE-ID:20270111T120000Z']);
  assert.equal(count(data['single.ics'], 'BEGIN:VEVENT'), 1);
});

test('calendar-multiget expands each href', async () => {
  const body = `<?xml version="1.0"?><c:calendar-multiget ${NS}><d:prop><d:getetag/>${expandData('20270201T000000Z', '20270301T000000Z')}</d:prop>` +
    `<d:href>${expandCalendar()}weekly.ics</d:href><d:href>${expandCalendar()}single.ics</d:href></c:calendar-multiget>`;
  const response = await report(expandCalendar(), body);
  assert.equal(response.status, 207, response.text);
  const data = calendarData(response.text);
  assert.deepEqual(lines(data['weekly.ics'], 'RECURRENCE-ID'), ['RECURRENCE-ID:20270201T120000Z', 'RECURRENCE-ID:20270208T120000Z']);
  // Outside the expand range the single event has no instance left.
  assert.equal(count(data['single.ics'], 'BEGIN:VEVENT'), 0);
  assert.equal(count(data['single.ics'], 'BEGIN:VCALENDAR'), 1);
});

test('limit-recurrence-set keeps the master and the overrides in range', async () => {
  const limit = (start, end) => `<c:calendar-data><c:limit-recurrence-set start="${start}" end="${end}"/></c:calendar-data>`;
  let response = await report(expandCalendar(), calendarQuery(limit('20270101T000000Z', '20270110T000000Z'), range('20270101T000000Z', '20270110T000000Z')));
  assert.equal(response.status, 207, response.text);
  let weekly = calendarData(response.text)['weekly.ics'];
  assert.equal(count(weekly, 'BEGIN:VEVENT'), 1);
  assert.equal(count(weekly, 'RRULE:FREQ=WEEKLY'), 1);
  assert.equal(count(weekly, 'BEGIN:VTIMEZONE'), 1);

  response = await report(expandCalendar(), calendarQuery(limit('20270126T000000Z', '20270127T000000Z'), range('20270101T000000Z', '20270201T000000Z')));
  assert.equal(response.status, 207, response.text);
  weekly = calendarData(response.text)['weekly.ics'];
  assert.equal(count(weekly, 'BEGIN:VEVENT'), 2);
  assert.equal(count(weekly, 'SUMMARY:Weekly (moved)'), 1);
});

test('limit-freebusy-set leaves events as stored', async () => {
  const data = '<c:calendar-data><c:limit-freebusy-set start="20270101T000000Z" end="20270110T000000Z"/></c:calendar-data>';
  const response = await report(expandCalendar(), calendarQuery(data, range('20270101T000000Z', '20270110T000000Z')));
  assert.equal(response.status, 207, response.text);
  assert.equal(calendarData(response.text)['weekly.ics'], WEEKLY);
});

test('expand without an end is rejected', async () => {
  const response = await report(expandCalendar(), calendarQuery('<c:calendar-data><c:expand start="20270101T000000Z"/></c:calendar-data>', range('20270101T000000Z', '20270201T000000Z')));
  assert.equal(response.status, 400);
  assert.match(response.text, /CALDAV:expand needs start and end/);
});

test('expand returns the instance limit and rejects one more', async () => {
  // From 1 March 2027 00:00 UTC, MAX_EXPANDED_INSTANCES hours hold that many hourly instances.
  const start = Date.UTC(2027, 2, 1);
  const stamp = (ms) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const atLimit = stamp(start + MAX_EXPANDED_INSTANCES * 3600_000);
  const pastLimit = stamp(start + (MAX_EXPANDED_INSTANCES + 1) * 3600_000);
  const hourlyOnly = '<c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="UID"><c:text-match collation="i;octet">expand-hourly</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter>';

  let response = await report(expandCalendar(), calendarQuery(expandData('20270301T000000Z', atLimit), hourlyOnly));
  assert.equal(response.status, 207, response.text.slice(0, 500));
  assert.equal(count(calendarData(response.text)['hourly.ics'], 'BEGIN:VEVENT'), MAX_EXPANDED_INSTANCES);

  response = await report(expandCalendar(), calendarQuery(expandData('20270301T000000Z', pastLimit), hourlyOnly));
  assert.equal(response.status, 403, response.text.slice(0, 500));
  assert.match(response.text, /max-instances/);
  assert.match(response.text, /hourly\.ics has more than 10000 instances/);
});

test('floating time read in the calendar time zone', async () => {
  const names = async (url, start, end) => {
    const response = await report(url, calendarQuery('', range(start, end)));
    assert.equal(response.status, 207, response.text);
    return Object.keys(calendarData(response.text));
  };
  // America/Sao_Paulo: 09:00 floating is 12:00 UTC.
  assert.deepEqual(await names(zonedCalendar(), '20270104T120000Z', '20270104T123000Z'), ['floating.ics']);
  assert.deepEqual(await names(zonedCalendar(), '20270104T090000Z', '20270104T100000Z'), []);
  assert.deepEqual(await names(zonedCalendar(), '20270104T130000Z', '20270104T140000Z'), []);
  // Without a calendar time zone the same event is read as UTC.
  assert.deepEqual(await names(plainCalendar(), '20270104T090000Z', '20270104T100000Z'), ['floating.ics']);
  assert.deepEqual(await names(plainCalendar(), '20270104T120000Z', '20270104T123000Z'), []);

  const response = await report(zonedCalendar(), calendarQuery(expandData('20270104T000000Z', '20270105T000000Z'), range('20270104T000000Z', '20270105T000000Z')));
  assert.deepEqual(lines(calendarData(response.text)['floating.ics'], 'DTSTART'), ['DTSTART:20270104T120000Z']);
});

test('JSON event list reads floating times in the calendar time zone', async () => {
  const listed = async (calendarName, start, end) => {
    const response = await fetch(`${BASE}/api/v1/calendars/${calendarName}/events?start=${start}&end=${end}`,
      { headers: { Authorization: authorization } });
    const text = await response.text();
    assert.equal(response.status, 200, text);
    return JSON.parse(text).events.map((event) => event.name);
  };
  assert.deepEqual(await listed('floating-sao-paulo', '20270104T120000Z', '20270104T123000Z'), ['floating.ics']);
  assert.deepEqual(await listed('floating-sao-paulo', '20270104T090000Z', '20270104T100000Z'), []);
  assert.deepEqual(await listed('floating-utc', '20270104T090000Z', '20270104T100000Z'), ['floating.ics']);
  assert.deepEqual(await listed('floating-utc', '20270104T120000Z', '20270104T123000Z'), []);
});

test('free-busy-query reads floating times in the calendar time zone', async () => {
  const response = await dav('REPORT', zonedCalendar(), {
    headers: { Depth: '1' },
    body: `<?xml version="1.0"?><c:free-busy-query ${NS}><c:time-range start="20270104T000000Z" end="20270105T000000Z"/></c:free-busy-query>`,
  });
  assert.equal(response.status, 200, response.text);
  assert.match(response.text, /FREEBUSY;FBTYPE=BUSY:20270104T120000Z\/20270104T130000Z/);
});

test('python3-caldav expand scenario', async () => {
  assert.ok(existsSync('/usr/bin/python3'), 'install the Debian package python3-caldav');
  const script = path.join(import.meta.dirname, 'caldav-expand-python.py');
  const { stdout } = await promisify(execFile)('/usr/bin/python3', [script], { env: { ...process.env, LANG: 'C.UTF-8' }, timeout: 120_000 });
  assert.match(stdout, /python3-caldav expand scenario passed/);
});
