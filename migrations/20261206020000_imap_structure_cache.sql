-- The IMAP ENVELOPE and BODYSTRUCTURE of each message, built from the
-- stored object when the message is stored (services/mail/imap_structure.c),
-- so FETCH ENVELOPE, BODY and BODYSTRUCTURE never read the object. The
-- values are IMAP text with every string as a literal and a version octet
-- first; NULL means not built yet, and the first FETCH builds and stores it.
-- They are bytea because header fields may hold octets that are not UTF-8.
ALTER TABLE messages
	ADD COLUMN imap_envelope bytea,
	ADD COLUMN imap_bodystructure bytea;

-- The jsonb column of the first schema was never filled; the bytea columns replace it.
ALTER TABLE messages DROP COLUMN bodystructure;
