/*
 * Parser and checker for the accounts file of `expresso-migrate seed`.
 * Every error names the JSON path of the offending value, e.g.
 * "users[2].email".
 */
#include "migrate_accounts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	SLUG_MAX = 63,
	NAME_MAX_BYTES = 200,
	DOMAIN_MAX = 253,
	EMAIL_MAX = 254,
	USERNAME_MAX = 255,
	DISPLAY_NAME_MAX = 255,
};

int ex_seed_uuid_canonical(const char *text, char out[EX_ACCOUNTS_UUID_LEN + 1])
{
	if (text == NULL || strlen(text) != EX_ACCOUNTS_UUID_LEN)
		return 0;
	for (int i = 0; i < EX_ACCOUNTS_UUID_LEN; i++) {
		char c = text[i];
		int dash_position = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash_position ? c != '-' : !isxdigit((unsigned char)c))
			return 0;
		out[i] = (char)tolower((unsigned char)c);
	}
	out[EX_ACCOUNTS_UUID_LEN] = '\0';
	return 1;
}

/* Gets a string member of length 1..max; returns NULL after writing an error. */
static const char *member_string(json_t *object, const char *key, size_t max, const char *path, char *error,
				 size_t error_size)
{
	json_t *value = json_object_get(object, key);
	const char *text = json_string_value(value);

	if (text == NULL) {
		snprintf(error, error_size, "accounts file: %s.%s is missing or not a string", path, key);
		return NULL;
	}
	size_t length = strlen(text);
	if (length == 0 || length > max || length != json_string_length(value)) {
		snprintf(error, error_size, "accounts file: %s.%s must be 1 to %zu bytes without NUL", path, key,
			 max);
		return NULL;
	}
	return text;
}

static int slug_valid(const char *slug)
{
	size_t length = strlen(slug);

	if (length == 0 || length > SLUG_MAX)
		return 0;
	for (size_t i = 0; i < length; i++) {
		char c = slug[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && !(c == '-' && i > 0))
			return 0;
	}
	return 1;
}

/* One '@' with text on both sides and no white space. */
static int email_valid(const char *email)
{
	const char *at = strchr(email, '@');

	if (at == NULL || at == email || at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return 0;
	for (const char *p = email; *p; p++) {
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return 0;
	}
	return 1;
}

static int parse_domains(json_t *tenant_json, ex_seed_tenant *tenant, const char *path, char *error,
			 size_t error_size)
{
	json_t *domains = json_object_get(tenant_json, "domains");

	if (domains == NULL) {
		domains = json_array();
		if (domains == NULL || json_object_set_new(tenant_json, "domains", domains) != 0) {
			snprintf(error, error_size, "out of memory reading the accounts file");
			return -1;
		}
	}
	if (!json_is_array(domains) || json_array_size(domains) > EX_ACCOUNTS_DOMAINS_MAX) {
		snprintf(error, error_size, "accounts file: %s.domains must be an array of at most %d names", path,
			 EX_ACCOUNTS_DOMAINS_MAX);
		return -1;
	}

	size_t index;
	json_t *domain;
	json_array_foreach(domains, index, domain) {
		const char *name = json_string_value(domain);
		if (name == NULL || name[0] == '\0' || strlen(name) > DOMAIN_MAX || strchr(name, '.') == NULL) {
			snprintf(error, error_size,
				 "accounts file: %s.domains[%zu] must be a domain name such as example.org", path,
				 index);
			return -1;
		}
	}
	tenant->domains = domains;
	return 0;
}

static int parse_tenant(json_t *json, ex_seed_tenant *tenant, size_t index, char *error, size_t error_size)
{
	char path[48];
	snprintf(path, sizeof(path), "tenants[%zu]", index);

	if (!json_is_object(json)) {
		snprintf(error, error_size, "accounts file: %s must be an object", path);
		return -1;
	}
	if (!ex_seed_uuid_canonical(json_string_value(json_object_get(json, "id")), tenant->id)) {
		snprintf(error, error_size, "accounts file: %s.id must be a UUID such as "
			 "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11", path);
		return -1;
	}
	tenant->slug = member_string(json, "slug", SLUG_MAX, path, error, error_size);
	if (tenant->slug == NULL)
		return -1;
	if (!slug_valid(tenant->slug)) {
		snprintf(error, error_size, "accounts file: %s.slug \"%s\" must be lower-case letters, digits and "
			 "'-', not starting with '-'", path, tenant->slug);
		return -1;
	}
	tenant->name = member_string(json, "name", NAME_MAX_BYTES, path, error, error_size);
	if (tenant->name == NULL)
		return -1;
	return parse_domains(json, tenant, path, error, error_size);
}

static int find_tenant(const ex_seed_accounts *accounts, const char *slug, size_t *index)
{
	for (size_t i = 0; i < accounts->tenant_count; i++) {
		if (strcmp(accounts->tenants[i].slug, slug) == 0) {
			*index = i;
			return 1;
		}
	}
	return 0;
}

static int parse_user(json_t *json, const ex_seed_accounts *accounts, ex_seed_user *user, size_t index,
		      char *error, size_t error_size)
{
	char path[48];
	snprintf(path, sizeof(path), "users[%zu]", index);

	if (!json_is_object(json)) {
		snprintf(error, error_size, "accounts file: %s must be an object", path);
		return -1;
	}
	if (!ex_seed_uuid_canonical(json_string_value(json_object_get(json, "id")), user->id)) {
		snprintf(error, error_size, "accounts file: %s.id must be the user's OIDC sub, a UUID", path);
		return -1;
	}

	const char *slug = member_string(json, "tenant", SLUG_MAX, path, error, error_size);
	if (slug == NULL)
		return -1;
	if (!find_tenant(accounts, slug, &user->tenant)) {
		snprintf(error, error_size, "accounts file: %s.tenant \"%s\" is not the slug of any tenant", path,
			 slug);
		return -1;
	}

	user->email = member_string(json, "email", EMAIL_MAX, path, error, error_size);
	if (user->email == NULL)
		return -1;
	if (!email_valid(user->email)) {
		snprintf(error, error_size, "accounts file: %s.email \"%s\" is not an address like user@example.org",
			 path, user->email);
		return -1;
	}
	user->username = member_string(json, "username", USERNAME_MAX, path, error, error_size);
	if (user->username == NULL)
		return -1;

	user->display_name = "";
	if (json_object_get(json, "name") != NULL) {
		user->display_name = member_string(json, "name", DISPLAY_NAME_MAX, path, error, error_size);
		if (user->display_name == NULL)
			return -1;
	}
	user->app_password = member_string(json, "app_password", EX_ACCOUNTS_APP_PASSWORD_MAX, path, error,
					   error_size);
	return user->app_password == NULL ? -1 : 0;
}

/* Rejects duplicate tenant ids, slugs and domains, and duplicate user ids and emails. */
/* Compares two optional strings; a missing one equals nothing. */
static int same_text(const char *x, const char *y, int ignore_case)
{
	if (x == NULL || y == NULL)
		return 0;
	return (ignore_case ? strcasecmp(x, y) : strcmp(x, y)) == 0;
}

static int check_unique(const ex_seed_accounts *accounts, char *error, size_t error_size)
{
	for (size_t i = 0; i < accounts->tenant_count; i++) {
		const ex_seed_tenant *a = &accounts->tenants[i];
		for (size_t j = i + 1; j < accounts->tenant_count; j++) {
			const ex_seed_tenant *b = &accounts->tenants[j];
			if (same_text(a->id, b->id, 0) || same_text(a->slug, b->slug, 0)) {
				snprintf(error, error_size, "accounts file: tenants[%zu] and tenants[%zu] share an id "
					 "or slug", i, j);
				return -1;
			}
		}
	}

	for (size_t i = 0; i < accounts->tenant_count; i++) {
		for (size_t d = 0; d < json_array_size(accounts->tenants[i].domains); d++) {
			const char *name = json_string_value(json_array_get(accounts->tenants[i].domains, d));
			for (size_t j = i; j < accounts->tenant_count; j++) {
				json_t *others = accounts->tenants[j].domains;
				for (size_t e = (j == i ? d + 1 : 0); e < json_array_size(others); e++) {
					if (same_text(name, json_string_value(json_array_get(others, e)), 1)) {
						snprintf(error, error_size, "accounts file: domain %s is listed twice",
							 name);
						return -1;
					}
				}
			}
		}
	}

	for (size_t i = 0; i < accounts->user_count; i++) {
		const ex_seed_user *a = &accounts->users[i];
		for (size_t j = i + 1; j < accounts->user_count; j++) {
			const ex_seed_user *b = &accounts->users[j];
			if (same_text(a->id, b->id, 0) || same_text(a->email, b->email, 1)) {
				snprintf(error, error_size, "accounts file: users[%zu] and users[%zu] share an id or "
					 "email", i, j);
				return -1;
			}
		}
	}
	return 0;
}

static int parse_arrays(ex_seed_accounts *accounts, char *error, size_t error_size)
{
	json_t *tenants = json_object_get(accounts->root, "tenants");
	json_t *users = json_object_get(accounts->root, "users");

	if (!json_is_array(tenants) || json_array_size(tenants) == 0
	    || json_array_size(tenants) > EX_ACCOUNTS_TENANTS_MAX) {
		snprintf(error, error_size, "accounts file: \"tenants\" must be an array of 1 to %d tenants",
			 EX_ACCOUNTS_TENANTS_MAX);
		return -1;
	}
	if (users == NULL) {
		users = json_array();
		if (users == NULL || json_object_set_new(accounts->root, "users", users) != 0) {
			snprintf(error, error_size, "out of memory reading the accounts file");
			return -1;
		}
	}
	if (!json_is_array(users) || json_array_size(users) > EX_ACCOUNTS_USERS_MAX) {
		snprintf(error, error_size, "accounts file: \"users\" must be an array of at most %d users",
			 EX_ACCOUNTS_USERS_MAX);
		return -1;
	}

	accounts->tenants = calloc(json_array_size(tenants), sizeof(accounts->tenants[0]));
	accounts->users = calloc(json_array_size(users) + 1, sizeof(accounts->users[0]));
	if (accounts->tenants == NULL || accounts->users == NULL) {
		snprintf(error, error_size, "out of memory reading the accounts file");
		return -1;
	}

	size_t index;
	json_t *item;
	json_array_foreach(tenants, index, item) {
		if (parse_tenant(item, &accounts->tenants[index], index, error, error_size) != 0)
			return -1;
		accounts->tenant_count++;
	}
	json_array_foreach(users, index, item) {
		if (parse_user(item, accounts, &accounts->users[index], index, error, error_size) != 0)
			return -1;
		accounts->user_count++;
	}
	return 0;
}

int ex_seed_accounts_parse(const char *text, size_t length, ex_seed_accounts *accounts, char *error,
			   size_t error_size)
{
	json_error_t json_error;

	memset(accounts, 0, sizeof(*accounts));
	if (length > EX_ACCOUNTS_FILE_BYTES_MAX) {
		snprintf(error, error_size, "accounts file is %zu bytes, the maximum is %d", length,
			 EX_ACCOUNTS_FILE_BYTES_MAX);
		return -1;
	}
	accounts->root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_error);
	if (accounts->root == NULL) {
		snprintf(error, error_size, "accounts file is not valid JSON: %s at line %d column %d",
			 json_error.text, json_error.line, json_error.column);
		return -1;
	}
	if (!json_is_object(accounts->root)) {
		snprintf(error, error_size, "accounts file must hold a JSON object with \"tenants\" and \"users\"");
		ex_seed_accounts_free(accounts);
		return -1;
	}
	if (parse_arrays(accounts, error, error_size) != 0 || check_unique(accounts, error, error_size) != 0) {
		ex_seed_accounts_free(accounts);
		return -1;
	}
	return 0;
}

int ex_seed_accounts_load(const char *path, ex_seed_accounts *accounts, char *error, size_t error_size)
{
	memset(accounts, 0, sizeof(*accounts));

	FILE *file = fopen(path, "rb");
	if (file == NULL) {
		snprintf(error, error_size, "cannot open accounts file %s: %s", path, strerror(errno));
		return -1;
	}

	/* Reading one byte past the maximum distinguishes an oversized file from a full one. */
	size_t capacity = (size_t)EX_ACCOUNTS_FILE_BYTES_MAX + 1;
	char *buffer = malloc(capacity);
	if (buffer == NULL) {
		snprintf(error, error_size, "out of memory reading %s", path);
		fclose(file);
		return -1;
	}
	size_t length = fread(buffer, 1, capacity, file);
	int failed = ferror(file);
	fclose(file);

	if (failed) {
		snprintf(error, error_size, "cannot read accounts file %s", path);
		free(buffer);
		return -1;
	}
	int status = ex_seed_accounts_parse(buffer, length, accounts, error, error_size);
	free(buffer);
	return status;
}

void ex_seed_accounts_free(ex_seed_accounts *accounts)
{
	free(accounts->tenants);
	free(accounts->users);
	json_decref(accounts->root);
	memset(accounts, 0, sizeof(*accounts));
}
