"""python3-caldav (Debian) asking expresso-calendar to expand a recurring
event, run by caldav-expand.test.mjs.

Two searches over one weekly series with a cancelled and a moved
instance: a query built by the library with expand=True and sent as is
(so the client cannot expand on its own side), and date_search with
expand=True. Exits non-zero with a message on the first failed check.

Environment: EXPRESSO_CALDAV_URL, EXPRESSO_ALICE_EMAIL, EXPRESSO_ALICE_APP_PASSWORD.
"""
import os
import sys
from datetime import datetime, timezone

import caldav

BASE = os.environ["EXPRESSO_CALDAV_URL"]
EMAIL = os.environ["EXPRESSO_ALICE_EMAIL"]
PASSWORD = os.environ["EXPRESSO_ALICE_APP_PASSWORD"]
CALENDAR_ID = "python-expand"

WEEKLY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//expresso tests//python-caldav//EN
BEGIN:VTIMEZONE
TZID:America/Sao_Paulo
BEGIN:STANDARD
DTSTART:19700101T000000
TZOFFSETFROM:-0300
TZOFFSETTO:-0300
TZNAME:-03
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:python-expand-weekly
DTSTAMP:20260101T000000Z
DTSTART;TZID=America/Sao_Paulo:20270104T090000
DTEND;TZID=America/Sao_Paulo:20270104T100000
SUMMARY:Weekly review
RRULE:FREQ=WEEKLY;COUNT=6
EXDATE;TZID=America/Sao_Paulo:20270118T090000
END:VEVENT
BEGIN:VEVENT
UID:python-expand-weekly
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=America/Sao_Paulo:20270125T090000
DTSTART;TZID=America/Sao_Paulo:20270126T150000
DTEND;TZID=America/Sao_Paulo:20270126T160000
SUMMARY:Weekly review (moved)
END:VEVENT
END:VCALENDAR
"""


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def utc(year, month, day, hour=0):
    return datetime(year, month, day, hour, tzinfo=timezone.utc)


def main():
    client = caldav.DAVClient(url=f"{BASE}/.well-known/caldav", username=EMAIL, password=PASSWORD)
    principal = client.principal()
    for existing in principal.calendars():
        if str(existing.url).rstrip("/").endswith("/" + CALENDAR_ID):
            existing.delete()
    events = principal.make_calendar(name="Expand", cal_id=CALENDAR_ID, supported_calendar_component_set=["VEVENT"])
    events.save_event(WEEKLY)

    # January 2027: the 4th and 11th at 12:00 UTC, the 18th cancelled, the 25th moved to the 26th at 18:00 UTC.
    (query, comp_class) = events.build_search_xml_query(start=utc(2027, 1, 1), end=utc(2027, 2, 1), event=True, expand=True)
    found = events.search(xml=query, comp_class=comp_class)
    check(len(found) == 1, f"one calendar object resource matches: {len(found)}")
    data = found[0].data
    for forbidden in ("RRULE", "EXDATE", "VTIMEZONE", "TZID"):
        check(forbidden not in data, f"the server expanded the series, but {forbidden} is still in:\n{data}")
    instances = found[0].icalendar_instance.walk("VEVENT")
    ids = sorted(i["RECURRENCE-ID"].to_ical().decode() for i in instances)
    check(ids == ["20270104T120000Z", "20270111T120000Z", "20270125T120000Z"], f"RECURRENCE-IDs in UTC: {ids}")
    starts = sorted(i["DTSTART"].to_ical().decode() for i in instances)
    check(starts == ["20270104T120000Z", "20270111T120000Z", "20270126T180000Z"], f"instance starts in UTC: {starts}")

    # date_search returns each resource whole, with one VEVENT per instance.
    expanded = events.date_search(start=utc(2027, 1, 1), end=utc(2027, 2, 1), expand=True)
    check(all("RRULE" not in e.data for e in expanded), "date_search(expand=True) data holds no RRULE")
    starts = sorted(
        c["DTSTART"].dt.astimezone(timezone.utc).strftime("%m-%d %H")
        for e in expanded
        for c in e.icalendar_instance.walk("VEVENT")
    )
    check(starts == ["01-04 12", "01-11 12", "01-26 18"], f"date_search(expand=True) instances: {starts}")
    # search splits the instances into objects of their own.
    february = events.search(start=utc(2027, 2, 1), end=utc(2027, 3, 1), event=True, expand=True)
    starts = sorted(e.icalendar_component["DTSTART"].dt.astimezone(timezone.utc).strftime("%m-%d %H") for e in february)
    check(starts == ["02-01 12", "02-08 12"], f"February instances: {starts}")

    events.delete()
    print("python3-caldav expand scenario passed")


if __name__ == "__main__":
    main()
