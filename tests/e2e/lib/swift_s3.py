"""Runs OpenStack Swift (Debian's python3-swift) on loopback with its S3 API.

Swift is a real object store, and its s3api middleware implements the
multipart calls that s3rver lacks, AbortMultipartUpload among them. This
script builds one-device rings in DIRECTORY, starts the account,
container and object servers, memcached and a proxy whose pipeline has
s3api and tempauth, then prints "listening <port>" once the proxy accepts
connections. It stops the servers when it gets SIGTERM or SIGINT.

The servers also send their log lines to syslog, which without /dev/log
is UDP to 127.0.0.1:514 (Swift's get_logger falls back to it).

tempauth's user ACCOUNT:USER with key SECRET is the S3 access key
"ACCOUNT:USER" with secret key SECRET, and s3api checks AWS Signature
Version 4 for REGION.

Usage: /usr/bin/python3 swift_s3.py DIRECTORY PORT ACCOUNT:USER SECRET REGION
"""
import os
import random
import signal
import socket
import subprocess
import sys
import time

from swift.common.ring import RingBuilder

START_TIMEOUT_S = 60


GIVEN_PORTS = set()


def free_port():
    """Return a loopback port below the ephemeral range, which outgoing connections cannot
    take between this probe and the server's bind."""
    with open('/proc/sys/net/ipv4/ip_local_port_range', encoding='ascii') as ports:
        top = int(ports.read().split()[0])
    bottom = max(1024, top - 10000)
    for _ in range(200):
        port = random.randrange(bottom, top)
        if port in GIVEN_PORTS:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(('127.0.0.1', port))
            except OSError:
                continue
        GIVEN_PORTS.add(port)
        return port
    raise RuntimeError(f'no free loopback port between {bottom} and {top - 1}')


def write(path, text):
    with open(path, 'w', encoding='utf-8') as out:
        out.write(text)


def build_ring(directory, name, port):
    builder = RingBuilder(4, 1, 1)
    builder.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'device': 'd1',
                     'weight': 1.0})
    builder.rebalance()
    builder.get_ring().save(os.path.join(directory, f'{name}.ring.gz'))


def default_section(directory, port):
    return (f'[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\nworkers = 0\nswift_dir = {directory}\n'
            f'devices = {directory}/devices\nmount_check = false\n'
            'log_level = WARNING\n')


def storage_config(directory, kind, port):
    return (default_section(directory, port) +
            f'\n[pipeline:main]\npipeline = {kind}-server\n\n[app:{kind}-server]\nuse = egg:swift#{kind}\n')


def proxy_config(directory, port, user, secret, region, memcache_port):
    account, name = user.split(':', 1)
    return default_section(directory, port) + f'''
[pipeline:main]
pipeline = catch_errors gatekeeper proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcache_port}

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:s3api]
use = egg:swift#s3api
location = {region}

[filter:tempauth]
use = egg:swift#tempauth
user_{account}_{name} = {secret} .admin

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
'''


def wait_for_port(port, children):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for child in children:
            if child.poll() is not None:
                raise SystemExit(f'a Swift server exited with {child.returncode} while starting')
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f'Swift did not listen on port {port} within {START_TIMEOUT_S} s')


def main():
    directory, proxy_port, user, secret, region = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    os.makedirs(os.path.join(directory, 'devices', 'd1'), exist_ok=True)
    write(os.path.join(directory, 'swift.conf'),
          '[swift-hash]\nswift_hash_path_suffix = expresso-tests\n\n'
          '[storage-policy:0]\nname = Policy-0\ndefault = yes\n')
    configs = []
    for kind in ('account', 'container', 'object'):
        port = free_port()
        build_ring(directory, kind, port)
        path = os.path.join(directory, f'{kind}-server.conf')
        write(path, storage_config(directory, kind, port))
        configs.append((f'{kind}-server', path, port))
    memcache_port = free_port()
    proxy_path = os.path.join(directory, 'proxy-server.conf')
    write(proxy_path, proxy_config(directory, proxy_port, user, secret, region, memcache_port))
    configs.append(('proxy-server', proxy_path, proxy_port))

    # swift.common.utils reads swift.conf from SWIFT_CONF_FILE, so each server points it at DIRECTORY
    # first. verbose=True copies the server's log lines to stderr.
    launcher = ('import sys; import swift.common.utils as utils; utils.set_swift_dir(sys.argv[3]); '
                'from swift.common.wsgi import run_wsgi; sys.exit(run_wsgi(sys.argv[1], sys.argv[2], verbose=True))')
    # The proxy's token and account-info cache; memcached refuses to run as root without -u.
    memcached = ['/usr/bin/memcached', '-l', '127.0.0.1', '-p', str(memcache_port), '-U', '0', '-m', '16']
    if os.geteuid() == 0:
        memcached += ['-u', 'nobody']
    children = [subprocess.Popen(memcached)]
    children += [subprocess.Popen([sys.executable, '-c', launcher, path, name, directory])
                 for name, path, _ in configs]

    def stop(signum, frame):
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for port in [memcache_port] + [port for _, _, port in configs]:
            wait_for_port(port, children)
    except SystemExit as failure:
        print(failure, file=sys.stderr, flush=True)
        stop(None, None)
    print(f'listening {proxy_port}', flush=True)
    while True:
        signal.pause()


if __name__ == '__main__':
    main()
