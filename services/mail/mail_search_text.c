/*
 * Folding and extraction of the text that SEARCH BODY and TEXT compare
 * against. The scan of stored messages and the search index both call
 * these functions, so that the two paths find the same messages.
 */
#include "mail_search_text.h"

#include <string.h>

char *ex_mail_search_fold(const char *text)
{
	char *valid = g_utf8_make_valid(text, -1);
	char *decomposed = g_utf8_normalize(valid, -1, G_NORMALIZE_NFD);
	g_free(valid);
	if (decomposed == NULL)
		return g_strdup("");
	GString *stripped = g_string_sized_new(strlen(decomposed));
	for (const char *p = decomposed; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (g_unichar_ismark(c))
			continue;
		g_string_append_unichar(stripped, c);
	}
	g_free(decomposed);
	char *folded = g_utf8_casefold(stripped->str, -1);
	g_string_free(stripped, TRUE);
	return folded;
}

static void collect_text(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	GString *text = data;
	(void)parent;
	if (!GMIME_IS_TEXT_PART(part))
		return;
	char *content = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
	if (content != NULL) {
		g_string_append(text, content);
		g_string_append_c(text, '\n');
		g_free(content);
	}
}

char *ex_mail_search_body_text(GMimeMessage *message)
{
	GString *text = g_string_new("");
	g_mime_message_foreach(message, collect_text, text);
	char *folded = ex_mail_search_fold(text->str);
	g_string_free(text, TRUE);
	return folded;
}

char *ex_mail_search_header_text(GMimeMessage *message)
{
	GString *text = g_string_new("");
	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
	for (int i = 0; i < g_mime_header_list_get_count(headers); i++) {
		const char *value = g_mime_header_get_value(g_mime_header_list_get_header_at(headers, i));
		if (value == NULL)
			continue;
		char *folded = ex_mail_search_fold(value);
		g_string_append(text, folded);
		g_string_append_c(text, '\n');
		g_free(folded);
	}
	return g_string_free(text, FALSE);
}

bool ex_mail_search_text_fits(size_t header_length, size_t body_length, size_t max_text)
{
	return max_text > 0 && header_length <= max_text && body_length <= max_text - header_length;
}

bool ex_mail_search_needle_indexable(const char *folded_needle)
{
	return folded_needle[0] != '\0' && strchr(folded_needle, '\n') == NULL;
}

char *ex_mail_search_like_pattern(const char *folded_needle)
{
	GString *pattern = g_string_sized_new(strlen(folded_needle) + 2);
	g_string_append_c(pattern, '%');
	for (const char *p = folded_needle; *p != '\0'; p++) {
		if (*p == '\\' || *p == '%' || *p == '_')
			g_string_append_c(pattern, '\\');
		g_string_append_c(pattern, *p);
	}
	g_string_append_c(pattern, '%');
	return g_string_free(pattern, FALSE);
}
