"""IMAP scenarios for THREAD (RFC 5256), IMAP4rev2 (RFC 9051) and
MULTIAPPEND (RFC 3502), run with Python's imaplib against expresso-mail.

imap-thread.test.mjs and imap-rev2.test.mjs run them one by one:
`imap_thread_scenarios.py SCENARIO`. The helpers and the environment are
those of imap_scenarios.py.
"""
import imaplib
import re
import sys

from imap_scenarios import RUN, ScenarioFailed, check, connect, expect_no, expect_ok, quoted

# ---- THREAD ----------------------------------------------------------------------------

# A small conversation: (position, subject, Message-ID, In-Reply-To, References, Date).
# Position 0 is a message that is expunged before threading, so UIDs are one past the
# sequence numbers.
THREAD_MESSAGES = [
    ('filler', '<filler-{run}@e2e.test>', None, None, '05 Dec 2026 08:00:00'),
    ('=?utf-8?q?Plano_de_migra=C3=A7=C3=A3o?=', '<t1-{run}@e2e.test>', None, None, '05 Dec 2026 10:00:00'),
    ('Re: Plano de migração', '<t2-{run}@e2e.test>', '<t1-{run}@e2e.test>', '<t1-{run}@e2e.test>',
     '05 Dec 2026 11:00:00'),
    ('Outro assunto', '<t3-{run}@e2e.test>', None, None, '05 Dec 2026 10:30:00'),
    ('Re: Plano de migração', '<t4-{run}@e2e.test>', None, '<t1-{run}@e2e.test> <t2-{run}@e2e.test>',
     '05 Dec 2026 12:00:00'),
    ('RE: Plano de migração', '<t5-{run}@e2e.test>', None, '<t1-{run}@e2e.test>', '05 Dec 2026 11:30:00'),
    ('[lista] Re: Outro assunto', '<t6-{run}@e2e.test>', None, None, '05 Dec 2026 13:00:00'),
    ('Re: Perdido', '<t7-{run}@e2e.test>', None, '<missing-{run}@e2e.test>', '05 Dec 2026 09:00:00'),
    ('Re: Perdido', '<t8-{run}@e2e.test>', None, '<missing-{run}@e2e.test>', '05 Dec 2026 09:30:00'),
]


def thread_message(subject, message_id, in_reply_to, references, date):
    lines = [
        'From: Bob <bob@demo.expresso.test>',
        'To: Alice <alice@demo.expresso.test>',
        f'Subject: {subject}',
        f'Date: Sat, {date} -0300',
        f'Message-ID: {message_id}',
    ]
    if in_reply_to:
        lines.append(f'In-Reply-To: {in_reply_to}')
    if references:
        lines.append(f'References: {references}')
    lines += ['MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', 'Corpo da mensagem.', '']
    return '\r\n'.join(lines).replace('{run}', RUN).encode()


def capabilities(client):
    """Returns the capabilities after login, upper-cased: imaplib keeps only those of the greeting."""
    return expect_ok(client.capability(), 'CAPABILITY')[0].decode().upper().split()


def thread_data(response, what):
    """Returns the data of the THREAD response that imaplib's thread() or uid('THREAD') returned."""
    data = expect_ok(response, what)
    return b' '.join(d for d in data if d is not None).decode()


def untagged(client, typ, dat, name):
    typ, data = client._untagged_response(typ, dat, name)
    check(typ == 'OK', f'{name}: expected OK, got {typ} {data!r}')
    return b' '.join(d for d in data if d is not None).decode()


def fill_thread_mailbox(client, box):
    expect_ok(client.create(quoted(box)), 'CREATE')
    for fields in THREAD_MESSAGES:
        expect_ok(client.append(quoted(box), None, None, thread_message(*fields)), 'APPEND')
    expect_ok(client.select(quoted(box)), 'SELECT')
    expect_ok(client.store('1', '+FLAGS', '(\\Deleted)'), 'STORE')
    expect_ok(client.expunge(), 'EXPUNGE')


def scenario_thread():
    box = f'Thread-{RUN}'
    client = connect()
    advertised = capabilities(client)
    check('THREAD=REFERENCES' in advertised and 'THREAD=ORDEREDSUBJECT' in advertised,
          f'THREAD is not advertised: {advertised}')
    fill_thread_mailbox(client, box)

    # <t1> has the replies <t2> (with its reply <t4>) and <t5>. "[lista] Re: Outro
    # assunto" joins "Outro assunto" by subject. Both replies to the absent
    # <missing> share a dummy parent, which sorts by its oldest child.
    threads = thread_data(client.thread('REFERENCES', 'UTF-8', 'ALL'), 'THREAD REFERENCES')
    check(threads == '((7)(8))(1 (2 4)(5))(3 6)', f'THREAD REFERENCES: got {threads!r}')

    uid_threads = thread_data(client.uid('THREAD', 'REFERENCES', 'UTF-8', 'ALL'), 'UID THREAD REFERENCES')
    check(uid_threads == '((8)(9))(2 (3 5)(6))(4 7)', f'UID THREAD REFERENCES: got {uid_threads!r}')

    # ORDEREDSUBJECT groups by base subject only; accents and case are folded.
    ordered = thread_data(client.thread('ORDEREDSUBJECT', 'UTF-8', 'ALL'), 'THREAD ORDEREDSUBJECT')
    check(ordered == '(7 8)(1 (2)(5)(4))(3 6)', f'THREAD ORDEREDSUBJECT: got {ordered!r}')

    # Search criteria work as in SEARCH, and a search that matches nothing gives an empty THREAD.
    lost = thread_data(client.thread('REFERENCES', 'UTF-8', 'SUBJECT', 'perdido'), 'THREAD SUBJECT perdido')
    check(lost == '((7)(8))', f'THREAD REFERENCES SUBJECT perdido: got {lost!r}')
    migration = thread_data(client.thread('REFERENCES', 'US-ASCII', 'SUBJECT', 'migracao', 'NOT', '4'), 'THREAD NOT 4')
    check(migration == '(1 (2)(5))', f'THREAD with NOT 4: got {migration!r}')
    nothing = thread_data(client.thread('REFERENCES', 'UTF-8', 'FROM', 'nobody-at-all'), 'THREAD matching nothing')
    check(nothing == '', f'THREAD matching nothing: got {nothing!r}')

    check_thread_errors(client)
    client.close()
    expect_ok(client.delete(quoted(box)), 'DELETE')
    client.logout()


def check_thread_errors(client):
    for args, expected in [(('BOGUS', 'UTF-8', 'ALL'), 'BAD'), (('REFERENCES',), 'BAD'),
                           (('REFERENCES', 'UTF-8'), 'BAD')]:
        try:
            typ, dat = client._simple_command('THREAD', *args)
        except imaplib.IMAP4.error as error:
            typ, dat = 'BAD', [str(error).encode()]
        check(typ == expected, f'THREAD {args}: expected {expected}, got {typ} {dat!r}')
    expect_no(lambda: client.thread('REFERENCES', 'ISO-8859-1', 'ALL'), 'BADCHARSET', 'THREAD with ISO-8859-1')


# ---- IMAP4rev2 --------------------------------------------------------------------------


def simple_message(subject):
    return (f'From: bob@demo.expresso.test\r\nTo: alice@demo.expresso.test\r\nSubject: {subject}\r\n'
            f'Message-ID: <{subject}-{RUN}@e2e.test>\r\n\r\nTexto.\r\n').encode()


def scenario_rev2():
    box = f'Rev2-{RUN}'
    rev1 = connect()
    advertised = capabilities(rev1)
    check('IMAP4REV2' in advertised and 'IMAP4REV1' in advertised,
          f'IMAP4rev1 and IMAP4rev2 are not both advertised: {advertised}')
    expect_ok(rev1.create(quoted(box)), 'CREATE')
    for subject in ('um', 'dois'):
        expect_ok(rev1.append(quoted(box), None, None, simple_message(subject)), 'APPEND')

    # Without ENABLE the session stays IMAP4rev1: SELECT sends RECENT and SEARCH returns * SEARCH.
    expect_ok(rev1.select(quoted(box)), 'SELECT rev1')
    check(rev1.response('RECENT') == ('RECENT', [b'0']), f'rev1 SELECT: RECENT {rev1.response("RECENT")!r}')
    check(expect_ok(rev1.search(None, 'ALL'), 'SEARCH rev1') == [b'1 2'], 'rev1 SEARCH ALL')

    rev2 = connect()
    typ, data = rev2._simple_command('ENABLE', 'IMAP4rev2')
    enabled = untagged(rev2, typ, data, 'ENABLED')
    check(enabled == 'IMAP4rev2', f'ENABLE IMAP4rev2: got {enabled!r}')
    expect_ok(rev2.select(quoted(box)), 'SELECT rev2')
    check(rev2.response('RECENT') == ('RECENT', [None]), f'rev2 SELECT sent RECENT: {rev2.response("RECENT")!r}')
    listed = rev2.response('LIST')[1]
    check(listed != [None] and b'\\HasNoChildren' in listed[0] and box.encode() in listed[0],
          f'rev2 SELECT: expected a LIST response for {box}, got {listed!r}')

    found = untagged(rev2, *rev2._simple_command('SEARCH', 'ALL'), 'ESEARCH')
    check(re.fullmatch(r'\(TAG "[A-Z0-9]+"\) ALL 1:2', found) is not None, f'rev2 SEARCH ALL: got {found!r}')
    found = untagged(rev2, *rev2._simple_command('UID', 'SEARCH', 'SUBJECT', 'dois'), 'ESEARCH')
    check(re.fullmatch(r'\(TAG "[A-Z0-9]+"\) UID ALL 2', found) is not None, f'rev2 UID SEARCH: got {found!r}')
    found = untagged(rev2, *rev2._simple_command('SEARCH', 'SUBJECT', 'nada'), 'ESEARCH')
    check(re.fullmatch(r'\(TAG "[A-Z0-9]+"\)', found) is not None, f'rev2 SEARCH with no match: got {found!r}')

    check_status_deleted_size(rev2, box)
    check_literal_minus(rev2, box)
    rev1.logout()
    rev2.close()
    expect_ok(rev2.delete(quoted(box)), 'DELETE')
    rev2.logout()


def check_status_deleted_size(client, box):
    sizes = expect_ok(client.fetch('1:*', '(RFC822.SIZE)'), 'FETCH RFC822.SIZE')
    total = sum(int(re.search(rb'RFC822\.SIZE (\d+)', line).group(1)) for line in sizes)
    expect_ok(client.store('2', '+FLAGS', '(\\Deleted)'), 'STORE \\Deleted')
    status = expect_ok(client.status(quoted(box), '(MESSAGES DELETED SIZE)'), 'STATUS')[0].decode()
    check('MESSAGES 2' in status and 'DELETED 1' in status and f'SIZE {total}' in status,
          f'STATUS (MESSAGES DELETED SIZE): expected 2, 1 and {total}, got {status}')
    expect_ok(client.store('2', '-FLAGS', '(\\Deleted)'), 'STORE -\\Deleted')


def check_literal_minus(client, box):
    """APPEND with a non-synchronizing literal of RFC 7888 (LITERAL-, part of IMAP4rev2)."""
    body = simple_message('tres')
    client.send(f'L1 APPEND {quoted(box)} {{{len(body)}+}}\r\n'.encode() + body + b'\r\n')
    for _ in range(20):
        line = client.readline()
        check(not line.startswith(b'+'), 'a non-synchronizing literal got a continuation request')
        if line.startswith(b'L1 '):
            check(line.startswith(b'L1 OK [APPENDUID '), f'APPEND with LITERAL-: got {line!r}')
            return
    raise ScenarioFailed('APPEND with LITERAL-: no tagged response')


def list_line(client, pattern, name):
    """Returns the attributes LIST PATTERN gives for NAME, or None when NAME is not listed."""
    for line in expect_ok(client.list('""', pattern), f'LIST {pattern}'):
        match = re.match(rb'\((.*?)\) "/" "?(.*?)"?$', line or b'')
        if match is not None and match.group(2).decode() == name:
            return match.group(1).decode()
    return None


def scenario_nonexistent_parent():
    """A mailbox whose parent does not exist, as the mail API or Sieve can create (imap-rev2.test.mjs inserts it)."""
    parent = f'Orfa-{RUN}'
    rev1 = connect()
    attributes = list_line(rev1, '%', parent)
    check(attributes == '\\Noselect \\HasChildren', f'rev1 LIST %: {parent} has {attributes!r}')
    check(list_line(rev1, f'{parent}/%', f'{parent}/Filha') == '\\HasNoChildren', f'LIST {parent}/% misses the child')
    expect_no(lambda: rev1.select(quoted(parent)), 'NONEXISTENT', 'SELECT of the missing parent')

    rev2 = connect()
    expect_ok(rev2._simple_command('ENABLE', 'IMAP4rev2'), 'ENABLE IMAP4rev2')
    attributes = list_line(rev2, '*', parent)
    check(attributes == '\\NonExistent \\HasChildren', f'rev2 LIST *: {parent} has {attributes!r}')
    check(list_line(rev2, '*', 'INBOX') is not None, 'rev2 LIST * misses INBOX')
    check(list_line(rev2, 'Orfa-nada-%', parent) is None, 'LIST lists a missing parent its pattern does not match')

    expect_ok(rev2.delete(quoted(f'{parent}/Filha')), 'DELETE child')
    check(list_line(rev2, '*', parent) is None, f'{parent} is still listed after its only child was deleted')
    rev1.logout()
    rev2.logout()


# ---- MULTIAPPEND -------------------------------------------------------------------------


def multiappend(client, tag, box, groups):
    """Sends APPEND with several messages, one per GROUP (flags, body), waiting for each continuation request."""
    first = True
    for flags, body in groups:
        prefix = f'{tag} APPEND {quoted(box)}' if first else ''
        client.send(f'{prefix} {flags} {{{len(body)}}}\r\n'.encode())
        line = client.readline()
        if not line.startswith(b'+'):
            return line
        client.send(body)
        first = False
    client.send(b'\r\n')
    for _ in range(20):
        line = client.readline()
        if line.startswith(f'{tag} '.encode()):
            return line
    raise ScenarioFailed(f'{tag}: no tagged response')


def message_count(client, box):
    status = expect_ok(client.status(quoted(box), '(MESSAGES)'), 'STATUS')[0].decode()
    return int(re.search(r'MESSAGES (\d+)', status).group(1))


def scenario_multiappend():
    box = f'Multi-{RUN}'
    client = connect()
    advertised = capabilities(client)
    check('MULTIAPPEND' in advertised, f'MULTIAPPEND is not advertised: {advertised}')
    expect_ok(client.create(quoted(box)), 'CREATE')

    line = multiappend(client, 'M1', box, [('(\\Seen)', simple_message('a1')), ('()', simple_message('a2')),
                                           ('(\\Flagged)', simple_message('a3'))])
    match = re.match(rb'M1 OK \[APPENDUID \d+ (\d+):(\d+)\]', line) or re.match(rb'M1 OK \[APPENDUID \d+ (\d+),\d+,(\d+)\]', line)
    check(match is not None and int(match.group(2)) - int(match.group(1)) == 2,
          f'MULTIAPPEND of three: expected APPENDUID with three UIDs, got {line!r}')
    check(message_count(client, box) == 3, 'MULTIAPPEND of three stored a different number of messages')

    # All or nothing: an invalid flag in the second message rejects the whole command.
    line = multiappend(client, 'M2', box, [('()', simple_message('b1')), ('(\\Bogus)', simple_message('b2'))])
    check(line.startswith(b'M2 BAD') or line.startswith(b'M2 NO'), f'MULTIAPPEND with a bad flag: got {line!r}')
    check(message_count(client, box) == 3, 'a rejected MULTIAPPEND stored part of its messages')

    check_multiappend_limit(client, box)
    expect_ok(client.delete(quoted(box)), 'DELETE')
    client.logout()


MAX_APPEND_MESSAGES = 1000


def nonsync_append(client, tag, box, count):
    """Sends one APPEND of COUNT small messages as LITERAL+ literals and returns the tagged response."""
    body = simple_message('limite')
    group = f' () {{{len(body)}+}}\r\n'.encode() + body
    client.send(f'{tag} APPEND {quoted(box)}'.encode() + group * count + b'\r\n')
    for _ in range(20):
        line = client.readline()
        if line.startswith(f'{tag} '.encode()):
            return line
    raise ScenarioFailed(f'{tag}: no tagged response')


def check_multiappend_limit(client, box):
    before = message_count(client, box)
    line = nonsync_append(client, 'M3', box, MAX_APPEND_MESSAGES)
    check(line.startswith(b'M3 OK [APPENDUID '), f'APPEND of {MAX_APPEND_MESSAGES} messages: got {line!r}')
    check(message_count(client, box) == before + MAX_APPEND_MESSAGES,
          f'APPEND of {MAX_APPEND_MESSAGES} messages did not store them all')
    line = nonsync_append(client, 'M4', box, MAX_APPEND_MESSAGES + 1)
    check(line.startswith(b'M4 NO [LIMIT]'), f'APPEND of {MAX_APPEND_MESSAGES + 1} messages: got {line!r}')
    check(message_count(client, box) == before + MAX_APPEND_MESSAGES,
          'an APPEND over the message limit stored part of its messages')


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
