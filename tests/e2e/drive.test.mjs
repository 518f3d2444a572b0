// expresso-drive end to end. tus-js-client uploads in several chunks, pauses
// and resumes. Every header rule and limit is tried at the limit and one past
// it, and other users and tenants try an upload URL. The files API (listing,
// folders, Range, ETag, Content-Disposition), the quota and the
// drive.uploaded event are checked. Last, the daemon is killed with SIGKILL
// between two chunks of tus-js-client and in the middle of a PATCH, restarted,
// and the upload resumed.
//
// Needs the local stack (EXPRESSO_DRIVE_URL and the rest of stack.env).
// The quota and kill tests start their own expresso-drive on a free port
// with the stack's database, NATS, issuer and storage directory.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { connect as connectNats } from 'nats';
import * as tus from 'tus-js-client';

import { startDrive, stopDrive } from './lib/drive.mjs';
import { devToken, freePort, requireEnv } from './lib/stack.mjs';

const MiB = 1024 * 1024;
const CHUNK = 16 * MiB; // EXPRESSO_DRIVE_MAX_CHUNK_SIZE default
const MAX_UPLOAD = 53687091200; // Tus-Max-Size default
const TEST_TIMEOUT_MS = 180_000;
const UPLOADS = '/api/v1/drive/uploads';

const driveUrl = requireEnv('EXPRESSO_DRIVE_URL');
const aliceEmail = process.env.EXPRESSO_ALICE_EMAIL ?? 'alice@demo.expresso.test';
const bobEmail = process.env.EXPRESSO_BOB_EMAIL ?? 'bob@demo.expresso.test';
const carolEmail = process.env.EXPRESSO_CAROL_EMAIL ?? 'carol@acme.expresso.test';

let alice;
let bob;
let carol;
// A per-run suffix keeps file names of this run apart from earlier runs.
const run = crypto.randomBytes(4).toString('hex');

const b64 = (text) => Buffer.from(text, 'utf8').toString('base64');
const sha256 = (buffer) => crypto.createHash('sha256').update(buffer).digest('hex');

function metadata(fields) {
  return Object.entries(fields)
    .map(([key, value]) => (value === undefined ? key : `${key} ${b64(value)}`))
    .join(',');
}

// Sends a tus request. Tus-Resumable and the token are added unless given as null.
async function tusRequest(method, url, { token = alice, headers = {}, body } = {}) {
  const all = { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}`, ...headers };
  for (const [key, value] of Object.entries(all)) if (value === null) delete all[key];
  const response = await fetch(url.startsWith('http') ? url : driveUrl + url, { method, headers: all, body });
  await response.arrayBuffer();
  return response;
}

async function createUpload(length, fields = { filename: `file-${run}-${crypto.randomUUID()}.bin` }, options = {}) {
  const headers = { 'Upload-Length': String(length), 'Upload-Metadata': metadata(fields), ...options.headers };
  const response = await tusRequest('POST', options.base ? options.base + UPLOADS : UPLOADS, { ...options, headers });
  assert.equal(response.status, 201, `POST ${UPLOADS} answered ${response.status}`);
  return response.headers.get('location');
}

function patch(location, offset, body, { headers = {}, ...options } = {}) {
  return tusRequest('PATCH', location, {
    ...options,
    body,
    headers: { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset), ...headers },
  });
}

// Sends a PATCH with "Expect: 100-continue" and returns the final status and
// headers: the body goes out only after 100 Continue, so a 413 decided from
// Content-Length alone arrives before any body byte is sent.
function rawPatch(location, offset, body) {
  return new Promise((resolve, reject) => {
    const request = http.request(driveUrl + location, {
      method: 'PATCH',
      headers: {
        'Tus-Resumable': '1.0.0',
        Authorization: `Bearer ${alice}`,
        'Content-Type': 'application/offset+octet-stream',
        'Upload-Offset': String(offset),
        'Content-Length': String(body.length),
        Expect: '100-continue',
      },
    });
    request.on('continue', () => request.end(body));
    request.on('response', (response) => {
      response.resume();
      resolve({ status: response.statusCode, headers: response.headers });
    });
    request.on('error', reject);
    request.flushHeaders();
  });
}

async function headOffset(location, options = {}) {
  const response = await tusRequest('HEAD', location, options);
  assert.equal(response.status, 200);
  return Number(response.headers.get('upload-offset'));
}

async function api(pathname, { token = alice, method = 'GET', body, headers = {}, base = driveUrl } = {}) {
  const response = await fetch(base + pathname, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const buffer = Buffer.from(await response.arrayBuffer());
  return { response, buffer, json: () => JSON.parse(buffer.toString('utf8')) };
}

// Reads one counter of the daemon's /metrics.
async function counter(name, base = driveUrl) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`expresso_${name}{`));
  assert.ok(line, `/metrics has no expresso_${name}`);
  return Number(line.split(' ').pop());
}

async function listRoot(token = alice) {
  const { response, json } = await api('/api/v1/drive/folders/root?limit=1000', { token });
  assert.equal(response.status, 200);
  return json().entries;
}

async function findFile(name, token = alice) {
  const entry = (await listRoot(token)).find((e) => e.type === 'file' && e.name === name);
  assert.ok(entry, `file ${name} is not listed in the root folder`);
  return entry;
}

// Uploads BUFFER with tus-js-client and resolves with the upload URL.
function tusUpload(buffer, name, { chunkSize = CHUNK, onChunk, uploadUrl, endpoint = driveUrl + UPLOADS, parallelUploads = 1 } = {}) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(buffer, {
      endpoint,
      uploadUrl,
      chunkSize,
      parallelUploads,
      retryDelays: [],
      headers: { Authorization: `Bearer ${alice}` },
      metadata: { filename: name, filetype: 'application/octet-stream' },
      storeFingerprintForResuming: false,
      onError: reject,
      onChunkComplete: (chunk, accepted, total) => onChunk?.(upload, accepted, total, resolve),
      onSuccess: () => resolve(upload.url),
    });
    upload.start();
  });
}

before(async () => {
  [alice, bob, carol] = await Promise.all([devToken(aliceEmail), devToken(bobEmail), devToken(carolEmail)]);
});

test('OPTIONS advertises tus 1.0.0 and its extensions', async () => {
  const response = await fetch(driveUrl + UPLOADS, { method: 'OPTIONS' });
  assert.equal(response.status, 204);
  assert.equal(response.headers.get('tus-version'), '1.0.0');
  const extensions = response.headers.get('tus-extension').split(',');
  for (const name of ['creation', 'creation-with-upload', 'creation-defer-length', 'termination', 'checksum', 'expiration', 'concatenation']) {
    assert.ok(extensions.includes(name), `Tus-Extension lacks ${name}`);
  }
  assert.equal(response.headers.get('tus-max-size'), String(MAX_UPLOAD));
  assert.deepEqual(response.headers.get('tus-checksum-algorithm').split(',').sort(), ['md5', 'sha1', 'sha256']);
});

test('tus-js-client uploads 40 MiB in 16 MiB chunks', { timeout: TEST_TIMEOUT_MS }, async () => {
  const content = crypto.randomBytes(40 * MiB);
  const name = `big-${run}.bin`;
  const chunks = [];
  const url = await tusUpload(content, name, { onChunk: (upload, accepted) => chunks.push(accepted) });
  assert.deepEqual(chunks, [16 * MiB, 32 * MiB, 40 * MiB]);

  const head = await tusRequest('HEAD', url);
  assert.equal(head.headers.get('upload-offset'), String(40 * MiB));
  assert.equal(head.headers.get('cache-control'), 'no-store');
  assert.match(head.headers.get('upload-metadata'), /filename /);

  const file = await findFile(name);
  assert.equal(file.size, 40 * MiB);
  assert.equal(file.version, 1);
  const download = await api(`/api/v1/drive/files/${file.id}/content`);
  assert.equal(download.response.status, 200);
  assert.equal(download.buffer.length, content.length);
  assert.equal(sha256(download.buffer), sha256(content));
});

test('tus-js-client parallelUploads joins partial uploads', { timeout: TEST_TIMEOUT_MS }, async () => {
  const content = crypto.randomBytes(40 * MiB + 7);
  const name = `parallel-${run}.bin`;
  const url = await tusUpload(content, name, { parallelUploads: 3 });

  const head = await tusRequest('HEAD', url);
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('upload-offset'), String(content.length));
  assert.match(head.headers.get('upload-concat'), /^final;/);
  // The partial uploads are deleted once joined, and none became a file.
  const parts = head.headers.get('upload-concat').slice('final;'.length).split(' ');
  assert.equal(parts.length, 3);
  for (const part of parts) assert.equal((await tusRequest('HEAD', part)).status, 404, `HEAD ${part}`);

  const file = await findFile(name);
  assert.equal(file.size, content.length);
  const download = await api(`/api/v1/drive/files/${file.id}/content`);
  assert.equal(sha256(download.buffer), sha256(content));
});

// Creates a partial upload of LENGTH bytes and sends BODY to it.
async function partialUpload(length, body, options = {}) {
  const headers = { 'Upload-Length': String(length), 'Upload-Concat': 'partial' };
  const response = await tusRequest('POST', UPLOADS, { ...options, headers });
  assert.equal(response.status, 201);
  const location = response.headers.get('location');
  if (body) assert.equal((await patch(location, 0, body, options)).status, 204);
  return location;
}

function finalUpload(parts, fields, { token = alice, headers = {} } = {}) {
  return tusRequest('POST', UPLOADS, {
    token,
    headers: { 'Upload-Concat': `final;${parts.join(' ')}`, 'Upload-Metadata': metadata(fields), ...headers },
  });
}

test('concatenation rules for partial and final uploads', async () => {
  const first = await partialUpload(3, 'abc');
  const second = await partialUpload(2, 'de');
  const head = await tusRequest('HEAD', first);
  assert.equal(head.headers.get('upload-concat'), 'partial');
  assert.equal(head.headers.get('upload-offset'), '3');
  // A finished partial upload is not a file.
  assert.ok(!(await listRoot()).some((entry) => entry.name === ''));

  const unfinished = await partialUpload(4, 'ab');
  const notReady = await finalUpload([first, unfinished], { filename: `concat-bad-${run}.txt` });
  assert.equal(notReady.status, 400);
  assert.equal(notReady.headers.get('tus-resumable'), '1.0.0');

  const withLength = await finalUpload([first, second], { filename: `concat-len-${run}.txt` }, { headers: { 'Upload-Length': '5' } });
  assert.equal(withLength.status, 400);
  const noName = await finalUpload([first, second], {});
  assert.equal(noName.status, 400);
  assert.equal((await finalUpload([first, first], { filename: `dup-${run}.txt` })).status, 400);
  assert.equal((await finalUpload(['/api/v1/drive/files/x'], { filename: `url-${run}.txt` })).status, 400);
  const missing = `${UPLOADS}/${crypto.randomUUID()}`;
  assert.equal((await finalUpload([first, missing], { filename: `missing-${run}.txt` })).status, 404);
  // Bob and Carol cannot join Alice's partial uploads.
  assert.equal((await finalUpload([first, second], { filename: `theft-${run}.txt` }, { token: bob })).status, 404);
  assert.equal((await finalUpload([first, second], { filename: `theft-${run}.txt` }, { token: carol })).status, 404);

  // 64 URLs are parsed; 65 are rejected before any lookup.
  const many = (count) => Array.from({ length: count }, () => `${UPLOADS}/${crypto.randomUUID()}`);
  assert.equal((await finalUpload(many(64), { filename: `many-${run}.txt` })).status, 404);
  assert.equal((await finalUpload(many(65), { filename: `many-${run}.txt` })).status, 400);

  const name = `concat-${run}.txt`;
  const created = await finalUpload([first, `${driveUrl}${second}`], { filename: name });
  assert.equal(created.status, 201);
  const location = created.headers.get('location');
  assert.equal((await patch(location, 5, 'x')).status, 403);
  assert.equal(await headOffset(location), 5);
  const file = await findFile(name);
  const download = await api(`/api/v1/drive/files/${file.id}/content`);
  assert.equal(download.buffer.toString(), 'abcde');
  assert.equal((await tusRequest('HEAD', first)).status, 404);
  assert.equal((await tusRequest('DELETE', unfinished)).status, 204);
});

test('paused upload resumes from HEAD offset', { timeout: TEST_TIMEOUT_MS }, async () => {
  const content = crypto.randomBytes(20 * MiB);
  const name = `paused-${run}.bin`;
  // Pause after the first chunk: abort the upload and keep its URL.
  const url = await tusUpload(content, name, {
    chunkSize: 8 * MiB,
    onChunk: (upload, accepted, total, resolve) => {
      if (accepted === 8 * MiB) upload.abort().then(() => resolve(upload.url));
    },
  });
  assert.equal(await headOffset(url), 8 * MiB);

  const resumed = await tusUpload(content, name, { chunkSize: 8 * MiB, uploadUrl: driveUrl + new URL(url, driveUrl).pathname });
  assert.equal(new URL(resumed, driveUrl).pathname, new URL(url, driveUrl).pathname);
  const file = await findFile(name);
  const download = await api(`/api/v1/drive/files/${file.id}/content`);
  assert.equal(sha256(download.buffer), sha256(content));
});

test('same name in a folder becomes a new version', async () => {
  const name = `versioned-${run}.txt`;
  const first = await createUpload(5, { filename: name, filetype: 'text/plain' });
  const half = await patch(first, 0, 'one');
  assert.equal(half.status, 204);
  assert.equal(half.headers.get('drive-file-id'), null, 'an unfinished upload names no file');
  const finished = await patch(first, 3, '!!');
  assert.equal(finished.status, 204);
  const before = await findFile(name);
  // The completing PATCH and the HEAD of the finished upload name the file it created.
  assert.equal(finished.headers.get('drive-file-id'), before.id);
  assert.equal((await tusRequest('HEAD', first)).headers.get('drive-file-id'), before.id);
  const second = await createUpload(6, { filename: name, filetype: 'text/plain' });
  const again = await patch(second, 0, 'two!!!');
  assert.equal(again.status, 204);
  assert.equal(again.headers.get('drive-file-id'), before.id, 'a new version names the same file');
  const after = await findFile(name);
  assert.equal(after.id, before.id);
  assert.equal(after.version, 2);
  assert.equal(after.size, 6);
  const download = await api(`/api/v1/drive/files/${after.id}/content`);
  assert.equal(download.buffer.toString(), 'two!!!');
});

test('download honours Range, ETag and Content-Disposition', async () => {
  const name = `Relatório "final" ${run}.txt`;
  const location = await createUpload(10, { filename: name, filetype: 'text/plain; charset=utf-8' });
  assert.equal((await patch(location, 0, '0123456789')).status, 204);
  const file = await findFile(name);
  const url = `/api/v1/drive/files/${file.id}/content`;

  const whole = await api(url);
  assert.equal(whole.response.status, 200);
  assert.equal(whole.response.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(whole.response.headers.get('accept-ranges'), 'bytes');
  const etag = whole.response.headers.get('etag');
  assert.match(etag, /^"[0-9a-f-]{36}"$/);
  const disposition = whole.response.headers.get('content-disposition');
  assert.ok(disposition.includes(`filename*=UTF-8''${encodeURIComponent(name).replace(/'/g, '%27')}`), disposition);
  assert.ok(disposition.startsWith('attachment; filename="Relat__rio _final_'), disposition);

  const middle = await api(url, { headers: { Range: 'bytes=2-4' } });
  assert.equal(middle.response.status, 206);
  assert.equal(middle.response.headers.get('content-range'), 'bytes 2-4/10');
  assert.equal(middle.buffer.toString(), '234');
  const suffix = await api(url, { headers: { Range: 'bytes=-3' } });
  assert.equal(suffix.response.status, 206);
  assert.equal(suffix.buffer.toString(), '789');
  const past = await api(url, { headers: { Range: 'bytes=10-' } });
  assert.equal(past.response.status, 416);
  assert.equal(past.response.headers.get('content-range'), 'bytes */10');
  const several = await api(url, { headers: { Range: 'bytes=0-1, 4-5, 8-' } });
  assert.equal(several.response.status, 206);
  const boundary = several.response.headers.get('content-type').match(/^multipart\/byteranges; boundary=(\w+)$/)?.[1];
  assert.ok(boundary, `multipart Content-Type, got ${several.response.headers.get('content-type')}`);
  const parts = several.buffer.toString().split(`--${boundary}`).slice(1, -1);
  assert.deepEqual(
    parts.map((part) => part.match(/Content-Range: (bytes [^\r]+)\r\n\r\n(.*)\r\n$/s)?.slice(1)),
    [['bytes 0-1/10', '01'], ['bytes 4-5/10', '45'], ['bytes 8-9/10', '89']],
  );
  assert.ok(several.buffer.toString().endsWith(`--${boundary}--\r\n`));
  const unordered = await api(url, { headers: { Range: 'bytes=4-5, 0-1' } });
  assert.equal(unordered.response.status, 200);
  assert.equal(unordered.buffer.toString(), '0123456789');
  const malformed = await api(url, { headers: { Range: 'bytes=5-1' } });
  assert.equal(malformed.response.status, 200);
  assert.equal(malformed.buffer.toString(), '0123456789');

  const cached = await api(url, { headers: { 'If-None-Match': etag } });
  assert.equal(cached.response.status, 304);
  const stale = await api(url, { headers: { 'If-None-Match': '"another"' } });
  assert.equal(stale.response.status, 200);
  const metadataResponse = await api(`/api/v1/drive/files/${file.id}`);
  assert.equal(metadataResponse.response.headers.get('etag'), etag);
  assert.equal(metadataResponse.json().name, name);
});

test('Tus-Resumable missing or wrong answers 412', async () => {
  for (const version of [null, '0.2.2', '1.0']) {
    const response = await tusRequest('POST', UPLOADS, {
      headers: { 'Tus-Resumable': version, 'Upload-Length': '1', 'Upload-Metadata': metadata({ filename: 'x' }) },
    });
    assert.equal(response.status, 412, `Tus-Resumable ${version}`);
    assert.equal(response.headers.get('tus-version'), '1.0.0');
    assert.equal(response.headers.get('tus-resumable'), '1.0.0');
  }
});

test('request without a token answers 401 with Tus-Resumable', async () => {
  const response = await tusRequest('POST', UPLOADS, { headers: { Authorization: null, 'Upload-Length': '1' } });
  assert.equal(response.status, 401);
  assert.equal(response.headers.get('tus-resumable'), '1.0.0');
});

test('Upload-Length at the maximum and one past', async () => {
  const atLimit = await createUpload(MAX_UPLOAD);
  assert.equal((await tusRequest('DELETE', atLimit)).status, 204);
  const past = await tusRequest('POST', UPLOADS, {
    headers: { 'Upload-Length': String(MAX_UPLOAD + 1), 'Upload-Metadata': metadata({ filename: 'x' }) },
  });
  assert.equal(past.status, 413);
  for (const bad of ['-1', '1e3', '+5', '0x10', '']) {
    const response = await tusRequest('POST', UPLOADS, {
      headers: { 'Upload-Length': bad, 'Upload-Metadata': metadata({ filename: 'x' }) },
    });
    assert.equal(response.status, 400, `Upload-Length "${bad}"`);
  }
  const both = await tusRequest('POST', UPLOADS, {
    headers: { 'Upload-Length': '1', 'Upload-Defer-Length': '1', 'Upload-Metadata': metadata({ filename: 'x' }) },
  });
  assert.equal(both.status, 400);
  const neither = await tusRequest('POST', UPLOADS, { headers: { 'Upload-Metadata': metadata({ filename: 'x' }) } });
  assert.equal(neither.status, 400);
});

test('filename rules at the limit and one past', async () => {
  const ok255 = 'n'.repeat(251) + run.slice(0, 4);
  const created = await createUpload(1, { filename: ok255 });
  assert.equal((await tusRequest('DELETE', created)).status, 204);
  // 127 two-byte characters plus one byte make 255 bytes, and 128 of them make 256.
  await tusRequest('DELETE', await createUpload(1, { filename: 'ç'.repeat(127) + 'x' }));

  const rejected = {
    ['n'.repeat(256)]: '256 bytes',
    ['ç'.repeat(128)]: '256 bytes of UTF-8',
    '../escape.txt': 'parent path',
    'dir/file.txt': 'slash',
    'a\u0000b': 'NUL',
    'line\nbreak': 'control character',
    '..': 'dot-dot',
  };
  for (const [filename, why] of Object.entries(rejected)) {
    const response = await tusRequest('POST', UPLOADS, {
      headers: { 'Upload-Length': '1', 'Upload-Metadata': metadata({ filename }) },
    });
    assert.equal(response.status, 400, `filename with ${why}`);
  }
  const invalidUtf8 = `filename ${Buffer.from([0x66, 0xff, 0x66]).toString('base64')}`;
  const response = await tusRequest('POST', UPLOADS, { headers: { 'Upload-Length': '1', 'Upload-Metadata': invalidUtf8 } });
  assert.equal(response.status, 400);
  const missing = await tusRequest('POST', UPLOADS, { headers: { 'Upload-Length': '1', 'Upload-Metadata': metadata({ filetype: 'text/plain' }) } });
  assert.equal(missing.status, 400);
});

test('Upload-Metadata and filetype rules', async () => {
  const type255 = 'application/' + 'x'.repeat(255 - 'application/'.length);
  await tusRequest('DELETE', await createUpload(1, { filename: `t-${run}`, filetype: type255 }));
  const cases = {
    [`filename ${b64('a')},filetype ${b64(type255 + 'x')}`]: 'filetype of 256 bytes',
    [`filename ${b64('a')},filetype ${b64('not a type')}`]: 'malformed filetype',
    [`filename ${b64('a')},filetype ${b64('text/plain\r\nX: 1')}`]: 'filetype with CRLF',
    'filename YQ': 'base64 without padding',
    'filename !!!!': 'not base64',
    [`filename ${b64('a')},filename ${b64('b')}`]: 'duplicate key',
    [`filename ${b64('a')},folder ${b64('not-a-uuid')}`]: 'folder that is not an id',
    [`k ${'A'.repeat(4100)}`]: 'header over 4096 bytes',
  };
  for (const [header, why] of Object.entries(cases)) {
    const response = await tusRequest('POST', UPLOADS, { headers: { 'Upload-Length': '1', 'Upload-Metadata': header } });
    assert.equal(response.status, 400, why);
  }
  const unknownFolder = await tusRequest('POST', UPLOADS, {
    headers: { 'Upload-Length': '1', 'Upload-Metadata': metadata({ filename: 'a', folder: crypto.randomUUID() }) },
  });
  assert.equal(unknownFolder.status, 404);
});

test('PATCH rules: type, offset, size, checksum', { timeout: TEST_TIMEOUT_MS }, async () => {
  const location = await createUpload(CHUNK + 100);

  const wrongType = await tusRequest('PATCH', location, {
    body: 'x',
    headers: { 'Content-Type': 'application/octet-stream', 'Upload-Offset': '0' },
  });
  assert.equal(wrongType.status, 415);
  assert.equal(wrongType.headers.get('tus-resumable'), '1.0.0');

  const wrongOffset = await patch(location, 5, 'abc');
  assert.equal(wrongOffset.status, 409);
  assert.ok(Date.parse(wrongOffset.headers.get('upload-expires')) > Date.now(), 'a 409 also carries Upload-Expires');
  const noOffset = await tusRequest('PATCH', location, { body: 'x', headers: { 'Content-Type': 'application/offset+octet-stream' } });
  assert.equal(noOffset.status, 400);

  const tooBig = await rawPatch(location, 0, Buffer.alloc(CHUNK + 1, 1));
  assert.equal(tooBig.status, 413);
  assert.equal(tooBig.headers['tus-resumable'], '1.0.0', 'the server\'s own 413 carries Tus-Resumable');
  assert.equal(await headOffset(location), 0);
  // Without Content-Length, the server finds the body too large only once its bytes pass the limit.
  let unsent = CHUNK + 1;
  const tooBigChunked = await fetch(driveUrl + location, {
    method: 'PATCH',
    duplex: 'half',
    headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${alice}`, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' },
    body: new ReadableStream({
      pull(controller) {
        const piece = Math.min(unsent, 1024 * 1024);
        unsent -= piece;
        if (piece > 0) controller.enqueue(Buffer.alloc(piece, 2));
        else controller.close();
      },
    }),
  });
  await tooBigChunked.arrayBuffer();
  assert.equal(tooBigChunked.status, 413);
  assert.equal(tooBigChunked.headers.get('tus-resumable'), '1.0.0');
  assert.equal(await headOffset(location), 0);

  const chunk = Buffer.alloc(CHUNK, 7);
  const mismatchesBefore = await counter('drive_checksum_mismatches_total');
  const badChecksum = await patch(location, 0, chunk, {
    headers: { 'Upload-Checksum': `sha256 ${crypto.createHash('sha256').update('other').digest('base64')}` },
  });
  assert.equal(badChecksum.status, 460);
  assert.equal(await headOffset(location), 0);
  assert.equal(await counter('drive_checksum_mismatches_total'), mismatchesBefore + 1);
  const unknownAlgorithm = await patch(location, 0, chunk, { headers: { 'Upload-Checksum': 'crc32 AAAAAA==' } });
  assert.equal(unknownAlgorithm.status, 400);

  const exact = await patch(location, 0, chunk, {
    headers: { 'Upload-Checksum': `sha256 ${crypto.createHash('sha256').update(chunk).digest('base64')}` },
  });
  assert.equal(exact.status, 204);
  assert.equal(exact.headers.get('upload-offset'), String(CHUNK));
  assert.ok(Date.parse(exact.headers.get('upload-expires')) > Date.now(), 'Upload-Expires is in the future');

  const pastLength = await patch(location, CHUNK, Buffer.alloc(101, 2));
  assert.equal(pastLength.status, 413);
  for (const [algorithm, hash] of [['sha1', 'sha1'], ['md5', 'md5']]) {
    const piece = Buffer.from(`${algorithm}-chunk`);
    const offset = await headOffset(location);
    const response = await patch(location, offset, piece, {
      headers: { 'Upload-Checksum': `${algorithm} ${crypto.createHash(hash).update(piece).digest('base64')}` },
    });
    assert.equal(response.status, 204, `${algorithm} checksum`);
  }
  assert.equal((await tusRequest('DELETE', location)).status, 204);
});

test('PATCH after termination answers 404', async () => {
  const location = await createUpload(10);
  assert.equal((await patch(location, 0, 'abc')).status, 204);
  assert.equal((await tusRequest('DELETE', location)).status, 204);
  assert.equal((await patch(location, 3, 'def')).status, 404);
  assert.equal((await tusRequest('HEAD', location)).status, 404);
  assert.equal((await tusRequest('DELETE', location)).status, 404);
});

test('concurrent PATCHes on one upload never both succeed', { timeout: TEST_TIMEOUT_MS }, async () => {
  const location = await createUpload(2 * 4 * MiB);
  const first = Buffer.alloc(4 * MiB, 1);
  const second = Buffer.alloc(4 * MiB, 2);
  const statuses = (await Promise.all([patch(location, 0, first), patch(location, 0, second)])).map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 204).length, 1, `statuses ${statuses}`);
  assert.ok(statuses.every((s) => s === 204 || s === 409 || s === 423), `statuses ${statuses}`);
  assert.equal(await headOffset(location), 4 * MiB);
  assert.equal((await tusRequest('DELETE', location)).status, 204);
});

test('X-HTTP-Method-Override, defer-length and creation-with-upload', async () => {
  const name = `override-${run}.txt`;
  const created = await tusRequest('POST', UPLOADS, {
    body: 'hello ',
    headers: {
      'Upload-Defer-Length': '1',
      'Upload-Metadata': metadata({ filename: name }),
      'Content-Type': 'application/offset+octet-stream',
    },
  });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get('upload-offset'), '6');
  const location = created.headers.get('location');
  const head = await tusRequest('HEAD', location);
  assert.equal(head.headers.get('upload-defer-length'), '1');

  const overridden = await tusRequest('POST', location, {
    body: 'world',
    headers: {
      'X-HTTP-Method-Override': 'PATCH',
      'Content-Type': 'application/offset+octet-stream',
      'Upload-Offset': '6',
      'Upload-Length': '11',
    },
  });
  assert.equal(overridden.status, 204);
  assert.equal(overridden.headers.get('upload-offset'), '11');
  const file = await findFile(name);
  const download = await api(`/api/v1/drive/files/${file.id}/content`);
  assert.equal(download.buffer.toString(), 'hello world');
});

// Sends a creation POST with "Expect: 100-continue" and resolves with the status
// and whether the body was sent: a check that fails on the headers responds
// before the client sends a body byte.
function rawCreate(headers, body) {
  return new Promise((resolve, reject) => {
    let bodySent = false;
    const request = http.request(driveUrl + UPLOADS, {
      method: 'POST',
      headers: {
        'Tus-Resumable': '1.0.0',
        Authorization: `Bearer ${alice}`,
        'Content-Length': String(body.length),
        Expect: '100-continue',
        ...headers,
      },
    });
    request.on('continue', () => {
      bodySent = true;
      request.end(body);
    });
    request.on('response', (response) => {
      response.resume();
      resolve({ status: response.statusCode, bodySent });
    });
    request.on('error', reject);
    request.flushHeaders();
  });
}

async function reservedBytes() {
  const { response, json } = await api('/api/v1/drive/quota');
  assert.equal(response.status, 200);
  return json().reserved_bytes;
}

test('creation-with-upload streams its body', { timeout: TEST_TIMEOUT_MS }, async () => {
  const name = `creation-stream-${run}.bin`;
  const content = crypto.randomBytes(CHUNK + MiB);
  const first = content.subarray(0, CHUNK);
  const chunkHeaders = { 'Content-Type': 'application/offset+octet-stream', 'Upload-Metadata': metadata({ filename: name }) };

  // A whole 16 MiB first chunk, with its sha1, then the rest by PATCH.
  const sha1 = crypto.createHash('sha1').update(first).digest('base64');
  const created = await tusRequest('POST', UPLOADS, {
    body: first,
    headers: { ...chunkHeaders, 'Upload-Length': String(content.length), 'Upload-Checksum': `sha1 ${sha1}` },
  });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get('upload-offset'), String(CHUNK));
  assert.ok(created.headers.get('upload-expires'), 'an unfinished upload has Upload-Expires');
  const location = created.headers.get('location');
  assert.equal(await headOffset(location), CHUNK);
  assert.equal((await patch(location, CHUNK, content.subarray(CHUNK))).status, 204);
  const file = await findFile(name);
  assert.equal(sha256((await api(`/api/v1/drive/files/${file.id}/content`)).buffer), sha256(content));

  // A chunked body (no Content-Length) with a deferred length completes when Upload-Length follows.
  const streamedName = `creation-chunked-${run}.txt`;
  const pieces = ['stream', 'ed ', 'body'];
  const chunked = await fetch(driveUrl + UPLOADS, {
    method: 'POST',
    duplex: 'half',
    headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${alice}`, 'Content-Type': 'application/offset+octet-stream',
      'Upload-Defer-Length': '1', 'Upload-Metadata': metadata({ filename: streamedName }) },
    body: new ReadableStream({
      pull(controller) {
        if (pieces.length) controller.enqueue(Buffer.from(pieces.shift()));
        else controller.close();
      },
    }),
  });
  await chunked.arrayBuffer();
  assert.equal(chunked.status, 201);
  assert.equal(chunked.headers.get('upload-offset'), '13');
  const finish = await patch(chunked.headers.get('location'), 13, '', { headers: { 'Upload-Length': '13' } });
  assert.equal(finish.status, 204);
  const streamed = await findFile(streamedName);
  assert.equal((await api(`/api/v1/drive/files/${streamed.id}/content`)).buffer.toString(), 'streamed body');
});

test('creation-with-upload failures leave no upload', { timeout: TEST_TIMEOUT_MS }, async () => {
  const name = `creation-failed-${run}.txt`;
  const headers = { 'Content-Type': 'application/offset+octet-stream', 'Upload-Metadata': metadata({ filename: name }) };
  const reserved = await reservedBytes();

  // A checksum that does not match the body: 460, and the upload made for it is gone.
  const wrongSum = crypto.createHash('sha256').update('other bytes').digest('base64');
  const mismatch = await tusRequest('POST', UPLOADS, {
    body: 'some bytes',
    headers: { ...headers, 'Upload-Length': '10', 'Upload-Checksum': `sha256 ${wrongSum}` },
  });
  assert.equal(mismatch.status, 460);
  assert.equal(mismatch.headers.get('location'), null);
  assert.equal(await reservedBytes(), reserved, 'no upload keeps bytes reserved after a 460');

  // A chunked body longer than Upload-Length: 413 once it passes the length.
  const pieces = ['0123456789', 'abcdef'];
  const tooLong = await fetch(driveUrl + UPLOADS, {
    method: 'POST',
    duplex: 'half',
    headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${alice}`, ...headers, 'Upload-Length': '12' },
    body: new ReadableStream({
      pull(controller) {
        if (pieces.length) controller.enqueue(Buffer.from(pieces.shift()));
        else controller.close();
      },
    }),
  });
  await tooLong.arrayBuffer();
  assert.equal(tooLong.status, 413);
  assert.equal(tooLong.headers.get('tus-resumable'), '1.0.0');
  assert.equal(await reservedBytes(), reserved, 'no upload keeps bytes reserved after a 413');
  assert.ok(!(await listRoot()).some((entry) => entry.name === name), `${name} was not created`);

  // Header checks respond before the body is sent.
  const wrongType = await rawCreate({ 'Content-Type': 'text/plain', 'Upload-Length': '3', 'Upload-Metadata': metadata({ filename: name }) }, 'abc');
  assert.deepEqual(wrongType, { status: 415, bodySent: false });
  const pastLength = await rawCreate({ ...headers, 'Upload-Length': '2' }, 'abc');
  assert.deepEqual(pastLength, { status: 413, bodySent: false });
  const accepted = await rawCreate({ ...headers, 'Upload-Length': '3' }, 'abc');
  assert.deepEqual(accepted, { status: 201, bodySent: true });
  assert.equal(await reservedBytes(), reserved, 'the completed upload reserves nothing');
  assert.ok((await listRoot()).some((entry) => entry.name === name), `${name} was created by the last request`);

  // A final upload takes no body.
  const final = await tusRequest('POST', UPLOADS, {
    body: 'abc',
    headers: { ...headers, 'Upload-Concat': `final;${UPLOADS}/${crypto.randomUUID()}` },
  });
  assert.equal(final.status, 400);
});

test('other users and tenants get 404 for an upload and a file', async () => {
  const name = `private-${run}.txt`;
  const location = await createUpload(4, { filename: name });
  assert.equal((await patch(location, 0, 'ab')).status, 204);
  for (const [token, who] of [[carol, 'carol (another tenant)'], [bob, 'bob (same tenant)']]) {
    assert.equal((await tusRequest('HEAD', location, { token })).status, 404, `HEAD by ${who}`);
    assert.equal((await patch(location, 2, 'cd', { token })).status, 404, `PATCH by ${who}`);
    assert.equal((await tusRequest('DELETE', location, { token })).status, 404, `DELETE by ${who}`);
  }
  assert.equal(await headOffset(location), 2);
  assert.equal((await patch(location, 2, 'cd')).status, 204);

  const file = await findFile(name);
  for (const token of [carol, bob]) {
    assert.equal((await api(`/api/v1/drive/files/${file.id}/content`, { token })).response.status, 404);
    assert.equal((await api(`/api/v1/drive/files/${file.id}`, { token })).response.status, 404);
    assert.ok(!(await listRoot(token)).some((entry) => entry.id === file.id));
  }
});

test('folders: create, upload into, list', async () => {
  const name = `folder-${run}`;
  const created = await api('/api/v1/drive/folders', { method: 'POST', body: { name } });
  assert.equal(created.response.status, 201);
  const folder = created.json();
  assert.equal(folder.name, name);
  const again = await api('/api/v1/drive/folders', { method: 'POST', body: { name } });
  assert.equal(again.response.status, 409);
  for (const bad of ['..', 'a/b', '', 'x'.repeat(256)]) {
    const response = await api('/api/v1/drive/folders', { method: 'POST', body: { name: bad } });
    assert.equal(response.response.status, 400, `folder name "${bad.slice(0, 20)}"`);
  }

  const location = await createUpload(3, { filename: 'inside.txt', folder: folder.id });
  assert.equal((await patch(location, 0, 'abc')).status, 204);
  const listing = await api(`/api/v1/drive/folders/${folder.id}`);
  assert.equal(listing.response.status, 200);
  assert.deepEqual(listing.json().entries.map((e) => e.name), ['inside.txt']);
  assert.equal((await api(`/api/v1/drive/folders/${folder.id}`, { token: carol })).response.status, 404);
  assert.equal((await api(`/api/v1/drive/folders/${crypto.randomUUID()}`)).response.status, 404);
});

// Uploads CONTENT (a string or Buffer) as NAME in one PATCH; returns the file's metadata.
async function uploadSmall(name, content, { folder, base = driveUrl, token = alice } = {}) {
  const body = Buffer.from(content);
  const fields = folder ? { filename: name, folder } : { filename: name };
  const location = await createUpload(body.length, fields, { base, token });
  assert.equal((await patch(base + location, 0, body, { token })).status, 204);
  const head = await tusRequest('HEAD', base + location, { token });
  assert.equal(head.status, 200);
  const listing = await api(`/api/v1/drive/folders/${folder ?? 'root'}?limit=1000`, { base, token });
  return listing.json().entries.find((entry) => entry.type === 'file' && entry.name === name);
}

async function makeFolder(name, parentId = null) {
  const created = await api('/api/v1/drive/folders', { method: 'POST', body: { name, parent_id: parentId } });
  assert.equal(created.response.status, 201);
  return created.json();
}

async function usedBytes() {
  const { response, json } = await api('/api/v1/drive/quota');
  assert.equal(response.status, 200);
  return json().used_bytes;
}

test('rename and move a file', async () => {
  const target = await makeFolder(`move-target-${run}`);
  const file = await uploadSmall(`rename-me-${run}.txt`, 'abc');
  const renamed = await api(`/api/v1/drive/files/${file.id}`, { method: 'PATCH', body: { name: `renamed-${run}.txt` } });
  assert.equal(renamed.response.status, 200);
  assert.equal(renamed.json().name, `renamed-${run}.txt`);
  await findFile(`renamed-${run}.txt`);

  const moved = await api(`/api/v1/drive/files/${file.id}`, { method: 'PATCH', body: { folder_id: target.id } });
  assert.equal(moved.response.status, 200);
  assert.equal(moved.json().folder_id, target.id);
  const inside = await api(`/api/v1/drive/folders/${target.id}`);
  assert.deepEqual(inside.json().entries.map((e) => e.name), [`renamed-${run}.txt`]);

  // A name taken in the target folder, a missing folder, bad names, another user.
  await uploadSmall(`taken-${run}.txt`, 'x', { folder: target.id });
  const taken = await api(`/api/v1/drive/files/${file.id}`, { method: 'PATCH', body: { name: `taken-${run}.txt` } });
  assert.equal(taken.response.status, 409);
  const missing = await api(`/api/v1/drive/files/${file.id}`, { method: 'PATCH', body: { folder_id: crypto.randomUUID() } });
  assert.equal(missing.response.status, 404);
  for (const bad of ['..', 'a/b', 'x'.repeat(256)]) {
    const response = await api(`/api/v1/drive/files/${file.id}`, { method: 'PATCH', body: { name: bad } });
    assert.equal(response.response.status, 400, `name "${bad.slice(0, 20)}"`);
  }
  const at255 = await api(`/api/v1/drive/files/${file.id}`, { method: 'PATCH', body: { name: run + 'y'.repeat(255 - run.length) } });
  assert.equal(at255.response.status, 200);
  assert.equal((await api(`/api/v1/drive/files/${file.id}`, { method: 'PATCH', body: {} })).response.status, 400);
  const bobs = await api(`/api/v1/drive/files/${file.id}`, { method: 'PATCH', body: { name: 'bob.txt' }, token: bob });
  assert.equal(bobs.response.status, 404);
  const back = await api(`/api/v1/drive/files/${file.id}`, { method: 'PATCH', body: { folder_id: null } });
  assert.equal(back.response.status, 200);
  assert.equal(back.json().folder_id, null);
});

test('folder move rejects cycles', async () => {
  const top = await makeFolder(`cycle-a-${run}`);
  const middle = await makeFolder('b', top.id);
  const bottom = await makeFolder('c', middle.id);
  for (const target of [top, middle, bottom]) {
    const response = await api(`/api/v1/drive/folders/${top.id}`, { method: 'PATCH', body: { parent_id: target.id } });
    assert.equal(response.response.status, 409, `move into ${target.name}`);
    assert.equal(response.json().error.code, 'move_cycle');
  }
  const up = await api(`/api/v1/drive/folders/${bottom.id}`, { method: 'PATCH', body: { parent_id: null, name: `cycle-c-${run}` } });
  assert.equal(up.response.status, 200);
  const down = await api(`/api/v1/drive/folders/${top.id}`, { method: 'PATCH', body: { parent_id: bottom.id } });
  assert.equal(down.response.status, 200);

  const tree = await api('/api/v1/drive/tree');
  assert.equal(tree.response.status, 200);
  const c = tree.json().folders.find((f) => f.id === bottom.id);
  assert.ok(c, 'the moved folder is at the top of the tree');
  assert.equal(c.folders[0].id, top.id);
  assert.equal(c.folders[0].folders[0].id, middle.id);
});

test('trash, restore, purge and empty', async () => {
  // Items trashed by earlier runs would leave the quota when the trash is emptied below.
  assert.equal((await api('/api/v1/drive/trash', { method: 'DELETE' })).response.status, 200);
  const before = await usedBytes();
  const file = await uploadSmall(`trash-${run}.txt`, '12345');
  assert.equal(await usedBytes(), before + 5);

  assert.equal((await api(`/api/v1/drive/files/${file.id}`, { method: 'DELETE' })).response.status, 204);
  assert.equal((await api(`/api/v1/drive/files/${file.id}`)).response.status, 404);
  assert.ok(!(await listRoot()).some((e) => e.id === file.id));
  const trash = await api('/api/v1/drive/trash');
  assert.ok(trash.json().entries.some((e) => e.id === file.id && e.type === 'file'));
  // Trashed files still count, and their name is free again.
  assert.equal(await usedBytes(), before + 5);
  const twin = await uploadSmall(`trash-${run}.txt`, '1');
  assert.equal((await api(`/api/v1/drive/trash/files/${file.id}/restore`, { method: 'POST' })).response.status, 409);
  assert.equal((await api(`/api/v1/drive/files/${twin.id}`, { method: 'DELETE' })).response.status, 204);
  assert.equal((await api(`/api/v1/drive/trash/files/${file.id}/restore`, { method: 'POST' })).response.status, 204);
  const restored = await api(`/api/v1/drive/files/${file.id}/content`);
  assert.equal(restored.buffer.toString(), '12345');
  assert.equal((await api(`/api/v1/drive/trash/files/${file.id}/restore`, { method: 'POST' })).response.status, 404);

  // Purge one item: its bytes leave the quota.
  assert.equal((await api(`/api/v1/drive/files/${file.id}`, { method: 'DELETE' })).response.status, 204);
  assert.equal((await api(`/api/v1/drive/trash/${file.id}`, { method: 'DELETE', token: bob })).response.status, 404);
  assert.equal((await api(`/api/v1/drive/trash/${file.id}`, { method: 'DELETE' })).response.status, 204);
  assert.equal(await usedBytes(), before + 1);

  // A trashed folder hides what is in it; emptying the trash removes all of it.
  const folder = await makeFolder(`trash-folder-${run}`);
  await uploadSmall('inner.txt', 'abcdefgh', { folder: folder.id });
  assert.equal((await api(`/api/v1/drive/folders/${folder.id}`, { method: 'DELETE' })).response.status, 204);
  assert.equal((await api(`/api/v1/drive/folders/${folder.id}`)).response.status, 404);
  assert.equal(await usedBytes(), before + 1 + 8);
  const emptied = await api('/api/v1/drive/trash', { method: 'DELETE' });
  assert.equal(emptied.response.status, 200);
  assert.ok(emptied.json().purged >= 2);
  assert.equal(await usedBytes(), before);
  assert.deepEqual((await api('/api/v1/drive/trash')).json().entries, []);
});

test('versions: list, download, restore', async () => {
  const name = `versions-${run}.txt`;
  for (const content of ['one', 'two!', 'three']) await uploadSmall(name, content);
  const file = await findFile(name);
  assert.equal(file.version, 3);
  const listed = await api(`/api/v1/drive/files/${file.id}/versions`);
  assert.equal(listed.response.status, 200);
  assert.deepEqual(listed.json().versions.map((v) => [v.version, v.size, v.current]), [[3, 5, true], [2, 4, false], [1, 3, false]]);

  const first = await api(`/api/v1/drive/files/${file.id}/versions/1/content`);
  assert.equal(first.response.status, 200);
  assert.equal(first.buffer.toString(), 'one');
  assert.equal(first.response.headers.get('etag'), listed.json().versions[2].etag);
  assert.equal((await api(`/api/v1/drive/files/${file.id}/versions/9/content`)).response.status, 404);
  assert.equal((await api(`/api/v1/drive/files/${file.id}/versions/1/content`, { token: carol })).response.status, 404);

  const restore = await api(`/api/v1/drive/files/${file.id}/versions/1/restore`, { method: 'POST' });
  assert.equal(restore.response.status, 200);
  assert.equal((await api(`/api/v1/drive/files/${file.id}/content`)).buffer.toString(), 'one');
  assert.equal((await api(`/api/v1/drive/files/${file.id}/versions/7/restore`, { method: 'POST' })).response.status, 404);
  // The next upload numbers past every stored version.
  await uploadSmall(name, 'four');
  assert.equal((await findFile(name)).version, 4);
});

test('versions beyond the maximum are deleted', { timeout: TEST_TIMEOUT_MS }, async () => {
  const daemon = await startDrive({ EXPRESSO_DRIVE_MAX_VERSIONS: '2' });
  try {
    const name = `kept-${run}.txt`;
    const before = await usedBytes();
    for (const content of ['a', 'bb', 'ccc']) await uploadSmall(name, content, { base: daemon.base });
    const file = await findFile(name);
    const listed = await api(`/api/v1/drive/files/${file.id}/versions`);
    assert.deepEqual(listed.json().versions.map((v) => v.version), [3, 2]);
    assert.equal(await usedBytes(), before + 2 + 3);
  } finally {
    await stopDrive(daemon);
  }
});

// Reads the public link URL without a token; Basic credentials when PASSWORD is given.
async function openShare(url, { password, headers = {} } = {}) {
  const auth = password === undefined ? {} : { Authorization: `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}` };
  const response = await fetch(driveUrl + url, { headers: { ...auth, ...headers } });
  const buffer = Buffer.from(await response.arrayBuffer());
  return { response, buffer };
}

test('share a file by public link', async () => {
  const file = await uploadSmall(`shared-${run}.txt`, 'shared bytes');
  const created = await api('/api/v1/drive/shares', { method: 'POST', body: { file_id: file.id } });
  assert.equal(created.response.status, 201);
  const share = created.json();
  assert.match(share.token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(share.url, `/api/v1/drive/share/${share.token}`);

  const opened = await openShare(share.url);
  assert.equal(opened.response.status, 200);
  assert.equal(opened.buffer.toString(), 'shared bytes');
  assert.match(opened.response.headers.get('content-disposition'), /filename\*=UTF-8''shared-/);
  // A download through the link resumes with Range and revalidates with the ETag, as the owner's does.
  assert.equal(opened.response.headers.get('accept-ranges'), 'bytes');
  const rest = await openShare(share.url, { headers: { Range: 'bytes=7-' } });
  assert.equal(rest.response.status, 206);
  assert.equal(rest.response.headers.get('content-range'), 'bytes 7-11/12');
  assert.equal(rest.buffer.toString(), 'bytes');
  const etag = opened.response.headers.get('etag');
  assert.equal((await openShare(share.url, { headers: { 'If-None-Match': etag } })).response.status, 304);
  assert.equal((await openShare(share.url, { headers: { Range: 'bytes=12-' } })).response.status, 416);

  // Bob and Carol cannot share Alice's file; a bad token is not found.
  assert.equal((await api('/api/v1/drive/shares', { method: 'POST', body: { file_id: file.id }, token: carol })).response.status, 404);
  const wrong = `${share.token.slice(0, -1)}${share.token.endsWith('A') ? 'B' : 'A'}`;
  assert.equal((await openShare(`/api/v1/drive/share/${wrong}`)).response.status, 404);
  assert.equal((await openShare('/api/v1/drive/share/short')).response.status, 404);

  // Revocation is immediate; only the owner can revoke.
  assert.equal((await api(`/api/v1/drive/shares/${share.id}`, { method: 'DELETE', token: bob })).response.status, 404);
  assert.equal((await api(`/api/v1/drive/shares/${share.id}`, { method: 'DELETE' })).response.status, 204);
  assert.equal((await openShare(share.url)).response.status, 404);
  const listed = await api('/api/v1/drive/shares');
  assert.equal(listed.json().shares.find((s) => s.id === share.id).revoked, true);

  // Carol's own share works, and gives rls.test.mjs a drive_shares row in her tenant.
  const carolsFile = await uploadSmall(`carol-${run}.txt`, 'acme', { token: carol });
  const carols = await api('/api/v1/drive/shares', { method: 'POST', body: { file_id: carolsFile.id }, token: carol });
  assert.equal(carols.response.status, 201);
  assert.equal((await openShare(carols.json().url)).buffer.toString(), 'acme');
});

test('share with password and expiry', { timeout: 30_000 }, async () => {
  const file = await uploadSmall(`protected-${run}.txt`, 'secret');
  const created = await api('/api/v1/drive/shares', { method: 'POST', body: { file_id: file.id, password: 'correct horse', expires_in: 2 } });
  assert.equal(created.response.status, 201);
  const share = created.json();
  assert.equal(share.has_password, true);

  const missing = await openShare(share.url);
  assert.equal(missing.response.status, 401);
  assert.match(missing.response.headers.get('www-authenticate'), /^Basic /);
  assert.equal((await openShare(share.url, { password: 'wrong' })).response.status, 401);
  const right = await openShare(share.url, { password: 'correct horse' });
  assert.equal(right.response.status, 200);
  assert.equal(right.buffer.toString(), 'secret');

  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.equal((await openShare(share.url, { password: 'correct horse' })).response.status, 410);

  // Limits: expiry 1 s to 366 days, password 1 to 256 bytes.
  const post = (body) => api('/api/v1/drive/shares', { method: 'POST', body: { file_id: file.id, ...body } });
  assert.equal((await post({ expires_in: 0 })).response.status, 400);
  assert.equal((await post({ expires_in: 366 * 86400 })).response.status, 201);
  assert.equal((await post({ expires_in: 366 * 86400 + 1 })).response.status, 400);
  assert.equal((await post({ password: 'p'.repeat(256) })).response.status, 201);
  assert.equal((await post({ password: 'p'.repeat(257) })).response.status, 400);
  assert.equal((await post({ password: '' })).response.status, 400);
});

test('shared folder lists its files in pt-BR or English', async () => {
  const folder = await makeFolder(`shared-folder-${run}`);
  const inner = await uploadSmall(`<b>report&"it's".txt`, 'inside', { folder: folder.id });
  const outside = await uploadSmall(`outside-${run}.txt`, 'not shared');
  const created = await api('/api/v1/drive/shares', { method: 'POST', body: { folder_id: folder.id } });
  assert.equal(created.response.status, 201);
  const share = created.json();

  const json = await openShare(share.url);
  assert.equal(json.response.status, 200);
  assert.deepEqual(JSON.parse(json.buffer).entries.map((e) => e.name), [`<b>report&"it's".txt`]);
  const portuguese = await openShare(share.url, { headers: { Accept: 'text/html' } });
  assert.equal(portuguese.response.headers.get('content-language'), 'pt-BR');
  assert.match(portuguese.buffer.toString(), /Pasta compartilhada/);
  assert.ok(portuguese.buffer.toString().includes('&lt;b&gt;report&amp;&quot;it&#39;s&quot;.txt'));
  assert.doesNotMatch(portuguese.buffer.toString(), /<b>report/);
  const english = await openShare(share.url, { headers: { Accept: 'text/html', 'Accept-Language': 'en-US,en;q=0.9,pt;q=0.5' } });
  assert.equal(english.response.headers.get('content-language'), 'en');
  assert.match(english.buffer.toString(), /Shared folder/);

  const download = await openShare(`${share.url}?file=${inner.id}`);
  assert.equal(download.buffer.toString(), 'inside');
  assert.equal((await openShare(`${share.url}?file=${outside.id}`)).response.status, 404);

  // Trashing the folder ends the link.
  assert.equal((await api(`/api/v1/drive/folders/${folder.id}`, { method: 'DELETE' })).response.status, 204);
  assert.equal((await openShare(share.url)).response.status, 404);
});

test('share accesses are audited and announced', async () => {
  const file = await uploadSmall(`audited-${run}.txt`, 'a');
  const tenant = JSON.parse(Buffer.from(alice.split('.')[1], 'base64url')).tenant_id;
  const nats = await connectNats({ servers: requireEnv('EXPRESSO_NATS_URL').replace(/^nats:\/\//, '') });
  try {
    const subscription = nats.subscribe(`expresso.${tenant}.drive.shared`, { max: 1, timeout: 10_000 });
    const created = await api('/api/v1/drive/shares', { method: 'POST', body: { file_id: file.id } });
    const share = created.json();
    for await (const message of subscription) {
      const event = JSON.parse(new TextDecoder().decode(message.data));
      assert.equal(JSON.stringify(event).includes(share.id), true);
      assert.equal(JSON.stringify(event).includes(share.token), false);
      break;
    }
    await openShare(share.url);
    await openShare(share.url);
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: requireEnv('EXPRESSO_DATABASE_OWNER_URL') });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenant]);
      const rows = await client.query("SELECT action FROM audit_log WHERE resource = $1 ORDER BY 1", [share.id]);
      await client.query('COMMIT');
      assert.deepEqual(rows.rows.map((r) => r.action), ['drive.share_accessed', 'drive.share_accessed', 'drive.share_created']);
    } finally {
      await client.end();
    }
  } finally {
    await nats.close();
  }
});

test('completed upload publishes drive.uploaded', async () => {
  const nats = await connectNats({ servers: requireEnv('EXPRESSO_NATS_URL').replace(/^nats:\/\//, '') });
  try {
    const name = `event-${run}.txt`;
    const location = await createUpload(2, { filename: name });
    assert.equal((await patch(location, 0, 'ev')).status, 204);
    const file = await findFile(name);
    const tenant = JSON.parse(Buffer.from(alice.split('.')[1], 'base64url')).tenant_id;
    const manager = await nats.jetstreamManager();
    const message = await manager.streams.getMessage('EXPRESSO', { last_by_subj: `expresso.${tenant}.drive.uploaded` });
    const event = JSON.parse(new TextDecoder().decode(message.data));
    assert.equal(event.file_id, file.id);
    assert.equal(event.name, name);
    assert.equal(event.size, 2);
  } finally {
    await nats.close();
  }
});

// Runs the quota requests against DAEMON, whose quota leaves exactly 1000 bytes free.
async function tryQuota(daemon) {
  const postUpload = (length) =>
    fetch(`${daemon.base}${UPLOADS}`, {
      method: 'POST',
      headers: {
        'Tus-Resumable': '1.0.0',
        Authorization: `Bearer ${alice}`,
        'Upload-Length': String(length),
        'Upload-Metadata': metadata({ filename: `quota-${run}.bin` }),
      },
    });
  const fits = await postUpload(1000);
  await fits.arrayBuffer();
  const over = await postUpload(1);
  await over.arrayBuffer();
  const seen = (await api('/api/v1/drive/quota', { base: daemon.base })).json();
  if (fits.status === 201) await tusRequest('DELETE', daemon.base + fits.headers.get('location'));
  const overAlone = await postUpload(1001);
  return { fits: fits.status, over: over.status, seen, overAlone: overAlone.status, error: (await overAlone.json()).error };
}

test('quota is checked up front with 413 naming it', { timeout: TEST_TIMEOUT_MS }, async () => {
  // Other test files may add or remove rows of this user meanwhile, so an
  // attempt during which the usage moved is repeated, at most three times.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const usage = (await api('/api/v1/drive/quota')).json();
    assert.equal(typeof usage.used_bytes, 'number');
    const quota = usage.used_bytes + usage.reserved_bytes + 1000;
    const daemon = await startDrive({ EXPRESSO_DRIVE_QUOTA: String(quota) });
    let outcome;
    try {
      outcome = await tryQuota(daemon);
    } finally {
      await stopDrive(daemon);
    }
    const later = (await api('/api/v1/drive/quota')).json();
    const stable = later.used_bytes === usage.used_bytes && later.reserved_bytes === usage.reserved_bytes;
    if (!stable && attempt < 3) continue;

    assert.equal(outcome.fits, 201, 'an upload that fills the quota exactly is accepted');
    assert.equal(outcome.over, 413, 'one byte more is rejected');
    assert.equal(outcome.seen.quota_bytes, quota);
    assert.equal(outcome.overAlone, 413);
    assert.equal(outcome.error.code, 'quota_exceeded');
    assert.equal(outcome.error.detail.quota_bytes, quota);
    assert.equal(outcome.error.detail.upload_length, 1001);
    assert.match(outcome.error.message, new RegExp(`quota of ${quota} bytes`));
    return;
  }
});

test('concurrent PATCHes through two daemons', { timeout: TEST_TIMEOUT_MS }, async () => {
  const daemon = await startDrive();
  try {
    for (let round = 0; round < 3; round++) {
      const location = await createUpload(2 * 4 * MiB);
      const first = Buffer.alloc(4 * MiB, 1);
      const second = Buffer.alloc(4 * MiB, 2);
      const responses = await Promise.all([patch(location, 0, first), patch(daemon.base + location, 0, second)]);
      const statuses = responses.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 204).length, 1, `round ${round}: statuses ${statuses}`);
      assert.ok(statuses.every((s) => s === 204 || s === 409 || s === 423), `round ${round}: statuses ${statuses}`);
      assert.equal(await headOffset(location), 4 * MiB);

      // The stored bytes are those of the request that got 204, never a mix.
      const winner = statuses[0] === 204 ? first : second;
      assert.equal((await patch(location, 4 * MiB, winner)).status, 204);
      const head = await tusRequest('HEAD', location);
      const name = Buffer.from(head.headers.get('upload-metadata').split(' ')[1], 'base64').toString();
      const file = await findFile(name);
      const download = await api(`/api/v1/drive/files/${file.id}/content`);
      assert.equal(sha256(download.buffer), sha256(Buffer.concat([winner, winner])));
    }
  } finally {
    await stopDrive(daemon);
  }
});

// Uploads CONTENT as NAME to the daemon at BASE with tus-js-client, resuming UPLOAD_URL when it is given.
// The retries take about 15 s in all, enough for a killed daemon to start again. ON_CHUNK(upload, accepted,
// resolve) runs after each chunk. Resolves with the upload's URL at the end, or when ON_CHUNK calls resolve.
function restartableUpload(base, content, name, { chunkSize, uploadUrl, onChunk }) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(content, {
      endpoint: base + UPLOADS,
      uploadUrl,
      chunkSize,
      retryDelays: [200, 500, 1000, 2000, 4000, 8000],
      headers: { Authorization: `Bearer ${alice}` },
      metadata: { filename: name },
      storeFingerprintForResuming: false,
      onError: reject,
      onSuccess: () => resolve(upload.url),
      onChunkComplete: (chunk, accepted) => onChunk(upload, accepted, resolve),
    });
    upload.start();
  });
}

// Starts a private drive that killOnce() kills with SIGKILL and starts again on the same port,
// once. daemon is the one running, and restarted the promise of the restart (null before).
async function restartableDrive() {
  const port = await freePort();
  const drive = { daemon: await startDrive({}, port), restarted: null };
  drive.killOnce = () => {
    if (drive.restarted) return;
    drive.daemon.child.kill('SIGKILL');
    drive.restarted = drive.daemon.exited.then(() => startDrive({}, port)).then((next) => {
      drive.daemon = next;
    });
  };
  drive.stop = async () => {
    await drive.restarted?.catch(() => {});
    await stopDrive(drive.daemon);
  };
  return drive;
}

test('tus-js-client survives a daemon restart', { timeout: TEST_TIMEOUT_MS }, async () => {
  const drive = await restartableDrive();
  const content = crypto.randomBytes(24 * MiB);
  const name = `restarted-${run}.bin`;
  try {
    await restartableUpload(drive.daemon.base, content, name, {
      chunkSize: 8 * MiB,
      onChunk: (upload, accepted) => {
        if (accepted === 8 * MiB) drive.killOnce();
      },
    });
    assert.ok(drive.restarted, 'the daemon was restarted during the upload');
    await drive.restarted;
    const file = await findFile(name);
    const download = await api(`/api/v1/drive/files/${file.id}/content`, { base: drive.daemon.base });
    assert.equal(sha256(download.buffer), sha256(content));
  } finally {
    await drive.stop();
  }
});

test('tus-js-client 100 MiB: pause, resume, restart', { timeout: TEST_TIMEOUT_MS }, async () => {
  const drive = await restartableDrive();
  const content = crypto.randomBytes(100 * MiB);
  const name = `hundred-${run}.bin`;
  const start = (uploadUrl, onChunk) =>
    restartableUpload(drive.daemon.base, content, name, { chunkSize: CHUNK, uploadUrl, onChunk });
  try {
    // Pause after the first 16 MiB chunk.
    const url = await start(undefined, (upload, accepted, resolve) => {
      if (accepted === CHUNK) upload.abort().then(() => resolve(upload.url));
    });
    assert.equal(await headOffset(url), CHUNK);

    // Resume, and kill the daemon with SIGKILL after the next chunk; the client retries until it is back.
    await start(url, (upload, accepted) => {
      if (accepted === 2 * CHUNK) drive.killOnce();
    });
    assert.ok(drive.restarted, 'the daemon was restarted during the upload');
    await drive.restarted;
    const file = await findFile(name);
    assert.equal(file.size, 100 * MiB);
    const download = await api(`/api/v1/drive/files/${file.id}/content`, { base: drive.daemon.base });
    assert.equal(sha256(download.buffer), sha256(content));
  } finally {
    await drive.stop();
  }
});

test('expired upload is gone after the purge', { timeout: TEST_TIMEOUT_MS }, async () => {
  const daemon = await startDrive({ EXPRESSO_DRIVE_UPLOAD_EXPIRY: '2s', EXPRESSO_DRIVE_PURGE_INTERVAL: '1s' });
  try {
    const location = await createUpload(10, undefined, { base: daemon.base });
    const response = await patch(daemon.base + location, 0, 'abc');
    assert.equal(response.status, 204);
    const expires = Date.parse(response.headers.get('upload-expires'));
    assert.ok(expires > Date.now() - 1000, 'Upload-Expires is not in the past');
    assert.ok(expires <= Date.now() + 3000, 'Upload-Expires is at most 3 s ahead');

    const tenant = JSON.parse(Buffer.from(alice.split('.')[1], 'base64url')).tenant_id;
    const uploadFile = path.join(requireEnv('EXPRESSO_STATE_DIR'), 'storage', '.uploads', tenant, location.split('/').pop());
    assert.ok(fs.existsSync(uploadFile), `${uploadFile} exists while the upload is open`);
    // Bounded wait: expiry (2 s) plus two purge intervals (1 s each) plus slack.
    const deadline = Date.now() + 10_000;
    while (fs.existsSync(uploadFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.ok(!fs.existsSync(uploadFile), 'the purge removed the upload file');
    assert.equal((await tusRequest('HEAD', daemon.base + location)).status, 404);
    assert.equal((await patch(daemon.base + location, 3, 'def')).status, 404);
  } finally {
    await stopDrive(daemon);
  }
});

// Sends the headers and HALF of BODY as a PATCH, then resolves once the bytes are on the socket.
function startPartialPatch(base, location, offset, body) {
  return new Promise((resolve) => {
    const request = http.request(base + location, {
      method: 'PATCH',
      headers: {
        'Tus-Resumable': '1.0.0',
        Authorization: `Bearer ${alice}`,
        'Content-Type': 'application/offset+octet-stream',
        'Upload-Offset': String(offset),
        'Content-Length': String(body.length),
      },
    });
    request.on('error', () => {}); // the daemon is killed under it
    request.write(body.subarray(0, body.length / 2), () => resolve(request));
  });
}

test('SIGKILL during PATCH, restart, HEAD, resume', { timeout: TEST_TIMEOUT_MS }, async () => {
  const content = crypto.randomBytes(24 * MiB);
  const part = 8 * MiB;
  const name = `killed-${run}.bin`;
  let daemon = await startDrive();
  try {
    const location = await createUpload(content.length, { filename: name }, { base: daemon.base });
    assert.equal((await patch(daemon.base + location, 0, content.subarray(0, part))).status, 204);

    // Kill while the second chunk is half sent; the acknowledged first chunk must survive.
    const request = await startPartialPatch(daemon.base, location, part, content.subarray(part, 2 * part));
    daemon.child.kill('SIGKILL');
    assert.equal((await daemon.exited).signal, 'SIGKILL');
    request.destroy();

    daemon = await startDrive({});
    const offset = await headOffset(daemon.base + location);
    assert.equal(offset, part);

    // Kill right after an acknowledged chunk: its bytes must be there after the restart.
    assert.equal((await patch(daemon.base + location, part, content.subarray(part, 2 * part))).status, 204);
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    daemon = await startDrive({});
    assert.equal(await headOffset(daemon.base + location), 2 * part);
    assert.equal((await patch(daemon.base + location, 2 * part, content.subarray(2 * part))).status, 204);

    const file = await findFile(name);
    const download = await api(`/api/v1/drive/files/${file.id}/content`, { base: daemon.base });
    assert.equal(download.buffer.length, content.length);
    assert.equal(sha256(download.buffer), sha256(content));
  } finally {
    await stopDrive(daemon);
  }
});

// More chunks at once than the daemon has large buffers (8): the others go through their own
// small buffers, and every file comes out whole.
test('ten concurrent chunks stored whole', { timeout: TEST_TIMEOUT_MS }, async () => {
  const uploads = await Promise.all(Array.from({ length: 10 }, async (unused, index) => {
    const content = crypto.randomBytes(6 * MiB);
    const name = `concurrent-${index}-${run}.bin`;
    return { content, name, location: await createUpload(content.length, { filename: name }) };
  }));
  // Every first chunk is half sent before any is finished, so all ten are open at once.
  const requests = await Promise.all(uploads.map(({ content, location }) =>
    startPartialPatch(driveUrl, location, 0, content.subarray(0, 4 * MiB))));
  const statuses = await Promise.all(requests.map((request, index) => new Promise((resolve, reject) => {
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on('error', reject);
    request.end(uploads[index].content.subarray(2 * MiB, 4 * MiB));
  })));
  assert.deepEqual(statuses, Array(10).fill(204));
  for (const { content, name, location } of uploads) {
    assert.equal((await patch(location, 4 * MiB, content.subarray(4 * MiB))).status, 204);
    const file = await findFile(name);
    const download = await api(`/api/v1/drive/files/${file.id}/content`);
    assert.equal(sha256(download.buffer), sha256(content), `${name} is stored whole`);
  }
});

test('client gone mid-PATCH: chunk discarded, upload unlocked', { timeout: TEST_TIMEOUT_MS }, async () => {
  const content = crypto.randomBytes(8 * MiB);
  const location = await createUpload(content.length);
  const tenant = JSON.parse(Buffer.from(alice.split('.')[1], 'base64url')).tenant_id;
  const uploadFile = path.join(requireEnv('EXPRESSO_STATE_DIR'), 'storage', '.uploads', tenant, location.split('/').pop());

  // Half of the chunk is streamed into the upload file, then the client goes away.
  const request = await startPartialPatch(driveUrl, location, 0, content);
  await new Promise((r) => setTimeout(r, 300));
  request.destroy();

  // Bounded wait for the daemon to see the closed connection and release the upload.
  let status = 0;
  for (let i = 0; i < 50 && status !== 204; i++) {
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await headOffset(location), 0, 'the cut chunk never counts');
    status = (await patch(location, 0, content.subarray(0, MiB))).status;
    assert.ok(status === 204 || status === 423, `PATCH after the disconnect answered ${status}`);
  }
  assert.equal(status, 204);
  assert.equal(await headOffset(location), MiB);
  assert.equal(fs.statSync(uploadFile).size, MiB, 'the discarded bytes past the offset were truncated');
  assert.equal((await patch(location, MiB, content.subarray(MiB))).status, 204);
  assert.equal(await headOffset(location), content.length);
});

// fetch sends the second PATCH on the first one's connection, and the abort closes it while
// the daemon is still reading the body. libmicrohttpd's epoll mode misses such a close, which
// kept the upload locked (423) until the connection timeout (60 s).
test('early PATCH abort unlocks upload', { timeout: TEST_TIMEOUT_MS }, async () => {
  const chunk = Buffer.alloc(CHUNK, 3);
  for (let round = 0; round < 5; round++) {
    const location = await createUpload(2 * CHUNK);
    assert.equal((await patch(location, 0, chunk)).status, 204);
    const controller = new AbortController();
    const aborted = fetch(driveUrl + location, {
      method: 'PATCH',
      headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${alice}`, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(CHUNK) },
      body: chunk,
      signal: controller.signal,
    }).then((response) => response.status, (error) => error.name);
    setTimeout(() => controller.abort(), 0);
    assert.equal(await aborted, 'AbortError');

    // Bounded wait of 2 s, far below the connection timeout.
    let status = 0;
    for (let i = 0; i < 20 && status !== 204; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await patch(location, CHUNK, 'z')).status;
      assert.ok(status === 204 || status === 423, `round ${round}: PATCH after the abort answered ${status}`);
    }
    assert.equal(status, 204, `round ${round}: the upload is still locked 2 s after the abort`);
    assert.equal((await tusRequest('DELETE', location)).status, 204);
  }
});

// Counts the tenant's drive_uploads rows named NAME, as the database owner under the tenant's RLS setting.
async function uploadRowCount(tenant, name) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: requireEnv('EXPRESSO_DATABASE_OWNER_URL') });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenant]);
    const result = await client.query('SELECT count(*)::int AS count FROM drive_uploads WHERE filename = $1', [name]);
    await client.query('COMMIT');
    return result.rows[0].count;
  } finally {
    await client.end();
  }
}

test('client gone mid-creation: upload removed', { timeout: TEST_TIMEOUT_MS }, async () => {
  const content = crypto.randomBytes(8 * MiB);
  const name = `creation-gone-${run}.bin`;
  const tenant = JSON.parse(Buffer.from(alice.split('.')[1], 'base64url')).tenant_id;
  const uploadsDir = path.join(requireEnv('EXPRESSO_STATE_DIR'), 'storage', '.uploads', tenant);
  const listUploads = () => (fs.existsSync(uploadsDir) ? fs.readdirSync(uploadsDir) : []);
  const earlier = new Set(listUploads());
  const newUploads = () => listUploads().filter((entry) => !earlier.has(entry));
  const reserved = await reservedBytes();

  // A creation-with-upload sends its headers and half of its body, then the client goes away.
  const request = await new Promise((resolve) => {
    const creation = http.request(driveUrl + UPLOADS, {
      method: 'POST',
      headers: {
        'Tus-Resumable': '1.0.0',
        Authorization: `Bearer ${alice}`,
        'Content-Type': 'application/offset+octet-stream',
        'Upload-Length': String(content.length),
        'Upload-Metadata': metadata({ filename: name }),
        'Content-Length': String(content.length),
      },
    });
    creation.on('error', () => {}); // destroyed below
    creation.write(content.subarray(0, content.length / 2), () => resolve(creation));
  });

  // Bounded wait until the daemon has created the upload the body streams into.
  let created = [];
  for (let i = 0; i < 50 && created.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    created = newUploads();
  }
  assert.equal(created.length, 1, 'the creation made one upload file');
  assert.equal(await uploadRowCount(tenant, name), 1, 'the creation made one upload row');
  request.destroy();

  // Bounded wait for the daemon to see the closed connection and remove the upload.
  for (let i = 0; i < 50 && (newUploads().length > 0 || (await uploadRowCount(tenant, name)) > 0); i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(newUploads(), [], 'the upload file is gone');
  assert.equal(await uploadRowCount(tenant, name), 0, 'the upload row is gone');
  assert.equal((await tusRequest('HEAD', `${UPLOADS}/${created[0]}`)).status, 404);
  assert.equal(await reservedBytes(), reserved, 'no upload keeps bytes reserved');
  assert.ok(!(await listRoot()).some((entry) => entry.name === name), `${name} was not created`);
});

test('file inside a trashed folder is hidden', async () => {
  const outer = await makeFolder(`hidden-outer-${run}`);
  const inner = await makeFolder('inner', outer.id);
  const direct = await uploadSmall('direct.txt', 'direct bytes', { folder: outer.id });
  const nested = await uploadSmall('nested.txt', 'nested bytes', { folder: inner.id });
  const created = await api('/api/v1/drive/shares', { method: 'POST', body: { file_id: nested.id } });
  assert.equal(created.response.status, 201);
  const share = created.json();
  const folderShare = await api('/api/v1/drive/shares', { method: 'POST', body: { folder_id: inner.id } });
  assert.equal(folderShare.response.status, 201);
  assert.equal((await openShare(share.url)).response.status, 200);

  assert.equal((await api(`/api/v1/drive/folders/${outer.id}`, { method: 'DELETE' })).response.status, 204);
  for (const file of [direct, nested]) {
    assert.equal((await api(`/api/v1/drive/files/${file.id}`)).response.status, 404, `metadata of ${file.name}`);
    assert.equal((await api(`/api/v1/drive/files/${file.id}/content`)).response.status, 404, `content of ${file.name}`);
    assert.equal((await api(`/api/v1/drive/files/${file.id}/versions`)).response.status, 404, `versions of ${file.name}`);
    assert.equal((await api(`/api/v1/drive/files/${file.id}/versions/1/content`)).response.status, 404,
      `version 1 of ${file.name}`);
  }
  assert.equal((await api(`/api/v1/drive/folders/${inner.id}`)).response.status, 404, 'a folder below is hidden too');
  assert.equal((await openShare(share.url)).response.status, 404, 'a share of a hidden file');
  assert.equal((await openShare(folderShare.json().url)).response.status, 404, 'a share of a hidden folder');
  const again = await api('/api/v1/drive/shares', { method: 'POST', body: { file_id: nested.id } });
  assert.equal(again.response.status, 404, 'a hidden file cannot be shared');

  // Restoring the folder brings back everything below it.
  assert.equal((await api(`/api/v1/drive/trash/folders/${outer.id}/restore`, { method: 'POST' })).response.status, 204);
  assert.equal((await api(`/api/v1/drive/files/${nested.id}/content`)).buffer.toString(), 'nested bytes');
  assert.equal((await openShare(share.url)).buffer.toString(), 'nested bytes');
  assert.equal((await api(`/api/v1/drive/folders/${outer.id}`, { method: 'DELETE' })).response.status, 204);
  assert.equal((await api(`/api/v1/drive/trash/${outer.id}`, { method: 'DELETE' })).response.status, 204);
});
