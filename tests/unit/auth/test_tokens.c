/*
 * The small pieces around tokens. Covers base64url, random values, the
 * PKCE S256 challenge (the RFC 7636 appendix B vector) and the ID token
 * claim checks (iss, aud, azp, nonce). Also covers URL building, app
 * passwords (generation, argon2id round trip, name rules) and the error
 * pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <argon2.h>
#include <stdlib.h>
#include <string.h>

#include "app_password.h"
#include "error_page.h"
#include "id_token.h"
#include "pkce.h"
#include "url_text.h"

static void base64url_round_trip(void **state)
{
	unsigned char bytes[64];
	unsigned char decoded[64];
	char text[128];
	(void)state;

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 37 + 251);
	for (size_t length = 0; length <= sizeof(bytes); length++) {
		int encoded = ex_rp_base64url_encode(bytes, length, text, sizeof(text));
		assert_true(encoded >= 0);
		assert_null(strpbrk(text, "+/="));
		assert_int_equal(ex_rp_base64url_decode(text, (size_t)encoded, decoded, sizeof(decoded)), (int)length);
		assert_memory_equal(decoded, bytes, length);
	}
}

static void base64url_rejects_invalid(void **state)
{
	unsigned char out[16];
	(void)state;

	assert_int_equal(ex_rp_base64url_decode("ab+c", 4, out, sizeof(out)), -1);
	assert_int_equal(ex_rp_base64url_decode("ab/c", 4, out, sizeof(out)), -1);
	assert_int_equal(ex_rp_base64url_decode("abc=", 4, out, sizeof(out)), -1);
	assert_int_equal(ex_rp_base64url_decode("a", 1, out, sizeof(out)), -1);
	/* "QR" has non-zero leftover bits; "QQ" is the canonical "A" */
	assert_int_equal(ex_rp_base64url_decode("QR", 2, out, sizeof(out)), -1);
	assert_int_equal(ex_rp_base64url_decode("QQ", 2, out, sizeof(out)), 1);
	assert_int_equal(out[0], 'A');
	assert_int_equal(ex_rp_base64url_decode("QUJD", 4, out, 2), -1);
}

static void pkce_rfc7636_vector(void **state)
{
	char challenge[EX_RP_CODE_CHALLENGE_SIZE];
	(void)state;

	assert_int_equal(ex_rp_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", challenge, sizeof(challenge)),
			 0);
	assert_string_equal(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static void random_tokens_differ(void **state)
{
	char first[EX_RP_RANDOM_TOKEN_SIZE];
	char second[EX_RP_RANDOM_TOKEN_SIZE];
	(void)state;

	assert_int_equal(ex_rp_random_token(first, sizeof(first)), 0);
	assert_int_equal(ex_rp_random_token(second, sizeof(second)), 0);
	assert_int_equal(strlen(first), 43);
	assert_string_not_equal(first, second);
	assert_int_equal(ex_rp_random_token(first, 43), -1);
}

static const ex_rp_id_token_expectations expected = {
	.issuer = "http://127.0.0.1:8080/realms/expresso",
	.client_id = "expresso-auth",
	.nonce = "n-0S6_WzA2Mj",
};

typedef struct {
	const char *payload;
	bool valid;
} payload_case;

static const payload_case payload_cases[] = {
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":\"expresso-auth\",\"nonce\":\"n-0S6_WzA2Mj\"}", true },
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":[\"expresso-auth\"],\"nonce\":\"n-0S6_WzA2Mj\"}", true },
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":[\"expresso-auth\",\"other\"],"
	  "\"azp\":\"expresso-auth\",\"nonce\":\"n-0S6_WzA2Mj\"}", true },
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":\"expresso-auth\",\"azp\":\"expresso-auth\","
	  "\"nonce\":\"n-0S6_WzA2Mj\"}", true },
	/* several audiences without azp */
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":[\"expresso-auth\",\"other\"],"
	  "\"nonce\":\"n-0S6_WzA2Mj\"}", false },
	/* azp of another client */
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":\"expresso-auth\",\"azp\":\"expresso-dev\","
	  "\"nonce\":\"n-0S6_WzA2Mj\"}", false },
	/* another audience */
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":\"expresso\",\"nonce\":\"n-0S6_WzA2Mj\"}", false },
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":[1],\"nonce\":\"n-0S6_WzA2Mj\"}", false },
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"nonce\":\"n-0S6_WzA2Mj\"}", false },
	/* issuer */
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/other\",\"aud\":\"expresso-auth\",\"nonce\":\"n-0S6_WzA2Mj\"}", false },
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso/\",\"aud\":\"expresso-auth\",\"nonce\":\"n-0S6_WzA2Mj\"}", false },
	{ "{\"aud\":\"expresso-auth\",\"nonce\":\"n-0S6_WzA2Mj\"}", false },
	/* nonce */
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":\"expresso-auth\"}", false },
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":\"expresso-auth\",\"nonce\":\"n-0S6_WzA2Mk\"}", false },
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":\"expresso-auth\",\"nonce\":\"n-0S6_WzA2M\"}", false },
	{ "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":\"expresso-auth\",\"nonce\":7}", false },
	/* not an object, duplicate keys */
	{ "[]", false },
	{ "{\"iss\":\"x\",\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":\"expresso-auth\","
	  "\"nonce\":\"n-0S6_WzA2Mj\"}", false },
};

static void id_token_payload_table(void **state)
{
	char reason[256];
	(void)state;

	for (size_t i = 0; i < sizeof(payload_cases) / sizeof(payload_cases[0]); i++) {
		const char *payload = payload_cases[i].payload;
		reason[0] = '\0';
		bool valid = ex_rp_id_token_check_payload(payload, strlen(payload), &expected, reason, sizeof(reason));
		if (valid != payload_cases[i].valid)
			fail_msg("payload %zu: valid=%d, expected %d (%s)", i, valid, payload_cases[i].valid, reason);
		if (!valid && reason[0] == '\0')
			fail_msg("payload %zu: rejected without a reason", i);
	}
}

static void id_token_nonce_optional_on_refresh(void **state)
{
	static const char payload[] = "{\"iss\":\"http://127.0.0.1:8080/realms/expresso\",\"aud\":\"expresso-auth\"}";
	ex_rp_id_token_expectations refresh = expected;
	char reason[256];
	(void)state;

	refresh.nonce = NULL;
	assert_true(ex_rp_id_token_check_payload(payload, strlen(payload), &refresh, reason, sizeof(reason)));
}

static void url_text_encoding(void **state)
{
	ex_rp_url_text text;
	(void)state;

	ex_rp_url_text_init(&text, 0);
	ex_rp_url_text_append(&text, "https://sso.example/auth");
	ex_rp_url_text_append_parameter(&text, '?', "scope", "openid email profile");
	ex_rp_url_text_append_parameter(&text, '&', "redirect_uri", "http://127.0.0.1:8100/auth/callback");
	ex_rp_url_text_append_parameter(&text, '&', "x", "a+b&c=d~-._\xc3\xa9");
	char *url = ex_rp_url_text_steal(&text);
	assert_string_equal(url, "https://sso.example/auth?scope=openid%20email%20profile"
				 "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8100%2Fauth%2Fcallback"
				 "&x=a%2Bb%26c%3Dd~-._%C3%A9");
	free(url);

	ex_rp_url_text_init(&text, 0);
	ex_rp_url_text_append_parameter(&text, '&', "grant_type", "refresh_token");
	ex_rp_url_text_append_parameter(&text, '&', "refresh_token", "abc");
	url = ex_rp_url_text_steal(&text);
	assert_string_equal(url, "grant_type=refresh_token&refresh_token=abc");
	free(url);
}

static void url_text_limit(void **state)
{
	ex_rp_url_text text;
	(void)state;

	ex_rp_url_text_init(&text, 10);
	ex_rp_url_text_append(&text, "0123456789");
	ex_rp_url_text_append(&text, "x");
	ex_rp_url_text_append(&text, "");
	assert_true(text.failed);
	assert_null(ex_rp_url_text_steal(&text));
}

static void app_password_generation(void **state)
{
	char first[EX_RP_APP_PASSWORD_LENGTH + 1];
	char second[EX_RP_APP_PASSWORD_LENGTH + 1];
	(void)state;

	assert_int_equal(ex_rp_app_password_generate(first, sizeof(first)), 0);
	assert_int_equal(ex_rp_app_password_generate(second, sizeof(second)), 0);
	assert_int_equal(strlen(first), EX_RP_APP_PASSWORD_LENGTH);
	assert_true(EX_RP_APP_PASSWORD_LENGTH >= 24);
	assert_int_equal(strspn(first, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
			 EX_RP_APP_PASSWORD_LENGTH);
	assert_string_not_equal(first, second);
	assert_int_equal(ex_rp_app_password_generate(first, EX_RP_APP_PASSWORD_LENGTH), -1);
}

static void app_password_hash_verifies(void **state)
{
	char hash[EX_RP_ARGON2_ENCODED_MAX];
	char other[EX_RP_ARGON2_ENCODED_MAX];
	char err[256];
	(void)state;

	assert_int_equal(ex_rp_app_password_hash("Abc123xyz", hash, sizeof(hash), err, sizeof(err)), 0);
	assert_int_equal(strncmp(hash, "$argon2id$v=19$m=65536,t=3,p=1$", 31), 0);
	assert_int_equal(argon2id_verify(hash, "Abc123xyz", 9), ARGON2_OK);
	assert_int_not_equal(argon2id_verify(hash, "Abc123xyZ", 9), ARGON2_OK);
	/* a new salt every time */
	assert_int_equal(ex_rp_app_password_hash("Abc123xyz", other, sizeof(other), err, sizeof(err)), 0);
	assert_string_not_equal(hash, other);
	assert_int_equal(ex_rp_app_password_hash("x", hash, 20, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "needs"));
}

static void app_password_names(void **state)
{
	char longest[4 * EX_RP_APP_PASSWORD_NAME_MAX + 8];
	(void)state;

	assert_true(ex_rp_app_password_name_is_valid("Thunderbird no notebook"));
	assert_true(ex_rp_app_password_name_is_valid("x"));
	assert_true(ex_rp_app_password_name_is_valid("Celular da Conceição"));
	assert_true(ex_rp_app_password_name_is_valid("\xf0\x9f\x93\xb1 phone"));
	assert_false(ex_rp_app_password_name_is_valid(NULL));
	assert_false(ex_rp_app_password_name_is_valid(""));
	assert_false(ex_rp_app_password_name_is_valid("   "));
	assert_false(ex_rp_app_password_name_is_valid("tab\there"));
	assert_false(ex_rp_app_password_name_is_valid("line\nbreak"));
	assert_false(ex_rp_app_password_name_is_valid("del\x7f"));
	assert_false(ex_rp_app_password_name_is_valid("c1 \xc2\x85"));
	assert_false(ex_rp_app_password_name_is_valid("bad \xc3"));
	assert_false(ex_rp_app_password_name_is_valid("overlong \xc0\xaf"));
	assert_false(ex_rp_app_password_name_is_valid("surrogate \xed\xa0\x80"));

	/* 100 characters of two bytes each pass; 101 do not */
	longest[0] = '\0';
	for (int i = 0; i < EX_RP_APP_PASSWORD_NAME_MAX; i++)
		strcat(longest, "\xc3\xa7");
	assert_true(ex_rp_app_password_name_is_valid(longest));
	strcat(longest, "a");
	assert_false(ex_rp_app_password_name_is_valid(longest));
}

static void error_pages_render(void **state)
{
	(void)state;
	for (int page = 0; page < EX_RP_PAGE_COUNT; page++) {
		char *portuguese = ex_rp_page_render((ex_rp_page)page, EX_RP_LANGUAGE_PT_BR, "req-1");
		char *english = ex_rp_page_render((ex_rp_page)page, EX_RP_LANGUAGE_EN, "req-1");
		assert_non_null(strstr(portuguese, "<html lang=\"pt-BR\">"));
		assert_non_null(strstr(english, "<html lang=\"en\">"));
		assert_non_null(strstr(portuguese, "Entrar novamente"));
		assert_non_null(strstr(english, "Sign in again"));
		assert_non_null(strstr(english, "req-1"));
		assert_string_not_equal(portuguese, english);
		unsigned status = ex_rp_page_status((ex_rp_page)page);
		assert_true(status == 400 || status == 403 || status == 500 || status == 502);
		free(portuguese);
		free(english);
	}
	char *expired = ex_rp_page_render(EX_RP_PAGE_LOGIN_EXPIRED, EX_RP_LANGUAGE_PT_BR, NULL);
	assert_non_null(strstr(expired, "Login expirado"));
	free(expired);
	assert_int_equal(ex_rp_page_status(EX_RP_PAGE_ACCESS_DENIED), 403);
	assert_string_equal(ex_rp_page_code(EX_RP_PAGE_LOGIN_UNKNOWN), "login_unknown");
}

static void error_page_escapes_reference(void **state)
{
	(void)state;
	char *html = ex_rp_page_render(EX_RP_PAGE_INTERNAL, EX_RP_LANGUAGE_EN, "<script>\"&'");
	assert_null(strstr(html, "<script>"));
	assert_non_null(strstr(html, "&lt;script&gt;&quot;&amp;&#39;"));
	free(html);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(base64url_round_trip),
		cmocka_unit_test(base64url_rejects_invalid),
		cmocka_unit_test(pkce_rfc7636_vector),
		cmocka_unit_test(random_tokens_differ),
		cmocka_unit_test(id_token_payload_table),
		cmocka_unit_test(id_token_nonce_optional_on_refresh),
		cmocka_unit_test(url_text_encoding),
		cmocka_unit_test(url_text_limit),
		cmocka_unit_test(app_password_generation),
		cmocka_unit_test(app_password_hash_verifies),
		cmocka_unit_test(app_password_names),
		cmocka_unit_test(error_pages_render),
		cmocka_unit_test(error_page_escapes_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
