-- ex_mail_queue_lease leased more messages than asked for.
--
-- Its UPDATE took the ids from a subquery with LIMIT and FOR UPDATE SKIP
-- LOCKED inside IN (...). PostgreSQL may evaluate such a subquery more
-- than once in one statement, and with other workers locking rows at the
-- same time, SKIP LOCKED can then return different rows each time, so one
-- call leased two messages. The caller expected at most one row and took
-- none, which left both messages leased, and so unsent, until the lease
-- ran out. A CTE with FOR UPDATE is evaluated exactly once, so the ids are
-- now chosen there.

CREATE OR REPLACE FUNCTION ex_mail_queue_lease(max_messages integer, lease interval)
	RETURNS TABLE (tenant_id uuid, id uuid, lease_token uuid)
	LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
	WITH due AS (
		SELECT c.id FROM public.mail_queue AS c
		WHERE c.next_attempt_at <= now() AND (c.locked_until IS NULL OR c.locked_until < now())
		ORDER BY c.next_attempt_at
		LIMIT max_messages
		FOR UPDATE SKIP LOCKED
	)
	UPDATE public.mail_queue AS q
	SET locked_until = now() + lease, lease_token = gen_random_uuid()
	FROM due
	WHERE q.id = due.id
	RETURNING q.tenant_id, q.id, q.lease_token
$$;
