/*
 * Tests of RFC 5256 threading in libexpresso-imap: base subject
 * extraction, ORDEREDSUBJECT, and REFERENCES with the thread shape of the
 * RFC's section 4 example, missing parents, loops in References,
 * duplicate Message-IDs, subject merging and a thread too deep for
 * recursion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expresso/imap_thread.h"
#include "expresso/imap_writer.h"

typedef struct {
	const char *subject;
	const char *base;
	bool reply_or_forward;
} subject_case;

static const subject_case subject_cases[] = {
	{ "hello", "hello", false },
	{ "Re: hello", "hello", true },
	{ "RE: Fwd: hello", "hello", true },
	{ "re: re: re: hello", "hello", true },
	{ "Fw: hello", "hello", true },
	{ "Re[2]: hello", "hello", true },
	{ "Re [list]: hello", "hello", true },
	{ "[list] Re: hello", "hello", true },
	{ "[list] hello", "hello", false },
	{ "[list] [other] hello", "hello", false },
	{ "[list]", "[list]", false },
	{ "[a] [b]", "[b]", false },
	{ "hello (fwd)", "hello", true },
	{ "hello (FWD) (fwd)  ", "hello", true },
	{ "[fwd: hello]", "hello", true },
	{ "Re: [Fwd: Re: hello] (fwd)", "hello", true },
	{ "[fwd: [list] hello]", "hello", true },
	{ "  hello \t  world\r\n again ", "hello world again", false },
	{ "Rebate: offer", "Rebate: offer", false },
	{ "Fwded: x", "Fwded: x", false },
	{ "Re:", "", true },
	{ "", "", false },
	{ "[unclosed hello", "[unclosed hello", false },
	{ "Ação", "Ação", false },
};

static void test_base_subject(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(subject_cases) / sizeof(subject_cases[0]); i++) {
		const subject_case *c = &subject_cases[i];
		char buffer[128];
		bool reply = !c->reply_or_forward;
		snprintf(buffer, sizeof(buffer), "%s", c->subject);
		const char *base = ex_imap_base_subject(buffer, &reply);
		if (strcmp(base, c->base) != 0)
			fail_msg("case %zu (%s): base subject \"%s\", expected \"%s\"", i, c->subject, base, c->base);
		if (reply != c->reply_or_forward)
			fail_msg("case %zu (%s): reply_or_forward %d, expected %d", i, c->subject, reply, c->reply_or_forward);
	}
}

/* A test message: the number written is its position, from 1. */
typedef struct {
	int64_t date;
	const char *subject;
	const char *message_id;
	const char *in_reply_to;
	const char *references;
} test_message;

/* Threads MESSAGES with ALGORITHM and checks the thread data against EXPECTED. */
static void check_threads(ex_imap_thread_algorithm algorithm, const test_message *messages, size_t count,
			  const char *expected)
{
	ex_imap_thread_message *input = calloc(count + 1, sizeof(*input));
	char **subjects = calloc(count + 1, sizeof(*subjects));
	assert_non_null(input);
	assert_non_null(subjects);
	for (size_t i = 0; i < count; i++) {
		subjects[i] = strdup(messages[i].subject != NULL ? messages[i].subject : "");
		assert_non_null(subjects[i]);
		input[i].number = (uint32_t)(i + 1);
		input[i].sent_date = messages[i].date;
		input[i].base_subject = ex_imap_base_subject(subjects[i], &input[i].reply_or_forward);
		input[i].message_id = messages[i].message_id;
		input[i].in_reply_to = messages[i].in_reply_to;
		input[i].references = messages[i].references;
	}
	ex_imap_writer writer;
	ex_imap_writer_init(&writer, 0, false);
	assert_int_equal(ex_imap_thread_write(&writer, algorithm, input, count), 0);
	ex_imap_write_raw(&writer, "", 1);
	assert_string_equal(writer.data, expected);
	ex_imap_writer_free(&writer);
	for (size_t i = 0; i < count; i++)
		free(subjects[i]);
	free(subjects);
	free(input);
}

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static void test_algorithm_names(void **state)
{
	(void)state;
	ex_imap_thread_algorithm algorithm = EX_IMAP_THREAD_ORDEREDSUBJECT;
	assert_true(ex_imap_thread_algorithm_parse("references", &algorithm));
	assert_int_equal(algorithm, EX_IMAP_THREAD_REFERENCES);
	assert_true(ex_imap_thread_algorithm_parse("OrderedSubject", &algorithm));
	assert_int_equal(algorithm, EX_IMAP_THREAD_ORDEREDSUBJECT);
	assert_false(ex_imap_thread_algorithm_parse("REFS", &algorithm));
	assert_false(ex_imap_thread_algorithm_parse("", &algorithm));
}

static void test_empty_mailbox(void **state)
{
	(void)state;
	check_threads(EX_IMAP_THREAD_REFERENCES, NULL, 0, "");
	check_threads(EX_IMAP_THREAD_ORDEREDSUBJECT, NULL, 0, "");
}

/*
 * RFC 5256 section 4 shows "(2)(3 6 (4 23)(44 7 96))": 3 has the only
 * child 6, which has the children 4 and 44. Here the message numbers are
 * positions, so the same tree reads "(1)(2 3 (4 5)(6 7 8))".
 */
static void test_references_rfc_shape(void **state)
{
	(void)state;
	static const test_message messages[] = {
		{ 100, "two", "<2@x>", NULL, NULL },
		{ 200, "three", "<3@x>", NULL, NULL },
		{ 300, "Re: three", "<6@x>", NULL, "<3@x>" },
		{ 400, "Re: three", "<4@x>", "<6@x>", "<3@x> <6@x>" },
		{ 500, "Re: three", "<23@x>", NULL, "<3@x> <6@x> <4@x>" },
		{ 600, "Re: three", "<44@x>", NULL, "<3@x> <6@x>" },
		{ 700, "Re: three", "<7@x>", NULL, "<3@x> <6@x> <44@x>" },
		{ 800, "Re: three", "<96@x>", NULL, "<3@x>\t<6@x>\r\n <44@x> <7@x>" },
	};
	check_threads(EX_IMAP_THREAD_REFERENCES, messages, COUNT(messages), "(1)(2 3 (4 5)(6 7 8))");
}

static void test_ordered_subject(void **state)
{
	(void)state;
	static const test_message messages[] = {
		{ 100, "Alpha", NULL, NULL, NULL },
		{ 200, "Beta", NULL, NULL, NULL },
		{ 300, "Re: alpha", NULL, NULL, NULL },
		{ 250, "[list] Alpha", NULL, NULL, NULL },
		{ 50, "Gamma", NULL, NULL, NULL },
		{ 400, "Re: Beta", NULL, NULL, NULL },
	};
	/* Base subjects compare octet by octet: the caller folds case, so "Alpha" and "alpha" differ here. */
	check_threads(EX_IMAP_THREAD_ORDEREDSUBJECT, messages, COUNT(messages), "(5)(1 4)(2 6)(3)");
}

static void test_ordered_subject_siblings(void **state)
{
	(void)state;
	static const test_message messages[] = {
		{ 300, "hello", NULL, NULL, NULL },
		{ 100, "Re: hello", NULL, NULL, NULL },
		{ 200, "Fwd: hello", NULL, NULL, NULL },
		{ 200, "hello (fwd)", NULL, NULL, NULL },
	};
	/* No grandchildren: the second and later messages are all children of the first. */
	check_threads(EX_IMAP_THREAD_ORDEREDSUBJECT, messages, COUNT(messages), "(2 (3)(4)(1))");
}

static void test_missing_parent(void **state)
{
	(void)state;
	static const test_message one_reply[] = {
		{ 100, "Re: gone", "<r1@x>", "<gone@x>", NULL },
	};
	check_threads(EX_IMAP_THREAD_REFERENCES, one_reply, COUNT(one_reply), "(1)");

	static const test_message two_replies[] = {
		{ 200, "Re: gone", "<r1@x>", NULL, "<gone@x>" },
		{ 100, "Re: gone", "<r2@x>", NULL, "<gone@x>" },
		{ 300, "other", "<o@x>", NULL, NULL },
	};
	/* The absent parent stays as a dummy that holds both replies. */
	check_threads(EX_IMAP_THREAD_REFERENCES, two_replies, COUNT(two_replies), "((2)(1))(3)");

	static const test_message chain_of_dummies[] = {
		{ 100, "x", "<c@x>", NULL, "<a@x> <b@x>" },
		{ 200, "y", "<d@x>", NULL, "<a@x> <b@x>" },
	};
	/* The dummy <b> below the dummy <a> goes; <a> keeps both messages. */
	check_threads(EX_IMAP_THREAD_REFERENCES, chain_of_dummies, COUNT(chain_of_dummies), "((1)(2))");
}

static void test_references_loop(void **state)
{
	(void)state;
	static const test_message mutual[] = {
		{ 100, "a", "<a@x>", NULL, "<b@x>" },
		{ 200, "b", "<b@x>", NULL, "<a@x>" },
	};
	/* <a> becomes the child of <b>; the link back from <b> to <a> would close a loop and is not made. */
	check_threads(EX_IMAP_THREAD_REFERENCES, mutual, COUNT(mutual), "(2 1)");

	static const test_message self[] = {
		{ 100, "s", "<s@x>", "<s@x>", "<s@x> <s@x>" },
		{ 200, "t", "<t@x>", NULL, "<s@x> <t@x>" },
	};
	check_threads(EX_IMAP_THREAD_REFERENCES, self, COUNT(self), "(1 2)");

	static const test_message cycle_in_chain[] = {
		{ 100, "p", "<p@x>", NULL, "<q@x> <r@x> <q@x>" },
		{ 200, "q", "<q@x>", NULL, NULL },
	};
	check_threads(EX_IMAP_THREAD_REFERENCES, cycle_in_chain, COUNT(cycle_in_chain), "(2 1)");
}

static void test_duplicate_message_ids(void **state)
{
	(void)state;
	static const test_message messages[] = {
		{ 100, "first", "<dup@x>", NULL, NULL },
		{ 200, "second", "<dup@x>", NULL, NULL },
		{ 300, "Re: first", "<r@x>", NULL, "<dup@x>" },
		{ 400, "none", NULL, NULL, NULL },
		{ 500, "junk", "no id here", NULL, "<> < spaced@x > also junk" },
	};
	/* Only the first message keeps the duplicated ID; messages without a valid ID stand alone. */
	check_threads(EX_IMAP_THREAD_REFERENCES, messages, COUNT(messages), "(1 3)(2)(4)(5)");
}

static void test_in_reply_to(void **state)
{
	(void)state;
	static const test_message messages[] = {
		{ 100, "a", "<a@x>", NULL, NULL },
		{ 200, "b", "<b@x>", NULL, NULL },
		{ 300, "Re: a", "<c@x>", "comment <a@x> <b@x>", NULL },
		{ 400, "Re: b", "<d@x>", "<a@x>", "<b@x>" },
	};
	/* In-Reply-To counts only without References, and only its first ID. */
	check_threads(EX_IMAP_THREAD_REFERENCES, messages, COUNT(messages), "(1 3)(2 4)");
}

static void test_truncated_references(void **state)
{
	(void)state;
	static const test_message messages[] = {
		{ 100, "root", "<root@x>", NULL, NULL },
		{ 200, "Re: root", "<mid@x>", NULL, "<root@x>" },
		{ 300, "Re: root", "<leaf@x>", NULL, "<mid@x>" },
		{ 400, "Re: root", "<late@x>", NULL, "<other@x> <mid@x>" },
	};
	/* The link <root> to <mid> stands although the last message names <other> before <mid>. */
	check_threads(EX_IMAP_THREAD_REFERENCES, messages, COUNT(messages), "(1 2 (3)(4))");
}

static void test_subject_merge(void **state)
{
	(void)state;
	static const test_message reply_joins[] = {
		{ 100, "Hello", "<h@x>", NULL, NULL },
		{ 200, "Re: Hello", "<r@x>", NULL, NULL },
	};
	check_threads(EX_IMAP_THREAD_REFERENCES, reply_joins, COUNT(reply_joins), "(1 2)");

	static const test_message reply_first[] = {
		{ 100, "Re: Hello", "<r@x>", NULL, NULL },
		{ 200, "Hello", "<h@x>", NULL, NULL },
	};
	/* The message that is not a reply heads the thread even when it is younger. */
	check_threads(EX_IMAP_THREAD_REFERENCES, reply_first, COUNT(reply_first), "(2 1)");

	static const test_message equals[] = {
		{ 100, "Hello", "<a@x>", NULL, NULL },
		{ 200, "Hello", "<b@x>", NULL, NULL },
		{ 300, "Other", "<c@x>", NULL, NULL },
		{ 400, "", "<d@x>", NULL, NULL },
		{ 500, "", "<e@x>", NULL, NULL },
	};
	/* Two originals with one subject go under a new dummy; empty subjects are never merged. */
	check_threads(EX_IMAP_THREAD_REFERENCES, equals, COUNT(equals), "((1)(2))(3)(4)(5)");

	static const test_message dummies[] = {
		{ 100, "Re: topic", "<a@x>", NULL, "<gone1@x>" },
		{ 200, "Re: topic", "<b@x>", NULL, "<gone1@x>" },
		{ 300, "Re: topic", "<c@x>", NULL, "<gone2@x>" },
		{ 400, "Re: topic", "<d@x>", NULL, "<gone2@x>" },
		{ 500, "topic", "<e@x>", NULL, NULL },
	};
	/* Two dummies with one subject pool their children, and the original joins them. */
	check_threads(EX_IMAP_THREAD_REFERENCES, dummies, COUNT(dummies), "((1)(2)(3)(4)(5))");
}

static void test_date_order(void **state)
{
	(void)state;
	static const test_message messages[] = {
		{ 300, "c", "<c@x>", NULL, NULL },
		{ 100, "a", "<a@x>", NULL, NULL },
		{ 200, "b", "<b@x>", NULL, NULL },
		{ 200, "d", "<d@x>", NULL, NULL },
		{ 50, "Re: c", "<e@x>", NULL, "<c@x>" },
		{ 10, "Re: c", "<f@x>", NULL, "<c@x>" },
	};
	/* Threads and siblings by sent date; equal dates keep mailbox order. */
	check_threads(EX_IMAP_THREAD_REFERENCES, messages, COUNT(messages), "(2)(3)(4)(1 (6)(5))");
}

/* A chain deeper than any recursion could follow: each message replies to the one before. */
static void test_deep_chain(void **state)
{
	(void)state;
	enum { DEPTH = 200000 };
	ex_imap_thread_message *messages = calloc(DEPTH, sizeof(*messages));
	char (*ids)[24] = calloc(DEPTH, sizeof(*ids));
	assert_non_null(messages);
	assert_non_null(ids);
	for (size_t i = 0; i < DEPTH; i++) {
		snprintf(ids[i], sizeof(ids[i]), "<%zu@x>", i);
		messages[i].number = (uint32_t)(i + 1);
		messages[i].sent_date = (int64_t)i;
		messages[i].base_subject = "deep";
		messages[i].message_id = ids[i];
		messages[i].in_reply_to = i > 0 ? ids[i - 1] : NULL;
	}
	for (int algorithm = 0; algorithm < 2; algorithm++) {
		ex_imap_writer writer;
		ex_imap_writer_init(&writer, 0, false);
		assert_int_equal(ex_imap_thread_write(&writer, (ex_imap_thread_algorithm)algorithm, messages, DEPTH), 0);
		assert_true(writer.length > 10);
		assert_memory_equal(writer.data, algorithm == EX_IMAP_THREAD_REFERENCES ? "(1 2 3 4 " : "(1 (2)(3)", 9);
		assert_memory_equal(writer.data + writer.length - 9, algorithm == EX_IMAP_THREAD_REFERENCES ? "9 200000)" : "(200000))",
				    9);
		ex_imap_writer_free(&writer);
	}
	free(ids);
	free(messages);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_algorithm_names),
		cmocka_unit_test(test_empty_mailbox),
		cmocka_unit_test(test_references_rfc_shape),
		cmocka_unit_test(test_ordered_subject),
		cmocka_unit_test(test_ordered_subject_siblings),
		cmocka_unit_test(test_missing_parent),
		cmocka_unit_test(test_references_loop),
		cmocka_unit_test(test_duplicate_message_ids),
		cmocka_unit_test(test_in_reply_to),
		cmocka_unit_test(test_truncated_references),
		cmocka_unit_test(test_subject_merge),
		cmocka_unit_test(test_date_order),
		cmocka_unit_test(test_deep_chain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
