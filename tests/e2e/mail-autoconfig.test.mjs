// Account set-up without typing server names, against the running stack:
// Thunderbird's autoconfig document (requested both ways Thunderbird tries)
// and the Apple configuration profile. Each document is parsed by a real
// parser (Python's ElementTree and plistlib), and the servers it names are
// then used: IMAP over TLS with the app password, SMTP submission with
// STARTTLS, and CalDAV/CardDAV discovery with HTTP Basic.
//
// The public route to these documents is deploy/proxy/expresso.conf: it is
// run here in Debian's nginx with only the upstream address and the
// listening port changed.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// scripts/dev-token.sh, python3, nginx (Debian package).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';

import { freePort, repoRoot, requireEnv } from './lib/stack.mjs';

const execFileAsync = promisify(execFile);
const host = '127.0.0.1';
const env = {};
const tokens = {};

before(async () => {
  for (const name of ['EXPRESSO_MAIL_API_URL', 'EXPRESSO_CALDAV_URL', 'EXPRESSO_CARDDAV_URL', 'EXPRESSO_IMAPS_PORT',
    'EXPRESSO_IMAP_PORT', 'EXPRESSO_SUBMISSION_PORT', 'EXPRESSO_SUBMISSIONS_PORT', 'EXPRESSO_TLS_CA',
    'EXPRESSO_ALICE_EMAIL', 'EXPRESSO_ALICE_APP_PASSWORD', 'EXPRESSO_CAROL_EMAIL']) {
    env[name] = requireEnv(name);
  }
  for (const user of ['ALICE', 'CAROL']) {
    const { stdout } = await execFileAsync(path.join(repoRoot, 'scripts', 'dev-token.sh'), [env[`EXPRESSO_${user}_EMAIL`]],
      { timeout: 30_000 });
    tokens[user] = stdout.trim();
  }
});

let proxy;
let proxyDir;

after(async () => {
  if (proxy && proxy.exitCode === null) {
    const exited = new Promise((resolve) => proxy.once('exit', resolve));
    proxy.kill('SIGQUIT');
    await exited;
  }
  if (proxyDir) rmSync(proxyDir, { recursive: true, force: true });
});

// GET on expresso-mail's HTTP port (or BASE) with any Host header (fetch does not let a caller set Host).
function get(pathname, { headers = {}, base: baseUrl = env.EXPRESSO_MAIL_API_URL } = {}) {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: base.hostname, port: base.port, path: pathname, headers, timeout: 15_000 },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const json = (response.headers['content-type'] || '').startsWith('application/json') ? JSON.parse(text) : null;
          resolve({ status: response.statusCode, headers: response.headers, text, json });
        });
      });
    request.on('timeout', () => request.destroy(new Error(`GET ${pathname} timed out`)));
    request.on('error', reject);
    request.end();
  });
}

// Parses a clientConfig document the way a client would, into plain JSON.
async function parseClientConfig(xml) {
  const script = `
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
assert root.tag == 'clientConfig'
assert root.get('version') == '1.1'
provider = root.find('emailProvider')
def server(node):
    return {child.tag: child.text for child in node} | {'type': node.get('type')}
print(json.dumps({
    'id': provider.get('id'),
    'domains': [d.text for d in provider.findall('domain')],
    'incoming': [server(s) for s in provider.findall('incomingServer')],
    'outgoing': [server(s) for s in provider.findall('outgoingServer')],
    'caldav': root.find("calendar[@type='caldav']/serverURL").text,
    'carddav': root.find("addressBook[@type='carddav']/serverURL").text,
}))`;
  return JSON.parse(await runPython(script, xml));
}

async function parsePlist(text) {
  const script = `
import json, plistlib, sys
print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))`;
  return JSON.parse(await runPython(script, text));
}

function runPython(script, input) {
  return new Promise((resolve, reject) => {
    const child = execFile('python3', ['-c', script], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`python3 failed: ${stderr}`));
      else resolve(stdout);
    });
    child.stdin.end(input);
  });
}

// Collects the greeting of a line-based server, then the reply to each of COMMANDS.
function talk(socket, commands) {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const replies = [];
    let step = 0;
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer at step ${step}: ${buffer}`)); }, 15_000);
    socket.on('error', (error) => { clearTimeout(timer); reject(error); });
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      const done = step === 0 ? /\r\n$/.test(buffer) : commands[step - 1].done(buffer);
      if (!done) return;
      replies.push(buffer);
      buffer = '';
      if (step === commands.length) {
        clearTimeout(timer);
        socket.end();
        resolve(replies);
        return;
      }
      socket.write(commands[step].line);
      step++;
    });
  });
}

test('autoconfig by address or host', async () => {
  const byAddress = await get(`/mail/config-v1.1.xml?emailaddress=${encodeURIComponent(env.EXPRESSO_ALICE_EMAIL)}`);
  assert.equal(byAddress.status, 200, byAddress.text);
  assert.match(byAddress.headers['content-type'], /^text\/xml/);
  const config = await parseClientConfig(byAddress.text);
  const domain = env.EXPRESSO_ALICE_EMAIL.split('@')[1];
  assert.equal(config.id, domain);
  assert.deepEqual(config.domains, [domain]);
  assert.deepEqual(config.incoming.map((s) => [s.type, s.port, s.socketType]),
    [['imap', env.EXPRESSO_IMAPS_PORT, 'SSL'], ['imap', env.EXPRESSO_IMAP_PORT, 'STARTTLS']]);
  assert.deepEqual(config.outgoing.map((s) => [s.type, s.port, s.socketType]),
    [['smtp', env.EXPRESSO_SUBMISSIONS_PORT, 'SSL'], ['smtp', env.EXPRESSO_SUBMISSION_PORT, 'STARTTLS']]);
  for (const server of [...config.incoming, ...config.outgoing]) {
    assert.equal(server.hostname, 'localhost');
    assert.equal(server.username, '%EMAILADDRESS%');
    assert.equal(server.authentication, 'password-cleartext');
  }
  assert.equal(config.caldav, `${env.EXPRESSO_CALDAV_URL}/`);
  assert.equal(config.carddav, `${env.EXPRESSO_CARDDAV_URL}/`);

  // Thunderbird's first try: http://autoconfig.<domain>/mail/config-v1.1.xml, and the well-known path on the domain.
  const byHost = await get('/mail/config-v1.1.xml', { headers: { Host: `autoconfig.${domain}` } });
  assert.equal(byHost.status, 200, byHost.text);
  assert.equal(byHost.text, byAddress.text);
  const wellKnown = await get('/.well-known/autoconfig/mail/config-v1.1.xml', { headers: { Host: domain.toUpperCase() } });
  assert.equal(wellKnown.status, 200, wellKnown.text);
  assert.equal(wellKnown.text, byAddress.text);

  const acme = await get(`/mail/config-v1.1.xml?emailaddress=${encodeURIComponent(env.EXPRESSO_CAROL_EMAIL)}`);
  assert.equal(acme.status, 200);
  assert.equal((await parseClientConfig(acme.text)).id, env.EXPRESSO_CAROL_EMAIL.split('@')[1]);
});

test('autoconfig rejects unknown domains', async () => {
  const stranger = await get('/mail/config-v1.1.xml?emailaddress=someone%40example.org');
  assert.equal(stranger.status, 404);
  assert.equal(stranger.json.error.code, 'domain_not_found');
  const strangerHost = await get('/.well-known/autoconfig/mail/config-v1.1.xml', { headers: { Host: 'autoconfig.example.org' } });
  assert.equal(strangerHost.status, 404);

  for (const query of ['?emailaddress=nobody', '?emailaddress=a%40localhost', `?emailaddress=${'a'.repeat(250)}%40x.test`]) {
    const bad = await get(`/mail/config-v1.1.xml${query}`);
    assert.equal(bad.status, 400, query);
    assert.ok(['invalid_domain', 'invalid_email'].includes(bad.json.error.code), bad.text);
  }
  const noDomain = await get('/mail/config-v1.1.xml', { headers: { Host: `${host}:8001` } });
  assert.equal(noDomain.status, 400);
  assert.equal(noDomain.json.error.code, 'invalid_domain');
});

test('autoconfig servers accept app password', async () => {
  const { text } = await get(`/mail/config-v1.1.xml?emailaddress=${encodeURIComponent(env.EXPRESSO_ALICE_EMAIL)}`);
  const config = await parseClientConfig(text);
  const ca = readFileSync(env.EXPRESSO_TLS_CA);
  const imaps = config.incoming.find((s) => s.socketType === 'SSL');
  // The certificate is checked against the host name the document gives.
  const imap = tls.connect({ host, port: Number(imaps.port), servername: imaps.hostname, ca });
  const login = `a1 LOGIN "${env.EXPRESSO_ALICE_EMAIL}" "${env.EXPRESSO_ALICE_APP_PASSWORD}"\r\n`;
  const [greeting, loggedIn] = await talk(imap, [
    { line: login, done: (b) => /^a1 /m.test(b) },
    { line: 'a2 LOGOUT\r\n', done: (b) => /^a2 /m.test(b) },
  ]);
  assert.match(greeting, /^\* OK/);
  assert.match(loggedIn, /^a1 OK/m);

  const smtps = config.outgoing.find((s) => s.socketType === 'SSL');
  const auth = Buffer.from(`\0${env.EXPRESSO_ALICE_EMAIL}\0${env.EXPRESSO_ALICE_APP_PASSWORD}`).toString('base64');
  const smtp = tls.connect({ host, port: Number(smtps.port), servername: smtps.hostname, ca });
  const replies = await talk(smtp, [
    { line: 'EHLO autoconfig.test\r\n', done: (b) => /^250 /m.test(b) },
    { line: `AUTH PLAIN ${auth}\r\n`, done: (b) => /^\d{3} /m.test(b) },
    { line: 'QUIT\r\n', done: (b) => /^221 /m.test(b) },
  ]);
  assert.match(replies[2], /^235 /);
});

test('Apple profile for the caller', async () => {
  const response = await get('/api/v1/mail/mobileconfig', { headers: { Authorization: `Bearer ${tokens.ALICE}` } });
  assert.equal(response.status, 200, response.text);
  assert.equal(response.headers['content-type'], 'application/x-apple-aspen-config');
  assert.match(response.headers['content-disposition'], /^attachment; filename="expresso\.mobileconfig"$/);
  assert.equal(response.headers['cache-control'], 'no-store');
  const profile = await parsePlist(response.text);
  assert.equal(profile.PayloadType, 'Configuration');
  const byType = Object.fromEntries(profile.PayloadContent.map((p) => [p.PayloadType, p]));
  assert.deepEqual(Object.keys(byType).sort(), ['com.apple.caldav.account', 'com.apple.carddav.account', 'com.apple.mail.managed']);
  const mail = byType['com.apple.mail.managed'];
  assert.equal(mail.EmailAddress, env.EXPRESSO_ALICE_EMAIL);
  assert.equal(mail.IncomingMailServerUsername, env.EXPRESSO_ALICE_EMAIL);
  assert.equal(mail.IncomingMailServerHostName, 'localhost');
  assert.equal(String(mail.IncomingMailServerPortNumber), env.EXPRESSO_IMAPS_PORT);
  assert.equal(String(mail.OutgoingMailServerPortNumber), env.EXPRESSO_SUBMISSION_PORT);
  assert.equal(mail.IncomingMailServerUseSSL, true);
  assert.ok(!JSON.stringify(profile).includes(env.EXPRESSO_ALICE_APP_PASSWORD), 'no password in the profile');
  const uuids = new Set([profile.PayloadUUID, ...profile.PayloadContent.map((p) => p.PayloadUUID)]);
  assert.equal(uuids.size, 4, 'every payload has its own UUID');

  // The DAV servers named in the profile accept discovery with the app password.
  const basic = `Basic ${Buffer.from(`${env.EXPRESSO_ALICE_EMAIL}:${env.EXPRESSO_ALICE_APP_PASSWORD}`).toString('base64')}`;
  for (const [prefix, kind] of [['CalDAV', 'caldav'], ['CardDAV', 'carddav']]) {
    const payload = byType[`com.apple.${kind}.account`];
    assert.equal(payload[`${prefix}Username`], env.EXPRESSO_ALICE_EMAIL);
    assert.equal(payload[`${prefix}UseSSL`], false);
    const url = `http://${payload[`${prefix}HostName`]}:${payload[`${prefix}Port`]}/.well-known/${kind}`;
    assert.equal(url.replace(`/.well-known/${kind}`, ''), env[`EXPRESSO_${prefix.toUpperCase()}_URL`]);
    const discovery = await fetch(url, { method: 'PROPFIND', redirect: 'manual', headers: { Authorization: basic, Depth: '0' } });
    assert.ok([207, 301, 302, 308].includes(discovery.status), `${url}: ${discovery.status}`);
  }

  const carol = await get('/api/v1/mail/mobileconfig', { headers: { Authorization: `Bearer ${tokens.CAROL}` } });
  assert.equal(carol.status, 200);
  const carolMail = (await parsePlist(carol.text)).PayloadContent.find((p) => p.PayloadType === 'com.apple.mail.managed');
  assert.equal(carolMail.EmailAddress, env.EXPRESSO_CAROL_EMAIL);
  assert.notEqual((await parsePlist(carol.text)).PayloadContent[0].PayloadUUID, profile.PayloadContent[0].PayloadUUID);
});

test('Apple profile needs a token', async () => {
  const anonymous = await get('/api/v1/mail/mobileconfig');
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.json.error.code, 'missing_token');
  const forged = await get('/api/v1/mail/mobileconfig', { headers: { Authorization: `Bearer ${tokens.ALICE}x` } });
  assert.equal(forged.status, 401);
});

// Starts nginx with deploy/proxy/expresso.conf pointed at this stack's expresso-mail; returns its base URL.
async function startProxy() {
  proxyDir = mkdtempSync(path.join(os.tmpdir(), 'expresso-proxy-'));
  const port = await freePort();
  const mail = new URL(env.EXPRESSO_MAIL_API_URL);
  const site = readFileSync(path.join(repoRoot, 'deploy', 'proxy', 'expresso.conf'), 'utf8');
  const rewritten = site.replace('server mail:8001;', `server ${mail.host};`).replace('listen 80;', `listen ${host}:${port};`);
  assert.notEqual(rewritten, site);
  assert.ok(rewritten.includes(`listen ${host}:${port};`));
  assert.ok(rewritten.includes(`server ${mail.host};`));
  writeFileSync(path.join(proxyDir, 'expresso.conf'), rewritten);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `${kind}_temp_path ${proxyDir}/${kind};`).join('\n  ');
  writeFileSync(path.join(proxyDir, 'nginx.conf'), `daemon off;
worker_processes 1;
pid ${proxyDir}/nginx.pid;
error_log ${proxyDir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  ${temp}
  include ${proxyDir}/expresso.conf;
}
`);
  proxy = spawn('nginx', ['-p', proxyDir, '-c', path.join(proxyDir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proxy.stderr.on('data', (chunk) => { stderr += chunk; });
  const base = `http://${host}:${port}`;
  for (let attempt = 0; attempt < 50; attempt++) {
    if (proxy.exitCode !== null) break;
    try {
      await get('/', { base });
      return base;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`nginx did not start: ${stderr}`);
}

test('compose proxy routes set-up documents only', async () => {
  const base = await startProxy();
  const domain = env.EXPRESSO_ALICE_EMAIL.split('@')[1];
  const direct = await get(`/mail/config-v1.1.xml?emailaddress=${encodeURIComponent(env.EXPRESSO_ALICE_EMAIL)}`);
  const byHost = await get('/mail/config-v1.1.xml', { base, headers: { Host: `autoconfig.${domain}` } });
  assert.equal(byHost.status, 200, byHost.text);
  assert.equal(byHost.text, direct.text);
  const wellKnown = await get('/.well-known/autoconfig/mail/config-v1.1.xml', { base, headers: { Host: domain } });
  assert.equal(wellKnown.status, 200, wellKnown.text);
  assert.equal(wellKnown.text, direct.text);

  const profile = await get('/api/v1/mail/mobileconfig', { base, headers: { Authorization: `Bearer ${tokens.ALICE}` } });
  assert.equal(profile.status, 200);
  assert.equal(profile.headers['content-type'], 'application/x-apple-aspen-config');

  for (const internal of ['/api/v1/mail/folders', '/ready', '/metrics', '/mail/', '/.well-known/autoconfig/']) {
    const response = await get(internal, { base, headers: { Authorization: `Bearer ${tokens.ALICE}` } });
    assert.equal(response.status, 404, `${internal} must not be reachable through the proxy`);
  }
});
