"""CalDAV and CardDAV timings of expresso-calendar and expresso-contacts next to Radicale.

Loads the same 10,000 events (a fifth of them weekly series) and 10,000
contacts into both servers, then times, per server, the median of
several runs of: a one-month time-range calendar-query, an initial and a
one-change sync-collection, a 100-item calendar-multiget and an
addressbook-query by name. Prints one table with both servers and the
ratio (Radicale time / expresso time).

Expresso is loaded through its own APIs (the calendar import API and
CardDAV PUT). Radicale is loaded by writing one file per item into its
filesystem collections, because its PUT slows down as a collection grows
(it checks UIDs by scanning the collection), and then indexed by one
untimed request.

Run by tests/bench/dav/dav-bench.sh, which passes the stack's URLs and
starts Radicale.
"""
import base64
import concurrent.futures
import http.client
import json
import os
import random
import statistics
import sys
import time
import urllib.parse

EVENTS = int(os.environ.get("BENCH_EVENTS", "10000"))
CONTACTS = int(os.environ.get("BENCH_CONTACTS", "10000"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
RECURRING_SHARE = 5  # every fifth event is a weekly series

CALDAV_NS = 'xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:card="urn:ietf:params:xml:ns:carddav"'
SURNAMES = ["Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
            "Conceição", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira"]
GIVEN = ["Ana", "João", "Maria", "José", "Francisca", "Antônio", "Adriana", "Carlos", "Juliana", "Paulo"]


def event_text(index):
    """Returns event INDEX: spread over 2026, every RECURRING_SHARE-th a weekly series of a year."""
    rng = random.Random(index)
    day = rng.randrange(0, 365)
    hour = rng.randrange(8, 18)
    start = time.gmtime(time.mktime((2026, 1, 1, 0, 0, 0, 0, 0, 0)) + day * 86400 + hour * 3600 - time.timezone)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", start)
    end = stamp[:9] + f"{hour + 1:02d}" + stamp[11:]
    rule = "RRULE:FREQ=WEEKLY;COUNT=52\r\n" if index % RECURRING_SHARE == 0 else ""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//expresso bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:bench-event-{index}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{stamp}\r\nDTEND:{end}\r\n"
        f"SUMMARY:Reunião {index}\r\nDESCRIPTION:Pauta da reunião número {index}\r\n{rule}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def contact_text(index):
    given = GIVEN[index % len(GIVEN)]
    surname = SURNAMES[(index // len(GIVEN)) % len(SURNAMES)]
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bench-contact-{index}\r\nFN:{given} {surname} {index}\r\n"
        f"N:{surname};{given};;;\r\nEMAIL;TYPE=work:user{index}@example.org\r\nTEL;TYPE=cell:+55 61 9{index:08d}\r\n"
        "END:VCARD\r\n"
    )


class Server:
    """One DAV server: base URL, credentials and the collection paths."""

    def __init__(self, name, url, user, password, calendar, addressbook, addressbook_server=None):
        parsed = urllib.parse.urlsplit(url)
        self.name = name
        self.host = parsed.hostname
        self.port = parsed.port
        self.authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.calendar = calendar
        self.addressbook = addressbook
        # Expresso serves address books from another daemon than calendars.
        self.addressbook_server = addressbook_server
        self.connection = None

    def request(self, method, path, body=None, headers=None):
        """Sends one request on a kept-alive connection; returns (status, body bytes)."""
        if self.addressbook_server is not None and path.startswith(self.addressbook):
            return self.addressbook_server.request(method, path, body, headers)
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=600)
            try:
                all_headers = {"Authorization": self.authorization}
                all_headers.update(headers or {})
                data = body.encode() if isinstance(body, str) else body
                self.connection.request(method, path, body=data, headers=all_headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = None
                if attempt == 1:
                    raise
        raise RuntimeError("unreachable")


def report(server, path, xml, depth="1"):
    status, body = server.request("REPORT", path, xml, {"Content-Type": "application/xml; charset=utf-8", "Depth": depth})
    if status != 207:
        raise RuntimeError(f"{server.name} REPORT {path} answered {status}: {body[:300]!r}")
    return body.decode()


def sync_token(body):
    start = body.index("sync-token>") + len("sync-token>")
    return body[start:body.index("<", start)]


def timed(function):
    """Returns the median of RUNS runs of FUNCTION in milliseconds, after one untimed run, and its last result."""
    result = function()
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        result = function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def measure(server):
    """Times every row on SERVER; returns {row: (milliseconds, detail)}."""
    rows = {}
    query = (f'<c:calendar-query {CALDAV_NS}><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
             '<c:comp-filter name="VEVENT"><c:time-range start="20260601T000000Z" end="20260701T000000Z"/>'
             "</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>")
    ms, body = timed(lambda: report(server, server.calendar, query))
    rows["calendar-query, one month"] = (ms, f"{body.count('<d:response>') + body.count('<response>')} events")

    initial = f'<d:sync-collection {CALDAV_NS}><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>'
    ms, body = timed(lambda: report(server, server.calendar, initial, depth="0"))
    rows["sync-collection, initial"] = (ms, f"{body.count('getetag>') // 2} items")

    changes = []

    def one_change():
        token = sync_token(report(server, server.calendar, initial, depth="0")) if not changes else changes[-1]
        changed = event_text(7).replace("SUMMARY:Reunião 7", f"SUMMARY:Reunião 7 ({len(changes)})")
        status, _ = server.request("PUT", f"{server.calendar}bench-event-7.ics", changed, {"Content-Type": "text/calendar"})
        if status not in (201, 204):
            raise RuntimeError(f"{server.name} PUT answered {status}")
        delta = f'<d:sync-collection {CALDAV_NS}><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>'
        started = time.perf_counter()
        body = report(server, server.calendar, delta, depth="0")
        elapsed = (time.perf_counter() - started) * 1000
        changes.append(sync_token(body))
        return elapsed, body

    samples = [one_change()[0] for _ in range(RUNS + 1)][1:]
    rows["sync-collection, one change"] = (statistics.median(samples), "1 item")

    expand = (f'<c:calendar-query {CALDAV_NS}><d:prop><d:getetag/><c:calendar-data><c:expand start="20260601T000000Z" '
              'end="20260608T000000Z"/></c:calendar-data></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
              '<c:comp-filter name="VEVENT"><c:time-range start="20260601T000000Z" end="20260608T000000Z"/>'
              "</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>")
    ms, body = timed(lambda: report(server, server.calendar, expand))
    rows["calendar-query with expand, one week"] = (ms, f"{body.count('BEGIN:VEVENT')} instances, {body.count('RRULE')} RRULEs")

    hrefs = "".join(f"<d:href>{server.calendar}bench-event-{i}.ics</d:href>" for i in range(100, 200))
    multiget = f'<c:calendar-multiget {CALDAV_NS}><d:prop><d:getetag/><c:calendar-data/></d:prop>{hrefs}</c:calendar-multiget>'
    ms, body = timed(lambda: report(server, server.calendar, multiget))
    rows["calendar-multiget, 100 items"] = (ms, f"{body.count('BEGIN:VEVENT')} events")

    card_query = (f'<card:addressbook-query {CALDAV_NS}><d:prop><d:getetag/></d:prop><card:filter>'
                  '<card:prop-filter name="FN"><card:text-match match-type="contains">Conceição</card:text-match>'
                  "</card:prop-filter></card:filter></card:addressbook-query>")
    ms, body = timed(lambda: report(server, server.addressbook, card_query))
    rows["addressbook-query, by name"] = (ms, f"{body.count('getetag>') // 2} contacts")
    return rows


def load_expresso(server):
    """Loads the events with the import API and the contacts with CardDAV PUT (8 connections)."""
    status, body = server.request("POST", "/api/v1/calendars", json.dumps({"name": "bench", "components": ["VEVENT"]}),
                                  {"Content-Type": "application/json"})
    if status not in (201, 409):
        raise RuntimeError(f"creating the expresso calendar answered {status}: {body!r}")
    batch = 2000
    for first in range(0, EVENTS, batch):
        components = []
        for index in range(first, min(first + batch, EVENTS)):
            text = event_text(index)
            components.append(text[text.index("BEGIN:VEVENT"):text.index("END:VCALENDAR")])
        feed = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//expresso bench//EN\r\n" + "".join(components) + "END:VCALENDAR\r\n"
        status, body = server.request("POST", "/api/v1/calendars/bench/import", feed, {"Content-Type": "text/calendar"})
        if status != 200:
            raise RuntimeError(f"expresso import answered {status}: {body[:300]!r}")

    contacts = server.addressbook_server

    def put(index):
        connection = http.client.HTTPConnection(contacts.host, contacts.port, timeout=60)
        connection.request("PUT", f"{server.addressbook}bench-contact-{index}.vcf", body=contact_text(index).encode(),
                           headers={"Authorization": server.authorization, "Content-Type": "text/vcard"})
        status = connection.getresponse().status
        connection.close()
        if status not in (201, 204):
            raise RuntimeError(f"expresso contact PUT answered {status}")

    server.request("MKCOL", server.addressbook)
    # Each PUT checks the quota, so the rate of the last thousand PUTs shows whether that check grows with the book.
    rates = []
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for first in range(0, CONTACTS, 1000):
            started = time.perf_counter()
            chunk = range(first, min(first + 1000, CONTACTS))
            list(pool.map(put, chunk))
            rates.append(len(chunk) / (time.perf_counter() - started))
    print(f"expresso contact PUTs per second, by thousand: {', '.join(f'{rate:.0f}' for rate in rates)}", file=sys.stderr)


def load_radicale(root, user):
    """Writes the items into Radicale's filesystem storage under ROOT."""
    for name, tag, extension, text in (("bench", "VCALENDAR", "ics", event_text), ("contacts", "VADDRESSBOOK", "vcf", contact_text)):
        folder = os.path.join(root, "collection-root", user, name)
        os.makedirs(folder, exist_ok=True)
        props = {"tag": tag}
        if tag == "VCALENDAR":
            props["C:supported-calendar-component-set"] = "VEVENT"
        with open(os.path.join(folder, ".Radicale.props"), "w", encoding="utf-8") as handle:
            json.dump(props, handle)
        count = EVENTS if tag == "VCALENDAR" else CONTACTS
        prefix = "bench-event" if tag == "VCALENDAR" else "bench-contact"
        for index in range(count):
            with open(os.path.join(folder, f"{prefix}-{index}.{extension}"), "w", encoding="utf-8", newline="") as handle:
                handle.write(text(index))


def main():
    caldav_url = os.environ["EXPRESSO_CALDAV_URL"]
    carddav_url = os.environ["EXPRESSO_CARDDAV_URL"]
    email = os.environ["EXPRESSO_ALICE_EMAIL"]
    password = os.environ["EXPRESSO_ALICE_APP_PASSWORD"]
    radicale_url = os.environ["BENCH_RADICALE_URL"]
    radicale_root = os.environ["BENCH_RADICALE_ROOT"]

    probe = Server("expresso", caldav_url, email, password, "", "")
    status, body = probe.request("PROPFIND", "/", '<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>',
                                    {"Depth": "0", "Content-Type": "application/xml"})
    principal = body.decode().split("<d:current-user-principal><d:href>")[1].split("<")[0]
    user_id = principal.rstrip("/").split("/")[-1]
    addressbook = f"/dav/addressbooks/{user_id}/bench/"
    contacts = Server("expresso-contacts", carddav_url, email, password, "", addressbook)
    expresso = Server("expresso", caldav_url, email, password, f"/dav/calendars/{user_id}/bench/", addressbook, contacts)
    radicale = Server("radicale", radicale_url, "bench", "bench", "/bench/bench/", "/bench/contacts/")

    started = time.perf_counter()
    load_expresso(expresso)
    print(f"loaded expresso in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    started = time.perf_counter()
    load_radicale(radicale_root, "bench")
    # One untimed request per collection lets Radicale build its caches.
    report(radicale, radicale.calendar, f'<d:sync-collection {CALDAV_NS}><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>', depth="0")
    report(radicale, radicale.addressbook, f'<d:sync-collection {CALDAV_NS}><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>', depth="0")
    print(f"loaded and indexed radicale in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    results = {"expresso": measure(expresso), "radicale": measure(radicale)}
    print(f"\n{EVENTS} events ({EVENTS // RECURRING_SHARE} weekly series), {CONTACTS} contacts; median of {RUNS} runs\n")
    print(f"| operation | expresso ms | radicale ms | ratio | expresso answer | radicale answer |")
    print("|---|---:|---:|---:|---|---|")
    for row in results["expresso"]:
        ours, our_detail = results["expresso"][row]
        theirs, their_detail = results["radicale"][row]
        print(f"| {row} | {ours:.1f} | {theirs:.1f} | {theirs / ours:.1f}x | {our_detail} | {their_detail} |")


if __name__ == "__main__":
    main()
