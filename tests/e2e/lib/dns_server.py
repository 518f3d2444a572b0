"""An authoritative DNS server for the outbound queue tests, on dnslib.

Listens on UDP and TCP 127.0.0.1:PORT and answers from ZONE, a JSON
object {name: {type: [value, ...]}} with types MX ("preference host"),
A and AAAA. A name not in ZONE gets NXDOMAIN; a name without records of
the asked type gets an empty answer. Each query is printed to stdout as
one JSON line; the line "ready" is printed once it listens. It exits on
SIGTERM.

Usage: dns_server.py PORT ZONE
"""
import json
import signal
import sys
import threading

from dnslib import QTYPE, RCODE, RR, A, AAAA, MX
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, zone):
        self.zone = {name.lower().rstrip('.'): records for name, records in zone.items()}

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip('.')
        kind = QTYPE[request.q.qtype]
        print(json.dumps({'event': 'query', 'name': name, 'type': kind}), flush=True)
        records = self.zone.get(name)
        if records is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for value in records.get(kind, []):
            if kind == 'MX':
                preference, host = value.split()
                data = MX(host, int(preference))
            elif kind == 'A':
                data = A(value)
            elif kind == 'AAAA':
                data = AAAA(value)
            else:
                continue
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=data, ttl=60))
        return reply


class QuietLogger(DNSLogger):
    def __init__(self):
        super().__init__(log='-request,-reply,-truncated,-error,-recv,-send,-data')


def main():
    port, zone = int(sys.argv[1]), json.loads(sys.argv[2])
    resolver = ZoneResolver(zone)
    servers = [DNSServer(resolver, address='127.0.0.1', port=port, tcp=tcp, logger=QuietLogger())
               for tcp in (False, True)]
    for server in servers:
        server.start_thread()
    print('ready', flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.stop()


if __name__ == '__main__':
    main()
