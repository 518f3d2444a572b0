// expresso-contacts over raw HTTP (fetch), as a CardDAV client uses it.
// Covered: discovery, PROPFIND depths, conditional PUT/GET/DELETE,
// sync-collection rounds, addressbook-query and multiget, PROPPATCH and
// extended MKCOL, body limits at and past the limit, and hostile XML.
// Also tenant isolation, and the vCard corpus in tests/data/vcf
// round-tripped property by property.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { connect as connectNats } from 'nats';

import { freePort, requireEnv, startDaemon, waitForHttp } from './lib/stack.mjs';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');

const BASE = requireEnv('EXPRESSO_CARDDAV_URL');
const MAX_RESOURCE_SIZE = 1024 * 1024; // EXPRESSO_CARDDAV_MAX_RESOURCE_SIZE default
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

// Sends one request; PUT bodies are text/vcard and other bodies application/xml unless HEADERS set another type.
async function dav(method, url, { user = 'alice', headers = {}, body, authorization } = {}) {
  const contentType = body === undefined ? {} : { 'Content-Type': method === 'PUT' ? 'text/vcard' : 'application/xml' };
  const response = await fetch(url.startsWith('http') ? url : BASE + url, {
    method,
    headers: { Authorization: authorization ?? basic(user), ...contentType, ...headers },
    body,
    redirect: 'manual',
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

function propfindBody(props) {
  return `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/">
  <d:prop>${props}</d:prop>
</d:propfind>`;
}

async function propfind(url, props, { depth = '0', user = 'alice' } = {}) {
  return dav('PROPFIND', url, { user, headers: { Depth: depth, 'Content-Type': 'application/xml' }, body: propfindBody(props) });
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

function firstHref(xml, property) {
  const match = xml.match(new RegExp(`<${property}><d:href>([^<]*)</d:href></${property}>`));
  return match ? match[1] : null;
}

function syncToken(xml) {
  const match = xml.match(/<d:sync-token>([^<]*)<\/d:sync-token>/);
  return match ? match[1] : null;
}

function vcard(uid, fn, extra = '') {
  return `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:${fn}\r\nN:${fn};;;;\r\n${extra}END:VCARD\r\n`;
}

let alice = {};

async function discover(user) {
  const root = await propfind('/', '<d:current-user-principal/>', { user });
  assert.equal(root.status, 207, root.text);
  const principal = firstHref(root.text, 'd:current-user-principal');
  const found = await propfind(principal, '<card:addressbook-home-set/>', { user });
  assert.equal(found.status, 207, found.text);
  const home = firstHref(found.text, 'card:addressbook-home-set');
  return { principal, home, book: `${home}default/` };
}

test('setup: discover alice', async () => {
  alice = await discover('alice');
  assert.match(alice.principal, /^\/dav\/principals\/[0-9a-f-]{36}\/$/);
  assert.match(alice.home, /^\/dav\/addressbooks\/[0-9a-f-]{36}\/$/);
});

test('OPTIONS advertises addressbook and methods', async () => {
  const response = await fetch(`${BASE}/dav/`, { method: 'OPTIONS' });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('dav'), /\baddressbook\b/);
  assert.match(response.headers.get('dav'), /\bextended-mkcol\b/);
  for (const method of ['PROPFIND', 'PROPPATCH', 'REPORT', 'MKCOL', 'PUT', 'DELETE'])
    assert.match(response.headers.get('allow'), new RegExp(`\\b${method}\\b`));
});

test('credentials are required and checked', async () => {
  const none = await fetch(`${BASE}/dav/`, { method: 'PROPFIND', headers: { Depth: '0' } });
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate'), /Basic realm=/);
  const wrong = await dav('PROPFIND', '/dav/', {
    headers: { Depth: '0' },
    authorization: `Basic ${Buffer.from(`${accounts.alice.email}:wrong-password`).toString('base64')}`,
  });
  assert.equal(wrong.status, 401);
  const login = await dav('PROPFIND', '/dav/', {
    headers: { Depth: '0' },
    authorization: `Basic ${Buffer.from(`${accounts.alice.email}:${requireEnv('EXPRESSO_ALICE_PASSWORD')}`).toString('base64')}`,
  });
  assert.equal(login.status, 401, 'the account password is not an app password');
  const garbage = await dav('PROPFIND', '/dav/', {
    headers: { Depth: '0' },
    authorization: `Basic ${Buffer.from([0xff, 0xfe, 0x40, 0x78, 0x3a, 0x79]).toString('base64')}`,
  });
  assert.equal(garbage.status, 401, 'a login that is not UTF-8 is a wrong login, not a server error');
});

test('bearer token from the identity provider is accepted', async () => {
  const script = path.join(repoRoot, 'scripts', 'dev-token.sh');
  const { stdout } = await promisify(execFile)(script, [accounts.alice.email], { env: process.env, timeout: 30_000 });
  const response = await dav('PROPFIND', '/', {
    authorization: `Bearer ${stdout.trim()}`,
    headers: { Depth: '0' },
    body: propfindBody('<d:current-user-principal/>'),
  });
  assert.equal(response.status, 207, response.text);
  assert.equal(firstHref(response.text, 'd:current-user-principal'), alice.principal);
});

test('well-known URL redirects to the DAV root', async () => {
  const response = await fetch(`${BASE}/.well-known/carddav`, { redirect: 'manual' });
  assert.equal(response.status, 301);
  assert.equal(response.headers.get('location'), '/dav/');
  const root = await propfind('/dav/', '<d:current-user-principal/>');
  assert.equal(firstHref(root.text, 'd:current-user-principal'), alice.principal);
  const principals = await propfind('/dav/principals/', '<d:current-user-principal/>');
  assert.equal(firstHref(principals.text, 'd:current-user-principal'), alice.principal);
});

test('DAV root without trailing slash redirects', async () => {
  const response = await fetch(`${BASE}/dav`, { method: 'PROPFIND', redirect: 'manual' });
  assert.equal(response.status, 301);
  assert.equal(response.headers.get('location'), '/dav/');
});

test('resource names with reserved characters round-trip in hrefs', async () => {
  const name = '{3F2504E0} Zoë@home+1.vcf';
  const url = `${alice.book}${encodeURIComponent(name)}`;
  await dav('DELETE', url);
  assert.equal((await dav('PUT', url, { body: vcard('reserved-name', 'Reserved Name') })).status, 201);
  const listing = await propfind(alice.book, '<d:getetag/>', { depth: '1' });
  const item = responses(listing.text).find((entry) => entry.href === `${alice.book}${name}`);
  assert.ok(item, 'the decoded href names the resource');
  const rawHrefs = [...listing.text.matchAll(/<d:href>([^<]*)<\/d:href>/g)].map((match) => match[1]);
  assert.ok(rawHrefs.every((href) => !/[ {}ë+]/.test(href)), `hrefs are percent-encoded: ${rawHrefs}`);
  assert.equal((await dav('GET', url)).status, 200);
  assert.equal((await dav('DELETE', url)).status, 204);
});

test('Apple contact groups are stored and served as sent', async () => {
  const group = 'BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//AddressBook 6.1//EN\r\nN:Família\r\nFN:Família\r\n' +
    'X-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:member-1\r\n' +
    'X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:member-2\r\nUID:apple-group-1\r\nEND:VCARD\r\n';
  const url = `${alice.book}apple-group-1.vcf`;
  await dav('DELETE', url);
  assert.equal((await dav('PUT', url, { body: group })).status, 201);
  const read = await dav('GET', url);
  assert.equal(read.text, group);
  const found = await dav('REPORT', alice.book, { body: queryBody('<card:prop-filter name="X-ADDRESSBOOKSERVER-KIND"><card:text-match match-type="equals">group</card:text-match></card:prop-filter>') });
  assert.match(decodeEntities(found.text), /X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:member-2/);
  assert.equal((await dav('DELETE', url)).status, 204);
});

test('home contains the default address book at Depth 1', async () => {
  const listing = await propfind(alice.home, '<d:resourcetype/><d:displayname/><cs:getctag/><d:sync-token/>', { depth: '1' });
  assert.equal(listing.status, 207);
  const items = responses(listing.text);
  const home = items.find((item) => item.href === alice.home);
  assert.ok(home, 'the home itself is listed');
  assert.doesNotMatch(home.body, /card:addressbook/, 'a home is never an address book');
  assert.match(home.body, /<d:collection\/>/);
  const book = items.find((item) => item.href === alice.book);
  assert.ok(book, 'the default address book is listed');
  assert.match(book.body, /<d:resourcetype><d:collection\/><card:addressbook\/><\/d:resourcetype>/);
  assert.match(book.body, /<cs:getctag>urn:x-expresso:sync:/);
  const depth0 = await propfind(alice.book, '<d:resourcetype/>', { depth: '0' });
  assert.equal(responses(depth0.text).length, 1);
});

test('address book properties: supported data, size limit, reports, unknown property 404', async () => {
  const response = await propfind(alice.book,
    '<card:supported-address-data/><card:max-resource-size/><d:supported-report-set/><d:current-user-privilege-set/><x:unknown xmlns:x="urn:example:unknown"/>');
  assert.equal(response.status, 207);
  assert.match(response.text, /<card:address-data-type content-type="text\/vcard" version="3.0"\/>/);
  assert.match(response.text, new RegExp(`<card:max-resource-size>${MAX_RESOURCE_SIZE}</card:max-resource-size>`));
  assert.match(response.text, /<d:sync-collection\/>/);
  assert.match(response.text, /<card:addressbook-multiget\/>/);
  assert.match(response.text, /<d:propstat><d:prop><unknown xmlns="urn:example:unknown"\/><\/d:prop><d:status>HTTP\/1.1 404 Not Found<\/d:status>/);
});

test('PROPFIND Depth infinity is refused with propfind-finite-depth', async () => {
  for (const headers of [{ Depth: 'infinity' }, {}]) {
    const response = await dav('PROPFIND', alice.home, { headers, body: propfindBody('<d:resourcetype/>') });
    assert.equal(response.status, 403);
    assert.match(response.text, /<d:propfind-finite-depth\/>/);
  }
});

test('PUT, GET, If-Match and If-None-Match, DELETE', async () => {
  const url = `${alice.book}conditional-1.vcf`;
  const card = vcard('conditional-1', 'Conditional One');
  const created = await dav('PUT', url, { headers: { 'Content-Type': 'text/vcard', 'If-None-Match': '*' }, body: card });
  assert.equal(created.status, 201, created.text);
  const etag = created.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{64}"$/);

  const overwrite = await dav('PUT', url, { headers: { 'Content-Type': 'text/vcard', 'If-None-Match': '*' }, body: vcard('conditional-1', 'Overwritten') });
  assert.equal(overwrite.status, 412, 'If-None-Match: * never overwrites');

  const read = await dav('GET', url);
  assert.equal(read.status, 200);
  assert.equal(read.text, card);
  assert.equal(read.headers.get('etag'), etag);
  assert.match(read.headers.get('content-type'), /^text\/vcard/);
  assert.equal((await dav('GET', url, { headers: { 'If-None-Match': etag } })).status, 304);

  const stale = await dav('PUT', url, { headers: { 'Content-Type': 'text/vcard', 'If-Match': '"0000"' }, body: vcard('conditional-1', 'Stale') });
  assert.equal(stale.status, 412);
  const same = await dav('PUT', url, { headers: { 'Content-Type': 'text/vcard', 'If-Match': etag }, body: card });
  assert.equal(same.status, 204);
  assert.equal(same.headers.get('etag'), etag, 'the ETag changes only when the data changes');
  const edited = await dav('PUT', url, { headers: { 'Content-Type': 'text/vcard', 'If-Match': etag }, body: vcard('conditional-1', 'Edited') });
  assert.equal(edited.status, 204);
  assert.notEqual(edited.headers.get('etag'), etag);
  const again = await dav('PUT', url, { headers: { 'Content-Type': 'text/vcard', 'If-Match': edited.headers.get('etag') }, body: vcard('conditional-1', 'Edited twice') });
  assert.equal(again.status, 204, 'a stored vCard can be edited again and again');

  assert.equal((await dav('DELETE', url, { headers: { 'If-Match': etag } })).status, 412);
  assert.equal((await dav('DELETE', url)).status, 204);
  assert.equal((await dav('GET', url)).status, 404);
  assert.equal((await dav('DELETE', url)).status, 404);
  assert.equal((await dav('PUT', url, { headers: { 'If-Match': '*' }, body: card })).status, 412, 'If-Match: * needs an existing vCard');
});

test('PUT rejects a second vCard with the same UID and invalid data', async () => {
  const first = await dav('PUT', `${alice.book}uid-a.vcf`, { headers: { 'Content-Type': 'text/vcard' }, body: vcard('shared-uid', 'First') });
  assert.equal(first.status, 201);
  const second = await dav('PUT', `${alice.book}uid-b.vcf`, { headers: { 'Content-Type': 'text/vcard' }, body: vcard('shared-uid', 'Second') });
  assert.equal(second.status, 403);
  assert.match(second.text, /<card:no-uid-conflict/);
  const broken = await dav('PUT', `${alice.book}broken.vcf`, { headers: { 'Content-Type': 'text/vcard' }, body: 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No end\r\n' });
  assert.equal(broken.status, 403);
  assert.match(broken.text, /<card:valid-address-data/);
  const two = await dav('PUT', `${alice.book}two.vcf`, { headers: { 'Content-Type': 'text/vcard' }, body: vcard('two-a', 'A') + vcard('two-b', 'B') });
  assert.equal(two.status, 403);
  const json = await dav('PUT', `${alice.book}json.vcf`, { headers: { 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(json.status, 415);
  assert.match(json.text, /<card:supported-address-data/);
  await dav('DELETE', `${alice.book}uid-a.vcf`);
});

function syncBody(token) {
  return `<?xml version="1.0" encoding="utf-8"?>
<d:sync-collection xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
  <d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level>
  <d:prop><d:getetag/></d:prop>
</d:sync-collection>`;
}

async function sync(book, token, user = 'alice') {
  const response = await dav('REPORT', book, { user, headers: { 'Content-Type': 'application/xml' }, body: syncBody(token) });
  return response;
}

test('sync-collection rounds report changes once and deletions as 404', async () => {
  const book = `${alice.home}sync-book/`;
  await dav('DELETE', book);
  assert.equal((await dav('MKCOL', book)).status, 201);
  await dav('PUT', `${book}a.vcf`, { body: vcard('sync-a', 'Sync A') });
  await dav('PUT', `${book}b.vcf`, { body: vcard('sync-b', 'Sync B') });

  const initial = await sync(book, '');
  assert.equal(initial.status, 207);
  assert.deepEqual(responses(initial.text).map((item) => item.href).sort(), [`${book}a.vcf`, `${book}b.vcf`]);
  const token1 = syncToken(initial.text);
  assert.ok(token1);

  const quiet = await sync(book, token1);
  assert.equal(responses(quiet.text).length, 0, 'a second sync without changes reports nothing');
  assert.equal(syncToken(quiet.text), token1);

  await dav('PUT', `${book}a.vcf`, { body: vcard('sync-a', 'Sync A edited') });
  await dav('DELETE', `${book}b.vcf`);
  await dav('PUT', `${book}c.vcf`, { body: vcard('sync-c', 'Sync C') });
  const delta = await sync(book, token1);
  const items = responses(delta.text);
  assert.deepEqual(items.map((item) => item.href).sort(), [`${book}a.vcf`, `${book}b.vcf`, `${book}c.vcf`]);
  assert.match(items.find((item) => item.href.endsWith('b.vcf')).body, /<d:status>HTTP\/1.1 404 Not Found<\/d:status>/);
  assert.match(items.find((item) => item.href.endsWith('a.vcf')).body, /<d:getetag>"[0-9a-f]{64}"<\/d:getetag>/);
  const token2 = syncToken(delta.text);
  assert.notEqual(token2, token1);
  assert.equal(responses((await sync(book, token2)).text).length, 0);

  const unknown = await sync(book, 'urn:x-expresso:sync:00000000-0000-0000-0000-000000000000:1');
  assert.equal(unknown.status, 403);
  assert.match(unknown.text, /<d:valid-sync-token\/>/);
  const future = await sync(book, token2.replace(/:(\d+)$/, (_, n) => `:${Number(n) + 100}`));
  assert.equal(future.status, 403);
  assert.equal((await dav('DELETE', book)).status, 204);
  assert.equal((await propfind(book, '<d:resourcetype/>')).status, 404);
});

test('sync-collection with DAV:limit reports changes in pages', async () => {
  const book = `${alice.home}paged-sync/`;
  await dav('DELETE', book);
  assert.equal((await dav('MKCOL', book)).status, 201);
  for (const uid of ['p1', 'p2', 'p3']) await dav('PUT', `${book}${uid}.vcf`, { body: vcard(uid, uid) });
  const limited = (token, limit) => dav('REPORT', book, { body: syncBody(token).replace('</d:sync-level>', `</d:sync-level><d:limit><d:nresults>${limit}</d:nresults></d:limit>`) });

  const page1 = await limited('', 2);
  assert.equal(page1.status, 207);
  const items1 = responses(page1.text);
  assert.deepEqual(items1.filter((item) => item.href !== book).map((item) => item.href.split('/').pop()), ['p1.vcf', 'p2.vcf']);
  assert.match(items1.find((item) => item.href === book)?.body ?? '', /507 Insufficient Storage[\s\S]*<d:number-of-matches-within-limits\/>/);
  const page2 = await limited(syncToken(page1.text), 2);
  assert.deepEqual(responses(page2.text).map((item) => item.href.split('/').pop()), ['p3.vcf'], 'the next page continues after the last change reported');

  await dav('DELETE', `${book}p1.vcf`);
  await dav('PUT', `${book}p4.vcf`, { body: vcard('p4', 'p4') });
  const page3 = await limited(syncToken(page2.text), 1);
  const items3 = responses(page3.text).filter((item) => item.href !== book);
  assert.equal(items3.length, 1);
  assert.ok(items3[0].href.endsWith('p1.vcf'));
  assert.match(items3[0].body, /404 Not Found/);
  const page4 = await limited(syncToken(page3.text), 1);
  assert.deepEqual(responses(page4.text).filter((item) => item.href !== book).map((item) => item.href.split('/').pop()), ['p4.vcf']);
  const last = await sync(book, syncToken(page4.text));
  assert.equal(responses(last.text).length, 0);
  assert.equal((await dav('DELETE', book)).status, 204);
});

function queryBody(filter, { limit } = {}) {
  return `<?xml version="1.0" encoding="utf-8"?>
<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
  <d:prop><d:getetag/><card:address-data/></d:prop>
  <card:filter>${filter}</card:filter>${limit ? `<card:limit><card:nresults>${limit}</card:nresults></card:limit>` : ''}
</card:addressbook-query>`;
}

async function query(book, filter, options) {
  const response = await dav('REPORT', book, { headers: { Depth: '1', 'Content-Type': 'application/xml' }, body: queryBody(filter, options) });
  assert.equal(response.status, 207, response.text);
  return responses(response.text).filter((item) => !item.href.endsWith('/')).map((item) => item.href.split('/').pop()).sort();
}

test('addressbook-query with text-match collations and multiget', async () => {
  const book = `${alice.home}query-book/`;
  await dav('DELETE', book);
  assert.equal((await dav('MKCOL', book)).status, 201);
  await dav('PUT', `${book}conceicao.vcf`, { body: vcard('q-1', 'Maria da Conceição', 'EMAIL;TYPE=work:maria@example.org\r\n') });
  await dav('PUT', `${book}joao.vcf`, { body: vcard('q-2', 'João Souza', 'TEL;TYPE=cell:+55 61 5555-0101\r\n') });
  await dav('PUT', `${book}zoe.vcf`, { body: vcard('q-3', 'Zoë Example') });

  assert.deepEqual(await query(book, '<card:prop-filter name="FN"><card:text-match match-type="contains">conceição</card:text-match></card:prop-filter>'), ['conceicao.vcf']);
  assert.deepEqual(await query(book, '<card:prop-filter name="FN"><card:text-match>CONCEIÇÃO</card:text-match></card:prop-filter>'), ['conceicao.vcf'], 'i;unicode-casemap folds accented capitals');
  assert.deepEqual(await query(book, '<card:prop-filter name="FN"><card:text-match match-type="starts-with">joão</card:text-match></card:prop-filter>'), ['joao.vcf']);
  assert.deepEqual(await query(book, '<card:prop-filter name="FN"><card:text-match match-type="equals">zoë example</card:text-match></card:prop-filter>'), ['zoe.vcf']);
  assert.deepEqual(await query(book, '<card:prop-filter name="FN"><card:text-match match-type="equals">zoë</card:text-match></card:prop-filter>'), []);
  assert.deepEqual(await query(book, '<card:prop-filter name="FN"><card:text-match collation="i;octet">CONCEIÇÃO</card:text-match></card:prop-filter>'), []);
  assert.deepEqual(await query(book, '<card:prop-filter name="TEL"><card:is-not-defined/></card:prop-filter>'), ['conceicao.vcf', 'zoe.vcf']);
  assert.deepEqual(await query(book, '<card:prop-filter name="EMAIL"><card:param-filter name="TYPE"><card:text-match match-type="equals">work</card:text-match></card:param-filter></card:prop-filter>'), ['conceicao.vcf']);
  assert.deepEqual(await query(book, '<card:prop-filter name="FN"><card:text-match negate-condition="yes">o</card:text-match></card:prop-filter>'), []);
  assert.equal((await query(book, '', { limit: 2 })).length, 2);

  const collation = await dav('REPORT', book, { body: queryBody('<card:prop-filter name="FN"><card:text-match collation="x;unknown">a</card:text-match></card:prop-filter>') });
  assert.equal(collation.status, 403);
  assert.match(collation.text, /<card:supported-collation/);

  const multiget = await dav('REPORT', book, {
    headers: { 'Content-Type': 'application/xml' },
    body: `<?xml version="1.0"?><card:addressbook-multiget xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
      <d:prop><d:getetag/><card:address-data/></d:prop>
      <d:href>${book}joao.vcf</d:href><d:href>${BASE}${book}zoe.vcf</d:href><d:href>${book}missing.vcf</d:href></card:addressbook-multiget>`,
  });
  assert.equal(multiget.status, 207);
  const items = responses(multiget.text);
  assert.equal(items.length, 3);
  assert.match(items[0].body, /<card:address-data>BEGIN:VCARD\r?\nVERSION:3.0/);
  assert.match(items[0].body, /João Souza/);
  assert.match(items[1].body, /Zoë Example/);
  assert.match(items[2].body, /404 Not Found/);
  assert.equal((await dav('DELETE', book)).status, 204);
});

test('address-data is converted to the vCard version requested', async () => {
  const url = `${alice.book}version-probe.vcf`;
  const stored = 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:version-probe\r\nFN:Versão\r\nTEL;TYPE=cell,pref:+55 61 5555-0100\r\n' +
    'PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ\r\nEND:VCARD\r\n';
  await dav('DELETE', url);
  assert.equal((await dav('PUT', url, { body: stored })).status, 201);
  const multiget = (attributes) => dav('REPORT', alice.book, {
    body: `<?xml version="1.0"?><card:addressbook-multiget xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
      <d:prop><card:address-data ${attributes}/></d:prop><d:href>${url}</d:href></card:addressbook-multiget>`,
  });

  const v4 = await multiget('content-type="text/vcard" version="4.0"');
  assert.equal(v4.status, 207);
  const v4Body = responses(v4.text)[0].body;
  assert.match(v4Body, /VERSION:4.0\r\n/);
  assert.match(v4Body, /PHOTO:data:image\/jpeg;base64,\/9j\/4AAQ\r\n/);
  assert.match(v4Body, /TEL;TYPE=cell;PREF=1:\+55 61 5555-0100/);
  assert.match(v4Body, /FN:Versão/);

  const v3 = await multiget('content-type="text/vcard" version="3.0"');
  assert.ok(responses(v3.text)[0].body.includes(stored), 'the stored version comes back byte for byte');
  const plain = await multiget('');
  assert.ok(responses(plain.text)[0].body.includes(stored));

  const unsupported = await multiget('content-type="text/vcard" version="2.1"');
  assert.equal(unsupported.status, 403);
  assert.match(unsupported.text, /<card:supported-address-data-conversion/);
  const json = await multiget('content-type="application/vcard+json"');
  assert.equal(json.status, 403);
  assert.match(json.text, /<card:supported-address-data[ /]/);
  assert.equal((await dav('GET', url)).text, stored, 'GET returns the stored vCard');
  await dav('DELETE', url);
});

test('PROPPATCH stores dead properties and refuses protected ones', async () => {
  const set = await dav('PROPPATCH', alice.book, {
    headers: { 'Content-Type': 'application/xml' },
    body: `<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/" xmlns:x="urn:example:dead">
      <d:set><d:prop><d:displayname>Meus contatos</d:displayname><a:calendar-color>#FF0000</a:calendar-color><x:note kind="test"><x:inner>kept</x:inner></x:note></d:prop></d:set></d:propertyupdate>`,
  });
  assert.equal(set.status, 207, set.text);
  assert.match(set.text, /200 OK/);
  const read = await propfind(alice.book, '<d:displayname/><a:calendar-color xmlns:a="http://apple.com/ns/ical/"/><x:note xmlns:x="urn:example:dead"/>');
  assert.match(read.text, /<d:displayname>Meus contatos<\/d:displayname>/);
  assert.match(read.text, /<a:calendar-color xmlns:a="http:\/\/apple.com\/ns\/ical\/">#FF0000<\/a:calendar-color>/);
  assert.match(read.text, /<x:note xmlns:x="urn:example:dead" kind="test"><x:inner>kept<\/x:inner><\/x:note>/);

  const protectedChange = await dav('PROPPATCH', alice.book, {
    body: `<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:getetag>"x"</d:getetag><d:displayname>Not applied</d:displayname></d:prop></d:set></d:propertyupdate>`,
  });
  assert.equal(protectedChange.status, 207);
  assert.match(protectedChange.text, /<d:getetag\/><\/d:prop><d:status>HTTP\/1.1 403 Forbidden/);
  assert.match(protectedChange.text, /<d:displayname\/><\/d:prop><d:status>HTTP\/1.1 424 Failed Dependency/);
  const unchanged = await propfind(alice.book, '<d:displayname/>');
  assert.match(unchanged.text, /Meus contatos/);

  const all = await dav('PROPFIND', alice.book, { headers: { Depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>' });
  assert.equal(all.status, 207);
  assert.match(all.text, /<x:note xmlns:x="urn:example:dead" kind="test">/, 'allprop lists dead properties');
  assert.equal(all.text.match(/<d:displayname>/g).length, 1);
  const propname = await dav('PROPFIND', alice.book, { headers: { Depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:propname/></d:propfind>' });
  assert.match(propname.text, /<note xmlns="urn:example:dead"\/>/);
  assert.match(propname.text, /<d:getetag\/>|<d:sync-token\/>/);

  const removed = await dav('PROPPATCH', alice.book, {
    body: `<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:x="urn:example:dead"><d:remove><d:prop><x:note/></d:prop></d:remove></d:propertyupdate>`,
  });
  assert.equal(removed.status, 207);
  assert.match((await propfind(alice.book, '<x:note xmlns:x="urn:example:dead"/>')).text, /404 Not Found/);
});

test('extended MKCOL creates an address book with its properties', async () => {
  const book = `${alice.home}work-contacts/`;
  await dav('DELETE', book);
  const created = await dav('MKCOL', book, {
    headers: { 'Content-Type': 'application/xml' },
    body: `<?xml version="1.0"?><d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:set><d:prop>
      <d:resourcetype><d:collection/><card:addressbook/></d:resourcetype><d:displayname>Trabalho</d:displayname>
      <card:addressbook-description>Colegas</card:addressbook-description></d:prop></d:set></d:mkcol>`,
  });
  assert.equal(created.status, 201, created.text);
  assert.equal((await dav('MKCOL', book)).status, 405, 'an existing address book is not created twice');
  const read = await propfind(book, '<d:resourcetype/><d:displayname/><card:addressbook-description/>');
  assert.match(read.text, /<card:addressbook\/>/);
  assert.match(read.text, /<d:displayname>Trabalho<\/d:displayname>/);
  assert.match(read.text, /<card:addressbook-description>Colegas<\/card:addressbook-description>/);
  const calendar = await dav('MKCOL', `${alice.home}not-a-book/`, {
    body: `<?xml version="1.0"?><d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:resourcetype><d:collection/><c:calendar/></d:resourcetype></d:prop></d:set></d:mkcol>`,
  });
  assert.equal(calendar.status, 403);
  assert.match(calendar.text, /<d:valid-resourcetype\/>/);
  assert.equal((await dav('DELETE', book)).status, 204);
});

function paddedVcard(uid, size) {
  const head = `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:Padded\r\nNOTE:`;
  const tail = '\r\nEND:VCARD\r\n';
  return head + 'x'.repeat(size - head.length - tail.length) + tail;
}

test('vCard size limit: at the limit stored, one byte past refused alone', async () => {
  await dav('DELETE', `${alice.book}at-limit.vcf`);
  const atLimit = await dav('PUT', `${alice.book}at-limit.vcf`, { body: paddedVcard('at-limit', MAX_RESOURCE_SIZE) });
  assert.equal(atLimit.status, 201, atLimit.text);
  const past = await dav('PUT', `${alice.book}past-limit.vcf`, { body: paddedVcard('past-limit', MAX_RESOURCE_SIZE + 1) });
  assert.equal(past.status, 413);
  assert.match(past.text, /<card:max-resource-size[ /]/);
  const next = await dav('PUT', `${alice.book}after-limit.vcf`, { body: vcard('after-limit', 'After') });
  assert.equal(next.status, 201, 'the refusal stops nothing else');
  await dav('DELETE', `${alice.book}at-limit.vcf`);
  await dav('DELETE', `${alice.book}after-limit.vcf`);
});

test('XML limits: size, nesting depth, DOCTYPE and entity bomb', async () => {
  const base = propfindBody('<d:displayname/>');
  const padded = (size) => base.replace('<d:prop>', `<d:prop>${' '.repeat(size - base.length)}`);
  assert.equal((await dav('PROPFIND', alice.book, { headers: { Depth: '0' }, body: padded(MAX_XML_BYTES) })).status, 207);
  const tooLarge = await dav('PROPFIND', alice.book, { headers: { Depth: '0' }, body: padded(MAX_XML_BYTES + 1) });
  assert.equal(tooLarge.status, 413);
  assert.match(tooLarge.text, /<d:error/);

  // propfind and prop are two levels; the chain of x:n elements fills the rest.
  const nested = (levels) => `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:x="urn:x"><d:prop>${'<x:n>'.repeat(levels - 2)}${'</x:n>'.repeat(levels - 2)}</d:prop></d:propfind>`;
  assert.equal((await dav('PROPFIND', alice.book, { headers: { Depth: '0' }, body: nested(MAX_XML_DEPTH) })).status, 207);
  const deep = await dav('PROPFIND', alice.book, { headers: { Depth: '0' }, body: nested(MAX_XML_DEPTH + 1) });
  assert.equal(deep.status, 400);
  assert.match(deep.text, /deeper than 32/);

  const bomb = `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&lol4;</d:displayname></d:prop></d:propfind>`;
  const started = Date.now();
  const refused = await dav('PROPFIND', alice.book, { headers: { Depth: '0' }, body: bomb });
  assert.equal(refused.status, 400);
  assert.match(refused.text, /DOCTYPE/);
  assert.ok(Date.now() - started < 2000);
  const external = await dav('PROPFIND', alice.book, { headers: { Depth: '0' }, body: '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]><d:propfind xmlns:d="DAV:"><d:prop>&e;</d:prop></d:propfind>' });
  assert.equal(external.status, 400);
  const malformed = await dav('PROPFIND', alice.book, { headers: { Depth: '0' }, body: '<d:propfind xmlns:d="DAV:"><d:prop>' });
  assert.equal(malformed.status, 400);
  assert.equal((await propfind(alice.book, '<d:displayname/>')).status, 207, 'the daemon still serves');
});

test('tenant isolation: other users reach none of alice\'s URLs', async () => {
  const card = `${alice.book}private.vcf`;
  const body = vcard('private-1', 'Private Person');
  assert.equal((await dav('PUT', card, { body })).status, 201);
  const userId = alice.principal.split('/')[3];
  const encodedId = [...userId].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
  const urls = [
    alice.principal, alice.home, alice.book, card,
    `/dav/principals/${encodedId}/`, `/dav/addressbooks/${encodedId}/default/private.vcf`,
    `/dav/addressbooks/${userId}/default/private%2Evcf`,
  ];
  for (const user of ['carol', 'bob']) {
    for (const url of urls) {
      const read = await propfind(url, '<d:displayname/><d:getetag/>', { user, depth: '1' });
      assert.equal(read.status, 404, `${user} PROPFIND ${url}`);
      assert.doesNotMatch(read.text, /Private Person/);
    }
    assert.equal((await dav('GET', card, { user })).status, 404);
    assert.equal((await dav('PUT', card, { user, body: vcard('private-1', 'Hijacked') })).status, 404);
    assert.equal((await dav('DELETE', card, { user })).status, 404);
    assert.equal((await dav('DELETE', alice.book, { user })).status, 404);
    assert.equal((await dav('MKCOL', `${alice.home}stolen/`, { user })).status, 404);
    assert.equal((await dav('PROPPATCH', alice.book, { user, body: '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>x</d:displayname></d:prop></d:set></d:propertyupdate>' })).status, 404);
    assert.equal((await sync(alice.book, '', user)).status, 404);
    const theirs = await discover(user);
    assert.notEqual(theirs.principal, alice.principal);
    // A multiget in their own book naming alice's vCard finds nothing.
    const multiget = await dav('REPORT', theirs.book, { user, body: `<?xml version="1.0"?><card:addressbook-multiget xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><card:address-data/></d:prop><d:href>${card}</d:href></card:addressbook-multiget>` });
    assert.equal(multiget.status, 207);
    assert.doesNotMatch(multiget.text, /Private Person/);
  }
  const still = await dav('GET', card);
  assert.equal(still.status, 200);
  assert.equal(still.text, body);
  await dav('DELETE', card);
});

test('each change publishes contacts.changed on the bus', async () => {
  const state = JSON.parse(readFileSync(path.join(requireEnv('EXPRESSO_STATE_DIR'), 'accounts.json'), 'utf8'));
  const aliceAccount = state.users.find((user) => user.email === accounts.alice.email);
  const tenantId = state.tenants.find((tenant) => tenant.slug === aliceAccount.tenant).id;
  const nats = await connectNats({ servers: requireEnv('EXPRESSO_NATS_URL').replace(/^nats:\/\//, '') });
  try {
    const subscription = nats.subscribe(`expresso.${tenantId}.contacts.changed`, { max: 2 });
    const events = (async () => {
      const received = [];
      for await (const message of subscription) received.push(JSON.parse(new TextDecoder().decode(message.data)));
      return received;
    })();
    const timer = setTimeout(() => subscription.unsubscribe(), 5000);
    const url = `${alice.book}event-probe.vcf`;
    assert.equal((await dav('PUT', url, { body: vcard('event-probe', 'Event Probe') })).status, 201);
    assert.equal((await dav('DELETE', url)).status, 204);
    const received = await events;
    clearTimeout(timer);
    assert.equal(received.length, 2, 'one event per change');
    assert.equal(received[0].change, 'created');
    assert.equal(received[1].change, 'deleted');
    for (const event of received) {
      assert.equal(event.tenant, tenantId);
      assert.equal(event.user, aliceAccount.id);
      assert.equal(event.addressbook, 'default');
      assert.equal(event.resource, 'event-probe.vcf');
      assert.ok(event.id);
      assert.equal(JSON.stringify(event).includes('Event Probe'), false, 'events carry no vCard data');
    }
  } finally {
    await nats.close();
  }
});

test('global address list: read-only, per tenant, searchable and syncable', async () => {
  const gal = `${alice.home}gal/`;
  const home = await propfind(alice.home, '<d:resourcetype/>', { depth: '1' });
  assert.match(responses(home.text).find((item) => item.href === gal)?.body ?? '', /<card:addressbook\/>/);

  const members = await dav('REPORT', gal, { body: syncBody('') });
  assert.equal(members.status, 207);
  assert.equal(responses(members.text).length, 3, 'alice, bob and admin of the demo tenant');
  const token = syncToken(members.text);
  assert.equal(responses((await sync(gal, token)).text).length, 0);
  const older = await sync(gal, token.replace(/:(\d+)$/, (_, n) => `:${Number(n) - 1}`));
  assert.equal(older.status, 403);
  assert.match(older.text, /<d:valid-sync-token\/>/);

  const bobCard = await query(gal, '<card:prop-filter name="EMAIL"><card:text-match match-type="starts-with">bob@</card:text-match></card:prop-filter>');
  assert.equal(bobCard.length, 1);
  const read = await dav('GET', `${gal}${bobCard[0]}`);
  assert.equal(read.status, 200);
  assert.match(read.text, new RegExp(`EMAIL;TYPE=INTERNET,WORK:${accounts.bob.email}\r\n`));
  assert.match(read.text, /^BEGIN:VCARD\r\nVERSION:3.0\r\nUID:[0-9a-f-]{36}\r\nFN:/);

  const carol = await discover('carol');
  const carolMembers = await dav('REPORT', `${carol.home}gal/`, { user: 'carol', body: syncBody('') });
  assert.equal(responses(carolMembers.text).length, 1, 'carol sees only her own tenant');
  assert.doesNotMatch(decodeEntities(carolMembers.text), /demo\.expresso\.test/);
  assert.doesNotMatch((await dav('REPORT', `${carol.home}gal/`, { user: 'carol', body: queryBody('') })).text, /alice/);

  const put = await dav('PUT', `${gal}new.vcf`, { body: vcard('gal-new', 'Intruder') });
  assert.equal(put.status, 403);
  assert.match(put.text, /<d:need-privileges\/>/);
  assert.equal((await dav('DELETE', `${gal}${bobCard[0]}`)).status, 403);
  assert.equal((await dav('DELETE', gal)).status, 403);
  assert.equal((await dav('MKCOL', gal)).status, 405);
  assert.equal((await dav('PROPPATCH', gal, { body: '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>x</d:displayname></d:prop></d:set></d:propertyupdate>' })).status, 403);
});

test('JSON API: address books, export.vcf and GAL search', async () => {
  const url = `${alice.book}api-probe.vcf`;
  const card = vcard('api-probe', 'Api Probe');
  await dav('DELETE', url);
  assert.equal((await dav('PUT', url, { body: card })).status, 201);

  const list = await fetch(`${BASE}/api/v1/addressbooks`, { headers: { Authorization: basic('alice') } });
  assert.equal(list.status, 200);
  const { addressbooks } = await list.json();
  const own = addressbooks.find((entry) => entry.name === 'default');
  assert.ok(own.count >= 1);
  assert.equal(own.read_only, false);
  const book = await propfind(alice.book, '<cs:getctag/>');
  assert.match(book.text, new RegExp(`<cs:getctag>${own.ctag}</cs:getctag>`), 'the ctag is the one DAV clients see');
  assert.equal(addressbooks.find((entry) => entry.name === 'gal')?.read_only, true);

  const exported = await fetch(`${BASE}/api/v1/addressbooks/default/export.vcf`, { headers: { Authorization: basic('alice') } });
  assert.equal(exported.status, 200);
  assert.match(exported.headers.get('content-type'), /^text\/vcard/);
  assert.ok((await exported.text()).includes(card), 'the export contains the stored vCard unchanged');
  assert.equal((await fetch(`${BASE}/api/v1/addressbooks/missing/export.vcf`, { headers: { Authorization: basic('alice') } })).status, 404);

  const search = await fetch(`${BASE}/api/v1/gal/search?q=${encodeURIComponent('BOB')}`, { headers: { Authorization: basic('alice') } });
  assert.equal(search.status, 200);
  const { results } = await search.json();
  assert.deepEqual(results.map((entry) => entry.email), [accounts.bob.email]);
  const other = await fetch(`${BASE}/api/v1/gal/search?q=alice`, { headers: { Authorization: basic('carol') } });
  assert.deepEqual((await other.json()).results, [], 'another tenant finds nobody of this one');
  assert.equal((await fetch(`${BASE}/api/v1/gal/search`, { headers: { Authorization: basic('alice') } })).status, 400);
  assert.equal((await fetch(`${BASE}/api/v1/addressbooks`)).status, 401);
  await dav('DELETE', url);
});

// ---- corpus round trip ----

// Splits a vCard body into cards of unfolded logical lines (CRLF or LF plus a space or tab).
function parseCards(text) {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const logical = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && logical.length) logical[logical.length - 1] += line.slice(1);
    else if (/QUOTED-PRINTABLE/i.test(logical.at(-1)?.split(':')[0] ?? '') && logical.at(-1).endsWith('=')) logical[logical.length - 1] = logical.at(-1).slice(0, -1) + line;
    else if (line !== '') logical.push(line);
  }
  const cards = [];
  let current = null;
  for (const line of logical) {
    if (/^BEGIN:VCARD$/i.test(line)) current = [];
    else if (/^END:VCARD$/i.test(line)) { cards.push(current); current = null; }
    else if (current) current.push(line);
  }
  return cards;
}

// Splits the file into the raw text of each card, as a client would upload them one by one.
function splitRaw(text) {
  return text.replace(/^\uFEFF/, '').match(/BEGIN:VCARD[\s\S]*?END:VCARD\r?\n?/gi);
}

const corpusDir = path.join(repoRoot, 'tests', 'data', 'vcf');
const corpus = readdirSync(corpusDir).filter((name) => name.endsWith('.vcf')).sort();

test('corpus vCards round-trip property by property and are found by FN', async () => {
  const book = `${alice.home}corpus/`;
  await dav('DELETE', book);
  assert.equal((await dav('MKCOL', book)).status, 201);
  assert.ok(corpus.length >= 15);
  for (const file of corpus) {
    const raw = splitRaw(readFileSync(path.join(corpusDir, file), 'utf8'));
    for (const [index, card] of raw.entries()) {
      const url = `${book}${file.replace(/\.vcf$/, '')}-${index}.vcf`;
      const stored = await dav('PUT', url, { headers: { 'Content-Type': 'text/vcard; charset=utf-8' }, body: card });
      assert.equal(stored.status, 201, `${file} #${index}: ${stored.text}`);
      const read = await dav('GET', url);
      assert.equal(read.status, 200);
      const sent = parseCards(card)[0];
      const got = parseCards(read.text)[0];
      assert.equal(got.length, sent.length, `${file} #${index}: property count`);
      for (let i = 0; i < sent.length; i++) assert.equal(got[i], sent[i], `${file} #${index}: property ${i}`);

      const fnLine = sent.find((line) => /^(item\d+\.)?FN[;:]/i.test(line) && !/ENCODING=/i.test(line));
      if (fnLine) {
        const fn = fnLine.slice(fnLine.indexOf(':') + 1).replace(/\\([,;\\])/g, '$1').trim();
        if (fn) {
          const found = await query(book, `<card:prop-filter name="FN"><card:text-match match-type="contains">${fn.slice(0, 12).replace(/&/g, '&amp;').replace(/</g, '&lt;')}</card:text-match></card:prop-filter>`);
          assert.ok(found.includes(url.split('/').pop()), `${file} #${index}: query by FN "${fn}"`);
        }
      }
    }
  }
  // The Android export contains quoted-printable UTF-8 names, so a search in plain text finds them decoded.
  const decoded = await query(book, '<card:prop-filter name="FN"><card:text-match>ñ ñ ñ</card:text-match></card:prop-filter>');
  assert.ok(decoded.some((name) => name.startsWith('android-stock')), 'quoted-printable FN matched after decoding');
  assert.equal((await dav('DELETE', book)).status, 204);
});

test('contacts quota: at the quota stored, past it 507, quota properties', async () => {
  const carol = await discover('carol');
  const book = `${carol.home}quota-book/`;
  await dav('DELETE', book, { user: 'carol' });
  const before = await propfind(carol.home, '<d:quota-used-bytes/><d:quota-available-bytes/>', { user: 'carol' });
  const used = Number(before.text.match(/<d:quota-used-bytes>(\d+)</)[1]);
  const available = Number(before.text.match(/<d:quota-available-bytes>(\d+)</)[1]);
  assert.equal(used + available, 100 * 1024 * 1024, 'the default quota is 100 MiB');

  // A second daemon on the same database with a quota just above what carol uses.
  const port = await freePort();
  const binary = path.join(process.env.EXPRESSO_BUILD_DIR ?? path.join(repoRoot, 'build'), 'services', 'contacts', 'expresso-contacts');
  const daemon = startDaemon(binary, { EXPRESSO_HTTP_ADDRESS: '127.0.0.1', EXPRESSO_HTTP_PORT: String(port), EXPRESSO_CONTACTS_QUOTA: String(used + 3000) });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/ready`);
    const send = (method, url, body) => dav(method, `${base}${url}`, { user: 'carol', body });
    assert.equal((await send('MKCOL', book)).status, 201);
    assert.equal((await send('PUT', `${book}a.vcf`, paddedVcard('quota-a', 2000))).status, 201);
    assert.equal((await send('PUT', `${book}b.vcf`, paddedVcard('quota-b', 1000))).status, 201, 'exactly at the quota');
    const over = await send('PUT', `${book}c.vcf`, vcard('quota-c', 'C'));
    assert.equal(over.status, 507);
    assert.match(over.text, /<d:quota-not-exceeded\/>/);
    const onePast = await send('PUT', `${book}b.vcf`, paddedVcard('quota-b', 1001));
    assert.equal(onePast.status, 507, 'a replacement one byte larger passes the quota');
    assert.match(onePast.text, new RegExp(`would use ${used + 3001} bytes, more than your contacts quota of ${used + 3000} bytes`));
    assert.equal((await send('PUT', `${book}a.vcf`, paddedVcard('quota-a', 2000).replace('Padded', 'Paddex'))).status, 204, 'a replacement of the same size fits');
    const quotaOf = async (url) => {
      const found = await dav('PROPFIND', `${base}${url}`, { user: 'carol', headers: { Depth: '0' }, body: propfindBody('<d:quota-used-bytes/><d:quota-available-bytes/>') });
      return { used: Number(found.text.match(/<d:quota-used-bytes>(\d+)</)[1]), available: Number(found.text.match(/<d:quota-available-bytes>(\d+)</)[1]) };
    };
    assert.deepEqual(await quotaOf(book), { used: used + 3000, available: 0 });

    // The per-book byte counter follows deletions, of one vCard and of a whole address book.
    assert.equal((await send('DELETE', `${book}b.vcf`)).status, 204);
    assert.deepEqual(await quotaOf(book), { used: used + 2000, available: 1000 });
    assert.equal((await send('PUT', `${book}b.vcf`, paddedVcard('quota-b', 1001))).status, 507, 'one byte past after the deletion');
    assert.equal((await send('PUT', `${book}b.vcf`, paddedVcard('quota-b', 1000))).status, 201, 'at the quota again');
    assert.equal((await send('DELETE', book)).status, 204);
    assert.deepEqual(await quotaOf(carol.home), { used, available: 3000 });
  } finally {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
  }
});

test('metrics count changes, failed logins and rejected bodies', async () => {
  const text = await (await fetch(`${BASE}/metrics`)).text();
  const value = (name) => Number(text.match(new RegExp(`^expresso_${name}\\{[^}]*\\} (\\d+)$`, 'm'))?.[1]);
  assert.ok(value('contacts_changes_total') > 0, 'the PUTs and DELETEs above were counted');
  assert.ok(value('contacts_auth_failures_total') > 0, 'the wrong passwords above were counted');
  assert.ok(value('contacts_rejected_bodies_total') > 0, 'the oversized and hostile bodies above were counted');
});
