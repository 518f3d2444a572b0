/*
 * The text that SEARCH BODY and TEXT compare against, in the folded form
 * both the scan of stored messages (imap_search_cmd.c) and the search
 * index (imap_search_index.c) use: decomposed (Unicode NFD), without
 * combining marks, case-folded, so that "conceicao" finds "Conceição".
 * No I/O: the unit tests and the fuzz target call these directly.
 */
#ifndef EXPRESSO_MAIL_SEARCH_TEXT_H
#define EXPRESSO_MAIL_SEARCH_TEXT_H

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stddef.h>

/* Returns TEXT decomposed, without combining marks, case-folded (g_free). Invalid UTF-8 is replaced first. */
char *ex_mail_search_fold(const char *text);

/* Returns the folded text of MESSAGE's text parts, each followed by a newline (g_free). */
char *ex_mail_search_body_text(GMimeMessage *message);

/*
 * Returns the folded, decoded value of each top-level header field of
 * MESSAGE, each followed by a newline (g_free). A needle without a newline
 * is found in it exactly when it is found in one of the values.
 */
char *ex_mail_search_header_text(GMimeMessage *message);

/* Whether headers and body of these lengths fit under MAX_TEXT octets; 0 disables the index. */
bool ex_mail_search_text_fits(size_t header_length, size_t body_length, size_t max_text);

/*
 * Whether the folded needle can be answered by the index: it must be
 * non-empty (an empty needle matches every parsed message, which the scan
 * decides) and have no newline (which the joined header values would
 * match across two fields).
 */
bool ex_mail_search_needle_indexable(const char *folded_needle);

/* Returns the LIKE pattern '%needle%' with \, % and _ escaped by a backslash (g_free). */
char *ex_mail_search_like_pattern(const char *folded_needle);

#endif
