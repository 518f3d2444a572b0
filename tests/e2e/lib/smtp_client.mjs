// A small SMTP client for the end-to-end tests of expresso-mail: replies
// are read whole (multi-line included), STARTTLS upgrades the socket, and
// DATA sends the content dot-stuffed.
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';

const REPLY_TIMEOUT_MS = 15_000;

export class SmtpClient {
  constructor(socket) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.waiters = [];
    this.closed = false;
    this.attach(socket);
  }

  attach(socket) {
    socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.pump();
    });
    socket.on('close', () => {
      this.closed = true;
      this.pump();
    });
    socket.on('error', () => {});
  }

  // Connects to HOST:PORT and, unless BANNER is false, reads the greeting into client.banner.
  static connect(port, host = '127.0.0.1', { banner = true } = {}) {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host, async () => {
        const client = new SmtpClient(socket);
        if (banner) client.banner = await client.reply();
        resolve(client);
      });
      socket.once('error', reject);
    });
  }

  // Resolves waiters with complete replies; a closed connection gives code 0.
  pump() {
    while (this.waiters.length > 0) {
      const text = this.buffer.toString('latin1');
      const lines = [];
      let offset = 0;
      let complete = false;
      for (;;) {
        const end = text.indexOf('\r\n', offset);
        if (end < 0) break;
        const line = text.slice(offset, end);
        lines.push(line);
        offset = end + 2;
        if (line.length < 4 || line[3] === ' ') {
          complete = true;
          break;
        }
      }
      if (complete) {
        this.buffer = this.buffer.subarray(offset);
        const last = lines[lines.length - 1];
        this.waiters.shift().resolve({ code: Number(last.slice(0, 3)), text: lines.join('\n'), lines });
      } else if (this.closed) {
        this.waiters.shift().resolve({ code: 0, text: '(connection closed)', lines: [] });
      } else {
        break;
      }
    }
  }

  reply(timeoutMs = REPLY_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SMTP reply within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ resolve: (value) => { clearTimeout(timer); resolve(value); } });
      this.pump();
    });
  }

  write(data) {
    return new Promise((resolve) => this.socket.write(data, () => resolve()));
  }

  // Sends LINE (a string, or a Buffer for bytes that are not UTF-8) with CRLF and returns the reply.
  async command(line) {
    await this.write(Buffer.concat([Buffer.isBuffer(line) ? line : Buffer.from(line, 'utf8'), Buffer.from('\r\n')]));
    return this.reply();
  }

  async ehlo(name = 'client.example.org') {
    const reply = await this.command(`EHLO ${name}`);
    assert.equal(reply.code, 250, reply.text);
    return reply.lines.map((line) => line.slice(4));
  }

  async startTls(ca) {
    const reply = await this.command('STARTTLS');
    assert.equal(reply.code, 220, reply.text);
    const secure = await new Promise((resolve, reject) => {
      const socket = tls.connect({ socket: this.socket, ca, checkServerIdentity: () => undefined }, () => resolve(socket));
      socket.once('error', reject);
    });
    this.socket.removeAllListeners('data');
    this.socket = secure;
    this.buffer = Buffer.alloc(0);
    this.attach(secure);
  }

  // Sends CONTENT (CRLF line ends) after DATA and returns the final reply.
  async data(content) {
    const reply = await this.command('DATA');
    if (reply.code !== 354) return reply;
    await this.write(dotStuff(content));
    return this.reply(60_000);
  }

  close() {
    this.socket.destroy();
  }
}

// Opens a submission session on PORT as USER: EHLO, STARTTLS (trusting CA), EHLO
// again and AUTH PLAIN with PASSWORD, each of which must succeed. Returns the client.
export async function openSubmission(port, { ca, user, password, host = '127.0.0.1' }) {
  const client = await SmtpClient.connect(Number(port), host);
  await client.ehlo();
  await client.startTls(ca);
  await client.ehlo();
  const plain = Buffer.from(`\0${user}\0${password}`).toString('base64');
  assert.equal((await client.command(`AUTH PLAIN ${plain}`)).code, 235);
  return client;
}

// RFC 5321 4.5.2 transparency plus the end-of-data line.
export function dotStuff(content) {
  const parts = [];
  let start = 0;
  while (start < content.length) {
    let end = content.indexOf('\r\n', start);
    end = end < 0 ? content.length : end + 2;
    if (content[start] === 0x2e) parts.push(Buffer.from('.'));
    parts.push(content.subarray(start, end));
    start = end;
  }
  parts.push(Buffer.from('.\r\n'));
  return Buffer.concat(parts);
}

// Sends CONTENT (a string or Buffer with CRLF line ends, ending in CRLF) in one plain
// SMTP session on PORT: EHLO, MAIL FROM, RCPT TO for each recipient, DATA and QUIT.
// Every step before DATA must succeed; returns the reply to the end of DATA, with
// `at` set to the time it arrived.
export async function sendMessage(port, { from, to, content, ehlo = 'client.example.org', host = '127.0.0.1' }) {
  const client = await SmtpClient.connect(Number(port), host);
  try {
    assert.equal(client.banner.code, 220, client.banner.text);
    await client.ehlo(ehlo);
    const mail = await client.command(`MAIL FROM:<${from}>`);
    assert.equal(mail.code, 250, mail.text);
    for (const recipient of [].concat(to)) {
      const rcpt = await client.command(`RCPT TO:<${recipient}>`);
      assert.equal(rcpt.code, 250, rcpt.text);
    }
    const reply = await client.data(Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8'));
    reply.at = Date.now();
    await client.command('QUIT');
    return reply;
  } finally {
    client.close();
  }
}
