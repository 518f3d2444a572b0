-- CalDAV scheduling (RFC 6638) for expresso-calendar: the schedule inbox
-- of each user, the outbox of iMIP messages (RFC 6047) waiting for
-- expresso-mail, and the schedule-tag of calendar objects.
--
-- expresso-calendar writes an outbox row in the transaction that stores
-- the event change, then publishes calendar.itip on the bus. expresso-mail
-- reads the rows of that tenant that are not yet queued, submits each as a
-- message from the sender's address and sets queued_at.

-- The iTIP methods (RFC 5546) that scheduling sends.
CREATE TYPE calendar_itip_method AS ENUM ('REQUEST', 'CANCEL', 'REPLY');

CREATE TABLE calendar_schedule_inbox (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	user_id uuid NOT NULL,
	-- The last path segment of the resource URL under the inbox collection.
	name text NOT NULL
		CONSTRAINT calendar_schedule_inbox_name_length CHECK (length(name) BETWEEN 1 AND 255),
	uid text NOT NULL
		CONSTRAINT calendar_schedule_inbox_uid_length CHECK (length(uid) BETWEEN 1 AND 1024),
	method calendar_itip_method NOT NULL,
	etag text NOT NULL,
	ical text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (user_id, name),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE calendar_itip_outbox (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	-- The user whose change produced the message: the organizer, or the attendee replying.
	user_id uuid NOT NULL,
	sender text NOT NULL
		CONSTRAINT calendar_itip_outbox_sender_length CHECK (length(sender) BETWEEN 3 AND 254),
	recipient text NOT NULL
		CONSTRAINT calendar_itip_outbox_recipient_length CHECK (length(recipient) BETWEEN 3 AND 254),
	method calendar_itip_method NOT NULL,
	uid text NOT NULL,
	summary text NOT NULL DEFAULT '',
	ical text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	-- Set by expresso-mail once the message is in its queue; NULL while waiting.
	queued_at timestamptz,
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX calendar_itip_outbox_waiting_idx ON calendar_itip_outbox (tenant_id, created_at) WHERE queued_at IS NULL;

-- CALDAV:schedule-tag (RFC 6638 section 3.2.10): changes when the stored
-- object changes, except when the server only merges an attendee's reply
-- into the organizer's copy. NULL for objects stored before this column.
ALTER TABLE calendar_objects ADD COLUMN schedule_tag text;

ALTER TABLE calendar_schedule_inbox ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calendar_schedule_inbox FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE calendar_itip_outbox ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calendar_itip_outbox FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON calendar_schedule_inbox, calendar_itip_outbox TO expresso_app;
