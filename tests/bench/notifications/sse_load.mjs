// Load benchmark of expresso-notifications: starts two replicas beside the
// local stack, keeps CLIENTS concurrent SSE connections open over both,
// publishes RATE mail.delivered events per second into JetStream for
// DURATION seconds, and prints the delivery latency (publish to receipt,
// p50 and p99) and each replica's resident memory per connection
// (VmRSS from /proc/<pid>/status before and after connecting).
//
// Run it through run.sh, which raises the descriptor limit and loads
// stack.env. Options (environment): BENCH_CLIENTS (5000), BENCH_RATE (100
// events per second), BENCH_DURATION (60 seconds), BENCH_USERS (half the
// clients, so every user holds one stream on each replica),
// BENCH_CONNECT_CONCURRENCY (200 connections opening at a time).

import { spawn } from 'node:child_process';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect as connectTcp } from 'node:net';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// The nats client is installed with the end-to-end tests' packages.
const { connect: connectNats } = createRequire(resolve(REPO_ROOT, 'tests', 'e2e', 'package.json'))('nats');

const env = process.env;
const CLIENTS = Number(env.BENCH_CLIENTS ?? 5000);
const RATE = Number(env.BENCH_RATE ?? 100);
const DURATION_S = Number(env.BENCH_DURATION ?? 60);
const USERS = Number(env.BENCH_USERS ?? Math.ceil(CLIENTS / 2));
const CONNECT_CONCURRENCY = Number(env.BENCH_CONNECT_CONCURRENCY ?? 200);
// How long to wait for the last deliveries after the last publish.
const DRAIN_MS = 5000;
const STREAM_PATH = '/api/v1/notifications/stream';
const BUILD_DIR = env.EXPRESSO_BUILD_DIR || resolve(REPO_ROOT, 'build');
const BINARY = resolve(BUILD_DIR, 'services', 'notifications', 'expresso-notifications');

function requireEnv(name) {
  if (!env[name]) throw new Error(`${name} is not set; source .local/dev/stack.env or run run.sh`);
  return env[name];
}

function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

// ---- replicas ----

function residentKilobytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]);
}

async function waitForReady(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/ready`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url}/ready did not answer 200 within ${timeoutMs} ms`);
}

async function startReplica(port, logFile) {
  const perReplica = Math.ceil(CLIENTS / 2);
  const child = spawn(BINARY, [], {
    env: {
      ...env,
      EXPRESSO_HTTP_ADDRESS: '127.0.0.1',
      EXPRESSO_HTTP_PORT: String(port),
      // Room for the streams plus the requests that read /ready and /metrics.
      EXPRESSO_HTTP_MAX_CONNECTIONS: String(perReplica + 64),
      EXPRESSO_NOTIFICATIONS_MAX_STREAMS: String(perReplica + 16),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.pipe(createWriteStream(logFile));
  const exited = new Promise((done) => child.on('exit', (code, signal) => done({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  await Promise.race([waitForReady(url, 30_000), exited.then((result) => {
    throw new Error(`replica on port ${port} exited (${JSON.stringify(result)}); see ${logFile}`);
  })]);
  return { child, exited, port, url, logFile, pid: child.pid };
}

async function stopReplica(replica) {
  replica.child.kill('SIGTERM');
  const result = await Promise.race([replica.exited, sleep(20_000).then(() => null)]);
  if (result !== null) return result;
  replica.child.kill('SIGKILL');
  return replica.exited;
}

// ---- tokens: signed with the development provider's key, one per synthetic user ----

function tokenSigner() {
  const [jwk] = JSON.parse(readFileSync(`${requireEnv('EXPRESSO_STATE_DIR')}/oidc/jwks.json`, 'utf8')).keys;
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const header = encode({ alg: 'RS256', typ: 'JWT', kid: jwk.kid });
  return (userId, tenantId) => {
    const now = Math.floor(Date.now() / 1000);
    const payload = encode({
      iss: requireEnv('EXPRESSO_OIDC_ISSUER'), sub: userId, aud: 'expresso', azp: 'expresso-dev', iat: now,
      exp: now + 3600, tenant_id: tenantId,
    });
    const signature = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), key);
    return `${header}.${payload}.${signature.toString('base64url')}`;
  };
}

// ---- one SSE connection on a raw socket ----

// Decodes HTTP/1.1 chunked framing and calls onText with the body text.
class ChunkedDecoder {
  constructor(onText) {
    this.onText = onText;
    this.pending = '';
    this.remaining = 0; // bytes left in the current chunk
  }

  push(text) {
    this.pending += text;
    for (;;) {
      if (this.remaining > 0) {
        const part = this.pending.slice(0, this.remaining);
        this.pending = this.pending.slice(part.length);
        this.remaining -= part.length;
        if (part.length > 0) this.onText(part);
        if (this.remaining > 0) return;
        continue;
      }
      // Between chunks: "\r\n" after the previous chunk, then "<hex size>\r\n".
      const match = /^(?:\r\n)?([0-9a-fA-F]+)[^\r\n]*\r\n/.exec(this.pending);
      if (match === null) return;
      this.pending = this.pending.slice(match[0].length);
      this.remaining = parseInt(match[1], 16);
      if (this.remaining === 0) return;
    }
  }
}

// Bytes of the event frames are ASCII, so counting characters counts bytes.
const EVENT_ID_PATTERN = /"event_id":"bench-(\d+)"/g;

class StreamConnection {
  constructor(replica, token, onEvent) {
    this.replica = replica;
    this.token = token;
    this.onEvent = onEvent;
    this.head = '';
    this.body = '';
    this.status = 0;
    this.connected = false;
    this.closed = false;
  }

  open() {
    return new Promise((opened, failed) => {
      const socket = connectTcp(this.replica.port, '127.0.0.1');
      this.socket = socket;
      socket.setEncoding('latin1');
      socket.setNoDelay(true);
      const decoder = new ChunkedDecoder((text) => this.receive(text));
      socket.on('connect', () => {
        socket.write(`GET ${STREAM_PATH} HTTP/1.1\r\nHost: 127.0.0.1:${this.replica.port}\r\n`
          + `Authorization: Bearer ${this.token}\r\nAccept: text/event-stream\r\n\r\n`);
      });
      socket.on('data', (chunk) => {
        if (this.status === 0) {
          this.head += chunk;
          const end = this.head.indexOf('\r\n\r\n');
          if (end < 0) return;
          this.status = Number(this.head.slice(9, 12));
          const rest = this.head.slice(end + 4);
          if (this.status !== 200) {
            failed(new Error(`stream answered ${this.status} on port ${this.replica.port}: ${rest.slice(0, 300)}`));
            socket.destroy();
            return;
          }
          chunk = rest;
        }
        decoder.push(chunk);
        if (!this.connected && this.body.includes(': connected')) {
          this.connected = true;
          opened();
        }
      });
      socket.on('error', (error) => {
        if (!this.connected) failed(error);
      });
      socket.on('close', () => {
        this.closed = true;
        if (!this.connected) failed(new Error(`stream on port ${this.replica.port} closed before its preamble`));
      });
    });
  }

  receive(text) {
    const now = performance.now();
    this.body += text;
    let match;
    let consumed = 0;
    EVENT_ID_PATTERN.lastIndex = 0;
    while ((match = EVENT_ID_PATTERN.exec(this.body)) !== null) {
      this.onEvent(Number(match[1]), now);
      consumed = EVENT_ID_PATTERN.lastIndex;
    }
    // Keep only a tail that may hold the start of an id split across reads.
    this.body = this.body.slice(Math.max(consumed, this.body.length - 64));
  }

  close() {
    this.socket?.destroy();
  }
}

// Opens every planned stream, CONNECT_CONCURRENCY at a time. Each
// connection goes into CONNECTIONS before it opens, so the caller can
// close all of them even when one fails.
async function openAll(plans, connections) {
  let next = 0;
  let failed = false;
  async function worker() {
    while (next < plans.length && !failed) {
      const plan = plans[next++];
      const connection = new StreamConnection(plan.replica, plan.token, plan.onEvent);
      connections.push(connection);
      try {
        await connection.open();
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  }
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
}

// ---- statistics ----

function percentile(sorted, fraction) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)];
}

function format(ms) {
  return `${ms.toFixed(1)} ms`;
}

// ---- the run ----

async function main() {
  const offset = Number(env.EXPRESSO_PORT_OFFSET ?? 0);
  const stateDir = requireEnv('EXPRESSO_STATE_DIR');
  const tenantId = JSON.parse(readFileSync(`${stateDir}/accounts.json`, 'utf8'))
    .tenants.find((tenant) => tenant.slug === 'demo').id;
  const runId = randomUUID().slice(0, 8);

  console.log(`expresso-notifications benchmark: ${CLIENTS} clients, ${USERS} users, ${RATE} events/s `
    + `for ${DURATION_S} s, binary ${BINARY}`);
  const replicas = [
    await startReplica(8026 + offset, `${stateDir}/logs/bench-notifications-a.log`),
    await startReplica(8027 + offset, `${stateDir}/logs/bench-notifications-b.log`),
  ];
  const connections = [];
  let nats;
  try {
    await sleep(500);
    const rssBefore = replicas.map((replica) => residentKilobytes(replica.pid));

    // Publish time of each event by sequence number, and its deliveries.
    const sentAt = new Map();
    const latencies = [];
    let unexpected = 0;
    const onEvent = (sequence, receivedAt) => {
      const sent = sentAt.get(sequence);
      if (sent === undefined) unexpected += 1;
      else latencies.push(receivedAt - sent);
    };

    const sign = tokenSigner();
    const userIds = Array.from({ length: USERS }, (_, index) => `bench-${runId}-${index}`);
    const tokens = userIds.map((userId) => sign(userId, tenantId));
    // Client i belongs to user i % USERS and alternates replicas, so with
    // USERS = CLIENTS / 2 every user has one stream on each replica.
    const plans = Array.from({ length: CLIENTS }, (_, index) => ({
      replica: replicas[index % 2], token: tokens[Math.floor(index / 2) % USERS], onEvent,
    }));
    const streamsPerUser = new Array(USERS).fill(0);
    plans.forEach((_, index) => { streamsPerUser[Math.floor(index / 2) % USERS] += 1; });

    const connectStart = performance.now();
    await openAll(plans, connections);
    const connectSeconds = (performance.now() - connectStart) / 1000;
    console.log(`connected ${connections.length} streams in ${connectSeconds.toFixed(1)} s`);
    await sleep(2000);
    const rssConnected = replicas.map((replica) => residentKilobytes(replica.pid));

    nats = await connectNats({ servers: requireEnv('EXPRESSO_NATS_URL').replace(/^nats:\/\//, '') });
    const jetstream = nats.jetstream();
    const subject = `expresso.${tenantId}.mail.delivered`;
    const total = RATE * DURATION_S;
    let expected = 0;
    let publishFailures = 0;
    const publishes = [];
    const start = performance.now();
    for (let sequence = 0; sequence < total; sequence++) {
      // Pace by the schedule, not by the previous publish, so slow acks do not lower the rate.
      const due = start + (sequence * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const userIndex = sequence % USERS;
      const event = {
        id: `bench-${sequence}`, tenant: tenantId, user: userIds[userIndex], type: 'mail.delivered',
        time: new Date().toISOString(), mailbox_id: 'INBOX', message_id: randomUUID(), uid: sequence + 1,
        summary: { from: 'Bob <bob@demo.expresso.test>', subject: `Benchmark message ${sequence}` },
      };
      expected += streamsPerUser[userIndex];
      sentAt.set(sequence, performance.now());
      publishes.push(jetstream.publish(subject, JSON.stringify(event), { msgID: `${runId}-${sequence}` })
        .catch(() => { publishFailures += 1; }));
    }
    const publishSeconds = (performance.now() - start) / 1000;
    await Promise.all(publishes);
    const drainDeadline = Date.now() + DRAIN_MS;
    while (latencies.length < expected && Date.now() < drainDeadline) await sleep(100);
    const rssEnd = replicas.map((replica) => residentKilobytes(replica.pid));

    const sorted = Float64Array.from(latencies).sort();
    const closedEarly = connections.filter((connection) => connection.closed).length;
    console.log(`published ${total} events in ${publishSeconds.toFixed(1)} s (${publishFailures} failed)`);
    console.log(`deliveries: ${latencies.length} of ${expected} expected, ${unexpected} unexpected, `
      + `${closedEarly} streams closed early`);
    console.log(`latency publish to receipt: p50 ${format(percentile(sorted, 0.5))}, `
      + `p90 ${format(percentile(sorted, 0.9))}, p99 ${format(percentile(sorted, 0.99))}, `
      + `max ${format(sorted.at(-1) ?? NaN)}`);
    replicas.forEach((replica, index) => {
      const streams = connections.filter((connection) => connection.replica === replica).length;
      const perConnection = ((rssConnected[index] - rssBefore[index]) * 1024) / streams;
      const perConnectionEnd = ((rssEnd[index] - rssBefore[index]) * 1024) / streams;
      console.log(`replica ${replica.port}: ${streams} streams, VmRSS ${rssBefore[index]} kB before, `
        + `${rssConnected[index]} kB connected, ${rssEnd[index]} kB after the run; `
        + `${(perConnection / 1024).toFixed(1)} KB per connection connected, `
        + `${(perConnectionEnd / 1024).toFixed(1)} KB after the run`);
    });

    const p99 = percentile(sorted, 0.99);
    const worstKb = Math.max(...replicas.map((replica, index) => {
      const streams = connections.filter((connection) => connection.replica === replica).length;
      return (rssEnd[index] - rssBefore[index]) / streams;
    }));
    const complete = latencies.length === expected && publishFailures === 0 && closedEarly === 0;
    const met = complete && p99 < 100 && worstKb < 20;
    console.log(`target (every delivery, p99 < 100 ms, < 20 KB per connection): ${met ? 'met' : 'MISSED'}`);
    process.exitCode = met ? 0 : 1;
  } finally {
    for (const connection of connections) connection.close();
    await nats?.close();
    const results = await Promise.all(replicas.map(stopReplica));
    results.forEach((result, index) => {
      if (result.code !== 0) console.log(`replica ${replicas[index].port} exited with ${JSON.stringify(result)}`);
    });
  }
}

await main();
