"""IMAP scenarios run with Python's imaplib against expresso-mail.

Each scenario is a function that talks to the server as a mail client
does and checks every response it gets. imap.test.mjs runs them one by
one: `imap_scenarios.py SCENARIO`. A scenario prints "ok" and exits 0, or
prints what was expected and what came back and exits 1.

Environment: EXPRESSO_IMAP_PORT (STARTTLS), EXPRESSO_IMAPS_PORT (implicit
TLS), EXPRESSO_TLS_CA, EXPRESSO_ALICE_EMAIL, EXPRESSO_ALICE_APP_PASSWORD,
EXPRESSO_CAROL_EMAIL, EXPRESSO_CAROL_APP_PASSWORD, and IMAP_RUN_ID, a
word that makes this run's mailbox names unique.
"""
import base64
import imaplib
import os
import re
import socket
import ssl
import sys

HOST = '127.0.0.1'
RUN = os.environ.get('IMAP_RUN_ID', 'run')


class ScenarioFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise ScenarioFailed(message)


def expect_ok(response, what):
    status, data = response
    check(status == 'OK', f'{what}: expected OK, got {status} {data!r}')
    return data


def expect_no(call, code, what):
    """Runs CALL and checks that it fails with NO [CODE] (the code may carry arguments)."""
    pattern = re.compile(rf'\[{code}[\] ]')
    try:
        status, data = call()
    except imaplib.IMAP4.error as error:
        check(pattern.search(str(error)) is not None, f'{what}: expected NO [{code}], got {error}')
        return
    text = ' '.join(d.decode(errors='replace') for d in data if isinstance(d, bytes))
    check(status == 'NO' and pattern.search(text) is not None, f'{what}: expected NO [{code}], got {status} {data!r}')


def tls_context():
    context = ssl.create_default_context(cafile=os.environ['EXPRESSO_TLS_CA'])
    context.check_hostname = False
    return context


def connect(account='ALICE'):
    client = imaplib.IMAP4_SSL(HOST, int(os.environ['EXPRESSO_IMAPS_PORT']), ssl_context=tls_context())
    expect_ok(client.login(os.environ[f'EXPRESSO_{account}_EMAIL'], os.environ[f'EXPRESSO_{account}_APP_PASSWORD']),
              'LOGIN')
    return client


def mutf7(name):
    """Encodes a mailbox name in modified UTF-7 (RFC 3501 5.1.3)."""
    out, pending = [], ''

    def flush():
        nonlocal pending
        if pending:
            encoded = base64.b64encode(pending.encode('utf-16-be')).decode().rstrip('=').replace('/', ',')
            out.append('&' + encoded + '-')
            pending = ''
    for char in name:
        if 0x20 <= ord(char) <= 0x7e:
            flush()
            out.append('&-' if char == '&' else char)
        else:
            pending += char
    flush()
    return ''.join(out)


def quoted(name):
    return '"' + name.replace('\\', '\\\\').replace('"', '\\"') + '"'


def listed_names(client, pattern='*'):
    data = expect_ok(client.list('""', pattern), 'LIST')
    names = []
    for line in data:
        if line is None:
            continue
        match = re.match(rb'\((.*?)\) "/" (.*)$', line)
        check(match is not None, f'LIST line not understood: {line!r}')
        name = match.group(2).decode()
        if name.startswith('"'):
            name = name[1:-1].replace('\\"', '"').replace('\\\\', '\\')
        names.append((match.group(1).decode(), name))
    return names


MESSAGE = (
    'From: Bob Example <bob@demo.expresso.test>\r\n'
    'To: Alice <alice@demo.expresso.test>\r\n'
    'Cc: "Carol, C." <carol@example.org>\r\n'
    'Subject: =?utf-8?q?Reuni=C3=A3o_de_planejamento?=\r\n'
    'Date: Sat, 05 Dec 2026 10:00:00 -0300\r\n'
    'Message-ID: <plan-{n}@demo.expresso.test>\r\n'
    'MIME-Version: 1.0\r\n'
    'Content-Type: multipart/mixed; boundary="b1"\r\n'
    '\r\n'
    '--b1\r\n'
    'Content-Type: text/plain; charset=utf-8\r\n'
    'Content-Transfer-Encoding: quoted-printable\r\n'
    '\r\n'
    'A reuni=C3=A3o sobre a migra=C3=A7=C3=A3o ser=C3=A1 amanh=C3=A3.\r\n'
    '--b1\r\n'
    'Content-Type: application/octet-stream; name="dados.bin"\r\n'
    'Content-Disposition: attachment; filename="dados.bin"\r\n'
    'Content-Transfer-Encoding: base64\r\n'
    '\r\n'
    'AAECAw==\r\n'
    '--b1--\r\n'
)


def message(n):
    return MESSAGE.replace('{n}', str(n)).encode()


# ---- scenarios ---------------------------------------------------------------------------


def scenario_starttls():
    """Port 143: LOGINDISABLED and no AUTH before STARTTLS, then LOGIN works."""
    client = imaplib.IMAP4(HOST, int(os.environ['EXPRESSO_IMAP_PORT']))
    check('STARTTLS' in client.capabilities, f'STARTTLS missing: {client.capabilities}')
    check('LOGINDISABLED' in client.capabilities, f'LOGINDISABLED missing: {client.capabilities}')
    check('AUTH=PLAIN' not in client.capabilities, f'AUTH=PLAIN offered before TLS: {client.capabilities}')
    client.starttls(ssl_context=tls_context())
    check('AUTH=PLAIN' in client.capabilities, f'AUTH=PLAIN missing after STARTTLS: {client.capabilities}')
    check('LOGINDISABLED' not in client.capabilities, f'LOGINDISABLED after STARTTLS: {client.capabilities}')
    expect_ok(client.login(os.environ['EXPRESSO_ALICE_EMAIL'], os.environ['EXPRESSO_ALICE_APP_PASSWORD']), 'LOGIN')
    client.logout()


def scenario_login_before_tls_rejected():
    """A LOGIN before STARTTLS gets NO [PRIVACYREQUIRED] and no password check."""
    raw = socket.create_connection((HOST, int(os.environ['EXPRESSO_IMAP_PORT'])), timeout=10)
    reader = raw.makefile('rb')
    greeting = reader.readline()
    check(greeting.startswith(b'* OK'), f'greeting: {greeting!r}')
    raw.sendall(b'a1 LOGIN alice@demo.expresso.test secret\r\n')
    reply = reader.readline()
    check(reply.startswith(b'a1 NO [PRIVACYREQUIRED]'), f'LOGIN before TLS: {reply!r}')
    raw.close()


def scenario_authentication():
    """Wrong password, AUTHENTICATE PLAIN with and without SASL-IR, ID, ENABLE, NAMESPACE."""
    client = imaplib.IMAP4_SSL(HOST, int(os.environ['EXPRESSO_IMAPS_PORT']), ssl_context=tls_context())
    expect_no(lambda: client.login(os.environ['EXPRESSO_ALICE_EMAIL'], 'wrong-password'), 'AUTHENTICATIONFAILED',
              'LOGIN with a wrong app password')
    email = os.environ['EXPRESSO_ALICE_EMAIL']
    password = os.environ['EXPRESSO_ALICE_APP_PASSWORD']
    expect_ok(client.authenticate('PLAIN', lambda _: f'\0{email}\0{password}'.encode()), 'AUTHENTICATE PLAIN')
    capabilities = expect_ok(client.capability(), 'CAPABILITY')[0].decode().split()
    check('APPENDLIMIT=52428800' in capabilities, f'APPENDLIMIT missing after login: {capabilities}')
    check('LOGINDISABLED' not in capabilities and 'AUTH=PLAIN' not in capabilities,
          f'login capabilities after login: {capabilities}')
    typ, data = client.xatom('ID', '("name" "imaplib")')
    check(typ == 'OK', f'ID: {typ} {data}')
    check(b'"name" "Expresso"' in client.untagged_responses.get('ID', [b''])[0], f'ID response: {client.untagged_responses}')
    client.untagged_responses.clear()
    typ, data = client._simple_command('ENABLE', 'CONDSTORE', 'QRESYNC')
    check(typ == 'OK', f'ENABLE: {typ} {data}')
    enabled = client.untagged_responses.get('ENABLED')
    check(enabled == [b'CONDSTORE QRESYNC'], f'ENABLED response: {enabled!r}')
    client.untagged_responses.clear()
    typ, data = client._simple_command('NAMESPACE')
    check(typ == 'OK' and client.untagged_responses.get('NAMESPACE') == [b'(("" "/")) NIL NIL'],
          f'NAMESPACE: {client.untagged_responses}')
    client.logout()

    # SASL-IR: the initial response on the AUTHENTICATE line itself.
    raw = ssl_socket()
    reader = raw.makefile('rb')
    reader.readline()
    token = base64.b64encode(f'\0{email}\0{password}'.encode()).decode()
    raw.sendall(f'a1 AUTHENTICATE PLAIN {token}\r\n'.encode())
    reply = reader.readline()
    check(reply.startswith(b'a1 OK'), f'AUTHENTICATE with SASL-IR: {reply!r}')
    raw.close()


def ssl_socket():
    raw = socket.create_connection((HOST, int(os.environ['EXPRESSO_IMAPS_PORT'])), timeout=15)
    return tls_context().wrap_socket(raw)


def scenario_mailboxes():
    """CREATE, LIST, RENAME with children, SUBSCRIBE, STATUS and DELETE with names that need encoding."""
    client = connect()
    base = f'Pasta {RUN}'
    names = [f'{base}/Relatórios & Ações', f'{base}/Orçamento 2027', f'{base}/ÁÉÍÓÚ ãõç']
    for name in names:
        expect_ok(client.create(quoted(mutf7(name))), f'CREATE {name}')
    expect_no(lambda: client.create(quoted(mutf7(names[0]))), 'ALREADYEXISTS', 'CREATE of an existing name')
    listed = dict((name, attributes) for attributes, name in listed_names(client))
    for name in names:
        check(mutf7(name) in listed, f'{mutf7(name)} missing from LIST: {sorted(listed)}')
    check('\\HasChildren' in listed[mutf7(base)], f'parent attributes: {listed[mutf7(base)]}')
    check('\\HasNoChildren' in listed[mutf7(names[1])], f'child attributes: {listed[mutf7(names[1])]}')
    check('\\Sent' in listed['Sent'] and '\\Trash' in listed['Trash'], f'special-use: {listed}')

    # New folders are subscribed.
    subscribed = [name for _, name in re_lsub(client)]
    check(mutf7(names[2]) in subscribed, f'new folder not in LSUB: {subscribed}')
    expect_ok(client.unsubscribe(quoted(mutf7(names[2]))), 'UNSUBSCRIBE')
    subscribed = [name for _, name in re_lsub(client)]
    check(mutf7(names[2]) not in subscribed, f'unsubscribed folder still in LSUB: {subscribed}')
    expect_no(lambda: client.subscribe(quoted(f'Nada {RUN}')), 'NONEXISTENT', 'SUBSCRIBE of a missing mailbox')

    renamed = f'Renomeada {RUN}'
    expect_ok(client.rename(quoted(mutf7(base)), quoted(mutf7(renamed))), 'RENAME with children')
    listed = [name for _, name in listed_names(client)]
    check(mutf7(f'{renamed}/Orçamento 2027') in listed, f'child not renamed: {listed}')
    check(mutf7(base) not in listed, f'old name still listed: {listed}')
    expect_no(lambda: client.rename(quoted(f'Nada {RUN}'), quoted(f'Outra {RUN}')), 'NONEXISTENT', 'RENAME missing')

    data = expect_ok(client.status(quoted(mutf7(f'{renamed}/Orçamento 2027')),
                                   '(MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ)'), 'STATUS')
    check(re.search(rb'MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0 SIZE 0 HIGHESTMODSEQ \d+', data[0]),
          f'STATUS: {data!r}')
    expect_no(lambda: client.status(quoted(f'Nada {RUN}'), '(MESSAGES)'), 'NONEXISTENT', 'STATUS of a missing mailbox')

    expect_no(lambda: client.delete(quoted(mutf7(renamed))), 'INUSE', 'DELETE of a mailbox with children')
    for name in [f'{renamed}/Relatórios & Ações', f'{renamed}/Orçamento 2027', f'{renamed}/ÁÉÍÓÚ ãõç', renamed]:
        expect_ok(client.delete(quoted(mutf7(name))), f'DELETE {name}')
    expect_no(lambda: client.delete('INBOX'), 'CANNOT', 'DELETE INBOX')

    # CREATE-SPECIAL-USE and LIST (SPECIAL-USE) RETURN (STATUS ...).
    typ, data = client._simple_command('CREATE', quoted(f'Marcadas {RUN}'), '(USE (\\Flagged))')
    check(typ == 'OK', f'CREATE with USE: {typ} {data}')
    typ, data = client._simple_command('LIST', '(SPECIAL-USE)', '""', '*', 'RETURN', '(STATUS (MESSAGES))')
    lines = client.untagged_responses.get('LIST', [])
    check(any(f'Marcadas {RUN}'.encode() in line and b'\\Flagged' in line for line in lines),
          f'LIST (SPECIAL-USE): {lines!r}')
    check(all(b'\\' in line.split(b')')[0] for line in lines), f'LIST (SPECIAL-USE) listed plain folders: {lines!r}')
    statuses = client.untagged_responses.get('STATUS', [])
    check(len(statuses) == len(lines), f'LIST-STATUS: {len(statuses)} STATUS for {len(lines)} LIST')
    client.untagged_responses.clear()
    expect_ok(client.delete(quoted(f'Marcadas {RUN}')), 'DELETE the special-use folder')
    client.logout()


def re_lsub(client):
    data = expect_ok(client.lsub('""', '*'), 'LSUB')
    result = []
    for line in data:
        match = re.match(rb'\((.*?)\) "/" (.*)$', line)
        name = match.group(2).decode().strip('"')
        result.append((match.group(1).decode(), name))
    return result


def scenario_inbox_rename():
    """RENAME INBOX moves its messages to the new mailbox and leaves INBOX empty (RFC 3501 6.3.5)."""
    client = connect('CAROL')
    expect_ok(client.append('INBOX', None, None, message(1)), 'APPEND to INBOX')
    before = int(expect_ok(client.select('INBOX'), 'SELECT INBOX')[0])
    check(before >= 1, f'INBOX has {before} messages')
    client.close()
    target = f'Antiga {RUN}'
    expect_ok(client.rename('INBOX', quoted(target)), 'RENAME INBOX')
    check(int(expect_ok(client.select('INBOX'), 'SELECT INBOX')[0]) == 0, 'INBOX not empty after RENAME')
    moved = int(expect_ok(client.select(quoted(target)), 'SELECT the renamed mailbox')[0])
    check(moved == before, f'renamed mailbox has {moved} messages, INBOX had {before}')
    client.close()
    expect_ok(client.delete(quoted(target)), 'DELETE')
    client.logout()


def scenario_messages():
    """APPEND with flags and date, FETCH items, STORE, COPY, MOVE, EXPUNGE and UID EXPUNGE."""
    client = connect()
    box = f'Mensagens {RUN}'
    other = f'Destino {RUN}'
    expect_ok(client.create(quoted(box)), 'CREATE')
    expect_ok(client.create(quoted(other)), 'CREATE')
    data = expect_ok(client.append(quoted(box), '(\\Flagged $Importante)', '"05-Dec-2026 10:00:00 -0300"', message(1)),
                     'APPEND')
    match = re.search(rb'\[APPENDUID (\d+) (\d+)\]', data[0])
    check(match is not None, f'APPENDUID missing: {data!r}')
    uid = int(match.group(2))
    for n in range(2, 6):
        expect_ok(client.append(quoted(box), None, None, message(n)), f'APPEND {n}')
    expect_no(lambda: client.append(quoted(f'Nada {RUN}'), None, None, message(9)), 'TRYCREATE', 'APPEND to a missing mailbox')

    data = expect_ok(client.select(quoted(box)), 'SELECT')
    check(data == [b'5'], f'SELECT EXISTS: {data!r}')
    check(client.untagged_responses.get('OK') is not None, 'SELECT untagged OK codes missing')

    data = expect_ok(client.uid('FETCH', str(uid), '(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)'),
                     'FETCH')
    line = data[0] if isinstance(data[0], bytes) else data[0][0]
    check(b'FLAGS (\\Flagged $Importante)' in line, f'FLAGS: {line!r}')
    check(b'INTERNALDATE "05-Dec-2026 13:00:00 +0000"' in line, f'INTERNALDATE: {line!r}')
    size = len(message(1))
    check(f'RFC822.SIZE {size}'.encode() in line, f'RFC822.SIZE (expected {size}): {line!r}')
    # ENVELOPE and BODYSTRUCTURE as RFC 3501 7.4.2 defines them. Part sizes exclude the CRLF before
    # each boundary, which belongs to the boundary (RFC 2046 5.1.1), and a line count is the number of
    # LF octets left in the part, so the one-line text part has 0 lines, as Dovecot counts them.
    # ENVELOPE fields: date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id. defines it: date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id.
    envelope = (b'ENVELOPE ("Sat, 05 Dec 2026 10:00:00 -0300" "=?utf-8?q?Reuni=C3=A3o_de_planejamento?=" '
                b'(("Bob Example" NIL "bob" "demo.expresso.test")) (("Bob Example" NIL "bob" "demo.expresso.test")) '
                b'(("Bob Example" NIL "bob" "demo.expresso.test")) (("Alice" NIL "alice" "demo.expresso.test")) '
                b'(("Carol, C." NIL "carol" "example.org")) NIL NIL "<plan-1@demo.expresso.test>")')
    check(envelope in line, f'ENVELOPE:\n expected {envelope!r}\n in {line!r}')
    structure = (b'BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 64 0 NIL NIL NIL NIL)'
                 b'("APPLICATION" "OCTET-STREAM" ("NAME" "dados.bin") NIL NIL "BASE64" 8 NIL ("ATTACHMENT" '
                 b'("FILENAME" "dados.bin")) NIL NIL) "MIXED" ("BOUNDARY" "b1") NIL NIL NIL)')
    check(structure in line, f'BODYSTRUCTURE:\n expected {structure!r}\n in {line!r}')

    data = expect_ok(client.uid('FETCH', str(uid), '(BODY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[]<0.4>)'),
                     'FETCH sections')
    parts = {}
    for item in data:
        if isinstance(item, tuple):
            parts[item[0].split(b' ')[-2] if item[0].endswith(b'}') else item[0]] = item[1]
    joined = repr(data).encode()
    check(b'A reuni=C3=A3o sobre' in joined, f'BODY[1]: {data!r}')
    check(b'\\x00\\x01\\x02\\x03' in joined, f'BINARY[2] decoded: {data!r}')
    check(b'BINARY.SIZE[2] 4' in joined, f'BINARY.SIZE[2]: {data!r}')
    check(b'Subject: =?utf-8?q?Reuni=C3=A3o_de_planejamento?=\\r\\n\\r\\n' in joined, f'HEADER.FIELDS: {data!r}')
    check(b"BODY[]<0> {4}', b'From'" in joined, f'partial: {data!r}')
    data = expect_ok(client.uid('FETCH', str(uid), '(FLAGS)'), 'FETCH FLAGS')
    check(b'\\Seen' not in data[0], f'.PEEK set \\Seen: {data!r}')
    data = expect_ok(client.uid('FETCH', str(uid), '(BODY[TEXT])'), 'FETCH BODY[TEXT]')
    check(b'\\Seen' in repr(data).encode(), f'BODY[TEXT] did not set \\Seen: {data!r}')

    data = expect_ok(client.store('2:3', '+FLAGS', '(\\Answered)'), 'STORE +FLAGS')
    check(len([d for d in data if b'\\Answered' in d]) == 2, f'STORE replies: {data!r}')
    data = expect_ok(client.store('2', '-FLAGS.SILENT', '(\\Answered)'), 'STORE -FLAGS.SILENT')
    check(data == [None], f'.SILENT replied with FETCH: {data!r}')
    data = expect_ok(client.store('3', 'FLAGS', '(\\Draft)'), 'STORE FLAGS')
    check(data == [b'3 (FLAGS (\\Draft))'], f'STORE FLAGS: {data!r}')

    data = expect_ok(client.copy('1:2', quoted(other)), 'COPY')
    check(re.search(rb'\[COPYUID \d+ \d+:\d+ 1:2\]', data[0]), f'COPYUID: {data!r}')
    expect_no(lambda: client.copy('1', quoted(f'Nada {RUN}')), 'TRYCREATE', 'COPY to a missing mailbox')
    typ, data = client._simple_command('MOVE', '4', quoted(other))
    check(typ == 'OK', f'MOVE: {typ} {data}')
    check(client.untagged_responses.get('EXPUNGE') == [b'4'], f'MOVE EXPUNGE: {client.untagged_responses}')
    client.untagged_responses.clear()
    data = expect_ok(client.status(quoted(other), '(MESSAGES)'), 'STATUS')
    check(b'MESSAGES 3' in data[0], f'target after COPY and MOVE: {data!r}')

    expect_ok(client.store('1:2', '+FLAGS.SILENT', '(\\Deleted)'), 'STORE \\Deleted')
    typ, data = client.uid('EXPUNGE', str(uid))
    check(typ == 'OK', f'UID EXPUNGE: {typ} {data}')
    check(client.untagged_responses.get('EXPUNGE') == [b'1'], f'UID EXPUNGE removed: {client.untagged_responses}')
    client.untagged_responses.clear()
    data = expect_ok(client.expunge(), 'EXPUNGE')
    check(data == [b'1'], f'EXPUNGE: {data!r}')
    data = expect_ok(client.select(quoted(box)), 'SELECT')
    check(data == [b'2'], f'messages left: {data!r}')
    client.close()
    expect_ok(client.delete(quoted(box)), 'DELETE')
    expect_ok(client.delete(quoted(other)), 'DELETE')
    client.logout()


def scenario_search():
    """SEARCH keys over flags, dates, sizes, headers and decoded body text, ESEARCH and SAVE."""
    client = connect()
    box = f'Busca {RUN}'
    expect_ok(client.create(quoted(box)), 'CREATE')
    plain = ('From: Ana <ana@example.org>\r\nTo: alice@demo.expresso.test\r\nSubject: Lista de compras\r\n'
             'Date: Mon, 01 Jun 2026 08:00:00 +0000\r\nX-Projeto: Expresso\r\n\r\npao, cafe e acucar\r\n').encode()
    expect_ok(client.append(quoted(box), '(\\Seen)', '"01-Jun-2026 08:00:00 +0000"', plain), 'APPEND')
    expect_ok(client.append(quoted(box), '(\\Flagged)', '"05-Dec-2026 10:00:00 -0300"', message(7)), 'APPEND')
    expect_ok(client.select(quoted(box)), 'SELECT')
    cases = [
        (['ALL'], b'1 2'),
        (['SEEN'], b'1'),
        (['UNSEEN'], b'2'),
        (['FLAGGED'], b'2'),
        (['NOT', 'FLAGGED'], b'1'),
        (['OR', 'SEEN', 'FLAGGED'], b'1 2'),
        (['SUBJECT', 'reuniao'], b'2'),
        (['SUBJECT', 'REUNIÃO'.encode('utf-8')], b'2'),
        (['FROM', 'ana@example'], b'1'),
        (['TO', 'alice'], b'1 2'),
        (['CC', 'carol'], b'2'),
        (['BODY', 'migracao'], b'2'),
        (['TEXT', 'MIGRAÇÃO'.encode('utf-8')], b'2'),
        (['TEXT', 'acucar'], b'1'),
        (['HEADER', 'X-Projeto', 'expresso'], b'1'),
        (['BEFORE', '02-Jun-2026'], b'1'),
        (['SINCE', '02-Jun-2026'], b'2'),
        (['ON', '05-Dec-2026'], b'2'),
        (['SENTBEFORE', '02-Jun-2026'], b'1'),
        (['LARGER', '400'], b'2'),
        (['SMALLER', '400'], b'1'),
        (['1'], b'1'),
        (['2:*'], b'2'),
    ]
    for criteria, expected in cases:
        if isinstance(criteria[-1], bytes):
            # imaplib sends the UTF-8 value as a literal after CHARSET UTF-8.
            client.literal = criteria[-1]
            typ, data = client.search('UTF-8', *criteria[:-1])
        else:
            typ, data = client.search(None, *criteria)
        check(typ == 'OK' and data == [expected], f'SEARCH {criteria}: expected {expected!r}, got {typ} {data!r}')
    typ, data = client._simple_command('SEARCH', 'RETURN', '(MIN MAX COUNT)', 'ALL')
    esearch = client.untagged_responses.get('ESEARCH', [])
    check(typ == 'OK' and len(esearch) == 1 and esearch[0].endswith(b'MIN 1 MAX 2 COUNT 2'), f'ESEARCH: {esearch!r}')
    client.untagged_responses.clear()
    typ, data = client._simple_command('SEARCH', 'RETURN', '(SAVE)', 'FLAGGED')
    check(typ == 'OK', f'SEARCH RETURN (SAVE): {typ} {data}')
    data = expect_ok(client.fetch('$', '(UID)'), 'FETCH $')
    check(len(data) == 1 and data[0].startswith(b'2 '), f'FETCH $ after SAVE: {data!r}')
    expect_no(lambda: client.search('KOI8-R', 'TEXT', 'x'), 'BADCHARSET', 'SEARCH with an unknown charset')

    # SORT (RFC 5256): message 1 is smaller, older and from "ana"; message 2 is from "bob".
    sorts = [
        ('(SIZE)', b'1 2'),
        ('(REVERSE SIZE)', b'2 1'),
        ('(DATE)', b'1 2'),
        ('(REVERSE ARRIVAL)', b'2 1'),
        ('(FROM)', b'1 2'),
        ('(SUBJECT)', b'1 2'),
        ('(REVERSE FROM SIZE)', b'2 1'),
    ]
    for keys, expected in sorts:
        typ, data = client.sort(keys, 'UTF-8', 'ALL')
        check(typ == 'OK' and data == [expected], f'SORT {keys}: expected {expected!r}, got {typ} {data!r}')
    typ, data = client.uid('SORT', '(REVERSE SIZE)', 'UTF-8', 'SEEN')
    check(typ == 'OK' and len(data[0].split()) == 1, f'UID SORT with a search key: {typ} {data!r}')
    expect_no(lambda: client.sort('(SIZE)', 'KOI8-R', 'ALL'), 'BADCHARSET', 'SORT with an unknown charset')
    client.close()
    expect_ok(client.delete(quoted(box)), 'DELETE')
    client.logout()


def scenario_two_sessions():
    """A second session's APPEND, STORE and EXPUNGE reach the first as EXISTS, FETCH and EXPUNGE."""
    first = connect()
    second = connect()
    box = f'Compartilhada {RUN}'
    expect_ok(first.create(quoted(box)), 'CREATE')
    expect_ok(first.select(quoted(box)), 'SELECT in the first session')
    expect_ok(second.select(quoted(box)), 'SELECT in the second session')
    first.untagged_responses.clear()
    expect_ok(second.append(quoted(box), None, None, message(1)), 'APPEND in the second session')
    expect_ok(first.noop(), 'NOOP')
    check(first.untagged_responses.get('EXISTS') == [b'1'], f'EXISTS after APPEND: {first.untagged_responses}')
    first.untagged_responses.clear()
    expect_ok(second.noop(), 'NOOP')
    expect_ok(second.store('1', '+FLAGS', '(\\Flagged)'), 'STORE in the second session')
    expect_ok(first.noop(), 'NOOP')
    fetched = first.untagged_responses.get('FETCH', [])
    check(any(b'\\Flagged' in line for line in fetched), f'FETCH FLAGS after STORE: {first.untagged_responses}')
    first.untagged_responses.clear()
    expect_ok(second.store('1', '+FLAGS', '(\\Deleted)'), 'STORE \\Deleted')
    expect_ok(second.expunge(), 'EXPUNGE in the second session')
    expect_ok(first.noop(), 'NOOP')
    check(first.untagged_responses.get('EXPUNGE') == [b'1'], f'EXPUNGE in the first session: {first.untagged_responses}')
    first.close()
    second.close()
    expect_ok(first.delete(quoted(box)), 'DELETE')
    first.logout()
    second.logout()


def scenario_toobig():
    """An APPEND literal over APPENDLIMIT gets NO [TOOBIG] before any data is sent."""
    client = connect()
    capabilities = expect_ok(client.capability(), 'CAPABILITY')[0].decode().split()
    limit = int(next(c for c in capabilities if c.startswith('APPENDLIMIT=')).split('=')[1])
    client.logout()
    raw = ssl_socket()
    reader = raw.makefile('rb')
    reader.readline()
    email = os.environ['EXPRESSO_ALICE_EMAIL']
    password = os.environ['EXPRESSO_ALICE_APP_PASSWORD']
    raw.sendall(f'a1 LOGIN "{email}" "{password}"\r\n'.encode())
    while not (line := reader.readline()).startswith(b'a1 '):
        pass
    check(line.startswith(b'a1 OK'), f'LOGIN: {line!r}')
    raw.sendall(f'a2 APPEND INBOX {{{limit + 1}}}\r\n'.encode())
    reply = reader.readline()
    check(reply.startswith(b'a2 NO [TOOBIG]'), f'APPEND of {limit + 1} octets: {reply!r}')
    # At the limit the server requests the data with a continuation.
    raw.sendall(f'a3 APPEND INBOX {{{limit}}}\r\n'.encode())
    reply = reader.readline()
    check(reply.startswith(b'+'), f'APPEND of {limit} octets: {reply!r}')
    raw.close()


def scenario_tenant_isolation():
    """No command shows carol (acme) a mailbox of alice (demo), and alice's app password does not log in as carol."""
    alice = connect()
    secret = f'Segredo {RUN}'
    expect_ok(alice.create(quoted(secret)), 'CREATE in demo')
    carol = connect('CAROL')
    names = [name for _, name in listed_names(carol)]
    check(secret not in names, f'acme user sees a demo mailbox: {names}')
    expect_no(lambda: carol.select(quoted(secret)), 'NONEXISTENT', 'SELECT of a demo mailbox from acme')
    expect_no(lambda: carol.status(quoted(secret), '(MESSAGES)'), 'NONEXISTENT', 'STATUS of a demo mailbox from acme')
    expect_no(lambda: carol.append(quoted(secret), None, None, message(1)), 'TRYCREATE', 'APPEND to a demo mailbox from acme')
    carol.logout()
    other = imaplib.IMAP4_SSL(HOST, int(os.environ['EXPRESSO_IMAPS_PORT']), ssl_context=tls_context())
    expect_no(lambda: other.login(os.environ['EXPRESSO_CAROL_EMAIL'], os.environ['EXPRESSO_ALICE_APP_PASSWORD']),
              'AUTHENTICATIONFAILED', "LOGIN as carol with alice's app password")
    other.logout()
    expect_ok(alice.delete(quoted(secret)), 'DELETE')
    alice.logout()


def scenario_bad_commands():
    """Errors carry the right status: BAD for syntax, NO with a code for refusals."""
    raw = ssl_socket()
    reader = raw.makefile('rb')
    reader.readline()
    raw.sendall(b'a1 SELECT INBOX\r\n')
    check(reader.readline().startswith(b'a1 BAD'), 'SELECT before LOGIN')
    raw.sendall(b'a2 FROB\r\n')
    check(reader.readline().startswith(b'a2 BAD'), 'unknown command')
    raw.sendall(b'a3 LOGIN "x" "y"\r\n')
    check(reader.readline().startswith(b'a3 NO [AUTHENTICATIONFAILED]'), 'failed LOGIN')
    raw.sendall(b'a4 LOGOUT\r\n')
    check(reader.readline().startswith(b'* BYE'), 'LOGOUT BYE')
    check(reader.readline().startswith(b'a4 OK'), 'LOGOUT OK')
    raw.close()


def parse_sexp(data, start=0):
    """Parses one IMAP value (list, quoted string, literal marker, atom) at START; returns (value, end)."""
    i = start
    while data[i:i + 1] == b' ':
        i += 1
    if data[i:i + 1] == b'(':
        items, i = [], i + 1
        while data[i:i + 1] != b')':
            item, i = parse_sexp(data, i)
            items.append(item)
            while data[i:i + 1] == b' ':
                i += 1
        return items, i + 1
    if data[i:i + 1] == b'"':
        out, i = bytearray(), i + 1
        while data[i:i + 1] != b'"':
            if data[i:i + 1] == b'\\':
                i += 1
            out += data[i:i + 1]
            i += 1
        return bytes(out), i + 1
    end = i
    while end < len(data) and data[end:end + 1] not in (b' ', b')', b'('):
        end += 1
    atom = data[i:end]
    return (None if atom == b'NIL' else atom), end


def flatten_fetch(data):
    """Joins imaplib FETCH data into one line, literals written as quoted strings; returns it and the BODY[] literal."""
    line, body = b'', None
    for item in data:
        if isinstance(item, tuple):
            head, content = item
            head = re.sub(rb'\{\d+\}$', b'', head)
            if head.endswith(b'BODY[] '):
                body = content
            line += head + b'"' + content.replace(b'\\', b'\\\\').replace(b'"', b'\\"') + b'"'
        elif item is not None:
            line += item
    return line, body


def fetch_item(line, name):
    index = line.index(name + b' ') + len(name) + 1
    return parse_sexp(line, index)[0]


def scenario_corpus():
    """Messages of tests/corpus/mail: BODY[] is byte-exact, ENVELOPE and BODYSTRUCTURE match the headers and MIME tree."""
    import email
    import email.policy
    directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'corpus', 'mail')
    client = connect()
    box = f'Corpus {RUN}'
    expect_ok(client.create(quoted(box)), 'CREATE')
    files = sorted(name for name in os.listdir(directory) if name.endswith('.eml'))
    check(len(files) >= 5, f'corpus files: {files}')
    for name in files:
        with open(os.path.join(directory, name), 'rb') as handle:
            raw = handle.read()
        expect_ok(client.append(quoted(box), None, None, raw), f'APPEND {name}')
    expect_ok(client.select(quoted(box)), 'SELECT')
    for index, name in enumerate(files, start=1):
        with open(os.path.join(directory, name), 'rb') as handle:
            # imaplib's APPEND turns bare LF into CRLF, as the IMAP wire format needs.
            raw = re.sub(rb'\r?\n', b'\r\n', handle.read())
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
        data = expect_ok(client.fetch(str(index), '(ENVELOPE BODYSTRUCTURE BODY.PEEK[])'), f'FETCH {name}')
        line, literal = flatten_fetch(data)
        check(literal == raw, f'{name}: BODY[] differs from the appended message')
        envelope = fetch_item(line, b'ENVELOPE')
        check(len(envelope) == 10, f'{name}: ENVELOPE has {len(envelope)} fields')
        message_id = parsed['Message-ID']
        expected_id = ' '.join(message_id.split()).encode() if message_id else None
        check(envelope[9] == expected_id, f'{name}: ENVELOPE message-id {envelope[9]!r}, header {expected_id!r}')
        subject = parsed['Subject']
        expected_subject = ' '.join(subject.replace('\r', '').replace('\n', '').split()).encode() if subject else None
        got_subject = b' '.join(envelope[1].split()) if envelope[1] else None
        check(got_subject == expected_subject, f'{name}: ENVELOPE subject {envelope[1]!r}, header {expected_subject!r}')
        structure = fetch_item(line, b'BODYSTRUCTURE')
        if parsed.is_multipart():
            subtype = next(item for item in structure if not isinstance(item, list))
            check(subtype.upper() == parsed.get_content_subtype().upper().encode(),
                  f'{name}: multipart subtype {subtype!r}, header {parsed.get_content_subtype()}')
            parts = [item for item in structure if isinstance(item, list)]
            parts = [part for part in parts if part and (isinstance(part[0], list) or isinstance(part[0], bytes))]
            check(len([p for p in structure[:len(parsed.get_payload())] if isinstance(p, list)]) == len(parsed.get_payload()),
                  f'{name}: {len(parsed.get_payload())} parts expected in {structure!r}')
        else:
            check(structure[0].upper() == parsed.get_content_maintype().upper().encode() and
                  structure[1].upper() == parsed.get_content_subtype().upper().encode(),
                  f'{name}: type {structure[:2]!r}, header {parsed.get_content_type()}')
    # One structure checked field by field against RFC 3501 7.4.2: the body is the 22 octets after the
    # blank line, in 2 lines, 7bit, with the charset parameter of the folded Content-Type field.
    index = files.index('iso-2022-jp-subject-and-body.eml') + 1
    data = expect_ok(client.fetch(str(index), '(BODYSTRUCTURE)'), 'FETCH BODYSTRUCTURE')
    expected = b'BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "iso-2022-jp") NIL NIL "7BIT" 22 2 NIL NIL NIL NIL)'
    check(expected in data[0], f'iso-2022-jp BODYSTRUCTURE:\n expected {expected!r}\n got {data[0]!r}')
    client.close()
    expect_ok(client.delete(quoted(box)), 'DELETE')
    client.logout()


def main():
    name = sys.argv[1]
    scenario = globals().get(f'scenario_{name}')
    if scenario is None:
        print(f'unknown scenario {name}')
        return 2
    try:
        scenario()
    except ScenarioFailed as failure:
        print(f'FAILED: {failure}')
        return 1
    print('ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
