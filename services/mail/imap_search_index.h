/*
 * The search index of SEARCH BODY and TEXT: one message_search_text row
 * per message with its folded header values and text parts, and trigram
 * indexes for substring matches. A search asks the index once
 * per BODY or TEXT key for the matching UIDs among the messages that have
 * a row, reads the stored object only for the others, and writes their
 * rows as it goes, so the next search finds them indexed. APPEND writes
 * the row of each new message in its own transaction. SMTP and LMTP
 * delivery writes the rows of a delivered message in the background after
 * the 250 reply (mail_delivery_index.c). A message that delivery skipped,
 * because its queue was full or the daemon stopped, gets its row from a
 * search. COPY copies the row of its source.
 */
#ifndef EXPRESSO_MAIL_IMAP_SEARCH_INDEX_H
#define EXPRESSO_MAIL_IMAP_SEARCH_INDEX_H

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expresso/imap_search.h"
#include "imap_internal.h"

/* The UIDs the index matched for one BODY or TEXT key, in ascending order. */
typedef struct {
	const ex_imap_search_key *key;
	uint32_t *uids;
	size_t count;
} imap_search_index_answer;

/* A row waiting to be written. */
typedef struct {
	char message_id[IMAP_UUID_TEXT];
	char *headers;  /* NULL, with body NULL, for a message over the size cap */
	char *body;
} imap_search_index_row;

/* The index's state during one SEARCH, SORT or THREAD command. */
typedef struct {
	bool enabled;                /* the setting is on and no key query failed */
	size_t max_text;
	imap_search_index_answer *answers;
	size_t answer_count;
	imap_search_index_row *pending;
	size_t pending_count;
	size_t pending_octets;
	size_t queued;               /* rows queued by this command, at most MAX_ROWS_PER_COMMAND */
} imap_search_index;

/*
 * Enables the index for the program at ROOT unless the setting is off or
 * the program has no BODY or TEXT key, in which case every message is
 * scanned. The caller then reads the mailbox's rows with the index
 * columns and calls imap_search_index_query().
 */
void imap_search_index_prepare(imap_session *session, imap_search_index *index, const ex_imap_search_key *root);

/*
 * Queries the index for each BODY and TEXT key of the program at ROOT.
 * It runs after the mailbox's rows were read, so an index row those rows
 * show is also seen by the key queries, because index rows are only
 * inserted, or deleted with their message. Disables the index when a
 * query failed (logged).
 */
void imap_search_index_query(imap_session *session, imap_search_index *index, const ex_imap_search_key *root);

/* Returns 1 when the indexed message UID matches KEY, 0 when not, -1 when the index did not query KEY. */
int imap_search_index_lookup(const imap_search_index *index, const ex_imap_search_key *key, uint32_t uid);

/*
 * Queues the row of MESSAGE_ID built from the parsed MESSAGE and its
 * folded BODY text (copied), and writes the queue when it is large.
 */
void imap_search_index_add(imap_session *session, imap_search_index *index, const char *message_id,
			   GMimeMessage *message, const char *body);

/* Writes the queued rows and frees the index's state. */
void imap_search_index_finish(imap_session *session, imap_search_index *index);

/* The folded text of one message's index row. */
typedef struct {
	char *headers; /* NULL, with body NULL, for a message over the size cap */
	char *body;
} imap_search_index_text;

/*
 * Parses the raw octets DATA and folds their header values and text
 * parts into TEXT, which is left without text when it is over MAX_TEXT.
 * Returns false, with TEXT empty, when MAX_TEXT is 0 (the index is off) or
 * GMime cannot parse DATA, because the search then reads the stored
 * message. The caller clears TEXT with imap_search_index_text_clear().
 */
bool imap_search_index_text_build(const char *data, size_t length, uint64_t max_text, imap_search_index_text *text);
void imap_search_index_text_clear(imap_search_index_text *text);

/*
 * Writes the index row of message UID of MAILBOX_ID from its raw octets
 * DATA, in the caller's transaction. Writes nothing when MAX_TEXT is 0 or
 * GMime cannot parse DATA. Returns 0, or -1 with ERROR set.
 */
int imap_search_index_write(PGconn *connection, const char *mailbox_id, uint32_t uid, const char *data, size_t length,
			    uint64_t max_text, ex_db_error *error);

/*
 * Writes TEXT as the index row of every message of TENANT_ID stored
 * under STORAGE_KEY that has none yet, in the caller's transaction (one
 * SMTP delivery stores one object for all the mailboxes its Sieve script
 * files it into). A message expunged before the statement's snapshot gets
 * no row. One expunged while it runs fails the foreign key with SQLSTATE
 * 23503, which the caller may ignore. Returns the rows written, or -1
 * with ERROR set.
 */
int imap_search_index_write_object(PGconn *connection, const char *tenant_id, const char *storage_key,
				   const imap_search_index_text *text, ex_db_error *error);

#endif
