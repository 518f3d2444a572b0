#!/usr/bin/env python3
"""IMAP timings and idle-connection memory of one server, for imap-bench.sh.

Subcommands, each against HOST PORT USER PASSWORD:
  load MAILBOX COUNT          create MAILBOX and APPEND the same COUNT
                              generated messages (seed 42) over LITERAL+,
                              unless it already contains COUNT messages
  time MAILBOX RUNS WORD      time SELECT, UID FETCH 1:* (FLAGS),
                              FETCH 1:* (ENVELOPE BODYSTRUCTURE) and
                              UID SEARCH TEXT WORD; prints the median of
                              RUNS runs after one warm-up run, in ms
  idle COUNT PIDFILE|PID      open COUNT connections that LOGIN, SELECT
                              INBOX and IDLE, then print the RSS, PSS and
                              thread count of the server's processes
                              before and after
  delete MAILBOX              delete MAILBOX
The client reads raw socket bytes and only looks for the tagged reply, so
its own cost is small next to the server's.
"""
import os
import random
import selectors
import socket
import statistics
import sys
import time

WORDS = ('reunião orçamento relatório projeto contrato licitação prefeitura secretaria ofício '
         'despacho processo parecer protocolo convênio cronograma planilha auditoria servidor '
         'agenda calendário documento anexo pagamento empenho nota fiscal diário oficial '
         'ata votação conselho câmara assessoria jurídico recurso prazo entrega').split()
SEARCH_WORD = 'xilofone'
# Logins in flight at once. Each checks an app password with argon2id, which uses tens of MiB and most of a
# core for a while, so a wider window only makes the logins wait for the CPU.
IDLE_WINDOW = 4
# Time allowed to open the IDLE connections: a base plus this much per connection.
IDLE_TIMEOUT_S = 120
IDLE_TIMEOUT_PER_CONNECTION_S = 2


class Client:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=300)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.counter = 0
        self.buffer = b''
        while b'\r\n' not in self.buffer:
            self.buffer += self._recv()
        if not self.buffer.startswith(b'* OK'):
            raise SystemExit(f'unexpected greeting: {self.buffer[:200]!r}')
        self.buffer = b''

    def _recv(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise SystemExit('the server closed the connection')
        return chunk

    def tag(self):
        self.counter += 1
        return f'T{self.counter}'.encode()

    def read_tagged(self, tag):
        """Reads until the tagged reply of TAG; returns the whole response."""
        marker = b'\r\n' + tag + b' '
        data = bytearray(self.buffer)
        self.buffer = b''
        searched = 0
        while True:
            start = max(0, searched - len(marker))
            if data.startswith(tag + b' '):
                position = -2
            else:
                position = data.find(marker, start)
            if position != -1:
                end = data.find(b'\r\n', position + 2)
                if end != -1:
                    self.buffer = bytes(data[end + 2:])
                    response = bytes(data[:end + 2])
                    line = response[position + 2:] if position >= 0 else response
                    if not line.startswith(tag + b' OK'):
                        raise SystemExit(f'{tag.decode()} failed: {line[:300]!r}')
                    return response
            searched = len(data)
            data += self._recv()

    def command(self, text):
        tag = self.tag()
        self.sock.sendall(tag + b' ' + text + b'\r\n')
        return self.read_tagged(tag)

    def timed(self, text):
        start = time.perf_counter()
        response = self.command(text)
        return (time.perf_counter() - start) * 1000, response

    def login(self, user, password):
        self.command(b'LOGIN ' + quote(user) + b' ' + quote(password))

    def close(self):
        try:
            self.command(b'LOGOUT')
        except (SystemExit, OSError):
            pass
        self.sock.close()


def quote(text):
    return b'"' + text.replace('\\', '\\\\').replace('"', '\\"').encode() + b'"'


def message(number, rng):
    """Returns message NUMBER of the generated mailbox; the same bytes for every server."""
    subject = ' '.join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))
    paragraphs = []
    for _ in range(rng.randint(2, 8)):
        paragraphs.append(' '.join(rng.choice(WORDS) for _ in range(rng.randint(20, 60))))
    if number % 97 == 0:
        paragraphs.append(f'Lembrete: o {SEARCH_WORD} fica na sala {number}.')
    body = '\r\n\r\n'.join(paragraphs)
    day = 1 + number % 28
    headers = (f'From: Remetente {number % 50} <remetente{number % 50}@example.org>\r\n'
               f'To: Bench <bench@example.org>\r\n'
               f'Subject: {subject} {number}\r\n'
               f'Date: Mon, {day:02d} Sep 2026 10:{number % 60:02d}:00 -0300\r\n'
               f'Message-ID: <bench-{number}@example.org>\r\n'
               'MIME-Version: 1.0\r\n')
    if number % 5 == 0:
        boundary = f'b{number}'
        text = (f'{headers}Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
                f'--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n'
                f'Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n'
                f'--{boundary}\r\nContent-Type: application/pdf; name="anexo{number}.pdf"\r\n'
                f'Content-Disposition: attachment; filename="anexo{number}.pdf"\r\n'
                f'Content-Transfer-Encoding: base64\r\n\r\n'
                + 'JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZURlY29kZT4+\r\n' * 8
                + f'--{boundary}--\r\n')
    else:
        text = f'{headers}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n'
    return text.encode()


def messages_in(client, mailbox):
    response = client.command(b'STATUS ' + quote(mailbox) + b' (MESSAGES)')
    text = response.decode('utf-8', 'replace')
    start = text.find('MESSAGES ')
    return int(text[start + 9:].split(')')[0]) if start >= 0 else -1


def load(client, mailbox, count):
    listed = client.command(b'LIST "" ' + quote(mailbox))
    if b'* LIST' in listed:
        existing = messages_in(client, mailbox)
        if existing == count:
            print(f'{mailbox} already contains {count} messages')
            return
        client.command(b'DELETE ' + quote(mailbox))
    client.command(b'CREATE ' + quote(mailbox))
    rng = random.Random(42)
    batch = 50
    start = time.perf_counter()
    for first in range(1, count + 1, batch):
        tags = []
        payload = bytearray()
        for number in range(first, min(first + batch, count + 1)):
            data = message(number, rng)
            tag = client.tag()
            tags.append(tag)
            payload += tag + b' APPEND ' + quote(mailbox) + b' (\\Seen) {' + str(len(data)).encode() + b'+}\r\n'
            payload += data + b'\r\n'
        client.sock.sendall(payload)
        for tag in tags:
            client.read_tagged(tag)
    elapsed = time.perf_counter() - start
    print(f'loaded {count} messages into {mailbox} in {elapsed:.1f} s ({count / elapsed:.0f}/s)')


def timings(client, mailbox, runs, word):
    commands = [
        ('SELECT', b'SELECT ' + quote(mailbox)),
        ('UID FETCH 1:* (FLAGS)', b'UID FETCH 1:* (FLAGS)'),
        ('FETCH 1:* (ENVELOPE BODYSTRUCTURE)', b'FETCH 1:* (ENVELOPE BODYSTRUCTURE)'),
        (f'UID SEARCH TEXT {word}', b'UID SEARCH TEXT ' + word.encode()),
    ]
    client.command(commands[0][1])
    # The first search of the mailbox, before any warm-up: expresso-mail reads every stored message and
    # writes its search index rows then. It is printed last, so that the rows above keep their order.
    first_search, first_response = client.timed(commands[-1][1])
    for name, text in commands:
        client.timed(text)
        samples = [client.timed(text)[0] for _ in range(runs)]
        _, response = client.timed(text)
        print(f'time\t{name}\t{statistics.median(samples):.1f}\t{len(response)}')
    print(f'time\tfirst {commands[-1][0]} (one run)\t{first_search:.1f}\t{len(first_response)}')


def process_tree(root):
    """Returns ROOT and its descendants, from /proc."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as stat:
                fields = stat.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def memory(root):
    """Returns (RSS KiB, PSS KiB, threads, processes) summed over ROOT's process tree."""
    rss = pss = threads = processes = 0
    for pid in process_tree(root):
        try:
            with open(f'/proc/{pid}/status') as status:
                for line in status:
                    if line.startswith('VmRSS:'):
                        rss += int(line.split()[1])
                    elif line.startswith('Threads:'):
                        threads += int(line.split()[1])
            with open(f'/proc/{pid}/smaps_rollup') as rollup:
                for line in rollup:
                    if line.startswith('Pss:'):
                        pss += int(line.split()[1])
            processes += 1
        except OSError:
            continue
    return rss, pss, threads, processes


def open_idle(host, port, user, password, count):
    """Opens COUNT connections in IDLE on INBOX, at most IDLE_WINDOW of them logging in at once."""
    script = [
        (b'* OK', b'a LOGIN ' + quote(user) + b' ' + quote(password) + b'\r\n'),
        (b'a OK', b'b SELECT INBOX\r\n'),
        (b'b OK', b'c IDLE\r\n'),
        (b'+ ', None),
    ]
    selector = selectors.DefaultSelector()
    done, opened, active = [], 0, 0
    allowed = IDLE_TIMEOUT_S + IDLE_TIMEOUT_PER_CONNECTION_S * count
    deadline = time.monotonic() + allowed
    while len(done) < count:
        while active < IDLE_WINDOW and opened < count:
            sock = socket.create_connection((host, port), timeout=30)
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, {'step': 0, 'data': b''})
            opened += 1
            active += 1
        if time.monotonic() > deadline:
            raise SystemExit(f'only {len(done)} of {count} connections reached IDLE in {allowed} s')
        for key, _ in selector.select(timeout=1):
            state = key.data
            chunk = key.fileobj.recv(65536)
            if not chunk:
                raise SystemExit(f'the server closed connection {len(done) + active}: {state["data"][-300:]!r}')
            state['data'] += chunk
            while state['step'] < len(script):
                expected, reply = script[state['step']]
                lines = state['data'].split(b'\r\n')
                if not any(line.startswith(expected) for line in lines):
                    bad = [line for line in lines if line.startswith((b'a NO', b'a BAD', b'b NO', b'b BAD', b'* BYE'))]
                    if bad:
                        raise SystemExit(f'IDLE set-up failed: {bad[0]!r}')
                    break
                state['data'] = b''
                state['step'] += 1
                if reply is not None:
                    key.fileobj.sendall(reply)
            if state['step'] == len(script):
                selector.unregister(key.fileobj)
                done.append(key.fileobj)
                active -= 1
    return done


def idle(host, port, user, password, count, pid_source):
    pid = int(open(pid_source).read().split()[0]) if os.path.exists(pid_source) else int(pid_source)
    before = memory(pid)
    start = time.perf_counter()
    connections = open_idle(host, port, user, password, count)
    elapsed = time.perf_counter() - start
    time.sleep(2)
    after = memory(pid)
    print(f'idle\tbefore\t{before[0]}\t{before[1]}\t{before[2]}\t{before[3]}')
    print(f'idle\tafter\t{after[0]}\t{after[1]}\t{after[2]}\t{after[3]}')
    print(f'idle\topened\t{count}\t{elapsed:.1f}')
    for sock in connections:
        sock.close()


def main():
    if len(sys.argv) < 6:
        raise SystemExit(__doc__)
    action, host, port, user, password = sys.argv[1:6]
    rest = sys.argv[6:]
    port = int(port)
    if action == 'idle':
        idle(host, port, user, password, int(rest[0]), rest[1])
        return
    client = Client(host, port)
    client.login(user, password)
    if action == 'load':
        load(client, rest[0], int(rest[1]))
    elif action == 'time':
        timings(client, rest[0], int(rest[1]), rest[2])
    elif action == 'delete':
        client.command(b'DELETE ' + quote(rest[0]))
    else:
        raise SystemExit(__doc__)
    client.close()


if __name__ == '__main__':
    main()
