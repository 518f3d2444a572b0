// The JSON API of expresso-contacts under /api/v1/addressbooks, with
// fetch. Address books are created, renamed and deleted. Contacts are
// created, read, replaced and deleted as vCards with If-Match. The CardDAV
// checks and limits come back as JSON errors, and each change publishes
// contacts.changed. An import of a multi-vCard file returns one result per
// vCard, its size limit is tested at and one past, and the same file is
// imported again.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { connect as connectNats } from 'nats';

import { freePort, requireEnv, startDaemon, waitForHttp } from './lib/stack.mjs';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const BASE = requireEnv('EXPRESSO_CARDDAV_URL');
const MAX_RESOURCE_SIZE = 1024 * 1024; // EXPRESSO_CARDDAV_MAX_RESOURCE_SIZE default
const BOOK = 'api-book';

const accounts = {
  alice: { email: requireEnv('EXPRESSO_ALICE_EMAIL'), password: requireEnv('EXPRESSO_ALICE_APP_PASSWORD') },
  bob: { email: requireEnv('EXPRESSO_BOB_EMAIL'), password: requireEnv('EXPRESSO_BOB_APP_PASSWORD') },
};

function basic(user) {
  const { email, password } = accounts[user];
  return `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`;
}

// Sends one request to BASE (or to BASE_URL). A string body is sent as text/vcard unless HEADERS set another type, an object as JSON.
async function api(method, url, { user = 'alice', headers = {}, body, baseUrl = BASE } = {}) {
  const json = body !== undefined && typeof body !== 'string';
  const contentType = body === undefined ? {} : { 'Content-Type': json ? 'application/json' : 'text/vcard; charset=utf-8' };
  const response = await fetch(baseUrl + url, {
    method,
    headers: { Authorization: basic(user), ...contentType, ...headers },
    body: json ? JSON.stringify(body) : body,
  });
  const text = await response.text();
  let parsed = null;
  if ((response.headers.get('content-type') ?? '').startsWith('application/json')) parsed = JSON.parse(text);
  return { status: response.status, headers: response.headers, text, json: parsed };
}

function vcard(uid, fn, extra = '') {
  return `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:${fn}\r\nN:${fn};;;;\r\n${extra}END:VCARD\r\n`;
}

function paddedVcard(uid, size) {
  const head = `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:Padded\r\nNOTE:`;
  const tail = '\r\nEND:VCARD\r\n';
  return head + 'x'.repeat(size - head.length - tail.length) + tail;
}

const contactsUrl = (book = BOOK) => `/api/v1/addressbooks/${book}/contacts`;

async function listBooks(user = 'alice') {
  const response = await api('GET', '/api/v1/addressbooks', { user });
  assert.equal(response.status, 200, response.text);
  return response.json.addressbooks;
}

before(async () => {
  await api('DELETE', `/api/v1/addressbooks/${BOOK}`);
  await api('DELETE', '/api/v1/addressbooks/api-import');
});

after(async () => {
  await api('DELETE', `/api/v1/addressbooks/${BOOK}`);
  await api('DELETE', '/api/v1/addressbooks/api-import');
});

test('address book created, renamed and refused', async () => {
  const created = await api('POST', '/api/v1/addressbooks', { body: { name: BOOK, displayname: 'Agenda da API', description: 'criada pela API' } });
  assert.equal(created.status, 201, created.text);
  assert.deepEqual(created.json, { name: BOOK });
  let book = (await listBooks()).find((candidate) => candidate.name === BOOK);
  assert.equal(book.displayname, 'Agenda da API');
  assert.equal(book.description, 'criada pela API');
  assert.equal(book.count, 0);
  assert.match(book.ctag, /^urn:x-expresso:sync:/);

  const again = await api('POST', '/api/v1/addressbooks', { body: { name: BOOK } });
  assert.equal(again.status, 409);
  assert.equal(again.json.error.code, 'addressbook_exists');
  assert.equal((await api('POST', '/api/v1/addressbooks', { body: { name: 'gal' } })).json.error.code, 'addressbook_exists');
  for (const name of ['', '-starts-with-dash', 'has/slash', 'x'.repeat(65), 42]) {
    const invalid = await api('POST', '/api/v1/addressbooks', { body: { name } });
    assert.equal(invalid.status, 400, `name ${JSON.stringify(name)}`);
  }
  assert.equal((await api('POST', '/api/v1/addressbooks', { body: 'not json', headers: { 'Content-Type': 'application/json' } })).json.error.code, 'invalid_body');

  const renamed = await api('PATCH', `/api/v1/addressbooks/${BOOK}`, { body: { displayname: 'Agenda renomeada' } });
  assert.equal(renamed.status, 204, renamed.text);
  book = (await listBooks()).find((candidate) => candidate.name === BOOK);
  assert.equal(book.displayname, 'Agenda renomeada');
  assert.equal(book.description, 'criada pela API', 'a member left out keeps its value');
  assert.equal((await api('PATCH', `/api/v1/addressbooks/${BOOK}`, { body: { name: 'other' } })).json.error.code, 'invalid_field');
  assert.equal((await api('PATCH', '/api/v1/addressbooks/missing-book', { body: { displayname: 'x' } })).status, 404);
  assert.equal((await api('PATCH', '/api/v1/addressbooks/gal', { body: { displayname: 'x' } })).json.error.code, 'read_only');
  assert.equal((await listBooks('bob')).some((candidate) => candidate.name === BOOK), false, 'another user does not see it');
});

test('contact created, read, replaced and deleted', async () => {
  const created = await api('POST', contactsUrl(), { body: vcard('api-contact-1', 'Conceição Silva') });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.name, 'api-contact-1.vcf');
  assert.match(created.json.etag, /^"[0-9a-f]{64}"$/);
  assert.equal(created.headers.get('etag'), created.json.etag);
  assert.equal(created.headers.get('location'), `${contactsUrl()}/api-contact-1.vcf`);

  const url = `${contactsUrl()}/api-contact-1.vcf`;
  const read = await api('GET', url);
  assert.equal(read.status, 200);
  assert.match(read.headers.get('content-type'), /^text\/vcard/);
  assert.equal(read.text, vcard('api-contact-1', 'Conceição Silva'), 'the vCard comes back byte for byte');
  assert.equal(read.headers.get('etag'), created.json.etag);
  assert.equal((await api('GET', url, { headers: { 'If-None-Match': created.json.etag } })).status, 304);

  const duplicate = await api('POST', contactsUrl(), { body: vcard('api-contact-1', 'Other') });
  assert.equal(duplicate.status, 409);
  assert.equal(duplicate.json.error.code, 'contact_exists');

  const stale = await api('PUT', url, { body: vcard('api-contact-1', 'Conceição Souza'), headers: { 'If-Match': '"0000"' } });
  assert.equal(stale.status, 412);
  assert.equal(stale.json.error.code, 'precondition_failed');
  const replaced = await api('PUT', url, { body: vcard('api-contact-1', 'Conceição Souza'), headers: { 'If-Match': created.json.etag } });
  assert.equal(replaced.status, 204, replaced.text);
  assert.notEqual(replaced.headers.get('etag'), created.json.etag);
  const fresh = await api('PUT', `${contactsUrl()}/named-by-client.vcf`, { body: vcard('api-contact-2', 'Maria'), headers: { 'If-None-Match': '*' } });
  assert.equal(fresh.status, 201);

  const list = await api('GET', contactsUrl());
  assert.equal(list.status, 200);
  assert.equal(list.json.truncated, false);
  const byName = Object.fromEntries(list.json.contacts.map((contact) => [contact.name, contact]));
  assert.deepEqual(Object.keys(byName).sort(), ['api-contact-1.vcf', 'named-by-client.vcf']);
  assert.equal(byName['api-contact-1.vcf'].fn, 'Conceição Souza');
  assert.equal(byName['api-contact-1.vcf'].etag, replaced.headers.get('etag'));
  assert.equal(byName['named-by-client.vcf'].vcard, vcard('api-contact-2', 'Maria'));

  assert.equal((await api('DELETE', url, { headers: { 'If-Match': created.json.etag } })).status, 412);
  assert.equal((await api('DELETE', url, { headers: { 'If-Match': replaced.headers.get('etag') } })).status, 204);
  const gone = await api('GET', url);
  assert.equal(gone.status, 404);
  assert.equal(gone.json.error.code, 'not_found');
  assert.equal((await api('DELETE', `${contactsUrl()}/named-by-client.vcf`)).status, 204);
});

test('contact checks answer as JSON errors', async () => {
  const noVersion = await api('POST', contactsUrl(), { body: 'BEGIN:VCARD\r\nUID:x\r\nFN:x\r\nEND:VCARD\r\n' });
  assert.equal(noVersion.status, 403);
  assert.equal(noVersion.json.error.code, 'valid_address_data');
  const two = await api('PUT', `${contactsUrl()}/two.vcf`, { body: vcard('two-a', 'A') + vcard('two-b', 'B') });
  assert.equal(two.json.error.code, 'valid_address_data');
  const wrongType = await api('PUT', `${contactsUrl()}/typed.vcf`, { body: vcard('typed', 'T'), headers: { 'Content-Type': 'application/json' } });
  assert.equal(wrongType.status, 415);
  assert.equal(wrongType.json.error.code, 'supported_address_data');

  const atLimit = await api('PUT', `${contactsUrl()}/at-limit.vcf`, { body: paddedVcard('api-at-limit', MAX_RESOURCE_SIZE) });
  assert.equal(atLimit.status, 201, atLimit.text);
  const past = await api('PUT', `${contactsUrl()}/past-limit.vcf`, { body: paddedVcard('api-past-limit', MAX_RESOURCE_SIZE + 1) });
  assert.equal(past.status, 413);
  assert.equal(past.json.error.code, 'max_resource_size');
  assert.equal((await api('DELETE', `${contactsUrl()}/at-limit.vcf`)).status, 204);

  assert.equal((await api('PUT', `${contactsUrl()}/uid-a.vcf`, { body: vcard('same-uid', 'A') })).status, 201);
  const conflict = await api('PUT', `${contactsUrl()}/uid-b.vcf`, { body: vcard('same-uid', 'B') });
  assert.equal(conflict.status, 403);
  assert.equal(conflict.json.error.code, 'no_uid_conflict');
  assert.equal((await api('DELETE', `${contactsUrl()}/uid-a.vcf`)).status, 204);

  const missingBook = await api('POST', contactsUrl('no-such-book'), { body: vcard('nowhere', 'N') });
  assert.equal(missingBook.status, 404);
  assert.equal(missingBook.json.error.code, 'addressbook_not_found');
  assert.equal((await api('GET', contactsUrl('no-such-book'))).status, 404);
  assert.equal((await api('PUT', `${contactsUrl('gal')}/x.vcf`, { body: vcard('gal-write', 'G') })).status, 403);
  const otherUser = await api('GET', contactsUrl(), { user: 'bob' });
  assert.equal(otherUser.status, 404, 'another user cannot read the book');
  const anonymous = await fetch(`${BASE}${contactsUrl()}`);
  assert.equal(anonymous.status, 401);
});

test('each API change publishes contacts.changed', async () => {
  const state = JSON.parse(readFileSync(path.join(requireEnv('EXPRESSO_STATE_DIR'), 'accounts.json'), 'utf8'));
  const aliceAccount = state.users.find((user) => user.email === accounts.alice.email);
  const tenantId = state.tenants.find((tenant) => tenant.slug === aliceAccount.tenant).id;
  const nats = await connectNats({ servers: requireEnv('EXPRESSO_NATS_URL').replace(/^nats:\/\//, '') });
  try {
    const subscription = nats.subscribe(`expresso.${tenantId}.contacts.changed`, { max: 4 });
    const events = (async () => {
      const received = [];
      for await (const message of subscription) received.push(JSON.parse(new TextDecoder().decode(message.data)));
      return received;
    })();
    const timer = setTimeout(() => subscription.unsubscribe(), 5000);
    // The server must have the subscription before the first change, or that event is lost.
    await nats.flush();
    assert.equal((await api('POST', contactsUrl(), { body: vcard('api-event', 'Evento') })).status, 201);
    assert.equal((await api('PUT', `${contactsUrl()}/api-event.vcf`, { body: vcard('api-event', 'Evento 2') })).status, 204);
    assert.equal((await api('DELETE', `${contactsUrl()}/api-event.vcf`)).status, 204);
    assert.equal((await api('PATCH', `/api/v1/addressbooks/${BOOK}`, { body: { description: 'eventos' } })).status, 204);
    const received = await events;
    clearTimeout(timer);
    assert.deepEqual(received.map((event) => event.change), ['created', 'updated', 'deleted', 'updated']);
    assert.deepEqual(received.map((event) => event.resource), ['api-event.vcf', 'api-event.vcf', 'api-event.vcf', '']);
    for (const event of received) {
      assert.equal(event.user, aliceAccount.id);
      assert.equal(event.addressbook, BOOK);
      assert.equal(JSON.stringify(event).includes('Evento'), false, 'events carry no vCard data');
    }
  } finally {
    await nats.close();
  }
});

test('import stores each vCard and reports each one', async () => {
  assert.equal((await api('POST', '/api/v1/addressbooks', { body: { name: 'api-import' } })).status, 201);
  // A contact a phone stored under a name of its own: the import finds it by UID.
  const phone = await api('PUT', `${contactsUrl('api-import')}/0F3A-phone-name.vcf`, { body: vcard('import-existing', 'Antigo') });
  assert.equal(phone.status, 201);

  const file = vcard('import-1', 'Ana') + '\r\n' + vcard('import-2', 'Bruno', 'EMAIL:bruno@example.org\r\n') +
    'BEGIN:VCARD\r\nUID:import-broken\r\nFN:Sem versão\r\nEND:VCARD\r\n' + vcard('import-existing', 'Atualizado') +
    'BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Sem UID\r\nEND:VCARD\r\n';
  const first = await api('POST', '/api/v1/addressbooks/api-import/import', { body: file });
  assert.equal(first.status, 207, first.text);
  assert.equal(first.json.imported, 4);
  assert.equal(first.json.failed, 1);
  const results = first.json.results;
  assert.deepEqual(results.map((result) => result.status), ['created', 'created', 'failed', 'updated', 'created']);
  assert.deepEqual(results.map((result) => result.index), [1, 2, 3, 4, 5]);
  assert.deepEqual(results.map((result) => result.line), [1, 8, 15, 19, 25]);
  assert.equal(results[0].name, 'import-1.vcf');
  assert.equal(results[2].error.code, 'valid_address_data');
  assert.match(results[2].error.message, /VERSION/);
  assert.equal(results[3].name, '0F3A-phone-name.vcf', 'an existing UID keeps its resource');
  assert.equal(results[4].uid, null);
  assert.match(results[4].name, /^[0-9a-f]{40}\.vcf$/);

  const exported = await api('GET', '/api/v1/addressbooks/api-import/export.vcf');
  assert.equal(exported.status, 200);
  assert.match(exported.text, /FN:Atualizado/);
  assert.doesNotMatch(exported.text, /FN:Antigo/);
  assert.equal((await api('GET', contactsUrl('api-import'))).json.contacts.length, 4);

  // The same file again changes nothing that was stored.
  const again = await api('POST', '/api/v1/addressbooks/api-import/import', { body: file });
  assert.deepEqual(again.json.results.map((result) => result.status), ['unchanged', 'unchanged', 'failed', 'unchanged', 'unchanged']);
  assert.equal((await api('GET', contactsUrl('api-import'))).json.contacts.length, 4);
});

test('import rejects what it cannot split or apply', async () => {
  const outside = await api('POST', '/api/v1/addressbooks/api-import/import', { body: vcard('x', 'X') + 'stray text\r\n' });
  assert.equal(outside.status, 400);
  assert.equal(outside.json.error.code, 'invalid_vcard_file');
  assert.match(outside.json.error.message, /line 7 is outside/);
  const unfinished = await api('POST', '/api/v1/addressbooks/api-import/import', { body: 'BEGIN:VCARD\r\nVERSION:3.0\r\n' });
  assert.equal(unfinished.json.error.code, 'invalid_vcard_file');
  const empty = await api('POST', '/api/v1/addressbooks/api-import/import', { body: '' });
  assert.equal(empty.json.error.code, 'invalid_vcard_file');
  const json = await api('POST', '/api/v1/addressbooks/api-import/import', { body: vcard('x', 'X'), headers: { 'Content-Type': 'application/json' } });
  assert.equal(json.status, 415);
  const conditional = await api('POST', '/api/v1/addressbooks/api-import/import', { body: vcard('x', 'X'), headers: { 'If-Match': '"x"' } });
  assert.equal(conditional.status, 400);
  assert.equal((await api('POST', '/api/v1/addressbooks/gal/import', { body: vcard('x', 'X') })).json.error.code, 'read_only');
  assert.equal((await api('POST', '/api/v1/addressbooks/no-such-book/import', { body: vcard('x', 'X') })).status, 404);
});

test('import size limit: at the limit imported, one byte past refused', async () => {
  const limit = 4096;
  const port = await freePort();
  const binary = path.join(process.env.EXPRESSO_BUILD_DIR ?? path.join(repoRoot, 'build'), 'services', 'contacts', 'expresso-contacts');
  const daemon = startDaemon(binary, { EXPRESSO_HTTP_ADDRESS: '127.0.0.1', EXPRESSO_HTTP_PORT: String(port), EXPRESSO_CONTACTS_MAX_IMPORT_SIZE: String(limit) });
  try {
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitForHttp(`${baseUrl}/ready`);
    const atLimit = paddedVcard('limit-a', limit / 2) + paddedVcard('limit-b', limit / 2);
    assert.equal(Buffer.byteLength(atLimit), limit);
    const stored = await api('POST', '/api/v1/addressbooks/api-import/import', { body: atLimit, baseUrl });
    assert.equal(stored.status, 200, stored.text);
    assert.equal(stored.json.imported, 2);
    const past = await api('POST', '/api/v1/addressbooks/api-import/import', { body: paddedVcard('limit-a', limit / 2) + paddedVcard('limit-b', limit / 2 + 1), baseUrl });
    assert.equal(past.status, 413);
    assert.equal(past.json.error.code, 'import_too_large');
    assert.match(past.json.error.message, /4097 bytes, more than the import limit of 4096 bytes/);
  } finally {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
  }
});

test('address book deleted with its contacts', async () => {
  const deleted = await api('DELETE', '/api/v1/addressbooks/api-import');
  assert.equal(deleted.status, 204);
  assert.equal((await listBooks()).some((book) => book.name === 'api-import'), false);
  assert.equal((await api('GET', contactsUrl('api-import'))).status, 404);
  assert.equal((await api('DELETE', '/api/v1/addressbooks/api-import')).status, 404);
  assert.equal((await api('DELETE', '/api/v1/addressbooks/gal')).status, 403);
});
