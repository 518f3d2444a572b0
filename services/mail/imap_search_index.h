/*
 * The search index of SEARCH BODY and TEXT: one message_search_text row
 * per message with its folded header values and text parts, and trigram
 * indexes that answer substring matches. A search asks the index once
 * per BODY or TEXT key for the matching UIDs among the messages that have
 * a row, reads the stored object only for the others, and writes their
 * rows as it goes, so the next search finds them indexed.
 */
#ifndef EXPRESSO_MAIL_IMAP_SEARCH_INDEX_H
#define EXPRESSO_MAIL_IMAP_SEARCH_INDEX_H

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expresso/imap_search.h"
#include "imap_internal.h"

/* The index's answer for one BODY or TEXT key: UIDs in ascending order. */
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
	bool enabled;                /* the setting is on and every key query succeeded */
	size_t max_text;
	imap_search_index_answer *answers;
	size_t answer_count;
	imap_search_index_row *pending;
	size_t pending_count;
	size_t pending_octets;
} imap_search_index;

/*
 * Queries the index for each BODY and TEXT key of the program at ROOT.
 * Leaves the index disabled (every message is scanned) when the setting
 * is off, no key can use it, or a query failed (logged).
 */
void imap_search_index_prepare(imap_session *session, imap_search_index *index, const ex_imap_search_key *root);

/* Returns 1 when the indexed message UID matches KEY, 0 when not, -1 when the index has no answer for KEY. */
int imap_search_index_lookup(const imap_search_index *index, const ex_imap_search_key *key, uint32_t uid);

/*
 * Queues the row of MESSAGE_ID built from the parsed MESSAGE and its
 * folded BODY text (copied), and writes the queue when it is large.
 */
void imap_search_index_add(imap_session *session, imap_search_index *index, const char *message_id,
			   GMimeMessage *message, const char *body);

/* Writes the queued rows and frees the index's state. */
void imap_search_index_finish(imap_session *session, imap_search_index *index);

#endif
