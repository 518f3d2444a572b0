-- Fencing for the outbound queue and delay notices.
--
-- A lease now carries a token. The worker that holds the token renews the
-- lease before each remote host it talks to; a worker whose lease ran out
-- and was taken by another finds its token gone and stops before sending,
-- so two workers do not send the same message.
--
-- delay_notified records that the sender was told once, with a DSN of
-- action "delayed" (RFC 3464), that a recipient is still being retried.

ALTER TABLE mail_queue ADD COLUMN lease_token uuid;

ALTER TABLE mail_queue_recipients ADD COLUMN delay_notified boolean NOT NULL DEFAULT false;

-- Leases up to MAX_MESSAGES due messages of any tenant for LEASE, each
-- with a new token, and returns them. As ex_mail_queue_claim, it skips
-- messages whose lease has not run out; a message inserted with a future
-- locked_until (held until its local copies are delivered) is skipped
-- until then.
CREATE FUNCTION ex_mail_queue_lease(max_messages integer, lease interval)
	RETURNS TABLE (tenant_id uuid, id uuid, lease_token uuid)
	LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
	UPDATE public.mail_queue AS q
	SET locked_until = now() + lease, lease_token = gen_random_uuid()
	WHERE q.id IN (
		SELECT c.id FROM public.mail_queue AS c
		WHERE c.next_attempt_at <= now() AND (c.locked_until IS NULL OR c.locked_until < now())
		ORDER BY c.next_attempt_at
		LIMIT max_messages
		FOR UPDATE SKIP LOCKED)
	RETURNING q.tenant_id, q.id, q.lease_token
$$;

ALTER FUNCTION ex_mail_queue_lease(integer, interval) OWNER TO expresso_owner;
REVOKE ALL ON FUNCTION ex_mail_queue_lease(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ex_mail_queue_lease(integer, interval) TO expresso_app;
