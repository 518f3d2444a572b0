/*
 * libFuzzer target: the thread builder of libs/imap. Each input line is
 * one message, "date|subject|message-id|in-reply-to|references", so the
 * fuzzer controls loops, duplicates and missing parents. Both algorithms
 * run, and each must write every message number exactly once in
 * balanced parentheses.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/imap_thread.h"
#include "expresso/imap_writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_MESSAGES = 512, FIELDS = 5 };

/* Splits TEXT at '|' into FIELDS fields in place; missing fields are NULL. */
static void split_fields(char *text, char **fields)
{
	for (size_t i = 0; i < FIELDS; i++) {
		fields[i] = text;
		if (text == NULL)
			continue;
		char *bar = strchr(text, '|');
		if (bar != NULL)
			*bar = '\0';
		text = bar != NULL ? bar + 1 : NULL;
	}
}

/* Checks that the thread data has balanced parentheses and names each of COUNT messages once. */
static void check_output(const ex_imap_writer *writer, size_t count)
{
	unsigned char *seen = calloc(count + 1, 1);
	long depth = 0;
	for (size_t i = 0; i < writer->length;) {
		char c = writer->data[i];
		if (c == '(' || c == ')') {
			depth += c == '(' ? 1 : -1;
			if (depth < 0)
				abort();
			i++;
		} else if (c == ' ') {
			i++;
		} else if (c >= '1' && c <= '9') {
			size_t number = 0;
			while (i < writer->length && writer->data[i] >= '0' && writer->data[i] <= '9')
				number = number * 10 + (size_t)(writer->data[i++] - '0');
			if (number == 0 || number > count || seen[number] || depth == 0)
				abort();
			seen[number] = 1;
		} else {
			abort();
		}
	}
	if (depth != 0)
		abort();
	for (size_t n = 1; n <= count; n++)
		if (!seen[n])
			abort();
	free(seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	ex_imap_thread_message messages[MAX_MESSAGES];
	size_t count = 0;
	for (char *line = text; line != NULL && count < MAX_MESSAGES;) {
		char *end = strchr(line, '\n');
		if (end != NULL)
			*end = '\0';
		char *fields[FIELDS];
		split_fields(line, fields);
		bool reply = false;
		messages[count] = (ex_imap_thread_message){
			.number = (uint32_t)(count + 1),
			.sent_date = strtoll(fields[0], NULL, 10),
			.base_subject = fields[1] != NULL ? ex_imap_base_subject(fields[1], &reply) : NULL,
			.message_id = fields[2],
			.in_reply_to = fields[3],
			.references = fields[4],
		};
		messages[count].reply_or_forward = reply;
		count++;
		line = end != NULL ? end + 1 : NULL;
	}

	for (int algorithm = 0; algorithm < 2; algorithm++) {
		ex_imap_writer writer;
		ex_imap_writer_init(&writer, 0, false);
		if (ex_imap_thread_write(&writer, (ex_imap_thread_algorithm)algorithm, messages, count) == 0)
			check_output(&writer, count);
		ex_imap_writer_free(&writer);
	}
	free(text);
	return 0;
}
