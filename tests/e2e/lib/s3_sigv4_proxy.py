#!/usr/bin/python3
"""A front for an S3 test server that checks AWS Signature Version 4.

s3rver (npm) stores objects like S3 but does not verify signatures. This
proxy recomputes the signature of every request with botocore (AWS's own
SigV4 code, Debian's python3-botocore), checks the access key, the region,
the request time and that the body matches x-amz-content-sha256, and
answers 403 SignatureDoesNotMatch like S3 or MinIO when anything differs.
Requests that pass are forwarded to the server unchanged.

POST /__control/fail?count=N makes the next N S3 requests answer 503
SlowDown, so tests can see the client retry. Each request with a Range
header is written to stderr as "range METHOD PATH VALUE".

Usage: s3_sigv4_proxy.py LISTEN_PORT UPSTREAM_PORT ACCESS_KEY SECRET_KEY REGION
It listens on 127.0.0.1 only and prints "listening <port>" when ready.
"""
import datetime
import hashlib
import hmac
import http.client
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

LISTEN_PORT, UPSTREAM_PORT = int(sys.argv[1]), int(sys.argv[2])
ACCESS_KEY, SECRET_KEY, REGION = sys.argv[3], sys.argv[4], sys.argv[5]
MAX_CLOCK_SKEW = datetime.timedelta(minutes=15)
AUTHORIZATION = re.compile(
    r'^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, ?'
    r'SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$')

failures_left = 0
failures_lock = threading.Lock()


def signature_problem(method, path, headers, body):
    """Returns why the request's signature is wrong, or None when it is right."""
    match = AUTHORIZATION.match(headers.get('Authorization', ''))
    if match is None:
        return 'missing or malformed AWS4-HMAC-SHA256 Authorization header'
    access_key, day, region, signed_headers, signature = match.groups()
    if access_key != ACCESS_KEY:
        return f'unknown access key {access_key}'
    if region != REGION:
        return f'credential region {region} is not {REGION}'
    amz_date = headers.get('x-amz-date', '')
    try:
        when = datetime.datetime.strptime(amz_date, '%Y%m%dT%H%M%SZ')
    except ValueError:
        return 'missing or malformed x-amz-date'
    if not amz_date.startswith(day):
        return 'credential date differs from x-amz-date'
    if abs(datetime.datetime.utcnow() - when) > MAX_CLOCK_SKEW:
        return 'x-amz-date is more than 15 minutes away from the server time'
    content_hash = headers.get('x-amz-content-sha256')
    if content_hash is None:
        return 'missing x-amz-content-sha256'
    if content_hash != 'UNSIGNED-PAYLOAD' and content_hash != hashlib.sha256(body).hexdigest():
        return 'x-amz-content-sha256 does not match the body'
    names = signed_headers.split(';')
    if 'host' not in names or 'x-amz-date' not in names or 'x-amz-content-sha256' not in names:
        return 'host, x-amz-date and x-amz-content-sha256 must be signed'

    signed = {name: headers.get(name, '') for name in names}
    request = AWSRequest(method=method, url=f'http://{headers.get("Host")}{path}', headers=signed, data=body)
    request.context['timestamp'] = amz_date
    auth = S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), 's3', REGION)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, signature):
        return f'signature does not match; the canonical request was:\n{canonical}'
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):
        pass

    def reply(self, status, code, message):
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f'<Message>{message}</Message></Error>').encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/xml')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def handle_any(self):
        global failures_left
        length = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(length) if length else b''
        if self.path.startswith('/__control/fail'):
            with failures_lock:
                failures_left = int(parse_qs(urlsplit(self.path).query)['count'][0])
            return self.reply(200, 'OK', 'armed')
        with failures_lock:
            if failures_left > 0:
                failures_left -= 1
                return self.reply(503, 'SlowDown', 'injected failure')
        problem = signature_problem(self.command, self.path, self.headers, body)
        if problem:
            sys.stderr.write(f'rejected {self.command} {self.path}: {problem}\n')
            return self.reply(403, 'SignatureDoesNotMatch', problem)
        if 'Range' in self.headers:
            sys.stderr.write(f'range {self.command} {self.path} {self.headers["Range"]}\n')
        self.forward(body)

    def forward(self, body):
        upstream = http.client.HTTPConnection('127.0.0.1', UPSTREAM_PORT, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ('connection', 'expect')}
        upstream.request(self.command, self.path, body=body if body or self.command in ('PUT', 'POST') else None,
                         headers=headers)
        response = upstream.getresponse()
        self.send_response(response.status)
        sent_length = False
        for name, value in response.getheaders():
            if name.lower() in ('connection', 'transfer-encoding', 'keep-alive'):
                continue
            sent_length |= name.lower() == 'content-length'
            self.send_header(name, value)
        data = response.read() if self.command != 'HEAD' else b''
        if not sent_length:
            self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)
        upstream.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_any


server = ThreadingHTTPServer(('127.0.0.1', LISTEN_PORT), Handler)
server.daemon_threads = True
print(f'listening {LISTEN_PORT}', flush=True)
server.serve_forever()
