-- The outbound queue of expresso-mail: messages accepted for recipients
-- in domains this installation does not host. The message itself is an
-- object in storage (key queue/<uuid> under the tenant), written and made
-- durable before its row is inserted; a worker delivers it and deletes
-- the row and the object once every recipient is delivered or bounced.
--
-- Delivery status notifications that the server writes for a queued
-- message stay in that message's tenant, so every row has a tenant.

CREATE TABLE mail_queue (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	-- The submitting user; NULL for mail the server writes.
	user_id uuid,
	-- The envelope sender; '' is the null reverse path, which gets no DSN.
	reverse_path text NOT NULL
		CONSTRAINT mail_queue_reverse_path_length CHECK (length(reverse_path) <= 256),
	storage_key text NOT NULL
		CONSTRAINT mail_queue_storage_key_not_empty CHECK (storage_key <> ''),
	size bigint NOT NULL
		CONSTRAINT mail_queue_size_positive CHECK (size >= 0),
	-- RFC 3461 ENVID and RET; NULL when the client gave none.
	envelope_id text
		CONSTRAINT mail_queue_envelope_id_length CHECK (length(envelope_id) <= 100),
	return_content text
		CONSTRAINT mail_queue_return_content_valid CHECK (return_content IN ('FULL', 'HDRS')),
	session_id text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now(),
	-- After this the recipients still queued fail with 4.4.7 and a DSN.
	expires_at timestamptz NOT NULL,
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	attempts integer NOT NULL DEFAULT 0,
	-- A worker owns the message until then (set by ex_mail_queue_claim).
	locked_until timestamptz,
	UNIQUE (tenant_id, id)
);

CREATE INDEX mail_queue_due_idx ON mail_queue (next_attempt_at);

CREATE TABLE mail_queue_recipients (
	tenant_id uuid NOT NULL,
	queue_id uuid NOT NULL,
	position integer NOT NULL
		CONSTRAINT mail_queue_recipients_position_range CHECK (position >= 0),
	address text NOT NULL
		CONSTRAINT mail_queue_recipients_address_length CHECK (length(address) BETWEEN 3 AND 256),
	-- RFC 3461 NOTIFY (e.g. 'FAILURE,DELAY' or 'NEVER') and ORCPT ('rfc822;a@b'); NULL when absent.
	notify text,
	original_recipient text,
	status text NOT NULL DEFAULT 'queued'
		CONSTRAINT mail_queue_recipients_status_valid CHECK (status IN ('queued', 'delivered', 'failed')),
	-- The enhanced status code and reply of the last attempt, and the host that gave it.
	status_code text,
	diagnostic text,
	remote_host text,
	-- A failed recipient waits here until its DSN has been submitted.
	dsn_pending boolean NOT NULL DEFAULT false,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (queue_id, position),
	FOREIGN KEY (tenant_id, queue_id) REFERENCES mail_queue (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX mail_queue_recipients_tenant_idx ON mail_queue_recipients (tenant_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON mail_queue, mail_queue_recipients TO expresso_app;

ALTER TABLE mail_queue ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mail_queue FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE mail_queue_recipients ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mail_queue_recipients FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- The claim below runs as expresso_owner before a tenant is known. This
-- policy lets the owner read and lease queue rows of every tenant; it
-- does not apply to expresso_app, which sees only its bound tenant.
CREATE POLICY owner_claim ON mail_queue FOR ALL TO expresso_owner USING (true) WITH CHECK (true);

-- Leases up to MAX_MESSAGES due messages of any tenant to the calling
-- worker for LEASE and returns them. Messages leased by another worker
-- whose lease has not run out are skipped, so a crashed worker's messages
-- are picked up again after the lease.
CREATE FUNCTION ex_mail_queue_claim(max_messages integer, lease interval)
	RETURNS TABLE (tenant_id uuid, id uuid)
	LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
	UPDATE public.mail_queue AS q
	SET locked_until = now() + lease
	WHERE q.id IN (
		SELECT c.id FROM public.mail_queue AS c
		WHERE c.next_attempt_at <= now() AND (c.locked_until IS NULL OR c.locked_until < now())
		ORDER BY c.next_attempt_at
		LIMIT max_messages
		FOR UPDATE SKIP LOCKED)
	RETURNING q.tenant_id, q.id
$$;

ALTER FUNCTION ex_mail_queue_claim(integer, interval) OWNER TO expresso_owner;
REVOKE ALL ON FUNCTION ex_mail_queue_claim(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ex_mail_queue_claim(integer, interval) TO expresso_app;
