"""python3-caldav (Debian) against expresso-calendar, run by caldav_clients.test.mjs.

Covers principal discovery from the well-known URL, calendar creation,
a recurring event with a cancelled and a moved instance, time-range
searches with and without client-side expansion, an edit of a stored
event, and todos (pending, completed). Exits non-zero with a message on
the first failed check.

Environment: EXPRESSO_CALDAV_URL, EXPRESSO_ALICE_EMAIL, EXPRESSO_ALICE_APP_PASSWORD.
"""
import os
import sys
from datetime import datetime, timezone

import caldav
from caldav.lib import error

BASE = os.environ["EXPRESSO_CALDAV_URL"]
EMAIL = os.environ["EXPRESSO_ALICE_EMAIL"]
PASSWORD = os.environ["EXPRESSO_ALICE_APP_PASSWORD"]

WEEKLY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//expresso tests//python-caldav//EN
BEGIN:VEVENT
UID:python-weekly
DTSTAMP:20260101T000000Z
DTSTART:20260105T130000Z
DTEND:20260105T140000Z
SUMMARY:Weekly review
RRULE:FREQ=WEEKLY;COUNT=8
EXDATE:20260119T130000Z
END:VEVENT
BEGIN:VEVENT
UID:python-weekly
DTSTAMP:20260101T000000Z
RECURRENCE-ID:20260126T130000Z
DTSTART:20260127T150000Z
DTEND:20260127T160000Z
SUMMARY:Weekly review (moved)
END:VEVENT
END:VCALENDAR
"""

SINGLE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//expresso tests//python-caldav//EN
BEGIN:VEVENT
UID:python-single
DTSTAMP:20260101T000000Z
DTSTART:20260210T100000Z
DTEND:20260210T110000Z
SUMMARY:Dentist
END:VEVENT
END:VCALENDAR
"""


def todo(uid, summary, extra=""):
    return (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//expresso tests//python-caldav//EN\nBEGIN:VTODO\n"
        f"UID:{uid}\nDTSTAMP:20260101T000000Z\nSUMMARY:{summary}\n{extra}STATUS:NEEDS-ACTION\nEND:VTODO\nEND:VCALENDAR\n"
    )


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def utc(year, month, day, hour=0):
    return datetime(year, month, day, hour, tzinfo=timezone.utc)


def fresh_calendar(principal, cal_id, components):
    for existing in principal.calendars():
        if str(existing.url).rstrip("/").endswith("/" + cal_id):
            existing.delete()
    return principal.make_calendar(name=cal_id.title(), cal_id=cal_id, supported_calendar_component_set=components)


def main():
    client = caldav.DAVClient(url=f"{BASE}/.well-known/caldav", username=EMAIL, password=PASSWORD)
    principal = client.principal()
    check("/dav/principals/" in str(principal.url), f"principal found from the well-known URL: {principal.url}")
    names = sorted(str(c.url).rstrip("/").split("/")[-1] for c in principal.calendars())
    check("default" in names and "tasks" in names, f"default calendar and task list listed: {names}")

    events = fresh_calendar(principal, "python-events", ["VEVENT"])
    check(events.get_supported_components() == ["VEVENT"], f"components: {events.get_supported_components()}")
    events.save_event(WEEKLY)
    events.save_event(SINGLE)
    try:
        events.save_event(SINGLE.replace("Dentist", "Duplicate"), no_overwrite=True)
        check(False, "no_overwrite must not replace an existing event")
    except (error.ConsistencyError, error.PutError):
        pass

    # January: 8 weekly instances from 5 January, 19 January cancelled, 26 January moved to the 27th.
    expanded = events.search(start=utc(2026, 1, 1), end=utc(2026, 2, 1), event=True, expand=True)
    starts = sorted(e.icalendar_component["DTSTART"].dt.astimezone(timezone.utc).strftime("%m-%d %H") for e in expanded)
    check(starts == ["01-05 13", "01-12 13", "01-27 15"], f"expanded January instances: {starts}")
    # Three weeks where the cancelled date is the only candidate: nothing.
    none = events.search(start=utc(2026, 1, 19), end=utc(2026, 1, 20), event=True)
    check(len(none) == 0, f"the cancelled instance is not found: {[e.url for e in none]}")
    both = events.date_search(start=utc(2026, 2, 1), end=utc(2026, 3, 1))
    uids = sorted(str(e.icalendar_instance.walk("VEVENT")[0]["UID"]) for e in both)
    check(uids == ["python-single", "python-weekly"], f"February finds the series and the single event: {uids}")
    later = events.search(start=utc(2026, 3, 1), end=utc(2026, 4, 1), event=True)
    check(len(later) == 0, "nothing after the last instance")

    # Edit the stored event twice, reading it back each time.
    for round_number in (1, 2):
        single = events.event_by_uid("python-single")
        single.icalendar_component["SUMMARY"] = f"Dentist, edit {round_number}"
        single.save()
        again = events.event_by_uid("python-single")
        check(str(again.icalendar_component["SUMMARY"]) == f"Dentist, edit {round_number}", f"edit {round_number} stored")

    tasks = fresh_calendar(principal, "python-tasks", ["VTODO"])
    tasks.save_todo(todo("python-todo-1", "Write report", "DUE:20260201T120000Z\n"))
    tasks.save_todo(todo("python-todo-2", "Book travel"))
    pending = sorted(str(t.icalendar_component["UID"]) for t in tasks.todos())
    check(pending == ["python-todo-1", "python-todo-2"], f"pending todos: {pending}")
    tasks.todo_by_uid("python-todo-2").complete()
    pending = sorted(str(t.icalendar_component["UID"]) for t in tasks.todos())
    check(pending == ["python-todo-1"], f"a completed todo is no longer pending: {pending}")
    everything = tasks.todos(include_completed=True)
    check(len(everything) == 2, f"include_completed lists both: {len(everything)}")
    try:
        events.save_todo(todo("python-todo-3", "Wrong calendar"))
        check(False, "a todo in an events-only calendar must be refused")
    except (error.PutError, error.AuthorizationError):
        # python3-caldav 0.11 raises AuthorizationError for any 403, here CALDAV:supported-calendar-component.
        pass

    events.delete()
    tasks.delete()
    print("python3-caldav scenario passed")


if __name__ == "__main__":
    main()
