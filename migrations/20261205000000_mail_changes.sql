-- Change tracking for the mail store, shared by every writer: SMTP
-- delivery, IMAP, the HTTP API and Sieve. The rules live in triggers so
-- that no writer can break them and every reader sees the same history.
--
-- 1. UIDs and modseqs (RFC 9051, RFC 7162 CONDSTORE). A message inserted
--    with uid NULL gets the mailbox's next UID and a new modseq, taken
--    under the mailbox row lock. A change of flags gives the message a new
--    modseq. Changing mailbox_id is a move (RFC 6851): the message gets the
--    target's next UID and modseq, and the source records an expunge.
-- 2. Expunges are remembered in message_expunges with the modseq at which
--    they happened, for QRESYNC VANISHED (RFC 7162) and for sync clients.
-- 3. Objects: rows of COPY share a storage_key. When the last row naming a
--    key is deleted, the key goes to mail_object_garbage; a sweep deletes
--    the object after a grace period, checking again that no row names it.
--    Writers may also record a key there before they store an object, and
--    remove it in the transaction that inserts the row, so an object left
--    by a crash between the two is found without listing the storage.
-- 4. Every committed change to a mailbox or its messages sends
--    NOTIFY expresso_mail with the payload
--    '<tenant_id> <user_id> <mailbox_id>', once per mailbox and
--    transaction (PostgreSQL folds equal payloads). IDLE sessions on any
--    replica LISTEN and then read what changed since their modseq.

CREATE TABLE message_expunges (
	tenant_id uuid NOT NULL,
	mailbox_id uuid NOT NULL,
	uid bigint NOT NULL
		CONSTRAINT message_expunges_uid_range CHECK (uid BETWEEN 1 AND 4294967295),
	modseq bigint NOT NULL
		CONSTRAINT message_expunges_modseq_positive CHECK (modseq >= 1),
	expunged_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (mailbox_id, uid),
	FOREIGN KEY (tenant_id, mailbox_id) REFERENCES mailboxes (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX message_expunges_mailbox_modseq_idx ON message_expunges (mailbox_id, modseq);

CREATE TABLE mail_object_garbage (
	tenant_id uuid NOT NULL,
	storage_key text NOT NULL
		CONSTRAINT mail_object_garbage_key_not_empty CHECK (storage_key <> ''),
	queued_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, storage_key),
	FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
);

CREATE INDEX mail_object_garbage_queued_idx ON mail_object_garbage (queued_at);
-- The garbage check looks up other rows by key.
CREATE INDEX messages_storage_key_idx ON messages (tenant_id, storage_key);

-- Takes the next UID and a new modseq of MAILBOX, or raises when the
-- mailbox is not visible or its UID space is exhausted.
CREATE FUNCTION ex_mailbox_claim_uid(mailbox uuid, OUT uid bigint, OUT modseq bigint)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
	UPDATE public.mailboxes AS m
	SET uidnext = m.uidnext + 1, highestmodseq = m.highestmodseq + 1
	WHERE m.id = mailbox AND m.uidnext <= 4294967295
	RETURNING m.uidnext - 1, m.highestmodseq INTO uid, modseq;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'mailbox % does not exist or has no UIDs left', mailbox
			USING ERRCODE = 'P0002';
	END IF;
END
$$;

-- Takes a new modseq of MAILBOX; NULL when the mailbox is gone (a
-- cascading delete of the mailbox itself).
CREATE FUNCTION ex_mailbox_next_modseq(mailbox uuid) RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
	new_modseq bigint;
BEGIN
	UPDATE public.mailboxes AS m SET highestmodseq = m.highestmodseq + 1
	WHERE m.id = mailbox
	RETURNING m.highestmodseq INTO new_modseq;
	RETURN new_modseq;
END
$$;

CREATE FUNCTION ex_messages_before_insert() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
	IF NEW.uid IS NULL THEN
		SELECT c.uid, c.modseq INTO NEW.uid, NEW.modseq FROM public.ex_mailbox_claim_uid(NEW.mailbox_id) AS c;
	ELSIF NEW.modseq IS NULL THEN
		NEW.modseq := public.ex_mailbox_next_modseq(NEW.mailbox_id);
	END IF;
	RETURN NEW;
END
$$;

CREATE FUNCTION ex_messages_before_update() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
	expunge_modseq bigint;
BEGIN
	IF NEW.uid <> OLD.uid THEN
		RAISE EXCEPTION 'the UID of a message never changes; move it to another mailbox instead'
			USING ERRCODE = '55000';
	END IF;
	IF NEW.mailbox_id <> OLD.mailbox_id THEN
		SELECT c.uid, c.modseq INTO NEW.uid, NEW.modseq FROM public.ex_mailbox_claim_uid(NEW.mailbox_id) AS c;
		expunge_modseq := public.ex_mailbox_next_modseq(OLD.mailbox_id);
		INSERT INTO public.message_expunges (tenant_id, mailbox_id, uid, modseq)
		VALUES (OLD.tenant_id, OLD.mailbox_id, OLD.uid, expunge_modseq)
		ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq, expunged_at = now();
	ELSIF NEW.flags IS DISTINCT FROM OLD.flags THEN
		NEW.modseq := public.ex_mailbox_next_modseq(NEW.mailbox_id);
	END IF;
	RETURN NEW;
END
$$;

CREATE FUNCTION ex_messages_after_delete() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
	expunge_modseq bigint;
BEGIN
	expunge_modseq := public.ex_mailbox_next_modseq(OLD.mailbox_id);
	IF expunge_modseq IS NOT NULL THEN
		INSERT INTO public.message_expunges (tenant_id, mailbox_id, uid, modseq)
		VALUES (OLD.tenant_id, OLD.mailbox_id, OLD.uid, expunge_modseq)
		ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq, expunged_at = now();
	END IF;
	IF NOT EXISTS (SELECT 1 FROM public.messages AS m
		       WHERE m.tenant_id = OLD.tenant_id AND m.storage_key = OLD.storage_key) THEN
		INSERT INTO public.mail_object_garbage (tenant_id, storage_key)
		VALUES (OLD.tenant_id, OLD.storage_key)
		ON CONFLICT DO NOTHING;
	END IF;
	RETURN NULL;
END
$$;

-- One notification per mailbox touched by a statement.
CREATE FUNCTION ex_messages_notify() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM pg_notify('expresso_mail', m.tenant_id::text || ' ' || m.user_id::text || ' ' || m.id::text)
		FROM public.mailboxes AS m
		WHERE m.id IN (SELECT DISTINCT om.mailbox_id FROM old_messages AS om);
	ELSIF TG_OP = 'UPDATE' THEN
		PERFORM pg_notify('expresso_mail', m.tenant_id::text || ' ' || m.user_id::text || ' ' || m.id::text)
		FROM public.mailboxes AS m
		WHERE m.id IN (SELECT om.mailbox_id FROM old_messages AS om
			       UNION SELECT nm.mailbox_id FROM new_messages AS nm);
	ELSE
		PERFORM pg_notify('expresso_mail', m.tenant_id::text || ' ' || m.user_id::text || ' ' || m.id::text)
		FROM public.mailboxes AS m
		WHERE m.id IN (SELECT DISTINCT nm.mailbox_id FROM new_messages AS nm);
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION ex_mailboxes_notify() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
	changed record;
BEGIN
	IF TG_OP = 'DELETE' THEN
		changed := OLD;
	ELSE
		changed := NEW;
	END IF;
	PERFORM pg_notify('expresso_mail', changed.tenant_id::text || ' ' || changed.user_id::text || ' ' || changed.id::text);
	RETURN NULL;
END
$$;

CREATE TRIGGER messages_before_insert
	BEFORE INSERT ON messages
	FOR EACH ROW EXECUTE FUNCTION ex_messages_before_insert();

CREATE TRIGGER messages_before_update
	BEFORE UPDATE OF uid, mailbox_id, flags ON messages
	FOR EACH ROW EXECUTE FUNCTION ex_messages_before_update();

CREATE TRIGGER messages_after_delete
	AFTER DELETE ON messages
	FOR EACH ROW EXECUTE FUNCTION ex_messages_after_delete();

CREATE TRIGGER messages_notify_insert
	AFTER INSERT ON messages
	REFERENCING NEW TABLE AS new_messages
	FOR EACH STATEMENT EXECUTE FUNCTION ex_messages_notify();

CREATE TRIGGER messages_notify_update
	AFTER UPDATE ON messages
	REFERENCING OLD TABLE AS old_messages NEW TABLE AS new_messages
	FOR EACH STATEMENT EXECUTE FUNCTION ex_messages_notify();

CREATE TRIGGER messages_notify_delete
	AFTER DELETE ON messages
	REFERENCING OLD TABLE AS old_messages
	FOR EACH STATEMENT EXECUTE FUNCTION ex_messages_notify();

-- A mailbox's own counters (uidnext, highestmodseq) change with every
-- message; those changes are announced by the message triggers, so only
-- creation, renaming, subscription and deletion notify here.
CREATE TRIGGER mailboxes_notify
	AFTER INSERT OR DELETE OR UPDATE OF name, subscribed, special_use ON mailboxes
	FOR EACH ROW EXECUTE FUNCTION ex_mailboxes_notify();

ALTER FUNCTION ex_mailbox_claim_uid(uuid) OWNER TO expresso_owner;
ALTER FUNCTION ex_mailbox_next_modseq(uuid) OWNER TO expresso_owner;
ALTER FUNCTION ex_messages_before_insert() OWNER TO expresso_owner;
ALTER FUNCTION ex_messages_before_update() OWNER TO expresso_owner;
ALTER FUNCTION ex_messages_after_delete() OWNER TO expresso_owner;
ALTER FUNCTION ex_messages_notify() OWNER TO expresso_owner;
ALTER FUNCTION ex_mailboxes_notify() OWNER TO expresso_owner;
REVOKE ALL ON FUNCTION ex_mailbox_claim_uid(uuid), ex_mailbox_next_modseq(uuid), ex_messages_before_insert(),
	ex_messages_before_update(), ex_messages_after_delete(), ex_messages_notify(), ex_mailboxes_notify()
	FROM PUBLIC;

-- Only the triggers write expunges; the daemons read them. The garbage
-- list is read and emptied by the sweep and written by writers' intents.
REVOKE INSERT, UPDATE, DELETE ON message_expunges FROM expresso_app;
GRANT SELECT ON message_expunges TO expresso_app;
GRANT SELECT, INSERT, DELETE ON mail_object_garbage TO expresso_app;
REVOKE UPDATE ON mail_object_garbage FROM expresso_app;

ALTER TABLE message_expunges ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON message_expunges FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE mail_object_garbage ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mail_object_garbage FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
