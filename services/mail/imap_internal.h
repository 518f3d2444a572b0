/*
 * The session state shared by the files that implement IMAP commands
 * (imap_session.c, imap_mailboxes.c, imap_view.c, imap_messages.c,
 * imap_fetch_cmd.c, imap_search_cmd.c, imap_thread_cmd.c). Not for use
 * outside them.
 */
#ifndef EXPRESSO_MAIL_IMAP_INTERNAL_H
#define EXPRESSO_MAIL_IMAP_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expresso/imap_mailbox.h"
#include "expresso/imap_parser.h"
#include "expresso/imap_seqset.h"
#include "expresso/imap_thread.h"
#include "expresso/imap_writer.h"
#include "imap_session.h"

enum {
	IMAP_UUID_TEXT = 37,
	IMAP_NUMBER_TEXT = 24,
};

typedef enum {
	IMAP_STATE_NOT_AUTHENTICATED = 0,
	IMAP_STATE_AUTHENTICATED,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
} imap_state;

typedef enum {
	IMAP_WAIT_NONE = 0,
	IMAP_WAIT_AUTHENTICATE,     /* the next raw line is a SASL response */
	IMAP_WAIT_IDLE,             /* the next raw line must be DONE */
} imap_wait;

/* The selected mailbox as this session last reported it to the client. */
typedef struct {
	char id[IMAP_UUID_TEXT];
	char name[EX_IMAP_MAX_MAILBOX_NAME + 1];
	bool read_only;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highest_modseq;    /* changes up to here have been reported */
	uint32_t *uids;             /* message sequence number n is uids[n - 1], ascending */
	size_t count;
	size_t capacity;
} imap_view;

struct ex_imap_session {
	ex_imap_session_options options;
	ex_imap_parser *parser;
	ex_imap_writer output;
	imap_state state;
	imap_wait wait;
	bool tls;
	unsigned auth_failures;

	/* The login. */
	char tenant_id[IMAP_UUID_TEXT];
	char user_id[IMAP_UUID_TEXT];
	char email[EX_SMTP_MAX_PATH + 1];
	bool mailboxes_checked;     /* the standard mailboxes exist */

	/* ENABLE (RFC 5161). */
	bool utf8_accept;
	bool condstore;
	bool qresync;
	bool imap4rev2;             /* RFC 9051 behaviour: no RECENT, SEARCH answered with ESEARCH */

	bool compress_active;       /* COMPRESS DEFLATE succeeded (RFC 4978) */

	/* The command waiting for a raw line. */
	char pending_tag[128];
	char pending_mechanism[16];

	imap_view view;
	bool view_open;

	/* SEARCH RETURN (SAVE) result, as UIDs (RFC 5182). */
	uint32_t *saved_uids;
	size_t saved_count;
};

typedef struct ex_imap_session imap_session;

/* ---- responses (imap_session.c) ---- */
void imap_reply(imap_session *session, const char *tag, const char *status, const char *code, const char *text);
void imap_reply_ok(imap_session *session, const char *tag, const char *text);
void imap_reply_bad(imap_session *session, const char *tag, const char *text);
void imap_reply_no(imap_session *session, const char *tag, const char *code, const char *text);
/* Replies NO [UNAVAILABLE] after a database or storage failure that was logged. */
void imap_reply_unavailable(imap_session *session, const char *tag);
void imap_write_capabilities(imap_session *session);

/* ---- database helpers (imap_session.c) ---- */
/* Runs one statement in a transaction of the session's tenant; NULL on failure (logged). */
PGresult *imap_query(imap_session *session, const char *sql, int param_count, const char *const *params);
/* Runs WORK in a transaction of the session's tenant; 0 or -1 (logged). */
int imap_transaction(imap_session *session, ex_db_work work, void *context);
/* Publishes mail.<event> with JSON object EVENT (consumed) when a bus is configured. */
void imap_publish(imap_session *session, const char *event_name, void *event);

/* ---- argument helpers (imap_session.c) ---- */
/* Converts a mailbox argument to UTF-8 in OUT; replies BAD and returns false when it is invalid. */
bool imap_mailbox_argument(imap_session *session, const char *tag, const ex_imap_arg *arg, char *out, size_t size);
/* Formats a positive integer. */
void imap_format_number(char *out, size_t size, uint64_t number);

/* ---- mailboxes (imap_mailboxes.c) ---- */
int imap_ensure_standard_mailboxes(imap_session *session);
void imap_command_list(imap_session *session, const ex_imap_command *command, bool lsub);
void imap_command_create(imap_session *session, const ex_imap_command *command);
void imap_command_delete(imap_session *session, const ex_imap_command *command);
void imap_command_rename(imap_session *session, const ex_imap_command *command);
void imap_command_subscribe(imap_session *session, const ex_imap_command *command, bool subscribe);
void imap_command_status(imap_session *session, const ex_imap_command *command);
void imap_command_namespace(imap_session *session, const ex_imap_command *command);
void imap_command_getquotaroot(imap_session *session, const ex_imap_command *command);
void imap_command_getquota(imap_session *session, const ex_imap_command *command);
/* Looks up a mailbox by UTF-8 name: 1 found (ID set), 0 not found, -1 failure. */
int imap_mailbox_lookup(imap_session *session, const char *name, char id[IMAP_UUID_TEXT]);

/* ---- the selected mailbox (imap_view.c) ---- */
void imap_command_select(imap_session *session, const ex_imap_command *command, bool read_only);
void imap_command_close(imap_session *session, const ex_imap_command *command, bool expunge);
void imap_view_clear(imap_session *session);
/*
 * Reads what changed since the view's modseq and writes EXISTS, EXPUNGE (or
 * VANISHED) and FETCH FLAGS responses. EXPUNGE is withheld when
 * ALLOW_EXPUNGE is false (during FETCH, STORE and SEARCH, RFC 3501 7.4.1).
 */
void imap_view_update(imap_session *session, bool allow_expunge);
/* Resolves a sequence set or UID set argument into a sorted, deduplicated array of UIDs in the view. */
bool imap_view_resolve(imap_session *session, const char *tag, const ex_imap_arg *arg, bool uid_mode,
		       uint32_t **uids, size_t *count);
/* Returns the sequence number of UID in the view, or 0. */
uint32_t imap_view_sequence(const imap_session *session, uint32_t uid);
/* Builds the PostgreSQL array text '{1,2,3}' of UIDS; NULL when out of memory. */
char *imap_uid_array(const uint32_t *uids, size_t count);

/* ---- the shared mailbox cache (imap_view_load.c, imap_view_cache.h) ---- */
struct imap_view_snapshot_s;
/*
 * Brings the shared cache entry of MAILBOX_ID up to date and returns true
 * with the cache locked and SNAPSHOT set; release it with
 * imap_view_cache_release(imap_view_cache_shared()). KNOWN_MODSEQ is the
 * mailbox's highestmodseq when the caller has just read it, which saves a
 * query when the entry is at it, or 0. Returns false when the cache is
 * off, the mailbox does not fit in it or the database failed; the caller
 * then reads the database itself.
 */
bool imap_view_cache_sync(imap_session *session, const char *mailbox_id, uint64_t known_modseq,
			  struct imap_view_snapshot_s *snapshot);

/* ---- messages (imap_messages.c) ---- */
void imap_command_store(imap_session *session, const ex_imap_command *command, const ex_imap_arg *args, bool uid_mode);
void imap_command_copy(imap_session *session, const ex_imap_command *command, const ex_imap_arg *args, bool uid_mode,
		       bool move);
void imap_command_expunge(imap_session *session, const ex_imap_command *command, const ex_imap_arg *uid_set);
void imap_command_append(imap_session *session, const ex_imap_command *command);

/* ---- COMPRESS (imap_compress_cmd.c) ---- */
/* Answers COMPRESS; returns EX_IMAP_NEXT_START_COMPRESS after the tagged OK. */
ex_imap_next imap_command_compress(imap_session *session, const ex_imap_command *command);

/* ---- FETCH (imap_fetch_cmd.c), SEARCH and SORT (imap_search_cmd.c) ---- */
void imap_command_fetch(imap_session *session, const ex_imap_command *command, const ex_imap_arg *args, bool uid_mode);
void imap_command_search(imap_session *session, const ex_imap_command *command, const ex_imap_arg *args, bool uid_mode);
void imap_command_sort(imap_session *session, const ex_imap_command *command, const ex_imap_arg *args, bool uid_mode);
/* Returns true for UTF-8 and US-ASCII; else replies NO [BADCHARSET] to TAG. */
bool imap_search_charset_supported(imap_session *session, const char *tag, const ex_imap_arg *charset);

/* The messages a search program matched, in mailbox order, as input of the thread builder. */
typedef struct {
	PGresult *result;                 /* owns the header values the messages point to */
	ex_imap_thread_message *messages;
	char **subjects;                  /* the base subjects (g_free) */
	size_t count;
} imap_thread_input;
/* Runs PROGRAM over the selected mailbox into INPUT; false after replying to TAG. */
bool imap_search_thread_input(imap_session *session, const char *tag, const ex_imap_arg *program, bool uid_mode,
			      imap_thread_input *input);
void imap_thread_input_clear(imap_thread_input *input);

/* ---- THREAD (imap_thread_cmd.c) ---- */
void imap_command_thread(imap_session *session, const ex_imap_command *command, const ex_imap_arg *args, bool uid_mode);

#endif
