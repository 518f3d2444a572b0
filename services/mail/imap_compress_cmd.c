/*
 * The COMPRESS command (RFC 4978). The session only answers it; after the
 * tagged OK, which goes out uncompressed, the connection layer
 * (imap_connection.c) compresses both directions with imap_compress.c.
 */
#include <strings.h>

#include "imap_internal.h"

ex_imap_next imap_command_compress(imap_session *session, const ex_imap_command *command)
{
	const ex_imap_arg *mechanism = command->args;
	if (command->arg_count != 1 || mechanism->type != EX_IMAP_ARG_ATOM) {
		imap_reply_bad(session, command->tag, "COMPRESS takes one mechanism: DEFLATE");
		return EX_IMAP_NEXT_READ;
	}
	if (strcasecmp(mechanism->str, "DEFLATE") != 0) {
		imap_reply_bad(session, command->tag, "Unsupported compression mechanism; use DEFLATE");
		return EX_IMAP_NEXT_READ;
	}
	if (session->compress_active) {
		imap_reply_no(session, command->tag, "COMPRESSIONACTIVE", "DEFLATE is active already");
		return EX_IMAP_NEXT_READ;
	}
	session->compress_active = true;
	imap_reply_ok(session, command->tag, "DEFLATE active");
	return EX_IMAP_NEXT_START_COMPRESS;
}
