-- CalDAV storage for expresso-calendar: calendar collections, the
-- calendar object resources in them, and tombstones of deleted objects
-- for sync-collection (RFC 6578). Dead properties set by PROPPATCH go to
-- dav_properties, keyed by paths under "calendars/".
--
-- Every change to a calendar takes the next value of its sync_seq; an
-- object and a tombstone keep the value of their last change in modseq, so
-- a sync-token names one point in that sequence and a delta is "modseq
-- greater than the token".

CREATE TABLE calendars (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	user_id uuid NOT NULL,
	-- The last path segment of the collection URL.
	name text NOT NULL
		CONSTRAINT calendars_name_format CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
	displayname text NOT NULL DEFAULT ''
		CONSTRAINT calendars_displayname_length CHECK (length(displayname) <= 255),
	description text NOT NULL DEFAULT ''
		CONSTRAINT calendars_description_length CHECK (length(description) <= 4096),
	-- CALDAV:supported-calendar-component-set as bits: 1 VEVENT, 2 VTODO, 4 VJOURNAL.
	components integer NOT NULL DEFAULT 7
		CONSTRAINT calendars_components_range CHECK (components BETWEEN 1 AND 7),
	-- CALDAV:calendar-timezone: a VCALENDAR with one VTIMEZONE, or ''.
	timezone text NOT NULL DEFAULT ''
		CONSTRAINT calendars_timezone_length CHECK (length(timezone) <= 65536),
	-- Apple's calendar-color (#RRGGBB or #RRGGBBAA), or ''.
	color text NOT NULL DEFAULT ''
		CONSTRAINT calendars_color_length CHECK (length(color) <= 32),
	sync_seq bigint NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, id),
	UNIQUE (user_id, name),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE calendar_objects (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	calendar_id uuid NOT NULL,
	-- The last path segment of the resource URL, percent-decoded.
	name text NOT NULL
		CONSTRAINT calendar_objects_name_length CHECK (length(name) BETWEEN 1 AND 255),
	uid text NOT NULL
		CONSTRAINT calendar_objects_uid_length CHECK (length(uid) BETWEEN 1 AND 1024),
	-- VEVENT, VTODO or VJOURNAL; expresso-calendar always sets it.
	component text NOT NULL DEFAULT 'VEVENT'
		CONSTRAINT calendar_objects_component_kind CHECK (component IN ('VEVENT', 'VTODO', 'VJOURNAL')),
	etag text NOT NULL,
	ical text NOT NULL,
	-- Bounds of every instance, recurrences expanded; NULL is unbounded.
	-- They narrow time-range queries; the exact test runs on the data.
	first_start timestamptz,
	last_end timestamptz,
	modseq bigint NOT NULL,
	modified_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (calendar_id, name),
	FOREIGN KEY (tenant_id, calendar_id) REFERENCES calendars (tenant_id, id) ON DELETE CASCADE
);

-- CALDAV:no-uid-conflict: one resource per UID in a calendar, checked by the
-- index rather than by scanning the collection on every PUT.
CREATE UNIQUE INDEX calendar_objects_calendar_uid_idx ON calendar_objects (calendar_id, uid);
CREATE INDEX calendar_objects_calendar_modseq_idx ON calendar_objects (calendar_id, modseq);
CREATE INDEX calendar_objects_calendar_time_idx ON calendar_objects (calendar_id, first_start, last_end);

CREATE TABLE calendar_tombstones (
	tenant_id uuid NOT NULL,
	calendar_id uuid NOT NULL,
	name text NOT NULL,
	modseq bigint NOT NULL,
	deleted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (calendar_id, name),
	FOREIGN KEY (tenant_id, calendar_id) REFERENCES calendars (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX calendar_tombstones_calendar_modseq_idx ON calendar_tombstones (calendar_id, modseq);

COMMENT ON TABLE calendar_tombstones IS 'Deleted calendar objects, reported as 404 by sync-collection to clients holding an older sync-token.';

ALTER TABLE calendars ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calendars FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE calendar_objects ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calendar_objects FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE calendar_tombstones ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calendar_tombstones FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON calendars, calendar_objects, calendar_tombstones TO expresso_app;
