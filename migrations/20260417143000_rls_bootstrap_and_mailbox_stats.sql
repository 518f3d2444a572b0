-- Tenant isolation and mailbox counters.
--
-- 1. mailbox_stats: filled for existing mailboxes, then kept correct by
--    triggers in the same transaction as every change to mailboxes and
--    messages.
-- 2. Grants to expresso_app, the daemons' role, and default privileges for
--    tables that later migrations create.
-- 3. Row-level security, enabled and forced (the owner is bound too), on
--    every table with a tenant_id column, plus tenants itself.
-- 4. SECURITY DEFINER lookups for inbound SMTP and IMAP login, where no
--    access token names the tenant yet.
--
-- A later migration that adds a table grants and secures that table itself;
-- docs/database.md states the rule. expresso-migrate rejects any migration
-- from this one on that leaves a table with a tenant_id column without
-- forced row-level security and a policy.

-- 1. mailbox_stats ------------------------------------------------------------

-- Fill before row-level security is forced: afterwards the owner sees no
-- rows without a bound tenant.
INSERT INTO mailbox_stats (mailbox_id, tenant_id, messages, unseen, bytes)
SELECT mb.id, mb.tenant_id,
	count(m.id),
	count(m.id) FILTER (WHERE NOT ('\Seen' = ANY (m.flags))),
	coalesce(sum(m.size), 0)
FROM mailboxes AS mb
LEFT JOIN messages AS m ON m.mailbox_id = mb.id
GROUP BY mb.id, mb.tenant_id
ON CONFLICT (mailbox_id) DO UPDATE
	SET messages = EXCLUDED.messages, unseen = EXCLUDED.unseen, bytes = EXCLUDED.bytes;

-- The counter functions run as the owner so that expresso_app needs only
-- SELECT on mailbox_stats and cannot set counters by hand. Row-level
-- security still applies to them: they touch only rows of the bound tenant.

CREATE FUNCTION ex_mailbox_stats_create() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
	INSERT INTO public.mailbox_stats (mailbox_id, tenant_id)
	SELECT nm.id, nm.tenant_id FROM new_mailboxes AS nm
	ON CONFLICT (mailbox_id) DO NOTHING;
	RETURN NULL;
END
$$;

-- Statement-level triggers with transition tables: a STORE or EXPUNGE on
-- thousands of messages updates each affected mailbox_stats row once per
-- statement, not once per message.
CREATE FUNCTION ex_mailbox_stats_apply() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		WITH delta AS (
			SELECT nm.mailbox_id,
				count(*) AS messages,
				count(*) FILTER (WHERE NOT ('\Seen' = ANY (nm.flags))) AS unseen,
				sum(nm.size) AS bytes
			FROM new_messages AS nm
			GROUP BY nm.mailbox_id)
		UPDATE public.mailbox_stats AS s
		SET messages = s.messages + d.messages,
			unseen = s.unseen + d.unseen,
			bytes = s.bytes + d.bytes
		FROM delta AS d
		WHERE s.mailbox_id = d.mailbox_id;
	ELSIF TG_OP = 'DELETE' THEN
		WITH delta AS (
			SELECT om.mailbox_id,
				count(*) AS messages,
				count(*) FILTER (WHERE NOT ('\Seen' = ANY (om.flags))) AS unseen,
				sum(om.size) AS bytes
			FROM old_messages AS om
			GROUP BY om.mailbox_id)
		UPDATE public.mailbox_stats AS s
		SET messages = s.messages - d.messages,
			unseen = s.unseen - d.unseen,
			bytes = s.bytes - d.bytes
		FROM delta AS d
		WHERE s.mailbox_id = d.mailbox_id;
	ELSE
		-- UPDATE: only rows whose mailbox, size or \Seen state changed
		-- count; their old values leave and their new values arrive.
		WITH changed AS (
			SELECT om.mailbox_id AS old_mailbox_id, om.size AS old_size,
				NOT ('\Seen' = ANY (om.flags)) AS old_unseen,
				nm.mailbox_id AS new_mailbox_id, nm.size AS new_size,
				NOT ('\Seen' = ANY (nm.flags)) AS new_unseen
			FROM old_messages AS om
			JOIN new_messages AS nm ON nm.id = om.id
			WHERE om.mailbox_id <> nm.mailbox_id
				OR om.size <> nm.size
				OR ('\Seen' = ANY (om.flags)) <> ('\Seen' = ANY (nm.flags))),
		moves AS (
			SELECT old_mailbox_id AS mailbox_id, -1 AS messages,
				-old_unseen::int AS unseen, -old_size AS bytes
			FROM changed
			UNION ALL
			SELECT new_mailbox_id, 1, new_unseen::int, new_size
			FROM changed),
		delta AS (
			SELECT mv.mailbox_id, sum(mv.messages) AS messages,
				sum(mv.unseen) AS unseen, sum(mv.bytes) AS bytes
			FROM moves AS mv
			GROUP BY mv.mailbox_id)
		UPDATE public.mailbox_stats AS s
		SET messages = s.messages + d.messages,
			unseen = s.unseen + d.unseen,
			bytes = s.bytes + d.bytes
		FROM delta AS d
		WHERE s.mailbox_id = d.mailbox_id
			AND (d.messages <> 0 OR d.unseen <> 0 OR d.bytes <> 0);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER mailboxes_stats_create
	AFTER INSERT ON mailboxes
	REFERENCING NEW TABLE AS new_mailboxes
	FOR EACH STATEMENT EXECUTE FUNCTION ex_mailbox_stats_create();

CREATE TRIGGER messages_stats_insert
	AFTER INSERT ON messages
	REFERENCING NEW TABLE AS new_messages
	FOR EACH STATEMENT EXECUTE FUNCTION ex_mailbox_stats_apply();

CREATE TRIGGER messages_stats_update
	AFTER UPDATE ON messages
	REFERENCING OLD TABLE AS old_messages NEW TABLE AS new_messages
	FOR EACH STATEMENT EXECUTE FUNCTION ex_mailbox_stats_apply();

CREATE TRIGGER messages_stats_delete
	AFTER DELETE ON messages
	REFERENCING OLD TABLE AS old_messages
	FOR EACH STATEMENT EXECUTE FUNCTION ex_mailbox_stats_apply();

REVOKE ALL ON FUNCTION ex_mailbox_stats_create(), ex_mailbox_stats_apply() FROM PUBLIC;

-- 2. Grants --------------------------------------------------------------------

-- Creating, renaming and deleting tenants is administration done as the
-- owner (expresso-migrate seed) or by a future administration role.
GRANT SELECT ON tenants TO expresso_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON domains, users, app_passwords, mailboxes, messages
	TO expresso_app;
-- Written only by the triggers above.
GRANT SELECT ON mailbox_stats TO expresso_app;
-- Append-only: no UPDATE or DELETE, so a compromised daemon cannot erase
-- its traces.
GRANT SELECT, INSERT ON audit_log TO expresso_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO expresso_app;

-- Tables and sequences that later migrations create as expresso_owner get
-- the usual grants. An append-only table must REVOKE UPDATE, DELETE itself.
ALTER DEFAULT PRIVILEGES FOR ROLE expresso_owner IN SCHEMA public
	GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO expresso_app;
ALTER DEFAULT PRIVILEGES FOR ROLE expresso_owner IN SCHEMA public
	GRANT USAGE ON SEQUENCES TO expresso_app;
-- Functions are not callable by everyone by default; each function the
-- daemons call gets an explicit GRANT EXECUTE.
ALTER DEFAULT PRIVILEGES FOR ROLE expresso_owner
	REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- 3. Row-level security ----------------------------------------------------------

-- NULLIF: once a transaction-local set_config() has ended, the setting reads
-- '' rather than NULL, and ''::uuid would raise instead of matching nothing.

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants FOR ALL
	USING (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE domains ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON domains FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE users ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE app_passwords ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON app_passwords FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE mailboxes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mailboxes FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE messages ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON messages FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE mailbox_stats ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mailbox_stats FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- The lookups below run as expresso_owner, which forced row-level security
-- binds like any role, and they run before a tenant is known. This policy
-- lets the owner read (never write) domains and users of every tenant; it
-- does not apply to expresso_app.
CREATE POLICY owner_lookup ON domains FOR SELECT TO expresso_owner USING (true);
CREATE POLICY owner_lookup ON users FOR SELECT TO expresso_owner USING (true);

-- 4. Tenant lookups without an access token ---------------------------------------

-- Returns the tenant that owns a mail domain (case-insensitive, a trailing
-- dot ignored), or NULL when no tenant does. Used by inbound SMTP for RCPT TO.
CREATE FUNCTION ex_tenant_for_domain(domain text) RETURNS uuid
	LANGUAGE sql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
	SELECT d.tenant_id
	FROM public.domains AS d
	WHERE d.name = lower(rtrim(domain, '.'))
$$;

-- Returns the tenant and user for an IMAP or SMTP login name, which is the
-- user's email address (case-insensitive). Returns no row for an unknown or
-- disabled user, so a caller cannot tell the two apart.
CREATE FUNCTION ex_tenant_for_login(login text) RETURNS TABLE (tenant_id uuid, user_id uuid)
	LANGUAGE sql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
	SELECT u.tenant_id, u.id
	FROM public.users AS u
	WHERE u.email = lower(login) AND NOT u.disabled
$$;

ALTER FUNCTION ex_tenant_for_domain(text) OWNER TO expresso_owner;
ALTER FUNCTION ex_tenant_for_login(text) OWNER TO expresso_owner;
ALTER FUNCTION ex_mailbox_stats_create() OWNER TO expresso_owner;
ALTER FUNCTION ex_mailbox_stats_apply() OWNER TO expresso_owner;
REVOKE ALL ON FUNCTION ex_tenant_for_domain(text), ex_tenant_for_login(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ex_tenant_for_domain(text), ex_tenant_for_login(text) TO expresso_app;
