// vdirsyncer (Debian package, run by /usr/bin/python3) syncs one calendar
// of expresso-calendar with a local folder in both directions.
// Covered: discovery, create, edit and delete on each side, a conflict
// resolved by "b wins" (the server), and a last sync that transfers nothing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { requireEnv } from './lib/stack.mjs';

const BASE = requireEnv('EXPRESSO_CALDAV_URL');
const EMAIL = requireEnv('EXPRESSO_ALICE_EMAIL');
const APP_PASSWORD = requireEnv('EXPRESSO_ALICE_APP_PASSWORD');
const VDIRSYNCER = '/usr/bin/vdirsyncer';
const CALENDAR_NAME = 'vdirsyncer-calendar';

const authorization = `Basic ${Buffer.from(`${EMAIL}:${APP_PASSWORD}`).toString('base64')}`;
let work;
let calendarUrl;

async function dav(method, url, { headers = {}, body } = {}) {
  const response = await fetch(url.startsWith('http') ? url : BASE + url, {
    method,
    headers: { Authorization: authorization, ...(body ? { 'Content-Type': method === 'PUT' ? 'text/calendar' : 'application/xml' } : {}), ...headers },
    body,
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

// Runs vdirsyncer with ARGS, answering "y" to its questions; resolves with its output.
function vdirsyncer(...args) {
  return new Promise((resolve, reject) => {
    const child = spawn(VDIRSYNCER, ['-c', path.join(work, 'config'), ...args], {
      env: { PATH: '/usr/bin:/bin', HOME: work, LANG: 'C.UTF-8' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; });
    child.stderr.on('data', (chunk) => { output += chunk; });
    child.stdin.end('y\ny\ny\n');
    const timer = setTimeout(() => child.kill('SIGTERM'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`vdirsyncer ${args.join(' ')} exited with ${code}:\n${output}`));
    });
  });
}

function vevent(uid, summary) {
  return `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//expresso tests//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\nDTEND:20260301T110000Z\r\nSUMMARY:${summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
}

const localDir = () => path.join(work, 'local', CALENDAR_NAME);

// Maps UID to the local file that contains it.
function localObjects() {
  const objects = {};
  for (const name of readdirSync(localDir())) {
    const text = readFileSync(path.join(localDir(), name), 'utf8');
    const uid = text.match(/^UID:(.*)$/m)?.[1]?.trim();
    if (uid) objects[uid] = { file: path.join(localDir(), name), text };
  }
  return objects;
}

// Maps UID to the server's href and text, read with PROPFIND and GET.
async function remoteObjects() {
  const listing = await dav('PROPFIND', calendarUrl, { headers: { Depth: '1' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>' });
  assert.equal(listing.status, 207);
  const hrefs = [...listing.text.matchAll(/<d:href>([^<]*)<\/d:href>/g)].map((match) => match[1]).filter((href) => href !== calendarUrl);
  const objects = {};
  for (const href of hrefs) {
    const read = await dav('GET', href);
    const uid = read.text.match(/^UID:(.*)$/m)?.[1]?.trim();
    objects[uid] = { href, text: read.text };
  }
  return objects;
}

// Returns the lines of a vdirsyncer sync output that report a transfer.
function transfers(output) {
  return output.split('\n').filter((line) => /Copying|Updating|Deleting|Uploading|Downloading/i.test(line));
}

before(async () => {
  assert.ok(existsSync(VDIRSYNCER), 'install the Debian package vdirsyncer');
  work = mkdtempSync(path.join(tmpdir(), 'expresso-vdirsyncer-'));
  const root = await dav('PROPFIND', '/', { headers: { Depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>' });
  const principal = root.text.match(/<d:current-user-principal><d:href>([^<]*)</)[1];
  calendarUrl = principal.replace('/principals/', '/calendars/') + `${CALENDAR_NAME}/`;
  await dav('DELETE', calendarUrl);
  assert.equal((await dav('MKCALENDAR', calendarUrl)).status, 201);
  writeFileSync(path.join(work, 'config'), `[general]
status_path = "${work}/status/"

[pair calendar]
a = "local"
b = "remote"
collections = ["${CALENDAR_NAME}"]
conflict_resolution = "b wins"

[storage local]
type = "filesystem"
path = "${work}/local/"
fileext = ".ics"

[storage remote]
type = "caldav"
url = "${BASE}/"
username = "${EMAIL}"
password = "${APP_PASSWORD}"
`);
});

after(async () => {
  if (calendarUrl) await dav('DELETE', calendarUrl);
  if (work) rmSync(work, { recursive: true, force: true });
});

test('vdirsyncer discovers the calendar from the server root', async () => {
  const output = await vdirsyncer('discover', 'calendar');
  assert.match(output, new RegExp(CALENDAR_NAME));
  assert.ok(existsSync(localDir()), output);
});

test('vdirsyncer syncs creates, edits and deletes both ways', async () => {
  assert.equal((await dav('PUT', `${calendarUrl}remote-1.ics`, { body: vevent('remote-1', 'Remota Um') })).status, 201);
  await vdirsyncer('sync', 'calendar');
  let local = localObjects();
  assert.match(local['remote-1']?.text ?? '', /SUMMARY:Remota Um/, 'a server event reaches the folder');

  writeFileSync(path.join(localDir(), 'local-1.ics'), vevent('local-1', 'Local Um'));
  await vdirsyncer('sync', 'calendar');
  let remote = await remoteObjects();
  assert.match(remote['local-1']?.text ?? '', /SUMMARY:Local Um/, 'a local event reaches the server');

  const current = await dav('GET', `${calendarUrl}remote-1.ics`);
  assert.equal((await dav('PUT', `${calendarUrl}remote-1.ics`, { headers: { 'If-Match': current.headers.get('etag') }, body: vevent('remote-1', 'Remota Editada') })).status, 204);
  writeFileSync(local['local-1']?.file ?? path.join(localDir(), 'local-1.ics'), vevent('local-1', 'Local Editado'));
  await vdirsyncer('sync', 'calendar');
  local = localObjects();
  remote = await remoteObjects();
  assert.match(local['remote-1'].text, /SUMMARY:Remota Editada/);
  assert.match(remote['local-1'].text, /SUMMARY:Local Editado/);

  assert.equal((await dav('DELETE', `${calendarUrl}remote-1.ics`)).status, 204);
  unlinkSync(local['local-1'].file);
  await vdirsyncer('sync', 'calendar');
  assert.deepEqual(Object.keys(localObjects()), []);
  assert.deepEqual(Object.keys(await remoteObjects()), []);
});

test('vdirsyncer conflict: the server wins, and a last sync transfers nothing', async () => {
  assert.equal((await dav('PUT', `${calendarUrl}both.ics`, { body: vevent('both', 'Original') })).status, 201);
  await vdirsyncer('sync', 'calendar');
  const local = localObjects();
  assert.ok(local.both);

  writeFileSync(local.both.file, vevent('both', 'Mudado no telefone'));
  const current = await dav('GET', `${calendarUrl}both.ics`);
  assert.equal((await dav('PUT', `${calendarUrl}both.ics`, { headers: { 'If-Match': current.headers.get('etag') }, body: vevent('both', 'Mudado no servidor') })).status, 204);
  await vdirsyncer('sync', 'calendar');
  assert.match(localObjects().both.text, /SUMMARY:Mudado no servidor/);
  assert.match((await remoteObjects()).both.text, /SUMMARY:Mudado no servidor/);

  const quiet = await vdirsyncer('-v', 'debug', 'sync', 'calendar');
  assert.deepEqual(transfers(quiet), [], `a sync without changes transfers nothing:\n${quiet}`);
});
