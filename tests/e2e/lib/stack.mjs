// Helpers shared by the end-to-end tests: the stack's endpoints (from the
// environment that scripts/test.sh fills from stack.env), small process,
// HTTP and polling utilities, and the environment of a private expresso-mail.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

export const repoRoot = path.resolve(import.meta.dirname, '../../..');
export const buildDir = process.env.EXPRESSO_BUILD_DIR || path.join(repoRoot, 'build');

export function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run the tests through scripts/test.sh`);
  return value;
}

// Returns an object with the value of each variable in NAMES. Throws at the first one that is not set.
export function requireEnvs(names) {
  return Object.fromEntries(names.map((name) => [name, requireEnv(name)]));
}

// Fails the test when BINARY (a path under buildDir) was not built.
export function requireBuilt(binary) {
  assert.ok(existsSync(binary), `${binary} is missing: build the tree or set EXPRESSO_BUILD_DIR`);
}

// Every HTTP daemon the stack started: [{name, url}].
export function daemonUrls() {
  return Object.entries(process.env)
    .filter(([key, value]) => /^EXPRESSO_[A-Z_]+_URL$/.test(key) && value.startsWith('http://127.0.0.1:'))
    .filter(([key]) => !['EXPRESSO_DATABASE_URL', 'EXPRESSO_DATABASE_OWNER_URL', 'EXPRESSO_REDIS_URL', 'EXPRESSO_NATS_URL'].includes(key))
    .map(([key, url]) => ({ name: key.slice('EXPRESSO_'.length, -'_URL'.length).toLowerCase(), url }));
}

// Returns the lowest port the kernel gives to outgoing connections. freePort stays below it.
function ephemeralLow() {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

const portSpan = 10000;
const portsGiven = new Set();

function portFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

// Returns a free loopback port for a daemon a test starts, below the ephemeral range. A port
// the kernel picked could become the local end of an outgoing connection before the
// daemon binds it, which made a test fail with EADDRINUSE.
export async function freePort() {
  const top = ephemeralLow();
  const bottom = Math.max(1024, top - portSpan);
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = bottom + Math.floor(Math.random() * (top - bottom));
    if (portsGiven.has(port) || !(await portFree(port))) continue;
    portsGiven.add(port);
    return port;
  }
  throw new Error(`no free loopback port between ${bottom} and ${top - 1}`);
}

// Listeners that a private expresso-mail instance started by a test must
// leave closed, because the stack's own daemon listens on the ports that
// stack.env names. Spread it first in the instance's environment, so that a
// test can still open one of them on a free port.
export const mailListenersOff = { EXPRESSO_IMAP_PORT: '0', EXPRESSO_IMAPS_PORT: '0', EXPRESSO_MANAGESIEVE_PORT: '0' };

// Free loopback ports for the HTTP, SMTP, submission and submissions listeners of a private expresso-mail.
export async function freeMailPorts() {
  return { http: await freePort(), smtp: await freePort(), submission: await freePort(), submissions: await freePort() };
}

// The environment of a private expresso-mail that listens on PORTS (from freeMailPorts),
// uses the stack's TLS certificate and storage under STATE_DIR, and names itself mx.test.invalid.
export function mailInstanceEnv(stateDir, ports) {
  return {
    ...mailListenersOff,
    EXPRESSO_HTTP_ADDRESS: '127.0.0.1',
    EXPRESSO_HTTP_PORT: String(ports.http),
    EXPRESSO_SMTP_PORT: String(ports.smtp),
    EXPRESSO_SUBMISSION_PORT: String(ports.submission),
    EXPRESSO_SUBMISSIONS_PORT: String(ports.submissions),
    EXPRESSO_TLS_CERT: path.join(stateDir, 'tls', 'server.pem'),
    EXPRESSO_TLS_KEY: path.join(stateDir, 'tls', 'server.key'),
    EXPRESSO_STORAGE_DIR: path.join(stateDir, 'storage'),
    EXPRESSO_SMTP_HOSTNAME: 'mx.test.invalid',
  };
}

// Starts a daemon binary with extra environment; collects its stderr lines.
export function startDaemon(binary, env) {
  const child = spawn(binary, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let partial = '';
  child.stderr.on('data', (chunk) => {
    partial += chunk.toString();
    const parts = partial.split('\n');
    partial = parts.pop();
    lines.push(...parts);
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, lines, exited };
}

export async function waitForHttp(url, { status = 200, timeoutMs = 15000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.status === status) return response;
      last = `status ${response.status}`;
    } catch (error) {
      last = error.message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (${last})`);
}

// Waits until the /ready URL of DAEMON (from startDaemon) returns 200. On a
// timeout it kills the daemon and throws with the last lines of its output.
export async function waitForDaemon(daemon, url, timeoutMs = 20_000) {
  try {
    await waitForHttp(url, { timeoutMs });
  } catch (error) {
    daemon.child.kill('SIGKILL');
    throw new Error(`${error.message}; daemon output:\n${daemon.lines.slice(-10).join('\n')}`);
  }
}

// Calls PROBE every INTERVAL_MS until it returns a truthy value, and returns that value.
// Throws when TIMEOUT_MS pass first; DESCRIPTION names what was awaited in the error.
export async function waitFor(description, probe, timeoutMs = 30_000, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

// Starts a Python helper script (such as smtp_remote.py or lib/dns_server.py) that prints "ready"
// and then one JSON event per line. The events collect in helper.events.
export function startPythonHelper(script, args) {
  const child = spawn('/usr/bin/python3', [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const helper = { child, events: [], stderr: '', listeners: [] };
  let partial = '';
  child.stdout.on('data', (chunk) => {
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop();
    for (const line of lines) {
      helper.events.push(line === 'ready' ? { event: 'ready' } : JSON.parse(line));
      for (const listener of helper.listeners) listener();
    }
  });
  child.stderr.on('data', (chunk) => { helper.stderr += chunk.toString(); });
  helper.exited = new Promise((resolve) => child.on('exit', resolve));
  return helper;
}

// Waits until HELPER has logged an event matching PREDICATE.
export function helperEvent(helper, predicate, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = helper.events.find(predicate);
      if (found === undefined) return false;
      clearTimeout(timer);
      helper.listeners = helper.listeners.filter((listener) => listener !== check);
      resolve(found);
      return true;
    };
    const timer = setTimeout(() => {
      helper.listeners = helper.listeners.filter((listener) => listener !== check);
      reject(new Error(`no matching event within ${timeoutMs} ms; stderr: ${helper.stderr}`));
    }, timeoutMs);
    if (!check()) helper.listeners.push(check);
  });
}

// Returns an access token for EMAIL from the development OIDC provider (scripts/dev-token.sh).
export async function devToken(email) {
  const script = path.join(repoRoot, 'scripts', 'dev-token.sh');
  const { stdout } = await promisify(execFile)(script, [email], { timeout: 30_000 });
  return stdout.trim();
}

export function runToExit(binary, args, env) {
  return new Promise((resolve) => {
    const child = spawn(binary, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
