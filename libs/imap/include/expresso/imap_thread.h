/*
 * Threading for the THREAD command (RFC 5256): the base subject of a
 * Subject header (section 2.1) and the ORDEREDSUBJECT and REFERENCES
 * algorithms (section 3), which turn the messages a search matched into
 * thread data such as "(1 2)(3 (4)(5))". The caller supplies decoded
 * header values and dates; nothing here reads a message or a database.
 */
#ifndef EXPRESSO_IMAP_THREAD_H
#define EXPRESSO_IMAP_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expresso/imap_writer.h"

typedef enum {
	EX_IMAP_THREAD_ORDEREDSUBJECT = 0,
	EX_IMAP_THREAD_REFERENCES,
} ex_imap_thread_algorithm;

/* One message to thread, given in mailbox order (ascending sequence number). */
typedef struct {
	uint32_t number;          /* written in the thread data: a sequence number or a UID */
	int64_t sent_date;        /* seconds since the epoch: the Date header, else the internal date */
	const char *base_subject; /* from ex_imap_base_subject(); compared octet by octet */
	bool reply_or_forward;    /* ex_imap_base_subject() removed a reply or forward marker */
	const char *message_id;   /* header field values, NULL when the header is absent */
	const char *in_reply_to;
	const char *references;
} ex_imap_thread_message;

/*
 * Extracts the base subject of SUBJECT in place (RFC 5256 section 2.1,
 * steps 1 to 6) and returns a pointer into SUBJECT. SUBJECT must already
 * be decoded from RFC 2047 and, for comparisons, case-folded. Sets
 * *REPLY_OR_FORWARD when a "Re:", "Fw:", "Fwd:", "(fwd)" trailer or
 * "[fwd: ...]" wrapper was removed; REPLY_OR_FORWARD may be NULL.
 */
char *ex_imap_base_subject(char *subject, bool *reply_or_forward);

/* Parses a THREAD algorithm name, case-insensitively. Returns false for an unknown name. */
bool ex_imap_thread_algorithm_parse(const char *name, ex_imap_thread_algorithm *algorithm);

/*
 * Threads COUNT messages with ALGORITHM and appends the thread data to
 * WRITER: one parenthesised list per thread, without the "* THREAD"
 * prefix or the line end. Returns 0, or -1 when memory runs out, in
 * which case WRITER may hold part of the data.
 */
int ex_imap_thread_write(ex_imap_writer *writer, ex_imap_thread_algorithm algorithm,
			 const ex_imap_thread_message *messages, size_t count);

#endif
