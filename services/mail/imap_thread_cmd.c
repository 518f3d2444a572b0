/*
 * THREAD and UID THREAD (RFC 5256): "THREAD algorithm charset program".
 * The program is a SEARCH program over the selected mailbox
 * (imap_search_cmd.c); the matching messages are threaded by
 * ORDEREDSUBJECT or REFERENCES in libs/imap and answered as one
 * "* THREAD" response of sequence numbers, or UIDs for UID THREAD.
 */
#include <stdlib.h>

#include "expresso/imap_thread.h"
#include "imap_internal.h"

void imap_command_thread(imap_session *session, const ex_imap_command *command, const ex_imap_arg *args, bool uid_mode)
{
	ex_imap_thread_algorithm algorithm = EX_IMAP_THREAD_REFERENCES;
	if (args == NULL || args->type != EX_IMAP_ARG_ATOM || !ex_imap_thread_algorithm_parse(args->str, &algorithm)) {
		imap_reply_bad(session, command->tag, "THREAD takes an algorithm: ORDEREDSUBJECT or REFERENCES");
		return;
	}
	const ex_imap_arg *charset = args->next;
	if (charset == NULL || !ex_imap_arg_is_astring(charset)) {
		imap_reply_bad(session, command->tag, "THREAD takes a charset after the algorithm");
		return;
	}
	if (!imap_search_charset_supported(session, command->tag, charset))
		return;
	if (charset->next == NULL) {
		imap_reply_bad(session, command->tag, "THREAD takes search criteria after the charset, such as ALL");
		return;
	}

	imap_thread_input input;
	if (!imap_search_thread_input(session, command->tag, charset->next, uid_mode, &input))
		return;
	ex_imap_writer *out = &session->output;
	size_t start = out->length;
	/* thread-data = "THREAD" [SP 1*thread-list]: no space when nothing matched. */
	ex_imap_write_text(out, input.count > 0 ? "* THREAD " : "* THREAD");
	int status = ex_imap_thread_write(out, algorithm, input.messages, input.count);
	imap_thread_input_clear(&input);
	if (status != 0) {
		/* Drop the partial response so that the client sees only the NO. */
		out->length = start;
		imap_reply_no(session, command->tag, "SERVERBUG", "Out of memory while threading");
		return;
	}
	ex_imap_write_text(out, "\r\n");
	imap_reply_ok(session, command->tag, "THREAD completed");
}
