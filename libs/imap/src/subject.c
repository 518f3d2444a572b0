/*
 * Base subject extraction (RFC 5256 section 2.1), used by SORT SUBJECT
 * and by both THREAD algorithms. The rules remove reply and forward
 * markers ("Re:", "Fw:", "Fwd:", a "(fwd)" trailer, a "[fwd: ...]"
 * wrapper) and "[blob]" prefixes such as mailing-list tags. Only the
 * English prefixes count, as the RFC requires. The text is changed in
 * place, so no memory is allocated.
 */
#include "expresso/imap_thread.h"

#include <string.h>

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* True when TEXT of LENGTH octets starts with the lower-case ASCII WORD, ignoring case. */
static bool starts_with(const char *text, size_t length, const char *word)
{
	size_t word_length = strlen(word);
	if (length < word_length)
		return false;
	for (size_t i = 0; i < word_length; i++)
		if (lower(text[i]) != word[i])
			return false;
	return true;
}

/* Step 1: tabs, line breaks and runs of spaces become one space. Returns the new length. */
static size_t collapse_spaces(char *text)
{
	size_t out = 0;
	for (size_t in = 0; text[in] != '\0'; in++) {
		if (is_space(text[in])) {
			if (out > 0 && text[out - 1] == ' ')
				continue;
			text[out++] = ' ';
		} else {
			text[out++] = text[in];
		}
	}
	text[out] = '\0';
	return out;
}

/* Length of a subj-blob ("[" *BLOBCHAR "]" *WSP) at TEXT, or 0. */
static size_t blob_length(const char *text, size_t length)
{
	if (length == 0 || text[0] != '[')
		return 0;
	size_t i = 1;
	while (i < length && text[i] != ']' && text[i] != '[')
		i++;
	if (i == length || text[i] != ']')
		return 0;
	i++;
	while (i < length && is_space(text[i]))
		i++;
	return i;
}

/* Length of a subj-leader (*subj-blob subj-refwd, or one WSP) at TEXT, or 0. */
static size_t leader_length(const char *text, size_t length, bool *reply_or_forward)
{
	if (length > 0 && is_space(text[0]))
		return 1;

	size_t i = 0;
	for (size_t blob = blob_length(text, length); blob > 0; blob = blob_length(text + i, length - i))
		i += blob;

	/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
	if (starts_with(text + i, length - i, "re")) {
		i += 2;
	} else if (starts_with(text + i, length - i, "fw")) {
		i += 2;
		if (i < length && lower(text[i]) == 'd')
			i++;
	} else {
		return 0;
	}
	while (i < length && is_space(text[i]))
		i++;
	i += blob_length(text + i, length - i);
	if (i == length || text[i] != ':')
		return 0;
	*reply_or_forward = true;
	return i + 1;
}

/* Step 2: removes trailing WSP and "(fwd)" until none is left. Returns the new end. */
static size_t strip_trailers(const char *text, size_t start, size_t end, bool *reply_or_forward)
{
	while (end > start) {
		if (is_space(text[end - 1])) {
			end--;
		} else if (end - start >= 5 && starts_with(text + end - 5, 5, "(fwd)")) {
			end -= 5;
			*reply_or_forward = true;
		} else {
			break;
		}
	}
	return end;
}

/* Steps 3 to 5: removes leaders, and blobs that leave a non-empty subject, until none is left. */
static size_t strip_leaders(const char *text, size_t start, size_t end, bool *reply_or_forward)
{
	for (bool removed = true; removed;) {
		removed = false;
		for (size_t leader = leader_length(text + start, end - start, reply_or_forward); leader > 0;
		     leader = leader_length(text + start, end - start, reply_or_forward)) {
			start += leader;
			removed = true;
		}
		size_t blob = blob_length(text + start, end - start);
		if (blob > 0 && start + blob < end) {
			start += blob;
			removed = true;
		}
	}
	return start;
}

char *ex_imap_base_subject(char *subject, bool *reply_or_forward)
{
	bool marker = false;
	size_t start = 0;
	size_t end = collapse_spaces(subject);

	for (;;) {
		end = strip_trailers(subject, start, end, &marker);
		start = strip_leaders(subject, start, end, &marker);

		/* Step 6: a whole "[fwd: ...]" wrapper is removed and the rules run again on what it held. */
		if (end - start >= 6 && starts_with(subject + start, end - start, "[fwd:") && subject[end - 1] == ']') {
			start += 5;
			end--;
			marker = true;
			continue;
		}
		break;
	}
	subject[end] = '\0';
	if (reply_or_forward != NULL)
		*reply_or_forward = marker;
	return subject + start;
}
