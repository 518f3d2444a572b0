/*
 * Parses a message held in memory with GMime (see mail_mime_parse.h).
 */
#include "mail_mime_parse.h"

GMimeMessage *ex_mail_mime_parse(const char *data, size_t length)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, length);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *message = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	return message;
}
