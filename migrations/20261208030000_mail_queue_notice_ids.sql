-- Message-IDs of the notices a queued message is about to send.
--
-- Before a worker submits a failure DSN or a delay notice about a queued
-- message, it writes the notice's Message-ID here; the transaction that
-- records the notice as sent clears it (for a notice to a remote sender,
-- the transaction that queues the notice does). A crash between the
-- notice's delivery to a local sender and that record leaves the id, and
-- the next pass finds the notice in the sender's mailbox by it instead of
-- sending a second one.

ALTER TABLE mail_queue
	ADD COLUMN failure_notice_id text
		CONSTRAINT mail_queue_failure_notice_id_length CHECK (length(failure_notice_id) <= 300),
	ADD COLUMN delay_notice_id text
		CONSTRAINT mail_queue_delay_notice_id_length CHECK (length(delay_notice_id) <= 300);
