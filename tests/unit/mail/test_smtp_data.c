/*
 * Table-driven tests of the DATA decoder: dot-unstuffing, the end-of-data
 * line, bare LF handling and the size limit, each fed whole and split at
 * every offset. A second test compares the decoder, which copies the
 * bytes inside a line in runs, with a byte-at-a-time reference on
 * pseudo-random inputs and splits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "smtp_data.h"

typedef struct {
	const char *name;
	const char *input;
	uint64_t max_length;
	bool done;
	const char *content;     /* expected decoded content when not too large */
	size_t trailing;         /* bytes left after the end-of-data line */
	bool too_large;
	bool saw_nul;
} data_case;

static const data_case cases[] = {
	{ "simple", "Subject: x\r\n\r\nbody\r\n.\r\n", 1024, true, "Subject: x\r\n\r\nbody\r\n", 0, false, false },
	{ "empty message", ".\r\n", 1024, true, "", 0, false, false },
	{ "dot-stuffed line", "a\r\n..b\r\n..\r\n.\r\n", 1024, true, "a\r\n.b\r\n.\r\n", 0, false, false },
	{ "pipelined command after", "x\r\n.\r\nQUIT\r\n", 1024, true, "x\r\n", 6, false, false },
	{ "bare LF dot LF does not end", "a\n.\nb\r\n.\r\n", 1024, true, "a\n.\nb\r\n", 0, false, false },
	{ "CR dot CR does not end", "a\r.\rb\r\n.\r\n", 1024, true, "a\r.\rb\r\n", 0, false, false },
	{ "dot CR without LF", "a\r\n.\rb\r\n.\r\n", 1024, true, "a\r\n\rb\r\n", 0, false, false },
	{ "no end yet", "a\r\n.", 1024, false, "a\r\n", 0, false, false },
	{ "at the limit", "12345678\r\n.\r\n", 10, true, "12345678\r\n", 0, false, false },
	{ "one past the limit", "123456789\r\n.\r\n", 10, true, NULL, 0, true, false },
	{ "NUL octet", "a\0b\r\n.\r\n", 1024, true, NULL, 0, false, true },
};

static size_t input_length(const data_case *test)
{
	/* The NUL case has an embedded NUL: its length is written out. */
	return test->saw_nul ? 8 : strlen(test->input);
}

static void run_case(const data_case *test, size_t split)
{
	ex_smtp_data_decoder decoder;
	size_t length = input_length(test);
	size_t offset = 0;
	bool done = false;

	ex_smtp_data_init(&decoder, test->max_length);
	while (offset < length && !done) {
		size_t end = offset < split ? split : length;
		size_t consumed = 0;
		done = ex_smtp_data_feed(&decoder, test->input + offset, end - offset, &consumed) == EX_SMTP_DATA_DONE;
		offset += consumed;
	}
	assert_int_equal(done, test->done);
	assert_int_equal(length - offset, test->trailing);
	assert_int_equal(decoder.too_large, test->too_large);
	assert_int_equal(decoder.saw_nul, test->saw_nul);
	if (test->content != NULL) {
		assert_int_equal(decoder.length, strlen(test->content));
		assert_memory_equal(decoder.content == NULL ? "" : decoder.content, test->content, decoder.length);
	}
	ex_smtp_data_free(&decoder);
}

static void data_decoder_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t split = 0; split <= input_length(&cases[i]); split++) {
			print_message("case: %s, split at %zu\n", cases[i].name, split);
			run_case(&cases[i], split);
		}
	}
}

static void data_decoder_reset_reuses(void **state)
{
	(void)state;
	ex_smtp_data_decoder decoder;
	size_t consumed = 0;

	ex_smtp_data_init(&decoder, 1024);
	assert_int_equal(ex_smtp_data_feed(&decoder, "one\r\n.\r\n", 8, &consumed), EX_SMTP_DATA_DONE);
	ex_smtp_data_reset(&decoder);
	assert_int_equal(ex_smtp_data_feed(&decoder, "two\r\n.\r\n", 8, &consumed), EX_SMTP_DATA_DONE);
	assert_int_equal(decoder.length, 5);
	assert_memory_equal(decoder.content, "two\r\n", 5);
	ex_smtp_data_free(&decoder);
}

/* The decoder's output, computed one byte at a time: the reference for the decoder's runs. */
typedef struct {
	char content[256];
	size_t length;
	uint64_t total;
	bool saw_nul;
	bool done;
	size_t consumed;
} reference_output;

static void reference_emit(reference_output *out, uint64_t max_length, char byte)
{
	out->total++;
	if (byte == '\0')
		out->saw_nul = true;
	if (out->total <= max_length)
		out->content[out->length++] = byte;
}

static void reference_decode(const char *input, size_t length, uint64_t max_length, reference_output *out)
{
	enum { LINE_START, IN_LINE, CR, DOT, DOT_CR } state = LINE_START;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < length; i++) {
		char byte = input[i];
		if (state == DOT_CR && byte == '\n') {
			out->done = true;
			out->consumed = i + 1;
			return;
		}
		if (state == CR && byte == '\n') {
			reference_emit(out, max_length, '\r');
			reference_emit(out, max_length, '\n');
			state = LINE_START;
			continue;
		}
		if (state == CR || state == DOT_CR)
			reference_emit(out, max_length, '\r');
		if (state == LINE_START && byte == '.') {
			state = DOT;
			continue;
		}
		if (state == DOT && byte == '\r') {
			state = DOT_CR;
			continue;
		}
		if (byte == '\r') {
			state = CR;
			continue;
		}
		reference_emit(out, max_length, byte);
		state = IN_LINE;
	}
	out->consumed = length;
}

static void data_decoder_matches_reference(void **state)
{
	(void)state;
	static const char alphabet[] = { 'a', '.', '\r', '\n', '\0', 'b', '\r', '\n' };
	uint32_t seed = 12345;
	char input[200] = { 0 };

	for (int round = 0; round < 20000; round++) {
		seed = seed * 1103515245u + 12345u;
		size_t length = (seed >> 16) % sizeof(input);
		for (size_t i = 0; i < length; i++) {
			seed = seed * 1103515245u + 12345u;
			input[i] = alphabet[(seed >> 16) % sizeof(alphabet)];
		}
		seed = seed * 1103515245u + 12345u;
		uint64_t max_length = (seed >> 16) % 64;
		seed = seed * 1103515245u + 12345u;
		size_t split = length == 0 ? 0 : (seed >> 16) % length;

		reference_output expected;
		reference_decode(input, length, max_length, &expected);

		ex_smtp_data_decoder decoder;
		ex_smtp_data_init(&decoder, max_length);
		size_t offset = 0;
		bool done = false;
		while (offset < length && !done) {
			size_t end = offset < split ? split : length;
			size_t consumed = 0;
			done = ex_smtp_data_feed(&decoder, input + offset, end - offset, &consumed) == EX_SMTP_DATA_DONE;
			offset += consumed;
		}
		assert_int_equal(done, expected.done);
		assert_int_equal(offset, expected.consumed);
		assert_int_equal(decoder.total_length, expected.total);
		assert_int_equal(decoder.too_large, expected.total > max_length);
		assert_int_equal(decoder.saw_nul, expected.saw_nul);
		assert_int_equal(decoder.length, expected.length);
		if (expected.length > 0)
			assert_memory_equal(decoder.content, expected.content, expected.length);
		ex_smtp_data_free(&decoder);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(data_decoder_cases),
		cmocka_unit_test(data_decoder_reset_reuses),
		cmocka_unit_test(data_decoder_matches_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
