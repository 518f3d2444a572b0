// tsdav (npm), a DAV client library for web and Node applications, against
// expresso-contacts. Covered: address-book discovery from the server root,
// vCard create, update and delete, and sync-collection with the returned
// sync-token through several rounds of changes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { createDAVClient } from 'tsdav';

import { requireEnv } from './lib/stack.mjs';

const BASE = requireEnv('EXPRESSO_CARDDAV_URL');
const EMAIL = requireEnv('EXPRESSO_ALICE_EMAIL');
const APP_PASSWORD = requireEnv('EXPRESSO_ALICE_APP_PASSWORD');
const BOOK_NAME = 'tsdav-book';
const authorization = `Basic ${Buffer.from(`${EMAIL}:${APP_PASSWORD}`).toString('base64')}`;

let client;
let book;

function vcard(uid, fn) {
  return `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:${fn}\r\nEND:VCARD\r\n`;
}

async function raw(method, url) {
  const response = await fetch(url, { method, headers: { Authorization: authorization } });
  return response.status;
}

// Runs one webdav sync of the book from TOKEN, with OBJECTS as the client's copy.
async function syncRound(token, objects) {
  return client.smartCollectionSyncDetailed({
    collection: { ...book, syncToken: token, objects, objectMultiGet: client.addressBookMultiGet },
    method: 'webdav',
  });
}

const names = (list) => list.map((object) => object.url.split('/').pop()).sort();

before(async () => {
  client = await createDAVClient({
    serverUrl: `${BASE}/`,
    credentials: { username: EMAIL, password: APP_PASSWORD },
    authMethod: 'Basic',
    defaultAccountType: 'carddav',
  });
  const books = await client.fetchAddressBooks();
  const home = books[0].url.replace(/[^/]+\/$/, '');
  await raw('DELETE', `${home}${BOOK_NAME}/`);
  assert.equal(await raw('MKCOL', `${home}${BOOK_NAME}/`), 201);
  book = (await client.fetchAddressBooks()).find((candidate) => candidate.url.endsWith(`/${BOOK_NAME}/`));
});

after(async () => {
  if (book) await raw('DELETE', book.url);
});

test('tsdav discovers address books with their reports', () => {
  assert.ok(book, 'the new address book is listed');
  assert.deepEqual(book.resourcetype, ['collection', 'addressbook']);
  assert.ok(book.reports.includes('syncCollection'));
  assert.match(book.syncToken, /^urn:x-expresso:sync:/);
  assert.equal(book.ctag, book.syncToken);
});

test('tsdav sync-collection through several rounds of changes', async () => {
  assert.deepEqual(await client.fetchVCards({ addressBook: book }), []);
  const token0 = book.syncToken;

  for (const uid of ['ana', 'bruno']) {
    const response = await client.createVCard({ addressBook: book, vCardString: vcard(uid, uid), filename: `${uid}.vcf` });
    assert.equal(response.status, 201);
  }
  const round1 = await syncRound(token0, []);
  assert.deepEqual(names(round1.objects.created), ['ana.vcf', 'bruno.vcf']);
  assert.deepEqual(round1.objects.updated, []);
  assert.deepEqual(round1.objects.deleted, []);
  assert.notEqual(round1.syncToken, token0);

  const local = await client.fetchVCards({ addressBook: book });
  const ana = local.find((object) => object.url.endsWith('ana.vcf'));
  const bruno = local.find((object) => object.url.endsWith('bruno.vcf'));
  assert.equal((await client.updateVCard({ vCard: { ...ana, data: vcard('ana', 'Ana Editada') } })).status, 204);
  assert.equal((await client.deleteVCard({ vCard: bruno })).status, 204);
  assert.equal((await client.createVCard({ addressBook: book, vCardString: vcard('carla', 'Carla'), filename: 'carla.vcf' })).status, 201);

  const round2 = await syncRound(round1.syncToken, local);
  assert.deepEqual(names(round2.objects.created), ['carla.vcf']);
  assert.deepEqual(names(round2.objects.updated), ['ana.vcf']);
  assert.deepEqual(names(round2.objects.deleted), ['bruno.vcf']);
  assert.match(round2.objects.updated[0].data, /FN:Ana Editada/);

  const current = await client.fetchVCards({ addressBook: book });
  const round3 = await syncRound(round2.syncToken, current);
  assert.deepEqual(round3.objects, { created: [], updated: [], deleted: [] }, 'a round without changes transfers nothing');
  assert.equal(round3.syncToken, round2.syncToken);

  const stale = await client.updateVCard({ vCard: { ...ana, data: vcard('ana', 'Stale write') } });
  assert.equal(stale.status, 412, 'an update with an old ETag never overwrites');
  const kept = await client.fetchVCards({ addressBook: book, objectUrls: [ana.url] });
  assert.match(kept[0].data, /FN:Ana Editada/);
});
