-- The sweep of orphan objects (expresso-mail's mail_sweep.c) reads the
-- garbage list of every tenant; each entry is then checked and deleted
-- inside its own tenant. This policy lets the owner, which runs the
-- function below, read (never write) entries of every tenant; it does
-- not apply to expresso_app.
CREATE POLICY owner_sweep ON mail_object_garbage FOR SELECT TO expresso_owner USING (true);

-- Returns up to MAX_ENTRIES garbage entries queued more than GRACE ago,
-- oldest first.
CREATE FUNCTION ex_mail_object_garbage_due(grace interval, max_entries integer)
	RETURNS TABLE (tenant_id uuid, storage_key text)
	LANGUAGE sql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
	SELECT g.tenant_id, g.storage_key
	FROM public.mail_object_garbage AS g
	WHERE g.queued_at <= now() - grace
	ORDER BY g.queued_at
	LIMIT max_entries
$$;

ALTER FUNCTION ex_mail_object_garbage_due(interval, integer) OWNER TO expresso_owner;
REVOKE ALL ON FUNCTION ex_mail_object_garbage_due(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ex_mail_object_garbage_due(interval, integer) TO expresso_app;
