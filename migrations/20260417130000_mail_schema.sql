-- Mail store metadata: mailboxes, messages and per-mailbox counters. Message
-- bodies live in object storage under messages.storage_key. The triggers
-- that keep mailbox_stats correct, the grants and row-level security come in
-- 20260417143000_rls_bootstrap_and_mailbox_stats.sql.
--
-- Terms follow IMAP (RFC 9051, RFC 7162 CONDSTORE): uidvalidity, uidnext,
-- modseq, highestmodseq, special-use (RFC 6154).

-- UIDVALIDITY values for new mailboxes. A name that is deleted and created
-- again always gets a larger UIDVALIDITY, so clients drop the UIDs they
-- cached for the old mailbox. The sequence starts at the Unix time of this
-- migration, so a rebuilt database hands out values above those of the one
-- it replaces, unless that one created more mailboxes than seconds have
-- passed since its own start.
CREATE SEQUENCE mailbox_uidvalidity_seq AS bigint MINVALUE 1 MAXVALUE 4294967295 NO CYCLE;
SELECT setval('mailbox_uidvalidity_seq', extract(epoch FROM now())::bigint);

CREATE TABLE mailboxes (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	user_id uuid NOT NULL,
	-- Full hierarchical name with '/' as the separator, e.g. 'Archive/2026'.
	-- 'INBOX' is stored in upper case.
	name text NOT NULL
		CONSTRAINT mailboxes_name_format CHECK (
			length(name) BETWEEN 1 AND 1024
			AND name !~ '(^/|/$|//)'
			AND name !~ '[[:cntrl:]]'),
	special_use text
		CONSTRAINT mailboxes_special_use_known CHECK (
			special_use IN ('\All', '\Archive', '\Drafts', '\Flagged', '\Junk', '\Sent', '\Trash')),
	uidvalidity bigint NOT NULL DEFAULT nextval('mailbox_uidvalidity_seq')
		CONSTRAINT mailboxes_uidvalidity_range CHECK (uidvalidity BETWEEN 1 AND 4294967295),
	-- Next UID to assign; 4294967296 means the UID space is exhausted.
	uidnext bigint NOT NULL DEFAULT 1
		CONSTRAINT mailboxes_uidnext_range CHECK (uidnext BETWEEN 1 AND 4294967296),
	highestmodseq bigint NOT NULL DEFAULT 1
		CONSTRAINT mailboxes_highestmodseq_positive CHECK (highestmodseq >= 1),
	subscribed boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (user_id, name),
	UNIQUE (tenant_id, id),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- At most one mailbox per special-use attribute and user.
CREATE UNIQUE INDEX mailboxes_user_special_use_idx
	ON mailboxes (user_id, special_use) WHERE special_use IS NOT NULL;

CREATE TABLE messages (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	mailbox_id uuid NOT NULL,
	uid bigint NOT NULL
		CONSTRAINT messages_uid_range CHECK (uid BETWEEN 1 AND 4294967295),
	modseq bigint NOT NULL
		CONSTRAINT messages_modseq_positive CHECK (modseq >= 1),
	-- System flags are stored in their RFC spelling ('\Seen', '\Answered',
	-- '\Flagged', '\Deleted', '\Draft'); mailbox_stats counts '\Seen'
	-- case-sensitively.
	flags text[] NOT NULL DEFAULT '{}'
		CONSTRAINT messages_flags_no_null CHECK (array_position(flags, NULL) IS NULL),
	internal_date timestamptz NOT NULL DEFAULT now(),
	size bigint NOT NULL
		CONSTRAINT messages_size_positive CHECK (size >= 0),
	storage_key text NOT NULL
		CONSTRAINT messages_storage_key_not_empty CHECK (storage_key <> ''),
	-- The IMAP ENVELOPE fields plus References for threading. Each
	-- text column holds the header field value unfolded, with RFC 2047
	-- encoded-words left encoded, or NULL when the header is absent. "from",
	-- "to" and "references" are SQL keywords and must be quoted.
	date timestamptz,
	subject text,
	"from" text,
	sender text,
	reply_to text,
	"to" text,
	cc text,
	bcc text,
	in_reply_to text,
	message_id text,
	"references" text,
	-- Cached BODYSTRUCTURE of the message, built once at delivery.
	bodystructure jsonb,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (mailbox_id, uid),
	FOREIGN KEY (tenant_id, mailbox_id) REFERENCES mailboxes (tenant_id, id) ON DELETE CASCADE
);

-- CONDSTORE/QRESYNC: changes since a modseq.
CREATE INDEX messages_mailbox_modseq_idx ON messages (mailbox_id, modseq);
-- Threading and duplicate detection.
CREATE INDEX messages_tenant_message_id_idx ON messages (tenant_id, message_id)
	WHERE message_id IS NOT NULL;

COMMENT ON COLUMN messages.storage_key IS 'Object storage key of the raw RFC 5322 message.';
COMMENT ON COLUMN messages.date IS 'Parsed Date header field; NULL when absent or unparseable.';

-- Counters for STATUS and the webmail folder list, kept by triggers on
-- messages so they change in the same transaction as the messages.
CREATE TABLE mailbox_stats (
	mailbox_id uuid PRIMARY KEY,
	tenant_id uuid NOT NULL,
	messages bigint NOT NULL DEFAULT 0
		CONSTRAINT mailbox_stats_messages_positive CHECK (messages >= 0),
	-- Messages without the '\Seen' flag.
	unseen bigint NOT NULL DEFAULT 0
		CONSTRAINT mailbox_stats_unseen_range CHECK (unseen BETWEEN 0 AND messages),
	-- Sum of messages.size.
	bytes bigint NOT NULL DEFAULT 0
		CONSTRAINT mailbox_stats_bytes_positive CHECK (bytes >= 0),
	FOREIGN KEY (tenant_id, mailbox_id) REFERENCES mailboxes (tenant_id, id) ON DELETE CASCADE
);
