// expresso-drive on the S3 backend. An S3 test server (npm s3rver) runs on
// loopback behind lib/s3_sigv4_proxy.py, which recomputes every request's
// AWS Signature Version 4 with botocore and returns 403 on a mismatch, as
// MinIO would. The whole drive.test.mjs suite then runs once more against
// an expresso-drive started with EXPRESSO_STORAGE_BACKEND=s3 (and the
// daemons that suite starts itself inherit the same settings). Separate
// tests check that the front rejects a wrong signature, that the daemon
// retries after 503 SlowDown, and that a daemon with a wrong secret key
// fails to store a file instead of acknowledging it.
//
// Needs the local stack (stack.env) and Debian's python3-botocore.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import S3rver from 's3rver';

import { s3StorageEnv, startDrive, stopDrive } from './lib/drive.mjs';
import { devToken, freePort, requireEnv } from './lib/stack.mjs';

const BUCKET = 'expresso';
// s3rver accepts only its built-in account, S3RVER with secret S3RVER.
const ACCESS_KEY = 'S3RVER';
const SECRET_KEY = 'S3RVER';
const REGION = 'sa-east-1';
const SUITE_TIMEOUT_MS = 900_000;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

let s3Directory;
let s3Server;
let proxy;
let proxyLog = '';
let endpoint;

function s3Env(overrides = {}) {
  return {
    ...s3StorageEnv({ endpoint, bucket: BUCKET, region: REGION, accessKey: ACCESS_KEY, secretKey: SECRET_KEY }),
    EXPRESSO_S3_RETRY_DELAY: '50ms',
    ...overrides,
  };
}

function startS3Drive(overrides = {}) {
  return startDrive(s3Env(overrides));
}

// Uploads CONTENT in one PATCH through the tus API of BASE; returns the PATCH status.
async function uploadOnce(base, token, name, content) {
  const headers = { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}` };
  const created = await fetch(`${base}/api/v1/drive/uploads`, {
    method: 'POST',
    headers: { ...headers, 'Upload-Length': String(content.length), 'Upload-Metadata': `filename ${Buffer.from(name).toString('base64')}` },
  });
  assert.equal(created.status, 201);
  const response = await fetch(base + created.headers.get('location'), {
    method: 'PATCH',
    headers: { ...headers, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' },
    body: content,
  });
  await response.arrayBuffer();
  return response.status;
}

// Runs curl's own SigV4 signer against the front with SECRET.
async function curlStatus(secret, url) {
  const { stdout } = await promisify(execFile)('curl', [
    '-s', '-o', '/dev/null', '-w', '%{http_code}', '--aws-sigv4', `aws:amz:${REGION}:s3`, '--user', `${ACCESS_KEY}:${secret}`,
    '-H', `x-amz-content-sha256: ${EMPTY_SHA256}`, url,
  ]);
  return Number(stdout);
}

before(async () => {
  s3Directory = fs.mkdtempSync(path.join(os.tmpdir(), 'expresso-s3rver-'));
  const s3Port = await freePort();
  s3Server = new S3rver({ port: s3Port, address: '127.0.0.1', directory: s3Directory, silent: true, configureBuckets: [{ name: BUCKET }] });
  await s3Server.run();

  const proxyPort = await freePort();
  const script = path.join(import.meta.dirname, 'lib', 's3_sigv4_proxy.py');
  proxy = spawn('/usr/bin/python3', [script, String(proxyPort), String(s3Port), ACCESS_KEY, SECRET_KEY, REGION], { stdio: ['ignore', 'pipe', 'pipe'] });
  proxy.stderr.on('data', (chunk) => { proxyLog += chunk.toString(); });
  await new Promise((resolve, reject) => {
    proxy.stdout.once('data', resolve);
    proxy.once('exit', (code) => reject(new Error(`the S3 signature front exited with ${code}: ${proxyLog}`)));
  });
  endpoint = `http://127.0.0.1:${proxyPort}`;
});

after(async () => {
  proxy?.kill('SIGTERM');
  await s3Server?.close();
  if (s3Directory) fs.rmSync(s3Directory, { recursive: true, force: true });
});

test('S3 front checks signatures', async () => {
  const url = `${endpoint}/${BUCKET}/missing-object`;
  assert.equal(await curlStatus(SECRET_KEY, url), 404);
  assert.equal(await curlStatus(`${SECRET_KEY}x`, url), 403);
  const unsigned = await fetch(url);
  assert.equal(unsigned.status, 403);
  // The front logs each rejection on stderr, which may arrive after the response: wait for both lines
  // (bounded), so that they do not count against the next test.
  const deadline = Date.now() + 5_000;
  while ((proxyLog.match(/rejected GET/g) ?? []).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal((proxyLog.match(/rejected GET/g) ?? []).length, 2, proxyLog);
});

test('drive suite passes on the S3 backend', { timeout: SUITE_TIMEOUT_MS }, async () => {
  const logStart = proxyLog.length;
  const drive = await startS3Drive();
  try {
    // Without NODE_TEST_CONTEXT the child runs as a test runner of its own, not as a nested one that skips files.
    const env = { ...process.env, ...s3Env(), EXPRESSO_DRIVE_URL: drive.base };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, ['--test', '--test-concurrency=1', 'drive.test.mjs'], {
      cwd: import.meta.dirname,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk.toString(); });
    child.stderr.on('data', (chunk) => { output += chunk.toString(); });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    const failures = output.split('\n').filter((line) => line.startsWith('not ok'));
    assert.equal(code, 0, `drive.test.mjs on S3 failed:\n${failures.join('\n')}\n${output.slice(-4000)}`);
    assert.match(output, /^# pass [1-9]/m);
  } finally {
    await stopDrive(drive);
  }
  // The files went to the bucket under the tenant's prefix, and no request was rejected.
  const tenants = fs.readdirSync(path.join(s3Directory, BUCKET));
  assert.ok(tenants.length > 0, 'the bucket is empty');
  assert.doesNotMatch(proxyLog.slice(logStart), /rejected/);
});

test('ranges far into an S3 object use ranged GETs', { timeout: 120_000 }, async () => {
  const MiB = 1024 * 1024;
  const drive = await startS3Drive();
  try {
    const token = await devToken(process.env.EXPRESSO_ALICE_EMAIL ?? 'alice@demo.expresso.test');
    const content = crypto.randomBytes(4 * MiB);
    const name = `ranges-${crypto.randomUUID()}.bin`;
    assert.equal(await uploadOnce(drive.base, token, name, content), 204);
    const headers = { Authorization: `Bearer ${token}` };
    const list = await fetch(`${drive.base}/api/v1/drive/folders/root?limit=1000`, { headers });
    const file = (await list.json()).entries.find((entry) => entry.name === name);
    assert.ok(file, `${name} is listed`);
    const url = `${drive.base}/api/v1/drive/files/${file.id}/content`;

    const logStart = proxyLog.length;
    const one = await fetch(url, { headers: { ...headers, Range: `bytes=${3 * MiB}-${3 * MiB + 9}` } });
    assert.equal(one.status, 206);
    assert.deepEqual(Buffer.from(await one.arrayBuffer()), content.subarray(3 * MiB, 3 * MiB + 10));

    // Two ranges 3 MiB apart: the first is read in the first GET, the second from a GET that starts there.
    const two = await fetch(url, { headers: { ...headers, Range: `bytes=0-9, ${3 * MiB + 100}-${3 * MiB + 109}` } });
    assert.equal(two.status, 206);
    const boundary = two.headers.get('content-type').match(/boundary=(\w+)$/)[1];
    const body = Buffer.from(await two.arrayBuffer()).toString('latin1');
    const parts = body.split(`--${boundary}`).slice(1, -1).map((part) => part.split('\r\n\r\n')[1].slice(0, -2));
    assert.deepEqual(parts, [content.subarray(0, 10).toString('latin1'),
      content.subarray(3 * MiB + 100, 3 * MiB + 110).toString('latin1')]);

    const ranges = proxyLog.slice(logStart).split('\n').filter((line) => line.startsWith('range GET '));
    assert.deepEqual(ranges.map((line) => line.split(' ').pop()), [`bytes=${3 * MiB}-`, `bytes=${3 * MiB + 100}-`]);
  } finally {
    await stopDrive(drive);
  }
});

test('S3 requests retry after 503 SlowDown', { timeout: 60_000 }, async () => {
  const drive = await startS3Drive();
  try {
    const token = await devToken(process.env.EXPRESSO_ALICE_EMAIL ?? 'alice@demo.expresso.test');
    const armed = await fetch(`${endpoint}/__control/fail?count=2`, { method: 'POST' });
    assert.equal(armed.status, 200);
    assert.equal(await uploadOnce(drive.base, token, `retried-${crypto.randomUUID()}.txt`, Buffer.from('retry me')), 204);
    const retries = drive.lines.filter((line) => line.includes('"s3_request_retry"'));
    assert.equal(retries.length, 2);
  } finally {
    await stopDrive(drive);
  }
});

test('wrong S3 secret is never acknowledged', { timeout: 60_000 }, async () => {
  const drive = await startS3Drive({ EXPRESSO_S3_SECRET_KEY: `${SECRET_KEY}-wrong` });
  try {
    const token = await devToken(process.env.EXPRESSO_ALICE_EMAIL ?? 'alice@demo.expresso.test');
    assert.equal(await uploadOnce(drive.base, token, `unsigned-${crypto.randomUUID()}.txt`, Buffer.from('nope')), 500);
    assert.match(proxyLog, /rejected PUT/);
  } finally {
    await stopDrive(drive);
  }
});

// Returns the part files (name and size) that s3rver holds for the multipart upload ID.
function s3rverParts(id) {
  const found = fs.readdirSync(s3Directory, { recursive: true }).find((entry) => path.basename(entry) === id);
  if (!found) return [];
  const directory = path.join(s3Directory, found);
  return fs.readdirSync(directory).filter((name) => /^\d+$/.test(name)).sort((a, b) => a - b)
    .map((name) => ({ number: Number(name), size: fs.statSync(path.join(directory, name)).size }));
}

test('each chunk of 5 MiB or more is one S3 part', { timeout: 120_000 }, async () => {
  const MiB = 1024 * 1024;
  const owner = new pg.Client({ connectionString: requireEnv('EXPRESSO_DATABASE_OWNER_URL') });
  await owner.connect();
  const drive = await startS3Drive();
  try {
    const token = await devToken(process.env.EXPRESSO_ALICE_EMAIL ?? 'alice@demo.expresso.test');
    const headers = { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}` };
    // Row-level security is forced on the owner too, so it reads as the token's tenant.
    const tenant = JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).tenant_id;
    await owner.query("SELECT set_config('app.tenant_id', $1, false)", [tenant]);
    // 8 MiB is a part at once; three 2 MiB chunks wait until they pass 5 MiB; the last 1 MiB ends the upload.
    const sizes = [8 * MiB, 2 * MiB, 2 * MiB, 2 * MiB, MiB];
    const content = crypto.randomBytes(sizes.reduce((a, b) => a + b, 0));
    const name = `parts-${crypto.randomUUID()}.bin`;
    const created = await fetch(`${drive.base}/api/v1/drive/uploads`, {
      method: 'POST',
      headers: { ...headers, 'Upload-Length': String(content.length), 'Upload-Metadata': `filename ${Buffer.from(name).toString('base64')}` },
    });
    assert.equal(created.status, 201);
    const location = drive.base + created.headers.get('location');
    const id = location.split('/').pop();
    const partsAfter = [];
    let offset = 0;
    for (const size of sizes) {
      const response = await fetch(location, {
        method: 'PATCH',
        headers: { ...headers, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) },
        body: content.subarray(offset, offset + size),
      });
      await response.arrayBuffer();
      assert.equal(response.status, 204, `PATCH at ${offset}`);
      offset += size;
      const rows = await owner.query(
        'SELECT part_number, end_offset::bigint AS end_offset FROM drive_upload_parts WHERE upload_id = $1 ORDER BY part_number', [id]);
      partsAfter.push(rows.rows.map((row) => Number(row.end_offset)));
      if (partsAfter.length === 1) {
        const { rows: [upload] } = await owner.query('SELECT storage_upload_id FROM drive_uploads WHERE id = $1', [id]);
        assert.ok(upload.storage_upload_id, 'the multipart upload started with the first chunk');
        assert.deepEqual(s3rverParts(upload.storage_upload_id), [{ number: 1, size: 8 * MiB }]);
      }
    }
    assert.deepEqual(partsAfter, [
      [8 * MiB],
      [8 * MiB],
      [8 * MiB],
      [8 * MiB, 14 * MiB],
      [8 * MiB, 14 * MiB, 15 * MiB],
    ]);

    const list = await fetch(`${drive.base}/api/v1/drive/folders/root?limit=1000`, { headers });
    const file = (await list.json()).entries.find((entry) => entry.name === name);
    assert.ok(file, `${name} is listed`);
    const download = await fetch(`${drive.base}/api/v1/drive/files/${file.id}/content`, { headers });
    const bytes = Buffer.from(await download.arrayBuffer());
    assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), crypto.createHash('sha256').update(content).digest('hex'));
  } finally {
    await stopDrive(drive);
    await owner.end();
  }
});
