// expresso-drive on the S3 backend against OpenStack Swift's S3 API
// (lib/swift_s3.py), a real object store that implements
// AbortMultipartUpload, which the s3rver of drive-s3.test.mjs rejects with
// 405. An upload whose first chunk became an S3 part is terminated
// (DELETE), left to expire (also by the maximum age of its multipart
// upload), or completed. After each, the multipart upload
// is gone from Swift (ListParts returns NoSuchUpload, and its data files
// are deleted from Swift's disk), and the local upload file is gone. While
// the upload is open, the bytes sent as a part no longer take local disk.
// botocore (lib/s3_client.py) looks at Swift from outside the daemon.
//
// Needs the local stack (stack.env), Debian's python3-swift, memcached and
// python3-botocore.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { s3StorageEnv, startDrive, stopDrive } from './lib/drive.mjs';
import { devToken, freePort, requireEnv } from './lib/stack.mjs';

const BUCKET = 'expresso';
// tempauth's "account:user" is the S3 access key.
const ACCESS_KEY = 'expresso:drive';
const SECRET_KEY = crypto.randomBytes(16).toString('hex');
const REGION = 'sa-east-1';
const MiB = 1024 * 1024;
const UPLOADS = '/api/v1/drive/uploads';
const TEST_TIMEOUT_MS = 120_000;

let swiftDirectory;
let swift;
let swiftLog = '';
let endpoint;
let token;
let tenant;

async function s3(command, ...args) {
  const script = path.join(import.meta.dirname, 'lib', 's3_client.py');
  const { stdout } = await promisify(execFile)('/usr/bin/python3', [script, endpoint, REGION, ACCESS_KEY, SECRET_KEY, command, ...args], { timeout: 30_000 });
  return JSON.parse(stdout);
}

function startSwiftDrive(overrides = {}) {
  return startDrive({
    ...s3StorageEnv({ endpoint, bucket: BUCKET, region: REGION, accessKey: ACCESS_KEY, secretKey: SECRET_KEY }),
    ...overrides,
  });
}

async function tusRequest(base, method, url, { headers = {}, body } = {}) {
  const response = await fetch(url.startsWith('http') ? url : base + url, {
    method,
    headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}`, ...headers },
    body,
  });
  await response.arrayBuffer();
  return response;
}

function uploadFile(id) {
  return path.join(requireEnv('EXPRESSO_STATE_DIR'), 'storage', '.uploads', tenant, id);
}

// Counts the object data files on Swift's disk: each stored object or part is one.
function swiftDataFiles() {
  return fs.readdirSync(path.join(swiftDirectory, 'devices'), { recursive: true }).filter((name) => name.endsWith('.data')).length;
}

// Creates a 12 MiB upload on BASE and sends its first 6 MiB, which become part 1.
// Returns the upload's URL, id, content, multipart upload and first PATCH response.
async function startUpload(base) {
  const content = crypto.randomBytes(12 * MiB);
  const name = `swift-${crypto.randomUUID()}.bin`;
  const created = await tusRequest(base, 'POST', UPLOADS, {
    headers: { 'Upload-Length': String(content.length), 'Upload-Metadata': `filename ${Buffer.from(name).toString('base64')}` },
  });
  assert.equal(created.status, 201);
  const location = created.headers.get('location');
  const id = location.split('/').pop();
  const dataFilesBefore = swiftDataFiles();
  const first = await tusRequest(base, 'PATCH', location, {
    headers: { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' },
    body: content.subarray(0, 6 * MiB),
  });
  assert.equal(first.status, 204);
  // Swift keeps the part and a marker of the multipart upload as objects of its own.
  assert.ok(swiftDataFiles() > dataFilesBefore, 'the first chunk was stored on Swift\'s disk');

  const multipart = (await s3('list-uploads', BUCKET)).find((upload) => upload.key.endsWith(`/drive/${id}`));
  assert.ok(multipart, `a multipart upload exists for ${id}`);
  assert.deepEqual(await s3('list-parts', BUCKET, multipart.key, multipart.upload_id), [1]);
  // The part's bytes were punched out of the local upload file, which keeps its size.
  const local = fs.statSync(uploadFile(id));
  assert.equal(local.size, 6 * MiB, 'the local upload file keeps its size');
  assert.ok(local.blocks * 512 < MiB, `the local upload file holds ${local.blocks * 512} bytes on disk after its part was sent`);
  return { name, location, id, content, multipart, dataFilesBefore, first };
}

async function assertAborted(upload) {
  assert.deepEqual(await s3('list-parts', BUCKET, upload.multipart.key, upload.multipart.upload_id), { error: 'NoSuchUpload' });
  assert.ok(!(await s3('list-uploads', BUCKET)).some((entry) => entry.upload_id === upload.multipart.upload_id));
  assert.equal(swiftDataFiles(), upload.dataFilesBefore, 'the multipart upload\'s data files were deleted from Swift\'s disk');
  assert.ok(!fs.existsSync(uploadFile(upload.id)), 'the local upload file was removed');
}

before(async () => {
  token = await devToken(process.env.EXPRESSO_ALICE_EMAIL ?? 'alice@demo.expresso.test');
  tenant = JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).tenant_id;
  swiftDirectory = fs.mkdtempSync(path.join(os.tmpdir(), 'expresso-swift-'));
  const port = await freePort();
  const script = path.join(import.meta.dirname, 'lib', 'swift_s3.py');
  swift = spawn('/usr/bin/python3', [script, swiftDirectory, String(port), ACCESS_KEY, SECRET_KEY, REGION], { stdio: ['ignore', 'pipe', 'pipe'] });
  swift.stderr.on('data', (chunk) => { swiftLog += chunk.toString(); });
  await new Promise((resolve, reject) => {
    swift.stdout.once('data', resolve);
    swift.once('exit', (code) => reject(new Error(`Swift exited with ${code}: ${swiftLog.slice(-4000)}`)));
  });
  endpoint = `http://127.0.0.1:${port}`;
  assert.deepEqual(await s3('create-bucket', BUCKET), { status: 200 });
});

after(async () => {
  if (swift && swift.exitCode === null) {
    const exited = new Promise((resolve) => swift.once('exit', resolve));
    swift.kill('SIGTERM');
    await exited;
  }
  if (swiftDirectory) fs.rmSync(swiftDirectory, { recursive: true, force: true });
});

test('termination aborts the S3 multipart upload', { timeout: TEST_TIMEOUT_MS }, async () => {
  const drive = await startSwiftDrive();
  try {
    const upload = await startUpload(drive.base);
    assert.equal((await tusRequest(drive.base, 'DELETE', upload.location)).status, 204);
    await assertAborted(upload);
    const failures = drive.lines.filter((line) => line.includes('"upload_parts_failed"'));
    assert.deepEqual(failures, [], 'no storage call failed');
  } finally {
    await stopDrive(drive);
  }
});

test('expiry aborts the S3 multipart upload', { timeout: TEST_TIMEOUT_MS }, async () => {
  const drive = await startSwiftDrive({ EXPRESSO_DRIVE_UPLOAD_EXPIRY: '5s', EXPRESSO_DRIVE_PURGE_INTERVAL: '1s' });
  try {
    const upload = await startUpload(drive.base);
    // Bounded wait: expiry (5 s) plus two purge intervals (1 s each) plus slack.
    const deadline = Date.now() + 20_000;
    while (fs.existsSync(uploadFile(upload.id)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal((await tusRequest(drive.base, 'HEAD', upload.location)).status, 404);
    await assertAborted(upload);
  } finally {
    await stopDrive(drive);
  }
});

test('multipart age caps upload expiry', { timeout: TEST_TIMEOUT_MS }, async () => {
  const MAX_AGE_MS = 15_000;
  const drive = await startSwiftDrive({ EXPRESSO_DRIVE_S3_MULTIPART_MAX_AGE: `${MAX_AGE_MS / 1000}s`, EXPRESSO_DRIVE_PURGE_INTERVAL: '1s' });
  try {
    const started = Date.now();
    const upload = await startUpload(drive.base);
    // Upload-Expires is an HTTP date, in whole seconds.
    const expires = Date.parse(upload.first.headers.get('upload-expires'));
    assert.ok(expires >= started - 1000, `Upload-Expires ${upload.first.headers.get('upload-expires')} is not in the past`);
    assert.ok(expires <= Date.now() + MAX_AGE_MS,
      `Upload-Expires ${upload.first.headers.get('upload-expires')} is at most ${MAX_AGE_MS} ms after the first part, not a day`);
    // A later chunk does not move the expiry past the multipart upload's deadline.
    const second = await tusRequest(drive.base, 'PATCH', upload.location, {
      headers: { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(6 * MiB) },
      body: upload.content.subarray(6 * MiB, 7 * MiB),
    });
    assert.equal(second.status, 204);
    assert.equal(Date.parse(second.headers.get('upload-expires')), expires);

    // Bounded wait: the deadline plus two purge intervals (1 s each) plus slack.
    const deadline = expires + 10_000;
    while (fs.existsSync(uploadFile(upload.id)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
    const late = await tusRequest(drive.base, 'PATCH', upload.location, {
      headers: { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(7 * MiB) },
      body: upload.content.subarray(7 * MiB),
    });
    assert.equal(late.status, 404, 'the expired upload was purged');
    await assertAborted(upload);
  } finally {
    await stopDrive(drive);
  }
});

test('completion joins the parts and removes the upload file', { timeout: TEST_TIMEOUT_MS }, async () => {
  const drive = await startSwiftDrive();
  try {
    const upload = await startUpload(drive.base);
    const rest = await tusRequest(drive.base, 'PATCH', upload.location, {
      headers: { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(6 * MiB) },
      body: upload.content.subarray(6 * MiB),
    });
    assert.equal(rest.status, 204);
    assert.ok(!fs.existsSync(uploadFile(upload.id)), 'the local upload file was removed');
    // Swift's s3api keeps the parts of a completed upload as the segments of the object, so only the list of uploads shows it ended.
    assert.ok(!(await s3('list-uploads', BUCKET)).some((entry) => entry.upload_id === upload.multipart.upload_id));

    const list = await fetch(`${drive.base}/api/v1/drive/folders/root?limit=1000`, { headers: { Authorization: `Bearer ${token}` } });
    const file = (await list.json()).entries.find((entry) => entry.name === upload.name);
    assert.ok(file, `${upload.name} is listed`);
    const download = await fetch(`${drive.base}/api/v1/drive/files/${file.id}/content`, { headers: { Authorization: `Bearer ${token}` } });
    const bytes = Buffer.from(await download.arrayBuffer());
    assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), crypto.createHash('sha256').update(upload.content).digest('hex'));
  } finally {
    await stopDrive(drive);
  }
});
