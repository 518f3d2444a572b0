/*
 * libsieve glue. One libsieve context per call, in a pool worker. The
 * callbacks record errors and actions into the worker's result through
 * the user-data pointer. They copy every string, because libsieve frees
 * its own when the context goes away. The public calls check the script
 * here, then hand it to the pool.
 */
#include "expresso/sieve.h"
#include "sieve_internal.h"

#include <pthread.h>
#include <sieve2.h>
#include <sieve2_error.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	char *script;               /* the worker's NUL-terminated copy handed to libsieve */
	const ex_sieve_message *message;
	ex_sieve_result *result;
	ex_sieve_errors *errors;
	int out_of_memory;
	int parse_errors;
	int execute;
	/* Parts of the last address split for the subaddress extension; libsieve
	 * reads them before the next callback. */
	char user[256], detail[256], localpart[256], domain[256];
} call_state;

static void add_error(call_state *state, int line, const char *message)
{
	ex_sieve_errors *errors = state->errors;
	if (errors->count < EX_SIEVE_MAX_ERRORS) {
		ex_sieve_error *item = &errors->items[errors->count];
		item->line = line;
		snprintf(item->message, sizeof(item->message), "%s", message ? message : "unknown error");
	}
	errors->count++;
}

/*
 * Copies a string from libsieve, undoing the quoted-string escapes it
 * leaves in place (RFC 5228 section 2.4.2: a backslash quotes the next
 * character, so "\\" is one backslash and "\"" a quote).
 * NOTE: libsieve also returns "text:" multi-line strings this way, where a
 * backslash is literal; a backslash in such a reject or vacation text is
 * lost. libsieve's own comparisons (header :is "a\\b") still see the
 * escaped form, which this wrapper cannot change.
 */
static char *copy_text(call_state *state, const char *text)
{
	if (text == NULL)
		return NULL;
	char *copy = malloc(strlen(text) + 1);
	if (copy == NULL) {
		state->out_of_memory = 1;
		return NULL;
	}
	size_t used = 0;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		copy[used++] = *p;
	}
	copy[used] = '\0';
	return copy;
}

static char **copy_list(call_state *state, char **list)
{
	if (list == NULL || list[0] == NULL)
		return NULL;
	size_t count = 0;
	while (list[count] != NULL)
		count++;
	char **copy = calloc(count + 1, sizeof(char *));
	if (copy == NULL) {
		state->out_of_memory = 1;
		return NULL;
	}
	for (size_t i = 0; i < count; i++)
		copy[i] = copy_text(state, list[i]);
	return copy;
}

/* libsieve 2.2 names the imap4flags list "flags"; older releases "imapflags". */
static char **copy_flags(call_state *state, sieve2_context_t *context)
{
	char **flags = sieve2_getvalue_stringlist(context, "flags");
	if (flags == NULL)
		flags = sieve2_getvalue_stringlist(context, "imapflags");
	return copy_list(state, flags);
}

static ex_sieve_action *new_action(call_state *state, ex_sieve_action_type type)
{
	ex_sieve_result *result = state->result;
	if (result == NULL)
		return NULL;
	if (result->count == EX_SIEVE_MAX_ACTIONS) {
		result->dropped++;
		return NULL;
	}
	ex_sieve_action *action = &result->actions[result->count++];
	memset(action, 0, sizeof(*action));
	action->type = type;
	return action;
}

/* libsieve's API takes char * for strings it only reads; these drop the const. */
static char *writable_text(const char *text)
{
	char *result;
	memcpy(&result, &text, sizeof(result));
	return result;
}

static char **writable_list(const char *const *list)
{
	char **result;
	memcpy(&result, &list, sizeof(result));
	return result;
}

/* Callbacks; libsieve passes our call_state as user data. */

static int on_get_script(sieve2_context_t *context, void *user_data)
{
	call_state *state = user_data;
	return sieve2_setvalue_string(context, "script", state->script);
}

static int on_parse_error(sieve2_context_t *context, void *user_data)
{
	call_state *state = user_data;
	state->parse_errors++;
	add_error(state, sieve2_getvalue_int(context, "lineno"), sieve2_getvalue_string(context, "message"));
	return SIEVE2_OK;
}

static int on_runtime_error(sieve2_context_t *context, void *user_data)
{
	add_error(user_data, 0, sieve2_getvalue_string(context, "message"));
	return SIEVE2_OK;
}

static int on_header_error(sieve2_context_t *context, void *user_data)
{
	add_error(user_data, 0, sieve2_getvalue_string(context, "message"));
	return SIEVE2_OK;
}

static int on_keep(sieve2_context_t *context, void *user_data)
{
	call_state *state = user_data;
	ex_sieve_action *action = new_action(state, EX_SIEVE_ACTION_KEEP);
	if (action != NULL)
		action->flags = copy_flags(state, context);
	return SIEVE2_OK;
}

static int on_fileinto(sieve2_context_t *context, void *user_data)
{
	call_state *state = user_data;
	ex_sieve_action *action = new_action(state, EX_SIEVE_ACTION_FILEINTO);
	if (action != NULL) {
		action->mailbox = copy_text(state, sieve2_getvalue_string(context, "mailbox"));
		action->flags = copy_flags(state, context);
	}
	return SIEVE2_OK;
}

static int on_discard(sieve2_context_t *context, void *user_data)
{
	(void)context;
	new_action(user_data, EX_SIEVE_ACTION_DISCARD);
	return SIEVE2_OK;
}

static int on_redirect(sieve2_context_t *context, void *user_data)
{
	call_state *state = user_data;
	ex_sieve_action *action = new_action(state, EX_SIEVE_ACTION_REDIRECT);
	if (action != NULL)
		action->address = copy_text(state, sieve2_getvalue_string(context, "address"));
	return SIEVE2_OK;
}

static int on_reject(sieve2_context_t *context, void *user_data)
{
	call_state *state = user_data;
	ex_sieve_action *action = new_action(state, EX_SIEVE_ACTION_REJECT);
	if (action != NULL)
		action->message = copy_text(state, sieve2_getvalue_string(context, "message"));
	return SIEVE2_OK;
}

static int on_vacation(sieve2_context_t *context, void *user_data)
{
	call_state *state = user_data;
	ex_sieve_action *action = new_action(state, EX_SIEVE_ACTION_VACATION);
	if (action != NULL) {
		action->address = copy_text(state, sieve2_getvalue_string(context, "address"));
		action->from = copy_text(state, sieve2_getvalue_string(context, "fromaddr"));
		action->subject = copy_text(state, sieve2_getvalue_string(context, "subject"));
		action->message = copy_text(state, sieve2_getvalue_string(context, "message"));
		action->days = sieve2_getvalue_int(context, "days");
		action->mime = sieve2_getvalue_int(context, "mime") != 0;
	}
	return SIEVE2_OK;
}

static int on_notify(sieve2_context_t *context, void *user_data)
{
	call_state *state = user_data;
	ex_sieve_action *action = new_action(state, EX_SIEVE_ACTION_NOTIFY);
	if (action != NULL)
		action->message = copy_text(state, sieve2_getvalue_string(context, "message"));
	return SIEVE2_OK;
}

static int on_get_size(sieve2_context_t *context, void *user_data)
{
	call_state *state = user_data;
	size_t size = state->message ? state->message->size : 0;
	return sieve2_setvalue_int(context, "size", size > (size_t)0x7fffffff ? 0x7fffffff : (int)size);
}

static int on_get_header(sieve2_context_t *context, void *user_data)
{
	call_state *state = user_data;
	const char *name = sieve2_getvalue_string(context, "header");
	const char *const *values = NULL;

	if (state->message != NULL && state->message->get_header != NULL && name != NULL)
		values = state->message->get_header(state->message->context, name);
	return sieve2_setvalue_stringlist(context, "body", writable_list(values));
}

static int on_get_envelope(sieve2_context_t *context, void *user_data)
{
	call_state *state = user_data;
	const ex_sieve_message *message = state->message;
	if (message == NULL)
		return SIEVE2_OK;
	sieve2_setvalue_string(context, "from", writable_text(message->envelope_from ? message->envelope_from : ""));
	sieve2_setvalue_string(context, "to", writable_text(message->envelope_to ? message->envelope_to : ""));
	return SIEVE2_OK;
}

/*
 * RFC 5233 with '+' as the separator: "alice+compras@x" has user "alice"
 * and detail "compras"; an address without '+' has no detail.
 */
static int on_get_subaddress(sieve2_context_t *context, void *user_data)
{
	call_state *state = user_data;
	const char *address = sieve2_getvalue_string(context, "address");
	if (address == NULL)
		address = "";

	const char *at = strrchr(address, '@');
	size_t local_length = at ? (size_t)(at - address) : strlen(address);
	snprintf(state->localpart, sizeof(state->localpart), "%.*s", (int)local_length, address);
	snprintf(state->domain, sizeof(state->domain), "%s", at ? at + 1 : "");

	const char *plus = memchr(state->localpart, '+', strlen(state->localpart));
	size_t user_length = plus ? (size_t)(plus - state->localpart) : strlen(state->localpart);
	snprintf(state->user, sizeof(state->user), "%.*s", (int)user_length, state->localpart);
	snprintf(state->detail, sizeof(state->detail), "%s", plus ? plus + 1 : "");

	sieve2_setvalue_string(context, "user", state->user);
	sieve2_setvalue_string(context, "detail", plus ? state->detail : NULL);
	sieve2_setvalue_string(context, "localpart", state->localpart);
	sieve2_setvalue_string(context, "domain", state->domain);
	return SIEVE2_OK;
}

static sieve2_callback_t callbacks[] = {
	{ SIEVE2_SCRIPT_GETSCRIPT, on_get_script },
	{ SIEVE2_ERRCALL_PARSE, on_parse_error },
	{ SIEVE2_ERRCALL_RUNTIME, on_runtime_error },
	{ SIEVE2_ERRCALL_HEADER, on_header_error },
	{ SIEVE2_ERRCALL_ADDRESS, on_header_error },
	{ SIEVE2_ACTION_KEEP, on_keep },
	{ SIEVE2_ACTION_FILEINTO, on_fileinto },
	{ SIEVE2_ACTION_DISCARD, on_discard },
	{ SIEVE2_ACTION_REDIRECT, on_redirect },
	{ SIEVE2_ACTION_REJECT, on_reject },
	{ SIEVE2_ACTION_VACATION, on_vacation },
	{ SIEVE2_ACTION_NOTIFY, on_notify },
	{ SIEVE2_MESSAGE_GETSIZE, on_get_size },
	{ SIEVE2_MESSAGE_GETHEADER, on_get_header },
	{ SIEVE2_MESSAGE_GETENVELOPE, on_get_envelope },
	{ SIEVE2_MESSAGE_GETSUBADDRESS, on_get_subaddress },
	{ SIEVE2_VALUE_FIRST, NULL },
};

/* Rejects an oversized or NUL-containing SCRIPT before it reaches a worker. */
static ex_sieve_status check_script(call_state *state, const char *script, size_t length, size_t max_size)
{
	if (max_size == 0)
		max_size = EX_SIEVE_DEFAULT_MAX_SCRIPT;
	if (length > max_size) {
		char message[EX_SIEVE_MAX_ERROR_TEXT];
		snprintf(message, sizeof(message), "script of %zu bytes exceeds the limit of %zu bytes",
			 length, max_size);
		add_error(state, 0, message);
		return EX_SIEVE_TOO_LARGE;
	}
	if (memchr(script, '\0', length) != NULL) {
		add_error(state, 0, "script contains a NUL byte");
		return EX_SIEVE_INVALID;
	}
	return EX_SIEVE_OK;
}

/*
 * Runs validate (execute == 0) or execute with libsieve. This is the work
 * of a pool worker (pool.c, worker.c), never of the daemon itself:
 * libsieve keeps state in globals between runs, and that state has been
 * seen to point into a freed context after a parse error.
 */
static int run_libsieve_here(call_state *state)
{
	sieve2_context_t *context = NULL;

	int rc = sieve2_alloc(&context);
	if (rc == SIEVE2_OK)
		rc = sieve2_callbacks(context, callbacks);
	if (rc == SIEVE2_OK)
		rc = state->execute ? sieve2_execute(context, state) : sieve2_validate(context, state);
	if (context != NULL)
		sieve2_free(&context);
	if (state->parse_errors > 0 && rc == SIEVE2_OK)
		rc = SIEVE2_ERROR_PARSE;
	return rc;
}

static int libsieve_work(char *script, size_t length, int execute, const ex_sieve_message *message,
			 ex_sieve_result *result, ex_sieve_errors *errors, int *parse_errors)
{
	call_state state = { .script = script, .message = message, .result = result, .errors = errors, .execute = execute };
	(void)length;

	int rc = run_libsieve_here(&state);
	if (state.out_of_memory)
		add_error(&state, 0, "the filter process ran out of memory");
	*parse_errors = state.parse_errors;
	return rc;
}

/* The process-wide pool: forked by ex_sieve_prefork, or by the first run. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static ex_sieve_pool *pool;
static bool pool_started;

int ex_sieve_prefork(char *err, size_t errlen)
{
	pthread_mutex_lock(&pool_lock);
	if (pool == NULL)
		pool = ex_sieve_pool_create(libsieve_work, err, errlen);
	int status = pool != NULL ? 0 : -1;
	pthread_mutex_unlock(&pool_lock);
	return status;
}

/* Starts POOL's workers with SETTINGS (NULL for the defaults); the caller holds pool_lock. */
static int start_locked(const ex_sieve_pool_settings *settings, char *err, size_t errlen)
{
	static const ex_sieve_pool_settings defaults = { EX_SIEVE_DEFAULT_WORKERS, EX_SIEVE_DEFAULT_RUNS_PER_WORKER,
							 EX_SIEVE_RUN_TIMEOUT_MS };
	if (pool == NULL && (pool = ex_sieve_pool_create(libsieve_work, err, errlen)) == NULL)
		return -1;
	if (ex_sieve_pool_configure(pool, settings != NULL ? settings : &defaults, err, errlen) != 0)
		return -1;
	pool_started = true;
	return 0;
}

int ex_sieve_pool_start(const ex_sieve_pool_settings *settings, char *err, size_t errlen)
{
	pthread_mutex_lock(&pool_lock);
	int status = start_locked(settings, err, errlen);
	pthread_mutex_unlock(&pool_lock);
	return status;
}

void ex_sieve_pool_stop(void)
{
	pthread_mutex_lock(&pool_lock);
	ex_sieve_pool_destroy(pool);
	pool = NULL;
	pool_started = false;
	pthread_mutex_unlock(&pool_lock);
}

static int run_libsieve(call_state *state, const char *script, size_t length, int execute)
{
	char err[EX_SIEVE_MAX_ERROR_TEXT];

	pthread_mutex_lock(&pool_lock);
	int status = pool_started ? 0 : start_locked(NULL, err, sizeof(err));
	ex_sieve_pool *running = pool;
	pthread_mutex_unlock(&pool_lock);
	if (status != 0) {
		add_error(state, 0, err);
		return EX_SIEVE_RUN_FAILED;
	}
	return ex_sieve_pool_run(running, script, length, execute, state->message, state->result, state->errors,
				 &state->parse_errors);
}

ex_sieve_status ex_sieve_validate(const char *script, size_t length, size_t max_size, ex_sieve_errors *errors)
{
	call_state state = { .errors = errors };
	memset(errors, 0, sizeof(*errors));

	ex_sieve_status status = check_script(&state, script, length, max_size);
	if (status != EX_SIEVE_OK)
		return status;

	int rc = run_libsieve(&state, script, length, 0);
	if (state.out_of_memory || rc == EX_SIEVE_RUN_FAILED)
		return EX_SIEVE_INTERNAL;
	/* sieve2_validate can return OK for a script with parse errors. */
	if (rc != SIEVE2_OK || errors->count > 0) {
		if (errors->count == 0)
			add_error(&state, 0, sieve2_errstr(rc));
		return EX_SIEVE_INVALID;
	}
	return EX_SIEVE_OK;
}

void ex_sieve_result_clear(ex_sieve_result *result)
{
	for (size_t i = 0; i < result->count; i++) {
		ex_sieve_action *action = &result->actions[i];
		free(action->mailbox);
		free(action->address);
		free(action->message);
		free(action->subject);
		free(action->from);
		if (action->flags != NULL) {
			for (char **flag = action->flags; *flag != NULL; flag++)
				free(*flag);
			free(action->flags);
		}
	}
	result->count = 0;
	result->dropped = 0;
}

/* RFC 5228 section 4.2: keep unless fileinto, redirect, discard or reject ran. */
static int cancels_implicit_keep(ex_sieve_action_type type)
{
	return type == EX_SIEVE_ACTION_KEEP || type == EX_SIEVE_ACTION_FILEINTO ||
	       type == EX_SIEVE_ACTION_REDIRECT || type == EX_SIEVE_ACTION_DISCARD ||
	       type == EX_SIEVE_ACTION_REJECT;
}

static void only_implicit_keep(ex_sieve_result *result)
{
	ex_sieve_result_clear(result);
	result->count = 1;
	memset(&result->actions[0], 0, sizeof(result->actions[0]));
	result->actions[0].type = EX_SIEVE_ACTION_KEEP;
	result->actions[0].implicit = true;
}

ex_sieve_status ex_sieve_execute(const char *script, size_t length, size_t max_size,
				 const ex_sieve_message *message, ex_sieve_result *result)
{
	memset(result, 0, sizeof(*result));
	call_state state = { .message = message, .result = result, .errors = &result->errors };

	ex_sieve_status status = check_script(&state, script, length, max_size);
	if (status != EX_SIEVE_OK) {
		only_implicit_keep(result);
		return status;
	}

	int rc = run_libsieve(&state, script, length, 1);

	if (state.out_of_memory) {
		only_implicit_keep(result);
		return EX_SIEVE_INTERNAL;
	}
	if (rc == SIEVE2_ERROR_PARSE || state.parse_errors > 0) {
		if (result->errors.count == 0)
			add_error(&state, 0, sieve2_errstr(rc));
		only_implicit_keep(result);
		return EX_SIEVE_INVALID;
	}
	if (rc != SIEVE2_OK || result->errors.count > 0) {
		if (result->errors.count == 0)
			add_error(&state, 0, sieve2_errstr(rc));
		only_implicit_keep(result);
		return EX_SIEVE_RUNTIME_ERROR;
	}

	int keep_cancelled = 0;
	for (size_t i = 0; i < result->count; i++)
		keep_cancelled |= cancels_implicit_keep(result->actions[i].type);
	if (!keep_cancelled) {
		ex_sieve_action *keep = new_action(&state, EX_SIEVE_ACTION_KEEP);
		if (keep != NULL)
			keep->implicit = true;
	}
	return EX_SIEVE_OK;
}

static char extension_list[512];
static pthread_once_t extension_once = PTHREAD_ONCE_INIT;

static void fill_extension_list(void)
{
	sieve2_context_t *context = NULL;

	/* Listing extensions parses nothing, so it runs in this process. */
	if (sieve2_alloc(&context) == SIEVE2_OK && sieve2_callbacks(context, callbacks) == SIEVE2_OK) {
		const char *list = sieve2_listextensions(context);
		snprintf(extension_list, sizeof(extension_list), "%s", list ? list : "");
	}
	if (context != NULL)
		sieve2_free(&context);

	/* libsieve ends the list with a space; trim it. */
	size_t length = strlen(extension_list);
	while (length > 0 && extension_list[length - 1] == ' ')
		extension_list[--length] = '\0';
}

const char *ex_sieve_extensions(void)
{
	pthread_once(&extension_once, fill_extension_list);
	return extension_list;
}
