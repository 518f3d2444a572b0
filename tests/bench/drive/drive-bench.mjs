// Uploads SIZE bytes to expresso-drive through tus in CHUNK-byte PATCHes,
// downloads the file back, and prints both rates in MB/s (10^6 bytes per
// second) as JSON. Each PATCH is acknowledged only after the daemon has
// fsynced the chunk, and the last one also moves the file into storage.
//
// Usage: node drive-bench.mjs <drive URL> <token> <source file> <chunk bytes>
import fs from 'node:fs';
import crypto from 'node:crypto';

const [driveUrl, token, source, chunkText] = process.argv.slice(2);
const chunkSize = Number(chunkText);
const size = fs.statSync(source).size;
const headers = { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}` };
const name = `bench-${crypto.randomUUID()}.bin`;

async function upload() {
  const created = await fetch(`${driveUrl}/api/v1/drive/uploads`, {
    method: 'POST',
    headers: { ...headers, 'Upload-Length': String(size), 'Upload-Metadata': `filename ${Buffer.from(name).toString('base64')}` },
  });
  if (created.status !== 201) throw new Error(`POST answered ${created.status}`);
  const location = driveUrl + created.headers.get('location');
  const fd = fs.openSync(source, 'r');
  const buffer = Buffer.alloc(chunkSize);
  for (let offset = 0; offset < size; offset += chunkSize) {
    const length = fs.readSync(fd, buffer, 0, Math.min(chunkSize, size - offset), offset);
    const response = await fetch(location, {
      method: 'PATCH',
      headers: { ...headers, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) },
      body: buffer.subarray(0, length),
    });
    await response.arrayBuffer();
    if (response.status !== 204) throw new Error(`PATCH at ${offset} answered ${response.status}`);
  }
  fs.closeSync(fd);
}

async function findFileId() {
  const response = await fetch(`${driveUrl}/api/v1/drive/folders/root?limit=1000`, { headers });
  const entry = (await response.json()).entries.find((e) => e.name === name);
  if (!entry) throw new Error(`${name} is not listed`);
  return entry.id;
}

async function download(id) {
  const response = await fetch(`${driveUrl}/api/v1/drive/files/${id}/content`, { headers });
  if (response.status !== 200) throw new Error(`download answered ${response.status}`);
  let received = 0;
  for await (const part of response.body) received += part.length;
  if (received !== size) throw new Error(`downloaded ${received} bytes of ${size}`);
}

let start = process.hrtime.bigint();
await upload();
const uploadSeconds = Number(process.hrtime.bigint() - start) / 1e9;
const id = await findFileId();
start = process.hrtime.bigint();
await download(id);
const downloadSeconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(JSON.stringify({ upload_mb_s: size / 1e6 / uploadSeconds, download_mb_s: size / 1e6 / downloadSeconds, file_id: id }));
