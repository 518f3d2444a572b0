/*
 * libFuzzer target: ENVELOPE and BODYSTRUCTURE built from arbitrary
 * message octets. Whatever the input, building succeeds, and both cached
 * values render as balanced IMAP text in both forms (BODY and
 * BODYSTRUCTURE) and for clients with and without UTF8=ACCEPT.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "imap_structure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render_all(const char *value, size_t length)
{
	for (int utf8 = 0; utf8 <= 1; utf8++) {
		for (int extended = 0; extended <= 1; extended++) {
			ex_imap_writer out;
			ex_imap_writer_init(&out, 0, utf8 == 1);
			if (!imap_structure_render(&out, value, length, extended == 1))
				abort();
			int depth = 0;
			for (size_t i = 0; i < out.length; i++) {
				if (out.data[i] == '{') {
					/* Skip a literal, whose octets may hold parentheses. */
					size_t n = strtoul(out.data + i + 1, NULL, 10);
					while (i < out.length && out.data[i] != '\n')
						i++;
					i += n;
					continue;
				}
				if (out.data[i] == '"') {
					for (i++; i < out.length && out.data[i] != '"'; i++)
						if (out.data[i] == '\\')
							i++;
					continue;
				}
				depth += out.data[i] == '(' ? 1 : (out.data[i] == ')' ? -1 : 0);
				if (depth < 0)
					abort();
			}
			if (depth != 0)
				abort();
			ex_imap_writer_free(&out);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	imap_structure structure;
	if (imap_structure_build((const char *)data, size, &structure) != 0)
		abort();
	render_all(structure.envelope, structure.envelope_length);
	render_all(structure.bodystructure, structure.bodystructure_length);
	imap_structure_clear(&structure);
	return 0;
}
