// ManageSieve (RFC 5804) against the running stack: Debian's sieve-connect
// as the real client, and a raw socket client for the protocol details
// sieve-connect does not expose (capabilities before and after STARTTLS,
// literals, RENAMESCRIPT, HAVESPACE, NOOP, OAUTHBEARER, errors).
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// and /usr/bin/sieve-connect (Debian package sieve-connect).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import pg from 'pg';

import { sendMessage } from './lib/smtp_client.mjs';
import { buildDir, freePort, mailListenersOff, requireEnv, runToExit, startDaemon, waitForHttp } from './lib/stack.mjs';
import { findAccount, tenantQuery } from './lib/tenant_db.mjs';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const host = '127.0.0.1';
const MAX_SCRIPT = 64 * 1024; // the default of sieve_max_script_size
const SIEVE_CONNECT = '/usr/bin/sieve-connect';
const run = crypto.randomBytes(4).toString('hex');

const env = {};
let owner;
let workDir;
let alice;

// ---- clients --------------------------------------------------------------------

// Runs sieve-connect as ALICE with the app password on file descriptor 3.
function sieveConnect(args, { email = env.EXPRESSO_ALICE_EMAIL, password = env.EXPRESSO_ALICE_APP_PASSWORD } = {}) {
  return new Promise((resolve) => {
    const child = spawn(SIEVE_CONNECT, ['--server', host, '--port', env.EXPRESSO_MANAGESIEVE_PORT, '--user', email,
      '--passwordfd', '3', '--tlscafile', env.EXPRESSO_TLS_CA, '--tlshostname', 'localhost', '--authmech', 'PLAIN',
      ...args], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; });
    child.stderr.on('data', (chunk) => { output += chunk; });
    child.stdio[3].end(`${password}\n`);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, output }); });
  });
}

// A line-based client: response() resolves with the lines up to and including the OK, NO or BYE line.
class RawClient {
  constructor(socket) {
    this.attach(socket);
  }

  attach(socket) {
    this.socket = socket;
    this.buffer = '';
    this.waiters = [];
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => { this.buffer += chunk; this.pump(); });
    socket.on('error', () => {});
  }

  // Connects to PORT on the test host, from LOCAL_ADDRESS when given (another loopback address).
  static connect(port = Number(env.EXPRESSO_MANAGESIEVE_PORT), localAddress = undefined) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, localAddress }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  // Completes a response once a line starts with OK, NO or BYE (literals inside are skipped whole).
  pump() {
    while (this.waiters.length > 0) {
      const lines = [];
      let offset = 0;
      let done = false;
      for (;;) {
        const end = this.buffer.indexOf('\r\n', offset);
        if (end < 0) break;
        let line = this.buffer.slice(offset, end);
        offset = end + 2;
        const literal = /\{(\d+)\}$/.exec(line);
        if (literal) {
          const size = Number(literal[1]);
          if (this.buffer.length < offset + size + 2) break;
          line += `\r\n${this.buffer.slice(offset, offset + size)}`;
          offset += size + 2;
        }
        lines.push(line);
        if (/^(OK|NO|BYE)\b/.test(line)) { done = true; break; }
      }
      if (!done) return;
      this.buffer = this.buffer.slice(offset);
      this.waiters.shift()(lines);
    }
  }

  response() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ManageSieve response within 15 s')), 15_000);
      this.waiters.push((lines) => { clearTimeout(timer); resolve(lines); });
      this.pump();
    });
  }

  async command(text) {
    this.socket.write(`${text}\r\n`);
    return this.response();
  }

  async startTls() {
    const reply = await this.command('STARTTLS');
    assert.match(reply.at(-1), /^OK/);
    const secure = await new Promise((resolve, reject) => {
      const socket = tls.connect({ socket: this.socket, ca: readFileSync(env.EXPRESSO_TLS_CA),
        checkServerIdentity: () => undefined }, () => resolve(socket));
      socket.once('error', reject);
    });
    this.socket.removeAllListeners('data');
    this.attach(secure);
    return this.response(); // the capabilities sent again after the handshake
  }

  close() {
    this.socket.destroy();
  }
}

async function loggedIn(email = env.EXPRESSO_ALICE_EMAIL, password = env.EXPRESSO_ALICE_APP_PASSWORD) {
  const client = await RawClient.connect();
  await client.response();
  await client.startTls();
  const plain = Buffer.from(`\0${email}\0${password}`).toString('base64');
  const reply = await client.command(`AUTHENTICATE "PLAIN" "${plain}"`);
  assert.match(reply.at(-1), /^OK/, reply.join('\n'));
  return client;
}

// Delivers one message to TO over the MX port and returns the reply line to the end of DATA.
async function deliver(to, subject) {
  const content = `From: <someone@example.org>\r\nTo: <${to}>\r\nSubject: ${subject}\r\n\r\nHello.\r\n`;
  const reply = await sendMessage(env.EXPRESSO_SMTP_PORT, { from: 'someone@example.org', to, content, host });
  return reply.text;
}

const literal = (text) => `{${Buffer.byteLength(text)}+}\r\n${text}`;

// ---- setup ----------------------------------------------------------------------

before(async () => {
  for (const name of ['EXPRESSO_MANAGESIEVE_PORT', 'EXPRESSO_TLS_CA', 'EXPRESSO_SMTP_PORT', 'EXPRESSO_DATABASE_OWNER_URL',
    'EXPRESSO_ALICE_EMAIL', 'EXPRESSO_ALICE_APP_PASSWORD', 'EXPRESSO_CAROL_EMAIL', 'EXPRESSO_CAROL_APP_PASSWORD']) {
    env[name] = requireEnv(name);
  }
  assert.ok(existsSync(SIEVE_CONNECT), `${SIEVE_CONNECT} is missing: apt-get install sieve-connect`);
  owner = new pg.Pool({ connectionString: env.EXPRESSO_DATABASE_OWNER_URL, max: 2 });
  workDir = mkdtempSync(path.join(os.tmpdir(), 'expresso-managesieve-'));
  alice = await findAccount(owner, env.EXPRESSO_ALICE_EMAIL);
  // The folder the uploaded rule files into; delivery creates the standard mailboxes.
  await tenantQuery(owner, alice.tenantId,
    "INSERT INTO mailboxes (tenant_id, user_id, name) VALUES ($1, $2, 'Projects') ON CONFLICT DO NOTHING",
    [alice.tenantId, alice.userId]);
});

after(async () => {
  const client = await loggedIn().catch(() => null);
  if (client) {
    await client.command('SETACTIVE ""');
    for (const name of [`mc-${run}`, `renamed-${run}`, `raw-${run}`]) await client.command(`DELETESCRIPT "${name}"`);
    await client.command('LOGOUT');
    client.close();
  }
  await owner?.end();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

// ---- sieve-connect --------------------------------------------------------------

test('sieve-connect uploads, checks, activates and lists', async () => {
  const good = path.join(workDir, 'good.siv');
  writeFileSync(good, 'require "fileinto";\nif header :contains "subject" "[mc]" {\n  fileinto "Projects";\n}\n');
  const bad = path.join(workDir, 'bad.siv');
  writeFileSync(bad, 'if true {\n  keep\n}\n');

  const check = await sieveConnect(['--localsieve', bad, '--checkscript']);
  assert.notEqual(check.code, 0);
  assert.match(check.output, /line 3: syntax error/);
  assert.equal((await sieveConnect(['--localsieve', good, '--checkscript'])).code, 0);

  const upload = await sieveConnect(['--localsieve', good, '--remotesieve', `mc-${run}`, '--upload']);
  assert.equal(upload.code, 0, upload.output);
  const activate = await sieveConnect(['--remotesieve', `mc-${run}`, '--activate']);
  assert.equal(activate.code, 0, activate.output);
  const list = await sieveConnect(['--list']);
  assert.equal(list.code, 0, list.output);
  assert.match(list.output, new RegExp(`"mc-${run}" ACTIVE`));

  const copy = path.join(workDir, 'copy.siv');
  const download = await sieveConnect(['--remotesieve', `mc-${run}`, '--localsieve', copy, '--download']);
  assert.equal(download.code, 0, download.output);
  assert.equal(readFileSync(copy, 'utf8'), readFileSync(good, 'utf8'));

  // The uploaded rule files a message delivered over SMTP.
  const subject = `[mc] uploaded rule ${run}`;
  const reply = await deliver(env.EXPRESSO_ALICE_EMAIL, subject);
  assert.match(reply, /^250 /);
  const rows = await tenantQuery(owner, alice.tenantId,
    `SELECT b.name FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.user_id = $1 AND m.subject = $2`,
    [alice.userId, subject]);
  assert.deepEqual(rows.map((row) => row.name), ['Projects']);

  const deleteActive = await sieveConnect(['--remotesieve', `mc-${run}`, '--delete']);
  assert.notEqual(deleteActive.code, 0);
  assert.match(deleteActive.output, /\(ACTIVE\)/);
});

test('sieve-connect with a wrong password fails', async () => {
  const result = await sieveConnect(['--list'], { password: 'wrong-password' });
  assert.notEqual(result.code, 0);
});

// ---- protocol details -----------------------------------------------------------

test('capabilities before and after STARTTLS', async () => {
  const client = await RawClient.connect();
  try {
    const greeting = await client.response();
    assert.ok(greeting.includes('"STARTTLS"'), greeting.join('\n'));
    assert.ok(greeting.includes('"SASL" ""'), 'no mechanism before TLS');
    assert.ok(greeting.includes('"VERSION" "1.0"'));
    assert.ok(greeting.some((line) => /^"SIEVE" ".*fileinto.*"$/.test(line)));

    const early = await client.command(`AUTHENTICATE "PLAIN" "${Buffer.from('\0a\0b').toString('base64')}"`);
    assert.match(early.at(-1), /^NO \(ENCRYPT-NEEDED\)/);

    const after = await client.startTls();
    assert.ok(!after.includes('"STARTTLS"'));
    assert.ok(after.some((line) => /^"SASL" "PLAIN( OAUTHBEARER)?"$/.test(line)), after.join('\n'));
    assert.match((await client.command('LISTSCRIPTS')).at(-1), /^NO/, 'commands need authentication');
  } finally {
    client.close();
  }
});

test('literals, rename, havespace and noop', async () => {
  const client = await loggedIn();
  try {
    const script = 'require "fileinto";\r\nfileinto "Projects";\r\n';
    assert.match((await client.command(`PUTSCRIPT "raw-${run}" ${literal(script)}`)).at(-1), /^OK/);
    const got = await client.command(`GETSCRIPT "raw-${run}"`);
    assert.equal(got[0], `{${Buffer.byteLength(script)}}\r\n${script}`);
    assert.match(got.at(-1), /^OK/);

    assert.match((await client.command(`RENAMESCRIPT "raw-${run}" "renamed-${run}"`)).at(-1), /^OK/);
    assert.match((await client.command(`GETSCRIPT "raw-${run}"`)).at(-1), /^NO \(NONEXISTENT\)/);
    await client.command(`PUTSCRIPT "raw-${run}" "keep;"`);
    assert.match((await client.command(`RENAMESCRIPT "raw-${run}" "renamed-${run}"`)).at(-1), /^NO \(ALREADYEXISTS\)/);

    assert.match((await client.command(`HAVESPACE "x" ${MAX_SCRIPT}`)).at(-1), /^OK/);
    assert.match((await client.command(`HAVESPACE "x" ${MAX_SCRIPT + 1}`)).at(-1), /^NO \(QUOTA\/MAXSIZE\)/);
    const tooLarge = `#${'x'.repeat(MAX_SCRIPT)}`;
    assert.match((await client.command(`PUTSCRIPT "raw-${run}" ${literal(tooLarge)}`)).at(-1), /^NO \(QUOTA\/MAXSIZE\)/);

    assert.deepEqual(await client.command('NOOP "t1"'), ['OK (TAG "t1") "done"']);
    assert.match((await client.command('FROBNICATE')).at(-1), /^NO "unknown command"/);
    assert.match((await client.command('PUTSCRIPT "unterminated')).at(-1), /^NO "invalid command/);
    assert.match((await client.command('LOGOUT')).at(-1), /^OK/);
  } finally {
    client.close();
  }
});

test('delivery error shown by GETSCRIPT', async () => {
  const client = await loggedIn();
  try {
    await client.command(`PUTSCRIPT "raw-${run}" "keep;"`);
    await tenantQuery(owner, alice.tenantId,
      "UPDATE sieve_scripts SET last_error = 'fileinto: mailbox \"X\" does not exist' WHERE user_id = $1 AND name = $2",
      [alice.userId, `raw-${run}`]);
    const got = await client.command(`GETSCRIPT "raw-${run}"`);
    assert.match(got.at(-1), /^OK \(WARNINGS\) "last delivery error: fileinto: mailbox \\"X\\" does not exist"$/);
  } finally {
    client.close();
  }
});

test('OAUTHBEARER with an access token', async () => {
  const { stdout } = await promisify(execFile)(path.join(repoRoot, 'scripts', 'dev-token.sh'),
    [env.EXPRESSO_ALICE_EMAIL], { timeout: 30_000 });
  const token = stdout.trim();
  const client = await RawClient.connect();
  try {
    await client.response();
    const capabilities = await client.startTls();
    if (!capabilities.includes('"SASL" "PLAIN OAUTHBEARER"')) {
      assert.fail('OAUTHBEARER is not offered although the stack sets EXPRESSO_OIDC_ISSUER');
    }
    const message = Buffer.from(`n,a=${env.EXPRESSO_ALICE_EMAIL},\x01auth=Bearer ${token}\x01\x01`).toString('base64');
    // Without an initial response: the server sends an empty challenge and the client answers with a literal.
    client.socket.write('AUTHENTICATE "OAUTHBEARER"\r\n');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const reply = await client.command(literal(message));
    assert.ok(reply[0].startsWith('""'), `empty challenge expected, got ${reply[0]}`);
    assert.match(reply.at(-1), /^OK/, reply.join('\n'));
    assert.match((await client.command('LISTSCRIPTS')).at(-1), /^OK/);
  } finally {
    client.close();
  }
});

test('scripts are isolated between tenants', async () => {
  const alice = await loggedIn();
  await alice.command(`PUTSCRIPT "raw-${run}" "keep;"`);
  alice.close();
  const carol = await loggedIn(env.EXPRESSO_CAROL_EMAIL, env.EXPRESSO_CAROL_APP_PASSWORD);
  try {
    const list = await carol.command('LISTSCRIPTS');
    assert.ok(!list.some((line) => line.includes(`raw-${run}`)), list.join('\n'));
    assert.match((await carol.command(`GETSCRIPT "raw-${run}"`)).at(-1), /^NO \(NONEXISTENT\)/);
    assert.match((await carol.command(`DELETESCRIPT "raw-${run}"`)).at(-1), /^NO \(NONEXISTENT\)/);
  } finally {
    carol.close();
  }
});

// ---- connection limit and stop ---------------------------------------------------

// The environment of a private instance with only its ManageSieve listener, on PORTS.
function privateInstanceEnv(ports, extra) {
  const stateDir = requireEnv('EXPRESSO_STATE_DIR');
  return {
    ...mailListenersOff,
    EXPRESSO_HTTP_ADDRESS: host,
    EXPRESSO_HTTP_PORT: String(ports.http),
    EXPRESSO_SMTP_PORT: '0',
    EXPRESSO_SUBMISSION_PORT: '0',
    EXPRESSO_SUBMISSIONS_PORT: '0',
    EXPRESSO_MANAGESIEVE_PORT: String(ports.managesieve),
    EXPRESSO_STORAGE_DIR: path.join(stateDir, 'storage'),
    EXPRESSO_TLS_CERT: path.join(stateDir, 'tls', 'server.pem'),
    EXPRESSO_TLS_KEY: path.join(stateDir, 'tls', 'server.key'),
    ...extra,
  };
}

const mailBinary = path.join(buildDir, 'services', 'mail', 'expresso-mail');

// Opens two sessions on PORT, which must be greeted, and pushes them to CLIENTS.
// A third session must then get BYE (TRYLATER), so the limit under test is 2.
async function fillToLimit(port, clients) {
  for (let i = 0; i < 2; i++) {
    const client = await RawClient.connect(port);
    clients.push(client);
    assert.match((await client.response()).at(-1), /^OK/, 'a session at the limit is greeted');
  }
  const extra = await RawClient.connect(port);
  assert.deepEqual(await extra.response(), ['BYE (TRYLATER) "too many connections; try again later"']);
  extra.close();
}

test('connection limit and stop with sessions open', { timeout: 60_000 }, async () => {
  // A private instance that takes two sessions at most, with its SMTP and IMAP listeners off.
  const ports = { http: await freePort(), managesieve: await freePort() };
  const daemon = startDaemon(mailBinary, privateInstanceEnv(ports, { EXPRESSO_MANAGESIEVE_MAX_CONNECTIONS: '2' }));
  const clients = [];
  try {
    await waitForHttp(`http://${host}:${ports.http}/ready`, { timeoutMs: 20_000 });
    await fillToLimit(ports.managesieve, clients);

    // A closed session makes room for the next one.
    clients.shift().close();
    let admitted = null;
    for (let attempt = 0; attempt < 20 && admitted === null; attempt++) {
      const client = await RawClient.connect(ports.managesieve);
      const greeting = await client.response();
      if (/^OK/.test(greeting.at(-1))) admitted = client;
      else client.close();
      if (admitted === null) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(admitted, 'a session is admitted after another one closed');
    clients.push(admitted);

    // SIGTERM with two sessions open: the daemon ends them and exits.
    const closed = clients.map((client) => new Promise((resolve) => client.socket.once('close', resolve)));
    const stopped = Date.now();
    daemon.child.kill('SIGTERM');
    await daemon.exited;
    await Promise.all(closed);
    assert.ok(Date.now() - stopped < 15_000, `the daemon took ${Date.now() - stopped} ms to stop`);
  } finally {
    for (const client of clients) client.close();
    daemon.child.kill('SIGKILL');
    await daemon.exited;
  }
});

test('connections per client address at the limit and one past', { timeout: 60_000 }, async () => {
  for (const value of ['0', '100001']) {
    const result = await runToExit(mailBinary, [], privateInstanceEnv({ http: await freePort(), managesieve: await freePort() },
      { EXPRESSO_MANAGESIEVE_MAX_CONNECTIONS_PER_ADDRESS: value }));
    assert.notEqual(result.code, 0, `${value} is rejected`);
    assert.match(result.stderr, /EXPRESSO_MANAGESIEVE_MAX_CONNECTIONS_PER_ADDRESS/);
  }

  const ports = { http: await freePort(), managesieve: await freePort() };
  const daemon = startDaemon(mailBinary, privateInstanceEnv(ports, { EXPRESSO_MANAGESIEVE_MAX_CONNECTIONS: '10',
    EXPRESSO_MANAGESIEVE_MAX_CONNECTIONS_PER_ADDRESS: '2' }));
  const clients = [];
  try {
    await waitForHttp(`http://${host}:${ports.http}/ready`, { timeoutMs: 20_000 });
    await fillToLimit(ports.managesieve, clients);

    // Another client address still gets in.
    const other = await RawClient.connect(ports.managesieve, '127.0.0.2');
    clients.push(other);
    assert.match((await other.response()).at(-1), /^OK/, 'another address is greeted');
  } finally {
    for (const client of clients) client.close();
    daemon.child.kill('SIGKILL');
    await daemon.exited;
  }
});
