/*
 * The search index of SEARCH BODY and TEXT: one message_search_text row
 * per message with its folded header values and text parts, and trigram
 * indexes for substring matches. A search asks the index once
 * per BODY or TEXT key for the matching UIDs among the messages that have
 * a row, reads the stored object only for the others, and writes their
 * rows as it goes, so the next search finds them indexed. APPEND writes
 * the row of each new message in its own transaction.
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

/*
 * Writes the index row of message UID of MAILBOX_ID from its raw octets
 * DATA, in the caller's transaction. Writes nothing when MAX_TEXT is 0 or
 * GMime cannot parse DATA, because the search then reads the stored
 * message. Returns 0, or -1 with ERROR set.
 * TODO: SMTP delivery (insert_copy() in mail_delivery.c) does not call
 * this yet, so delivered messages get their row from the first search.
 */
int imap_search_index_write(PGconn *connection, const char *mailbox_id, uint32_t uid, const char *data, size_t length,
			    uint64_t max_text, ex_db_error *error);

#endif
