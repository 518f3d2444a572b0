// Real CalDAV clients against expresso-calendar: python3-caldav (Debian,
// run by /usr/bin/python3 from caldav_python_client.py) and tsdav (npm).
// Covered: discovery from the well-known URL and the server root, calendar
// creation, recurring events with a cancelled and a moved instance,
// time-range searches, todos, repeated edits, and tsdav sync-collection
// rounds with the returned sync-token.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { createDAVClient } from 'tsdav';

import { requireEnv } from './lib/stack.mjs';

const BASE = requireEnv('EXPRESSO_CALDAV_URL');
const EMAIL = requireEnv('EXPRESSO_ALICE_EMAIL');
const APP_PASSWORD = requireEnv('EXPRESSO_ALICE_APP_PASSWORD');
const CALENDAR_NAME = 'tsdav-calendar';
const authorization = `Basic ${Buffer.from(`${EMAIL}:${APP_PASSWORD}`).toString('base64')}`;

let client;
let calendar;

function event(uid, summary) {
  return `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//expresso tests//tsdav//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\nDTEND:20260301T110000Z\r\nSUMMARY:${summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
}

async function raw(method, url) {
  const response = await fetch(url, { method, headers: { Authorization: authorization } });
  return response.status;
}

// Runs one webdav sync of the calendar from TOKEN, with OBJECTS as the client's copy.
async function syncRound(token, objects) {
  return client.smartCollectionSyncDetailed({
    collection: { ...calendar, syncToken: token, objects, objectMultiGet: client.calendarMultiGet },
    method: 'webdav',
  });
}

const names = (list) => list.map((object) => object.url.split('/').pop()).sort();

test('python3-caldav scenario', async () => {
  assert.ok(existsSync('/usr/bin/python3'), 'install the Debian package python3-caldav');
  const script = path.join(import.meta.dirname, 'caldav_python_client.py');
  const { stdout } = await promisify(execFile)('/usr/bin/python3', [script], { env: { ...process.env, LANG: 'C.UTF-8' }, timeout: 120_000 });
  assert.match(stdout, /python3-caldav scenario passed/);
});

before(async () => {
  client = await createDAVClient({
    serverUrl: `${BASE}/`,
    credentials: { username: EMAIL, password: APP_PASSWORD },
    authMethod: 'Basic',
    defaultAccountType: 'caldav',
  });
  const calendars = await client.fetchCalendars();
  const home = calendars[0].url.replace(/[^/]+\/$/, '');
  await raw('DELETE', `${home}${CALENDAR_NAME}/`);
  assert.equal(await raw('MKCALENDAR', `${home}${CALENDAR_NAME}/`), 201);
  calendar = (await client.fetchCalendars()).find((candidate) => candidate.url.endsWith(`/${CALENDAR_NAME}/`));
});

after(async () => {
  if (calendar) await raw('DELETE', calendar.url);
});

test('tsdav discovers calendars with their reports and components', () => {
  assert.ok(calendar, 'the new calendar is listed');
  assert.ok(calendar.components.includes('VEVENT'));
  assert.ok(calendar.reports.includes('syncCollection'));
  assert.ok(calendar.reports.includes('calendarQuery'));
  assert.match(calendar.syncToken, /^urn:x-expresso:sync:/);
  assert.equal(calendar.ctag, calendar.syncToken);
});

test('tsdav sync-collection through several rounds of changes', async () => {
  assert.deepEqual(await client.fetchCalendarObjects({ calendar }), []);
  const token0 = calendar.syncToken;

  for (const uid of ['ana', 'bruno']) {
    const response = await client.createCalendarObject({ calendar, iCalString: event(uid, uid), filename: `${uid}.ics` });
    assert.equal(response.status, 201);
  }
  const round1 = await syncRound(token0, []);
  assert.deepEqual(names(round1.objects.created), ['ana.ics', 'bruno.ics']);
  assert.deepEqual(round1.objects.updated, []);
  assert.deepEqual(round1.objects.deleted, []);
  assert.notEqual(round1.syncToken, token0);

  const local = await client.fetchCalendarObjects({ calendar });
  const ana = local.find((object) => object.url.endsWith('ana.ics'));
  const bruno = local.find((object) => object.url.endsWith('bruno.ics'));
  assert.equal((await client.updateCalendarObject({ calendarObject: { ...ana, data: event('ana', 'Ana editada') } })).status, 204);
  assert.equal((await client.deleteCalendarObject({ calendarObject: bruno })).status, 204);
  assert.equal((await client.createCalendarObject({ calendar, iCalString: event('carla', 'Carla'), filename: 'carla.ics' })).status, 201);

  const round2 = await syncRound(round1.syncToken, local);
  assert.deepEqual(names(round2.objects.created), ['carla.ics']);
  assert.deepEqual(names(round2.objects.updated), ['ana.ics']);
  assert.deepEqual(names(round2.objects.deleted), ['bruno.ics']);
  assert.match(round2.objects.updated[0].data, /SUMMARY:Ana editada/);

  const current = await client.fetchCalendarObjects({ calendar });
  const round3 = await syncRound(round2.syncToken, current);
  assert.deepEqual(round3.objects, { created: [], updated: [], deleted: [] }, 'a round without changes transfers nothing');
  assert.equal(round3.syncToken, round2.syncToken);

  const stale = await client.updateCalendarObject({ calendarObject: { ...ana, data: event('ana', 'Stale write') } });
  assert.equal(stale.status, 412, 'an update with an old ETag never overwrites');

  const inRange = await client.fetchCalendarObjects({ calendar, timeRange: { start: '2026-03-01T00:00:00Z', end: '2026-03-02T00:00:00Z' } });
  assert.deepEqual(names(inRange), ['ana.ics', 'carla.ics']);
  const outside = await client.fetchCalendarObjects({ calendar, timeRange: { start: '2026-04-01T00:00:00Z', end: '2026-04-02T00:00:00Z' } });
  assert.deepEqual(outside, []);
});
