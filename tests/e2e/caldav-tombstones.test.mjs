// Tombstone pruning of sync-collection in expresso-calendar and
// expresso-contacts. A second daemon of each kind runs on the same
// database with EXPRESSO_CALDAV_TOMBSTONE_DAYS (or _CARDDAV_) set to 0, so
// its DELETE prunes every older tombstone. A sync-token equal to the
// highest pruned change still works; one below it gets 403
// DAV:valid-sync-token, because a deletion it has not seen is gone.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import { buildDir, freePort, requireEnv, startDaemon, waitForHttp } from './lib/stack.mjs';

const EMAIL = requireEnv('EXPRESSO_ALICE_EMAIL');
const APP_PASSWORD = requireEnv('EXPRESSO_ALICE_APP_PASSWORD');
const authorization = `Basic ${Buffer.from(`${EMAIL}:${APP_PASSWORD}`).toString('base64')}`;

async function dav(base, method, url, body, contentType) {
  const response = await fetch(`${base}${url}`, {
    method,
    headers: { Authorization: authorization, ...(body ? { 'Content-Type': contentType ?? 'application/xml' } : {}), Depth: '0' },
    body,
  });
  return { status: response.status, text: await response.text() };
}

async function sync(base, url, token) {
  return dav(base, 'REPORT', url, `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`);
}

const tokenOf = (text) => text.match(/<d:sync-token>([^<]*)<\/d:sync-token>/)[1];

async function principalOf(base) {
  const root = await dav(base, 'PROPFIND', '/', '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>');
  return root.text.match(/<d:current-user-principal><d:href>([^<]*)</)[1];
}

const kinds = [
  {
    name: 'calendar',
    base: requireEnv('EXPRESSO_CALDAV_URL'),
    binary: path.join(buildDir, 'services', 'calendar', 'expresso-calendar'),
    setting: 'EXPRESSO_CALDAV_TOMBSTONE_DAYS',
    home: (principal) => principal.replace('/principals/', '/calendars/'),
    create: 'MKCALENDAR',
    extension: 'ics',
    contentType: 'text/calendar',
    body: (uid) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`,
  },
  {
    name: 'contacts',
    base: requireEnv('EXPRESSO_CARDDAV_URL'),
    binary: path.join(buildDir, 'services', 'contacts', 'expresso-contacts'),
    setting: 'EXPRESSO_CARDDAV_TOMBSTONE_DAYS',
    home: (principal) => principal.replace('/principals/', '/addressbooks/'),
    create: 'MKCOL',
    extension: 'vcf',
    contentType: 'text/vcard',
    body: (uid) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:${uid}\r\nEND:VCARD\r\n`,
  },
];

for (const kind of kinds) {
  test(`${kind.name} tombstones: pruned tokens rejected, later ones kept`, async () => {
    const collection = `${kind.home(await principalOf(kind.base))}pruning/`;
    await dav(kind.base, 'DELETE', collection);
    assert.equal((await dav(kind.base, kind.create, collection)).status, 201);
    for (const uid of ['a', 'b', 'c'])
      assert.equal((await dav(kind.base, 'PUT', `${collection}${uid}.${kind.extension}`, kind.body(uid), kind.contentType)).status, 201);
    const token0 = tokenOf((await sync(kind.base, collection, '')).text);

    // The default daemon keeps tombstones for 90 days: deleting a prunes nothing.
    assert.equal((await dav(kind.base, 'DELETE', `${collection}a.${kind.extension}`)).status, 204);
    const afterA = await sync(kind.base, collection, token0);
    assert.equal(afterA.status, 207);
    assert.match(afterA.text, /a\.(ics|vcf)<\/d:href><d:status>HTTP\/1\.1 404/);
    const token1 = tokenOf(afterA.text);

    const port = await freePort();
    const daemon = startDaemon(kind.binary, { EXPRESSO_HTTP_ADDRESS: '127.0.0.1', EXPRESSO_HTTP_PORT: String(port), [kind.setting]: '0' });
    try {
      const pruning = `http://127.0.0.1:${port}`;
      await waitForHttp(`${pruning}/ready`);
      // This DELETE prunes the tombstone of a, whose change is token1's number.
      assert.equal((await dav(pruning, 'DELETE', `${collection}b.${kind.extension}`)).status, 204);
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
    const stale = await sync(kind.base, collection, token0);
    assert.equal(stale.status, 403, 'a token from before the pruned deletion');
    assert.match(stale.text, /valid-sync-token/);
    const current = await sync(kind.base, collection, token1);
    assert.equal(current.status, 207, 'a token equal to the pruned change');
    assert.match(current.text, /b\.(ics|vcf)<\/d:href><d:status>HTTP\/1\.1 404/);
    assert.doesNotMatch(current.text, /a\.(ics|vcf)</);
    const fresh = await sync(kind.base, collection, '');
    assert.equal(fresh.status, 207);
    assert.match(fresh.text, /c\.(ics|vcf)</);
    assert.equal((await dav(kind.base, 'DELETE', collection)).status, 204);
  });
}
