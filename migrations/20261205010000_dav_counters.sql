-- Counters that keep CalDAV and CardDAV writes as cheap for the
-- ten-thousandth resource of a collection as for the first.
--
-- calendars.octets: bytes of the calendar's objects, kept by every PUT and
-- DELETE of expresso-calendar, so the quota check sums one row per
-- calendar instead of every object.
--
-- tombstones_pruned_seq: a DELETE removes the collection's tombstones
-- older than the configured number of days and records here the highest
-- modseq it removed. A sync-token below that number could miss a
-- deletion, so it is answered 403 DAV:valid-sync-token and the client
-- syncs again from an empty token.

ALTER TABLE calendars ADD COLUMN octets bigint NOT NULL DEFAULT 0;
ALTER TABLE calendars ADD COLUMN tombstones_pruned_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE addressbooks ADD COLUMN tombstones_pruned_seq bigint NOT NULL DEFAULT 0;

CREATE INDEX calendar_tombstones_calendar_deleted_idx ON calendar_tombstones (calendar_id, deleted_at);
CREATE INDEX contact_tombstones_addressbook_deleted_idx ON contact_tombstones (addressbook_id, deleted_at);
