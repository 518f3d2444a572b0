// vdirsyncer (Debian package, run by /usr/bin/python3) syncs one address
// book of expresso-contacts with a local folder in both directions.
// Covered: discovery, create, edit and delete on each side, a conflict
// resolved by "b wins" (the server), and a last sync that transfers nothing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { requireEnv } from './lib/stack.mjs';

const BASE = requireEnv('EXPRESSO_CARDDAV_URL');
const EMAIL = requireEnv('EXPRESSO_ALICE_EMAIL');
const APP_PASSWORD = requireEnv('EXPRESSO_ALICE_APP_PASSWORD');
const VDIRSYNCER = '/usr/bin/vdirsyncer';
const BOOK_NAME = 'vdirsyncer-book';

const authorization = `Basic ${Buffer.from(`${EMAIL}:${APP_PASSWORD}`).toString('base64')}`;
let work;
let bookUrl;

async function dav(method, url, { headers = {}, body } = {}) {
  const response = await fetch(url.startsWith('http') ? url : BASE + url, {
    method,
    headers: { Authorization: authorization, ...(body ? { 'Content-Type': method === 'PUT' ? 'text/vcard' : 'application/xml' } : {}), ...headers },
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

function vcard(uid, fn) {
  return `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:${fn}\r\nN:${fn};;;;\r\nEND:VCARD\r\n`;
}

const localDir = () => path.join(work, 'local', BOOK_NAME);

// Maps UID to the local file that contains it.
function localCards() {
  const cards = {};
  for (const name of readdirSync(localDir())) {
    const text = readFileSync(path.join(localDir(), name), 'utf8');
    const uid = text.match(/^UID:(.*)$/m)?.[1]?.trim();
    if (uid) cards[uid] = { file: path.join(localDir(), name), text };
  }
  return cards;
}

// Maps UID to the server's href and text, read with PROPFIND and GET.
async function remoteCards() {
  const listing = await dav('PROPFIND', bookUrl, { headers: { Depth: '1' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>' });
  assert.equal(listing.status, 207);
  const hrefs = [...listing.text.matchAll(/<d:href>([^<]*)<\/d:href>/g)].map((match) => match[1]).filter((href) => href !== bookUrl);
  const cards = {};
  for (const href of hrefs) {
    const read = await dav('GET', href);
    const uid = read.text.match(/^UID:(.*)$/m)?.[1]?.trim();
    cards[uid] = { href, text: read.text };
  }
  return cards;
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
  bookUrl = principal.replace('/principals/', '/addressbooks/') + `${BOOK_NAME}/`;
  await dav('DELETE', bookUrl);
  assert.equal((await dav('MKCOL', bookUrl)).status, 201);
  writeFileSync(path.join(work, 'config'), `[general]
status_path = "${work}/status/"

[pair contacts]
a = "local"
b = "remote"
collections = ["${BOOK_NAME}"]
conflict_resolution = "b wins"

[storage local]
type = "filesystem"
path = "${work}/local/"
fileext = ".vcf"

[storage remote]
type = "carddav"
url = "${BASE}/"
username = "${EMAIL}"
password = "${APP_PASSWORD}"
`);
});

after(async () => {
  if (bookUrl) await dav('DELETE', bookUrl);
  if (work) rmSync(work, { recursive: true, force: true });
});

test('vdirsyncer discovers the address book from the server root', async () => {
  const output = await vdirsyncer('discover', 'contacts');
  assert.match(output, new RegExp(BOOK_NAME));
  assert.ok(existsSync(localDir()), output);
});

test('vdirsyncer syncs creates, edits and deletes both ways', async () => {
  assert.equal((await dav('PUT', `${bookUrl}remote-1.vcf`, { body: vcard('remote-1', 'Remota Um') })).status, 201);
  await vdirsyncer('sync', 'contacts');
  let local = localCards();
  assert.match(local['remote-1']?.text ?? '', /FN:Remota Um/, 'a server vCard reaches the folder');

  writeFileSync(path.join(localDir(), 'local-1.vcf'), vcard('local-1', 'Local Um'));
  await vdirsyncer('sync', 'contacts');
  let remote = await remoteCards();
  assert.match(remote['local-1']?.text ?? '', /FN:Local Um/, 'a local vCard reaches the server');

  const current = await dav('GET', `${bookUrl}remote-1.vcf`);
  assert.equal((await dav('PUT', `${bookUrl}remote-1.vcf`, { headers: { 'If-Match': current.headers.get('etag') }, body: vcard('remote-1', 'Remota Editada') })).status, 204);
  writeFileSync(local['local-1']?.file ?? path.join(localDir(), 'local-1.vcf'), vcard('local-1', 'Local Editado'));
  await vdirsyncer('sync', 'contacts');
  local = localCards();
  remote = await remoteCards();
  assert.match(local['remote-1'].text, /FN:Remota Editada/);
  assert.match(remote['local-1'].text, /FN:Local Editado/);

  assert.equal((await dav('DELETE', `${bookUrl}remote-1.vcf`)).status, 204);
  unlinkSync(local['local-1'].file);
  await vdirsyncer('sync', 'contacts');
  assert.deepEqual(Object.keys(localCards()), []);
  assert.deepEqual(Object.keys(await remoteCards()), []);
});

test('vdirsyncer conflict: the server wins, and a last sync transfers nothing', async () => {
  assert.equal((await dav('PUT', `${bookUrl}both.vcf`, { body: vcard('both', 'Original') })).status, 201);
  await vdirsyncer('sync', 'contacts');
  const local = localCards();
  assert.ok(local.both);

  writeFileSync(local.both.file, vcard('both', 'Mudado no telefone'));
  const current = await dav('GET', `${bookUrl}both.vcf`);
  assert.equal((await dav('PUT', `${bookUrl}both.vcf`, { headers: { 'If-Match': current.headers.get('etag') }, body: vcard('both', 'Mudado no servidor') })).status, 204);
  await vdirsyncer('sync', 'contacts');
  assert.match(localCards().both.text, /FN:Mudado no servidor/);
  assert.match((await remoteCards()).both.text, /FN:Mudado no servidor/);

  const quiet = await vdirsyncer('-v', 'debug', 'sync', 'contacts');
  assert.deepEqual(transfers(quiet), [], `a sync without changes transfers nothing:\n${quiet}`);
});
