// COMPRESS=DEFLATE (RFC 4978) on expresso-mail's IMAP side, against the
// running stack over implicit TLS: Python's imaplib with the socket wrapped
// in zlib raw deflate by the test, and imapflow, which sends COMPRESS by
// itself when the server offers it. mbsync is not used because isync 1.4
// (Debian 12) has no COMPRESS support.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// /usr/bin/python3 and imapflow (package.json).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';

import { requireEnv } from './lib/stack.mjs';

const runId = crypto.randomBytes(4).toString('hex');
const env = {};

before(() => {
  for (const name of ['EXPRESSO_IMAPS_PORT', 'EXPRESSO_TLS_CA', 'EXPRESSO_BOB_EMAIL', 'EXPRESSO_BOB_APP_PASSWORD']) {
    env[name] = requireEnv(name);
  }
});

// imaplib with a DEFLATE layer under its readline(), read() and send(), switched on after COMPRESS.
const imaplibScenario = String.raw`
import imaplib, os, ssl, sys, zlib

imaplib.Commands['COMPRESS'] = ('NONAUTH', 'AUTH', 'SELECTED')

class Deflated(imaplib.IMAP4_SSL):
    compressed = False
    wire_in = 0

    def start_compress(self):
        typ, data = self._simple_command('COMPRESS', 'DEFLATE')
        assert typ == 'OK', (typ, data)
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.decompressor = zlib.decompressobj(-15)
        self.plain = b''
        self.compressed = True

    def send(self, data):
        if self.compressed:
            data = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        super().send(data)

    def fill(self):
        chunk = self.file.read1(65536)
        if not chunk:
            raise imaplib.IMAP4.abort('the server closed the connection')
        self.wire_in += len(chunk)
        self.plain += self.decompressor.decompress(chunk)

    def readline(self):
        if not self.compressed:
            return super().readline()
        while b'\n' not in self.plain:
            self.fill()
        line, _, self.plain = self.plain.partition(b'\n')
        return line + b'\n'

    def read(self, size):
        if not self.compressed:
            return super().read(size)
        while len(self.plain) < size:
            self.fill()
        data, self.plain = self.plain[:size], self.plain[size:]
        return data

context = ssl.create_default_context(cafile=os.environ['EXPRESSO_TLS_CA'])
context.check_hostname = False
client = Deflated('127.0.0.1', int(os.environ['EXPRESSO_IMAPS_PORT']), ssl_context=context)
assert 'COMPRESS=DEFLATE' not in client.capabilities, client.capabilities
try:
    client._simple_command('COMPRESS', 'DEFLATE')
    raise AssertionError('COMPRESS was accepted before login')
except imaplib.IMAP4.error as error:
    print('before login:', error)

client.login(os.environ['EXPRESSO_BOB_EMAIL'], os.environ['EXPRESSO_BOB_APP_PASSWORD'])
typ, data = client.capability()
assert b'COMPRESS=DEFLATE' in data[0], data
try:
    client._simple_command('COMPRESS', 'LZMA')
    raise AssertionError('COMPRESS LZMA was accepted')
except imaplib.IMAP4.error as error:
    print('unknown mechanism:', error)

client.start_compress()
typ, data = client._simple_command('COMPRESS', 'DEFLATE')
assert typ == 'NO', (typ, data)
assert data[0].startswith(b'[COMPRESSIONACTIVE]'), data
print('repeated:', typ, data[0].decode())

mailbox = 'Deflate ' + os.environ['IMAP_RUN_ID']
assert client.create('"%s"' % mailbox)[0] == 'OK'
body = ('Linha repetida de um relatório comprido.\r\n' * 6000).encode()
message = b'From: bob@example.org\r\nSubject: deflate\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n' + body
typ, data = client.append('"%s"' % mailbox, None, None, message)
assert typ == 'OK', (typ, data)
client.select('"%s"' % mailbox)
before = client.wire_in
typ, data = client.fetch('1', '(BODY.PEEK[])')
assert typ == 'OK', (typ, data)
fetched = data[0][1]
assert fetched == message, (len(fetched), len(message))
wire = client.wire_in - before
assert wire * 10 < len(message), 'FETCH of %d octets took %d octets on the wire' % (len(message), wire)
print('fetched', len(message), 'octets in', wire, 'compressed octets')
client.close()
assert client.delete('"%s"' % mailbox)[0] == 'OK'
client.logout()
print('done')
`;

function python(script) {
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', ['-c', script], { timeout: 120_000, env: { ...process.env, IMAP_RUN_ID: runId } },
      (error, stdout, stderr) => resolve({ code: error?.code ?? 0, output: `${stdout}${stderr}` }));
  });
}

test('imaplib: COMPRESS DEFLATE round trip', { timeout: 180_000 }, async () => {
  const { code, output } = await python(imaplibScenario);
  assert.equal(code, 0, output);
  assert.match(output, /before login: .*Log in first/);
  assert.match(output, /unknown mechanism: .*DEFLATE/);
  assert.match(output, /repeated: NO \[COMPRESSIONACTIVE\]/);
  assert.match(output, /^done$/m);
});

test('imapflow: compressed session fetches intact', { timeout: 180_000 }, async () => {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port: Number(env.EXPRESSO_IMAPS_PORT),
    secure: true,
    tls: { ca: readFileSync(env.EXPRESSO_TLS_CA), servername: 'localhost' },
    auth: { user: env.EXPRESSO_BOB_EMAIL, pass: env.EXPRESSO_BOB_APP_PASSWORD },
    logger: false,
  });
  await client.connect();
  const mailbox = `Deflate flow ${runId}`;
  try {
    // imapflow keeps its DEFLATE stream in _deflate once COMPRESS succeeded.
    assert.ok(client._deflate, 'imapflow did not switch to COMPRESS=DEFLATE');
    await client.mailboxCreate(mailbox);
    const messages = [];
    for (let i = 0; i < 5; i++) {
      const text = `Mensagem ${i} ção `.repeat(2000 + i * 500);
      messages.push(Buffer.from(`From: bob@example.org\r\nSubject: flow ${i}\r\n\r\n${text}\r\n`));
      await client.append(mailbox, messages[i]);
    }
    await client.mailboxOpen(mailbox);
    let index = 0;
    for await (const message of client.fetch('1:*', { source: true })) {
      assert.ok(message.source.equals(messages[index]), `message ${index + 1} differs after the compressed round trip`);
      index++;
    }
    assert.equal(index, 5);
    await client.mailboxClose();
    await client.mailboxDelete(mailbox);
  } finally {
    await client.logout().catch(() => {});
  }
});
