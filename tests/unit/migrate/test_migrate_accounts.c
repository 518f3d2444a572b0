/*
 * Unit tests of the accounts file parser and the argon2id app password
 * hashing used by `expresso-migrate seed`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "migrate_accounts.h"
#include "migrate_password.h"

#include <stdio.h>
#include <string.h>

static const char contract_example[] =
	"{\"tenants\": ["
	"  {\"id\": \"6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11\", \"slug\": \"demo\", \"name\": \"Demo\","
	"   \"domains\": [\"demo.expresso.test\"]},"
	"  {\"id\": \"B8E4D2C1-5A3F-4E6B-8C9D-0F1E2A3B4C22\", \"slug\": \"acme\", \"name\": \"ACME\","
	"   \"domains\": [\"acme.expresso.test\"]}],"
	" \"users\": ["
	"  {\"id\": \"ffccd4df-4101-4d16-b091-0dd482c1fd32\", \"tenant\": \"demo\","
	"   \"email\": \"alice@demo.expresso.test\", \"username\": \"alice\", \"name\": \"Alice Souza\","
	"   \"roles\": [\"user\"], \"password\": \"p1\", \"app_password\": \"a1\"},"
	"  {\"id\": \"46649cae-8bfe-4132-ae76-45c0fb585302\", \"tenant\": \"acme\","
	"   \"email\": \"carol@acme.expresso.test\", \"username\": \"carol\","
	"   \"roles\": [\"user\"], \"password\": \"p2\", \"app_password\": \"a2\"}]}";

static void test_parse_contract_example(void **state)
{
	(void)state;
	ex_seed_accounts accounts;
	char error[512] = "";

	assert_int_equal(ex_seed_accounts_parse(contract_example, strlen(contract_example), &accounts, error,
						sizeof(error)),
			 0);
	assert_int_equal(accounts.tenant_count, 2);
	assert_int_equal(accounts.user_count, 2);
	assert_string_equal(accounts.tenants[0].slug, "demo");
	assert_string_equal(accounts.tenants[1].id, "b8e4d2c1-5a3f-4e6b-8c9d-0f1e2a3b4c22");
	assert_int_equal(json_array_size(accounts.tenants[1].domains), 1);
	assert_string_equal(accounts.users[0].display_name, "Alice Souza");
	assert_int_equal(accounts.users[0].tenant, 0);
	assert_int_equal(accounts.users[1].tenant, 1);
	assert_string_equal(accounts.users[1].display_name, "");
	assert_string_equal(accounts.users[1].app_password, "a2");
	ex_seed_accounts_free(&accounts);
	assert_null(accounts.root);
}

static void test_uuid_canonical(void **state)
{
	(void)state;
	char out[EX_ACCOUNTS_UUID_LEN + 1];

	assert_int_equal(ex_seed_uuid_canonical("BA2073D9-4175-4344-9597-B87D00228145", out), 1);
	assert_string_equal(out, "ba2073d9-4175-4344-9597-b87d00228145");
	assert_int_equal(ex_seed_uuid_canonical("ba2073d94175434495 97b87d00228145xx", out), 0);
	assert_int_equal(ex_seed_uuid_canonical("ba2073d9-4175-4344-9597-b87d0022814", out), 0);
	assert_int_equal(ex_seed_uuid_canonical("ba2073d9-4175-4344-9597-b87d0022814g", out), 0);
	assert_int_equal(ex_seed_uuid_canonical(NULL, out), 0);
}

static void test_parse_rejects_invalid(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		const char *error_part;
	} cases[] = {
		{ "{\"tenants\": [", "not valid JSON" },
		{ "[]", "JSON object" },
		{ "{\"users\": []}", "\"tenants\" must be an array" },
		{ "{\"tenants\": []}", "\"tenants\" must be an array" },
		{ "{\"tenants\": [{\"id\": \"x\", \"slug\": \"demo\", \"name\": \"Demo\"}]}", "tenants[0].id" },
		{ "{\"tenants\": [{\"id\": \"6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11\", \"slug\": \"Demo\","
		  " \"name\": \"Demo\"}]}",
		  "tenants[0].slug" },
		{ "{\"tenants\": [{\"id\": \"6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11\", \"slug\": \"demo\"}]}",
		  "tenants[0].name" },
		{ "{\"tenants\": [{\"id\": \"6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11\", \"slug\": \"demo\","
		  " \"name\": \"Demo\", \"domains\": [\"localhost\"]}]}",
		  "tenants[0].domains[0]" },
		{ "{\"tenants\": [{\"id\": \"6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11\", \"slug\": \"demo\", \"name\": \"D\"},"
		  " {\"id\": \"6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11\", \"slug\": \"other\", \"name\": \"O\"}]}",
		  "share an id or slug" },
		{ "{\"tenants\": [{\"id\": \"6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11\", \"slug\": \"demo\", \"name\": \"D\","
		  " \"domains\": [\"a.test\"]},"
		  " {\"id\": \"b8e4d2c1-5a3f-4e6b-8c9d-0f1e2a3b4c22\", \"slug\": \"acme\", \"name\": \"A\","
		  " \"domains\": [\"A.test\"]}]}",
		  "domain a.test is listed twice" },
		{ "{\"tenants\": [{\"id\": \"6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11\", \"slug\": \"demo\", \"name\": \"D\"}],"
		  " \"users\": [{\"id\": \"ffccd4df-4101-4d16-b091-0dd482c1fd32\", \"tenant\": \"nope\","
		  " \"email\": \"a@demo.test\", \"username\": \"a\", \"app_password\": \"x\"}]}",
		  "users[0].tenant \"nope\"" },
		{ "{\"tenants\": [{\"id\": \"6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11\", \"slug\": \"demo\", \"name\": \"D\"}],"
		  " \"users\": [{\"id\": \"ffccd4df-4101-4d16-b091-0dd482c1fd32\", \"tenant\": \"demo\","
		  " \"email\": \"not-an-address\", \"username\": \"a\", \"app_password\": \"x\"}]}",
		  "users[0].email" },
		{ "{\"tenants\": [{\"id\": \"6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11\", \"slug\": \"demo\", \"name\": \"D\"}],"
		  " \"users\": [{\"id\": \"ffccd4df-4101-4d16-b091-0dd482c1fd32\", \"tenant\": \"demo\","
		  " \"email\": \"a@demo.test\", \"username\": \"a\"}]}",
		  "users[0].app_password" },
		{ "{\"tenants\": [{\"id\": \"6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11\", \"slug\": \"demo\", \"name\": \"D\"}],"
		  " \"users\": [{\"id\": \"ffccd4df-4101-4d16-b091-0dd482c1fd32\", \"tenant\": \"demo\","
		  " \"email\": \"a@demo.test\", \"username\": \"a\", \"app_password\": \"x\"},"
		  " {\"id\": \"d8fc9315-27f9-43e0-bb4b-a4b2b91008dd\", \"tenant\": \"demo\","
		  " \"email\": \"A@demo.test\", \"username\": \"b\", \"app_password\": \"y\"}]}",
		  "users[0] and users[1] share an id or email" },
		{ "{\"tenants\": [{\"id\": \"6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11\", \"slug\": \"demo\", \"name\": \"D\","
		  " \"name\": \"E\"}]}",
		  "not valid JSON" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_seed_accounts accounts;
		char error[512] = "";
		int status = ex_seed_accounts_parse(cases[i].json, strlen(cases[i].json), &accounts, error,
						    sizeof(error));

		if (status != -1)
			fail_msg("case %zu parsed but should fail with \"%s\"", i, cases[i].error_part);
		if (strstr(error, cases[i].error_part) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, error, cases[i].error_part);
		assert_null(accounts.root);
	}
}

static void test_load_missing_file(void **state)
{
	(void)state;
	ex_seed_accounts accounts;
	char error[512] = "";

	assert_int_equal(ex_seed_accounts_load("/nonexistent/accounts.json", &accounts, error, sizeof(error)), -1);
	assert_non_null(strstr(error, "/nonexistent/accounts.json"));
}

static void test_password_hash_and_verify(void **state)
{
	(void)state;
	char first[EX_SEED_ARGON2_ENCODED_MAX];
	char second[EX_SEED_ARGON2_ENCODED_MAX];
	char error[256] = "";

	assert_int_equal(ex_seed_password_hash("correct horse", first, sizeof(first), error, sizeof(error)), 0);
	assert_int_equal(strncmp(first, "$argon2id$v=19$m=65536,t=3,p=1$", 31), 0);
	assert_int_equal(ex_seed_password_verify(first, "correct horse"), 1);
	assert_int_equal(ex_seed_password_verify(first, "correct horsE"), 0);
	assert_int_equal(ex_seed_password_verify(first, ""), 0);

	/* A fresh salt every time. */
	assert_int_equal(ex_seed_password_hash("correct horse", second, sizeof(second), error, sizeof(error)), 0);
	assert_string_not_equal(first, second);
}

static void test_password_verify_rejects_other_forms(void **state)
{
	(void)state;
	assert_int_equal(ex_seed_password_verify("", "x"), 0);
	assert_int_equal(ex_seed_password_verify("$argon2i$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaA", "x"), 0);
	assert_int_equal(ex_seed_password_verify("$argon2id$garbage", "x"), 0);
	assert_int_equal(ex_seed_password_verify("plain-text-password", "plain-text-password"), 0);
}

static void test_password_hash_small_buffer(void **state)
{
	(void)state;
	char small[20];
	char error[256] = "";

	assert_int_equal(ex_seed_password_hash("x", small, sizeof(small), error, sizeof(error)), -1);
	assert_non_null(strstr(error, "needs"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_contract_example),
		cmocka_unit_test(test_uuid_canonical),
		cmocka_unit_test(test_parse_rejects_invalid),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_password_hash_and_verify),
		cmocka_unit_test(test_password_verify_rejects_other_forms),
		cmocka_unit_test(test_password_hash_small_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
