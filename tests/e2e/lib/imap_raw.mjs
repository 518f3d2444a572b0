// A minimal IMAP client that returns responses as the server sent them,
// for tests that compare two servers' answers octet by octet or value by
// value (a client library would normalise the differences away), and a
// parser of IMAP data items into nested arrays.
import net from 'node:net';
import tls from 'node:tls';

const RESPONSE_TIMEOUT_MS = 30_000;

export class RawImapClient {
  constructor(socket) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.waiters = [];
    this.tagCounter = 0;
    socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', (error) => { this.error = error; this.wake(); });
  }

  // Connects with TLS when CA is given, else in plain text, and reads the greeting.
  static async connect(port, { ca } = {}) {
    const socket = await new Promise((resolve, reject) => {
      const options = { host: '127.0.0.1', port };
      const s = ca ? tls.connect({ ...options, ca, rejectUnauthorized: true, checkServerIdentity: () => undefined })
        : net.connect(options);
      s.once(ca ? 'secureConnect' : 'connect', () => resolve(s));
      s.once('error', reject);
    });
    const client = new RawImapClient(socket);
    await client.readResponse();
    return client;
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  async waitForData() {
    if (this.closed || this.error) throw this.error || new Error('IMAP connection closed');
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('IMAP response timed out')), RESPONSE_TIMEOUT_MS);
      this.waiters.push(() => { clearTimeout(timer); resolve(); });
    });
  }

  // Reads one response: a line with the literals it announces. Returns the octets without the last CRLF.
  async readResponse() {
    let offset = 0;
    for (;;) {
      const lineEnd = this.buffer.indexOf('\r\n', offset);
      if (lineEnd < 0) {
        await this.waitForData();
        continue;
      }
      const literal = /\{(\d+)\}$/.exec(this.buffer.subarray(offset, lineEnd).toString('latin1'));
      if (!literal) {
        const response = this.buffer.subarray(0, lineEnd);
        this.buffer = this.buffer.subarray(lineEnd + 2);
        return response;
      }
      const end = lineEnd + 2 + Number(literal[1]);
      while (this.buffer.length < end) await this.waitForData();
      offset = end;
    }
  }

  // Sends a command (a Buffer or string, literals already LITERAL+ formed) and returns its untagged responses.
  async command(text) {
    const tag = `T${++this.tagCounter}`;
    this.socket.write(Buffer.concat([Buffer.from(`${tag} `), Buffer.isBuffer(text) ? text : Buffer.from(text),
      Buffer.from('\r\n')]));
    const untagged = [];
    for (;;) {
      const response = await this.readResponse();
      const head = response.subarray(0, tag.length + 1).toString('latin1');
      if (head === `${tag} `) {
        const status = response.subarray(tag.length + 1).toString('latin1');
        if (!status.startsWith('OK')) throw new Error(`${text.toString().slice(0, 60)}: ${status}`);
        return untagged;
      }
      untagged.push(response);
    }
  }

  // APPEND of MESSAGE (a Buffer) as a LITERAL+ literal.
  async append(mailbox, message) {
    return this.command(Buffer.concat([Buffer.from(`APPEND "${mailbox}" {${message.length}+}\r\n`), message]));
  }

  close() {
    this.socket.destroy();
  }
}

// Parses one IMAP value at OFFSET of BUFFER: a list (array), NIL (null), a
// number, an atom ({atom}) or a string (a Buffer, quoted or literal alike).
export function parseValue(buffer, offset = 0) {
  while (buffer[offset] === 0x20) offset++;
  const c = buffer[offset];
  if (c === 0x28) { // (
    const list = [];
    offset++;
    for (;;) {
      while (buffer[offset] === 0x20) offset++;
      if (buffer[offset] === 0x29) return { value: list, next: offset + 1 };
      if (offset >= buffer.length) throw new Error('unterminated list');
      const item = parseValue(buffer, offset);
      list.push(item.value);
      offset = item.next;
    }
  }
  if (c === 0x22) { // "
    const bytes = [];
    offset++;
    while (buffer[offset] !== 0x22) {
      if (offset >= buffer.length) throw new Error('unterminated quoted string');
      if (buffer[offset] === 0x5c) offset++;
      bytes.push(buffer[offset++]);
    }
    return { value: Buffer.from(bytes), next: offset + 1 };
  }
  if (c === 0x7b || (c === 0x7e && buffer[offset + 1] === 0x7b)) { // {n} or ~{n}
    const close = buffer.indexOf('}', offset);
    const length = Number(buffer.subarray(buffer.indexOf('{', offset) + 1, close).toString('latin1').replace('+', ''));
    const start = close + 3;
    return { value: buffer.subarray(start, start + length), next: start + length };
  }
  let end = offset;
  while (end < buffer.length && ![0x20, 0x28, 0x29].includes(buffer[end])) end++;
  const token = buffer.subarray(offset, end).toString('latin1');
  if (token === 'NIL') return { value: null, next: end };
  if (/^\d+$/.test(token)) return { value: Number(token), next: end };
  return { value: { atom: token }, next: end };
}

// Returns the data items of a "* n FETCH (...)" response as a Map of item name to value.
export function fetchItems(response) {
  const open = response.indexOf('(');
  const { value } = parseValue(response, open);
  const items = new Map();
  for (let i = 0; i + 1 < value.length; i += 2) items.set(value[i].atom, value[i + 1]);
  return items;
}
