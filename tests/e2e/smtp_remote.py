"""A remote SMTP server for the outbound queue tests, on aiosmtpd.

Listens on 127.0.0.1:PORT and offers STARTTLS with CERT and KEY. What it
does with a recipient depends on its local part:
  reject-...    550 5.1.1 at RCPT
  tempfail-...  451 4.3.0 at the first RCPT of that address, 250 later
  defer-...     451 4.3.0 at every RCPT
  hangquit-...  250, but the QUIT after that message is answered only
                after 60 s, so a test can stop the client in between
  holdrcpt-...  250 after 3 s, with an event "rcpt_held" when the wait
                starts, so a test can change the queue in between
  anything else 250
Each accepted message is printed to stdout as one JSON line with the
envelope, whether TLS was on, and the content's SHA-256; the line "ready"
is printed once the server listens. It exits on SIGTERM.

Usage: smtp_remote.py PORT CERT KEY
"""
import asyncio
import hashlib
import json
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller


class Remote:
    def __init__(self):
        self.seen_tempfail = set()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split('@', 1)[0].lower()
        print(json.dumps({'event': 'rcpt', 'address': address, 'options': rcpt_options}), flush=True)
        if local.startswith('reject-'):
            return '550 5.1.1 <%s>: no such user here' % address
        if local.startswith('defer-'):
            return '451 4.3.0 <%s>: try again later' % address
        if local.startswith('holdrcpt-'):
            print(json.dumps({'event': 'rcpt_held', 'address': address}), flush=True)
            await asyncio.sleep(3)
        if local.startswith('tempfail-'):
            with self.lock:
                first = address not in self.seen_tempfail
                self.seen_tempfail.add(address)
            if first:
                return '451 4.3.0 <%s>: try again later' % address
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 OK'

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        print(json.dumps({
            'event': 'message',
            'mail_from': envelope.mail_from,
            'mail_options': envelope.mail_options,
            'rcpt_tos': envelope.rcpt_tos,
            'tls': session.ssl is not None,
            'helo': session.host_name,
            'size': len(content),
            'sha256': hashlib.sha256(content).hexdigest(),
            'head': content[:2000].decode('utf-8', 'replace'),
        }), flush=True)
        if any(address.lower().startswith('hangquit-') for address in envelope.rcpt_tos):
            session.hang_quit = True
        return '250 2.0.0 Ok: queued'

    async def handle_QUIT(self, server, session, envelope):
        if getattr(session, 'hang_quit', False):
            print(json.dumps({'event': 'quit_held'}), flush=True)
            await asyncio.sleep(60)
        return '221 Bye'


def main():
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    controller = Controller(Remote(), hostname='127.0.0.1', port=port, tls_context=context,
                            require_starttls=False, decode_data=False, server_hostname='remote.test')
    controller.start()
    print('ready', flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == '__main__':
    main()
