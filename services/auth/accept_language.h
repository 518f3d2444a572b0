/*
 * Language of the pages shown to a person: Brazilian Portuguese by default,
 * English when the browser's Accept-Language (RFC 9110, section 12.5.4)
 * prefers English.
 */
#ifndef EXPRESSO_AUTH_ACCEPT_LANGUAGE_H
#define EXPRESSO_AUTH_ACCEPT_LANGUAGE_H

typedef enum {
	EX_RP_LANGUAGE_PT_BR = 0,
	EX_RP_LANGUAGE_EN,
} ex_rp_language;

enum {
	/* Maximum entries of the header that are read. The rest are ignored. */
	EX_RP_ACCEPT_LANGUAGE_MAX_ENTRIES = 32,
	/* Maximum length of a language range. Longer ones are skipped. */
	EX_RP_LANGUAGE_RANGE_MAX = 35,
};

/*
 * Chooses the language for an Accept-Language value (NULL when absent).
 * Each language takes the highest q-value among the ranges that match it
 * ("en" and "en-US" for English, "pt" and "pt-BR" for Portuguese). When
 * no range names a language, it takes the q-value of "*". English wins
 * only with a higher q-value, or with an equal non-zero one listed first.
 * q=0 means "not acceptable". Malformed entries are skipped.
 */
ex_rp_language ex_rp_language_choose(const char *accept_language);

/* Returns the BCP 47 tag: "pt-BR" or "en". */
const char *ex_rp_language_tag(ex_rp_language language);

#endif
