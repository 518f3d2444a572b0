/*
 * Modified UTF-7 (RFC 3501 section 5.1.3). Printable ASCII represents
 * itself, except '&', which is written "&-". Everything else is UTF-16BE
 * in base64 with ',' in place of '/', between '&' and '-'. The decoder
 * accepts only the canonical spelling that the encoder produces.
 */
#include "expresso/imap_mailbox.h"

#include <stdint.h>

#include "imap_utf8.h"

static const char base64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

typedef struct {
	char *data;
	size_t size;
	size_t length;
	bool full;
} out_buffer;

static void put(out_buffer *out, char c)
{
	/* keep one octet for the NUL */
	if (out->length + 1 >= out->size) {
		out->full = true;
		return;
	}
	out->data[out->length++] = c;
}

static void put_utf8(out_buffer *out, unsigned cp)
{
	if (cp < 0x80) {
		put(out, (char)cp);
	} else if (cp < 0x800) {
		put(out, (char)(0xc0 | (cp >> 6)));
		put(out, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		put(out, (char)(0xe0 | (cp >> 12)));
		put(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
		put(out, (char)(0x80 | (cp & 0x3f)));
	} else {
		put(out, (char)(0xf0 | (cp >> 18)));
		put(out, (char)(0x80 | ((cp >> 12) & 0x3f)));
		put(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
		put(out, (char)(0x80 | (cp & 0x3f)));
	}
}

static const char *finish(out_buffer *out, size_t *out_length)
{
	if (out->size == 0)
		return "Mailbox name too long";
	out->data[out->length] = '\0';
	if (out_length != NULL)
		*out_length = out->length;
	return out->full ? "Mailbox name too long" : NULL;
}

/* Decodes one base64 run starting after '&'; *I ends after its '-'. */
static const char *decode_run(const unsigned char *in, size_t length, size_t *i, out_buffer *out)
{
	uint32_t bits = 0;
	unsigned bit_count = 0;
	unsigned high_surrogate = 0;
	size_t units = 0;

	while (*i < length && in[*i] != '-') {
		int value = base64_value(in[*i]);
		if (value < 0)
			return "Invalid modified UTF-7: character not allowed in an encoded run";
		bits = (bits << 6) | (uint32_t)value;
		bit_count += 6;
		(*i)++;
		if (bit_count < 16)
			continue;

		bit_count -= 16;
		unsigned unit = (bits >> bit_count) & 0xffff;
		bits &= (1u << bit_count) - 1;
		units++;

		if (high_surrogate != 0) {
			if (unit < 0xdc00 || unit > 0xdfff)
				return "Invalid modified UTF-7: unpaired UTF-16 surrogate";
			put_utf8(out, 0x10000 + ((high_surrogate - 0xd800) << 10) + (unit - 0xdc00));
			high_surrogate = 0;
		} else if (unit >= 0xd800 && unit <= 0xdbff) {
			high_surrogate = unit;
		} else if (unit >= 0xdc00 && unit <= 0xdfff) {
			return "Invalid modified UTF-7: unpaired UTF-16 surrogate";
		} else if (unit >= 0x20 && unit <= 0x7e) {
			return "Invalid modified UTF-7: printable ASCII must not be encoded";
		} else if (unit == 0) {
			return "Invalid modified UTF-7: NUL in mailbox name";
		} else {
			put_utf8(out, unit);
		}
	}

	if (*i >= length)
		return "Invalid modified UTF-7: encoded run not terminated by '-'";
	(*i)++;
	if (units == 0)
		return "Invalid modified UTF-7: empty or truncated encoded run";
	if (high_surrogate != 0)
		return "Invalid modified UTF-7: unpaired UTF-16 surrogate";
	if (bit_count >= 6 || bits != 0)
		return "Invalid modified UTF-7: non-canonical padding bits";
	return NULL;
}

const char *ex_imap_mutf7_decode(const char *in, size_t length, char *out, size_t out_size,
				 size_t *out_length)
{
	const unsigned char *bytes = (const unsigned char *)in;
	out_buffer buffer = { out, out_size, 0, false };
	bool previous_encoded = false;
	size_t i = 0;

	while (i < length) {
		unsigned char c = bytes[i];
		if (c < 0x20 || c > 0x7e) {
			finish(&buffer, out_length);
			return "Invalid modified UTF-7: only printable ASCII may appear unencoded";
		}
		i++;
		if (c != '&') {
			put(&buffer, (char)c);
			previous_encoded = false;
			continue;
		}
		if (i < length && bytes[i] == '-') {
			put(&buffer, '&');
			previous_encoded = false;
			i++;
			continue;
		}
		if (i >= length) {
			finish(&buffer, out_length);
			return "Invalid modified UTF-7: bare '&', write it as \"&-\"";
		}
		if (previous_encoded) {
			finish(&buffer, out_length);
			return "Invalid modified UTF-7: adjacent encoded runs must be one run";
		}
		const char *error = decode_run(bytes, length, &i, &buffer);
		if (error != NULL) {
			finish(&buffer, out_length);
			return error;
		}
		previous_encoded = true;
	}
	return finish(&buffer, out_length);
}

typedef struct {
	out_buffer *out;
	uint32_t bits;
	unsigned bit_count;
	bool open;
} encoder;

static void encode_unit(encoder *enc, unsigned unit)
{
	if (!enc->open) {
		put(enc->out, '&');
		enc->open = true;
	}
	enc->bits = (enc->bits << 16) | unit;
	enc->bit_count += 16;
	while (enc->bit_count >= 6) {
		enc->bit_count -= 6;
		put(enc->out, base64_chars[(enc->bits >> enc->bit_count) & 0x3f]);
	}
	enc->bits &= (1u << enc->bit_count) - 1;
}

static void close_run(encoder *enc)
{
	if (!enc->open)
		return;
	if (enc->bit_count > 0)
		put(enc->out, base64_chars[(enc->bits << (6 - enc->bit_count)) & 0x3f]);
	put(enc->out, '-');
	enc->open = false;
	enc->bits = 0;
	enc->bit_count = 0;
}

const char *ex_imap_mutf7_encode(const char *in, size_t length, char *out, size_t out_size,
				 size_t *out_length)
{
	const unsigned char *bytes = (const unsigned char *)in;
	out_buffer buffer = { out, out_size, 0, false };
	encoder enc = { &buffer, 0, 0, false };
	size_t i = 0;

	while (i < length) {
		unsigned cp;
		size_t used = ex_imap_utf8_decode_one(bytes + i, length - i, &cp);
		if (used == 0) {
			finish(&buffer, out_length);
			return "Invalid UTF-8 in mailbox name";
		}
		if (cp == 0) {
			finish(&buffer, out_length);
			return "NUL in mailbox name";
		}
		i += used;

		if (cp >= 0x20 && cp <= 0x7e) {
			close_run(&enc);
			put(&buffer, (char)cp);
			if (cp == '&')
				put(&buffer, '-');
		} else if (cp >= 0x10000) {
			cp -= 0x10000;
			encode_unit(&enc, 0xd800 + (cp >> 10));
			encode_unit(&enc, 0xdc00 + (cp & 0x3ff));
		} else {
			encode_unit(&enc, cp);
		}
	}
	close_run(&enc);
	return finish(&buffer, out_length);
}
