/*
 * Strict base64url decoding for JWS segments and JWK members (RFC 7515
 * section 2, RFC 4648 section 5).
 *
 * Only the canonical encoding is accepted: the URL-safe alphabet, no '='
 * padding, no whitespace, and the unused low bits of the last character
 * zero. So each byte string has exactly one accepted encoding, and a
 * token cannot be altered in its text while keeping its signature valid.
 */
#include <limits.h>

#include "authclient_internal.h"

/* Each alphabet character maps to its 6-bit value plus one; every other
 * byte maps to 0, which marks it invalid. */
static const unsigned char sextet_plus_one[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
    ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
    ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64,
};

size_t ex_auth_b64url_decoded_max(size_t len)
{
    return len / 4 * 3 + 2;
}

long ex_auth_b64url_decode(const char *in, size_t len, unsigned char *out,
                           size_t outcap)
{
    size_t rem = len % 4;
    if (rem == 1)
        return -1; /* 6 bits cannot form a byte */

    size_t need = len / 4 * 3 + (rem ? rem - 1 : 0);
    if (need > outcap || need > (size_t)LONG_MAX)
        return -1;

    /* `bad` collects invalid characters without a branch per byte; the
     * output written meanwhile is discarded when it is set. */
    uint32_t bad = 0;
    size_t o = 0;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t a = sextet_plus_one[(unsigned char)in[i]];
        uint32_t b = sextet_plus_one[(unsigned char)in[i + 1]];
        uint32_t c = sextet_plus_one[(unsigned char)in[i + 2]];
        uint32_t d = sextet_plus_one[(unsigned char)in[i + 3]];
        bad |= (a == 0) | (b == 0) | (c == 0) | (d == 0);
        uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (bad)
        return -1;

    if (rem == 2) {
        uint32_t a = sextet_plus_one[(unsigned char)in[i]];
        uint32_t b = sextet_plus_one[(unsigned char)in[i + 1]];
        if (a == 0 || b == 0)
            return -1;
        a--;
        b--;
        if (b & 0x0f)
            return -1; /* non-canonical: unused bits set */
        out[o++] = (unsigned char)(a << 2 | b >> 4);
    } else if (rem == 3) {
        uint32_t a = sextet_plus_one[(unsigned char)in[i]];
        uint32_t b = sextet_plus_one[(unsigned char)in[i + 1]];
        uint32_t c = sextet_plus_one[(unsigned char)in[i + 2]];
        if (a == 0 || b == 0 || c == 0)
            return -1;
        a--;
        b--;
        c--;
        if (c & 0x03)
            return -1; /* non-canonical: unused bits set */
        out[o++] = (unsigned char)(a << 2 | b >> 4);
        out[o++] = (unsigned char)((b & 0x0f) << 4 | c >> 2);
    }
    return (long)o;
}
