// Helpers shared by the end-to-end tests: the stack's endpoints (from the
// environment that scripts/test.sh fills from stack.env) and small process
// and HTTP utilities.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';

export const repoRoot = path.resolve(import.meta.dirname, '../../..');
export const buildDir = process.env.EXPRESSO_BUILD_DIR || path.join(repoRoot, 'build');

export function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run the tests through scripts/test.sh`);
  return value;
}

// Every HTTP daemon the stack started: [{name, url}].
export function daemonUrls() {
  return Object.entries(process.env)
    .filter(([key, value]) => /^EXPRESSO_[A-Z_]+_URL$/.test(key) && value.startsWith('http://127.0.0.1:'))
    .filter(([key]) => !['EXPRESSO_DATABASE_URL', 'EXPRESSO_DATABASE_OWNER_URL', 'EXPRESSO_REDIS_URL', 'EXPRESSO_NATS_URL'].includes(key))
    .map(([key, url]) => ({ name: key.slice('EXPRESSO_'.length, -'_URL'.length).toLowerCase(), url }));
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

// Listeners that a private expresso-mail instance started by a test must
// leave closed, because the stack's own daemon listens on the ports that
// stack.env names. Spread it first in the instance's environment, so that a
// test can still open one of them on a free port.
export const mailListenersOff = { EXPRESSO_IMAP_PORT: '0', EXPRESSO_IMAPS_PORT: '0', EXPRESSO_MANAGESIEVE_PORT: '0' };

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
