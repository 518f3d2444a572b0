/*
 * ManageSieve server (RFC 5804). The mail listener (mail_listener.c)
 * accepts connections and starts one thread per session, up to
 * max_connections. A session reads into a buffer until ex_managesieve_parse finds a whole
 * command, runs it against the sieve_scripts table (mail_sieve_store.c)
 * and writes the response. Scripts are validated by libsieve in a child
 * process (libexpresso-sieve) before they are stored.
 */
#include "managesieve.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "expresso/log.h"
#include "expresso/sieve.h"
#include "mail_listener.h"
#include "managesieve_parse.h"
#include "mail_sieve.h"
#include "mail_sieve_store.h"

enum {
	READ_CHUNK = 16384,
	COMMAND_OVERHEAD = 8192, /* bytes of a command beyond its script literal */
	MAX_AUTH_RESPONSE = 16384, /* bytes of a decoded SASL response */
	STOP_WAIT_MS = 10000,
};

struct ex_managesieve_server {
	ex_mail_service *service;
	ex_managesieve_options options;
	ex_mail_listener *listener;
};

typedef struct {
	ex_mail_listener *listener;
	ex_mail_service *service;
	int fd;
	SSL *ssl;
	const char *address;
	char *input;
	size_t input_length;
	size_t input_capacity;
	size_t max_input;
	bool authenticated;
	bool closing;
	ex_smtp_identity identity;
	ex_mail_sieve_owner owner;
} session;

/* ---- I/O ---------------------------------------------------------------------- */

static int write_all(session *self, const char *data, size_t length)
{
	while (length > 0) {
		ssize_t written;
		if (self->ssl != NULL) {
			int chunk = length > (size_t)INT32_MAX ? INT32_MAX : (int)length;
			written = SSL_write(self->ssl, data, chunk);
		} else {
			written = send(self->fd, data, length, MSG_NOSIGNAL);
		}
		if (written <= 0) {
			if (self->ssl == NULL && written < 0 && errno == EINTR)
				continue;
			self->closing = true;
			return -1;
		}
		data += written;
		length -= (size_t)written;
	}
	return 0;
}

static int send_text(session *self, const char *format, ...) __attribute__((format(printf, 2, 3)));

static int send_text(session *self, const char *format, ...)
{
	char line[1024];
	va_list arguments;
	va_start(arguments, format);
	int length = vsnprintf(line, sizeof(line), format, arguments);
	va_end(arguments);
	if (length < 0)
		return -1;
	if ((size_t)length >= sizeof(line))
		length = (int)sizeof(line) - 1;
	return write_all(self, line, (size_t)length);
}

/* Sends TEXT as a quoted string when it can be one, else as a literal, without a line end. */
static int send_string(session *self, const char *text, size_t length)
{
	bool quotable = length <= EX_MANAGESIEVE_MAX_QUOTED;
	for (size_t i = 0; i < length && quotable; i++)
		quotable = text[i] != '\r' && text[i] != '\n' && text[i] != '\0';
	if (!quotable) {
		if (send_text(self, "{%zu}\r\n", length) != 0)
			return -1;
		return write_all(self, text, length);
	}
	if (write_all(self, "\"", 1) != 0)
		return -1;
	for (size_t i = 0; i < length; i++) {
		if ((text[i] == '"' || text[i] == '\\') && write_all(self, "\\", 1) != 0)
			return -1;
		if (write_all(self, &text[i], 1) != 0)
			return -1;
	}
	return write_all(self, "\"", 1);
}

/* Sends "NO [(CODE)] "text"" or "OK ...": TEXT goes out as a quoted string or literal. */
static int respond(session *self, const char *status, const char *code, const char *text)
{
	if (code != NULL)
		send_text(self, "%s (%s) ", status, code);
	else
		send_text(self, "%s ", status);
	send_string(self, text, strlen(text));
	return write_all(self, "\r\n", 2);
}

static ssize_t read_some(session *self, char *buffer, size_t size)
{
	for (;;) {
		ssize_t count;
		if (self->ssl != NULL) {
			int chunk = size > (size_t)INT32_MAX ? INT32_MAX : (int)size;
			count = SSL_read(self->ssl, buffer, chunk);
		} else {
			count = recv(self->fd, buffer, size, 0);
		}
		if (count < 0 && self->ssl == NULL && errno == EINTR)
			continue;
		return count;
	}
}

/* Reads more input into the buffer. Returns 0, or -1 on EOF, timeout or error. */
static int read_more(session *self)
{
	if (self->input_length == self->max_input)
		return -1;
	if (self->input_capacity - self->input_length < READ_CHUNK) {
		size_t capacity = self->input_capacity ? self->input_capacity * 2 : 2 * READ_CHUNK;
		if (capacity > self->max_input + READ_CHUNK)
			capacity = self->max_input + READ_CHUNK;
		char *grown = realloc(self->input, capacity);
		if (grown == NULL)
			return -1;
		self->input = grown;
		self->input_capacity = capacity;
	}
	size_t room = self->input_capacity - self->input_length;
	if (room > self->max_input - self->input_length)
		room = self->max_input - self->input_length;
	ssize_t count = read_some(self, self->input + self->input_length, room);
	if (count <= 0)
		return -1;
	self->input_length += (size_t)count;
	return 0;
}

static void drop_input(session *self, size_t count)
{
	memmove(self->input, self->input + count, self->input_length - count);
	self->input_length -= count;
}

/*
 * Reads one command (or with STRING_LINE one bare string line) into
 * COMMAND. Returns 0 with a command, 1 after responding NO to an invalid one
 * (the caller reads the next), or -1 when the session must end.
 */
static int read_command(session *self, bool string_line, ex_managesieve_command *command)
{
	size_t max_literal = self->service->sieve_max_script_size + COMMAND_OVERHEAD;
	for (;;) {
		size_t consumed = 0;
		ex_managesieve_parse_status status =
			ex_managesieve_parse(self->input, self->input_length, max_literal, string_line, command, &consumed);
		if (status == EX_MANAGESIEVE_PARSE_OK) {
			drop_input(self, consumed);
			return 0;
		}
		if (status == EX_MANAGESIEVE_PARSE_TOO_LONG) {
			ex_managesieve_command_clear(command);
			respond(self, "BYE", "QUOTA/MAXSIZE", "literal exceeds the maximum script size; closing");
			return -1;
		}
		if (status == EX_MANAGESIEVE_PARSE_INVALID) {
			char *end = memmem(self->input, self->input_length, "\r\n", 2);
			if (end != NULL) {
				char reason[160];
				snprintf(reason, sizeof(reason), "invalid command: %s", command->error);
				ex_managesieve_command_clear(command);
				drop_input(self, (size_t)(end - self->input) + 2);
				respond(self, "NO", NULL, reason);
				return 1;
			}
		}
		ex_managesieve_command_clear(command);
		if (read_more(self) != 0)
			return -1;
	}
}

/* ---- responses ---------------------------------------------------------------- */

static void send_capabilities(session *self)
{
	bool tls = self->ssl != NULL;
	send_text(self, "\"IMPLEMENTATION\" \"Expresso ManageSieve\"\r\n");
	if (tls)
		send_text(self, "\"SASL\" \"PLAIN%s\"\r\n", self->service->verifier != NULL ? " OAUTHBEARER" : "");
	else
		send_text(self, "\"SASL\" \"\"\r\n");
	send_text(self, "\"SIEVE\" ");
	const char *extensions = ex_sieve_extensions();
	send_string(self, extensions, strlen(extensions));
	send_text(self, "\r\n");
	if (!tls && self->service->tls != NULL)
		send_text(self, "\"STARTTLS\"\r\n");
	send_text(self, "\"VERSION\" \"1.0\"\r\n");
	respond(self, "OK", NULL, "Expresso ManageSieve ready");
}

static const char *store_code(ex_mail_sieve_store_status status)
{
	switch (status) {
	case EX_MAIL_SIEVE_STORE_NOT_FOUND:
		return "NONEXISTENT";
	case EX_MAIL_SIEVE_STORE_ACTIVE:
		return "ACTIVE";
	case EX_MAIL_SIEVE_STORE_EXISTS:
		return "ALREADYEXISTS";
	default:
		return "TRYLATER";
	}
}

static void respond_store(session *self, ex_mail_sieve_store_status status, const char *done)
{
	if (status == EX_MAIL_SIEVE_STORE_OK) {
		respond(self, "OK", NULL, done);
		return;
	}
	const char *text = status == EX_MAIL_SIEVE_STORE_NOT_FOUND ? "no script by that name"
			   : status == EX_MAIL_SIEVE_STORE_ACTIVE  ? "the script is active; deactivate it first"
			   : status == EX_MAIL_SIEVE_STORE_EXISTS  ? "a script with the new name already exists"
								   : "the scripts could not be read or written; try again";
	respond(self, "NO", store_code(status), text);
}

/* ---- authentication ----------------------------------------------------------- */

/* Decodes base64 TEXT into a NUL-terminated buffer. Returns its length, or -1. */
static int decode_base64(const char *text, size_t length, char **out)
{
	if (length % 4 != 0 || length / 4 * 3 > MAX_AUTH_RESPONSE)
		return -1;
	unsigned char *decoded = malloc(length / 4 * 3 + 1);
	if (decoded == NULL)
		return -1;
	int count = length == 0 ? 0 : EVP_DecodeBlock(decoded, (const unsigned char *)text, (int)length);
	if (count < 0) {
		free(decoded);
		return -1;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	for (size_t i = length; i > 0 && text[i - 1] == '=' && count > 0; i--)
		count--;
	decoded[count] = '\0';
	*out = (char *)decoded;
	return count;
}

/* RFC 4616: [authzid] NUL authcid NUL password. */
static ex_smtp_auth_status check_plain(session *self, const char *message, int length)
{
	const char *authzid = message;
	const char *authcid = memchr(message, '\0', (size_t)length);
	if (authcid == NULL)
		return EX_SMTP_AUTH_REJECTED;
	authcid++;
	const char *password = memchr(authcid, '\0', (size_t)(message + length - authcid));
	if (password == NULL)
		return EX_SMTP_AUTH_REJECTED;
	password++;
	if (memchr(password, '\0', (size_t)(message + length - password)) != NULL)
		return EX_SMTP_AUTH_REJECTED;
	if (authzid[0] != '\0' && strcasecmp(authzid, authcid) != 0)
		return EX_SMTP_AUTH_REJECTED; /* acting for another user is not supported */
	return ex_mail_authenticate(self->service, authcid, password, self->address, &self->identity);
}

/* RFC 7628: gs2 header "n,a=<authzid>," then ^A-separated key=value pairs with auth=Bearer <token>. */
static ex_smtp_auth_status check_oauthbearer(session *self, char *message, int length)
{
	if (self->service->verifier == NULL || length < 3 || (message[0] != 'n' && message[0] != 'y') ||
	    message[1] != ',')
		return EX_SMTP_AUTH_REJECTED;
	char *cursor = message + 2;
	char *authzid = NULL;
	if (strncmp(cursor, "a=", 2) == 0) {
		authzid = cursor + 2;
		cursor = strchr(cursor, ',');
		if (cursor == NULL)
			return EX_SMTP_AUTH_REJECTED;
		*cursor = '\0';
	} else if (*cursor != ',') {
		return EX_SMTP_AUTH_REJECTED;
	}
	cursor++;
	for (char *pair = strtok(cursor, "\x01"); pair != NULL; pair = strtok(NULL, "\x01")) {
		if (strncasecmp(pair, "auth=Bearer ", 12) == 0)
			return ex_mail_authenticate_token(self->service, authzid, pair + 12, self->address, &self->identity);
	}
	return EX_SMTP_AUTH_REJECTED;
}

static void authenticate(session *self, const ex_managesieve_command *command)
{
	if (self->authenticated) {
		respond(self, "NO", NULL, "already authenticated");
		return;
	}
	if (self->ssl == NULL) {
		respond(self, "NO", "ENCRYPT-NEEDED", "issue STARTTLS before AUTHENTICATE");
		return;
	}
	if (command->arg_count < 1 || command->arg_count > 2) {
		respond(self, "NO", NULL, "usage: AUTHENTICATE \"PLAIN\" [initial-response]");
		return;
	}
	bool plain = strcasecmp(command->args[0], "PLAIN") == 0;
	bool bearer = strcasecmp(command->args[0], "OAUTHBEARER") == 0 && self->service->verifier != NULL;
	if (!plain && !bearer) {
		respond(self, "NO", NULL, "unsupported SASL mechanism; use PLAIN or OAUTHBEARER");
		return;
	}

	ex_managesieve_command response = { 0 };
	const char *encoded = NULL;
	size_t encoded_length = 0;
	if (command->arg_count == 2) {
		encoded = command->args[1];
		encoded_length = command->arg_lengths[1];
	} else {
		/* An empty challenge, to which the client replies with one string line. */
		if (write_all(self, "\"\"\r\n", 4) != 0)
			return;
		int rc = read_command(self, true, &response);
		if (rc != 0) {
			if (rc < 0)
				self->closing = true;
			ex_managesieve_command_clear(&response);
			return;
		}
		encoded = response.args[0];
		encoded_length = response.arg_lengths[0];
	}
	if (encoded_length == 1 && encoded[0] == '*') {
		ex_managesieve_command_clear(&response);
		respond(self, "NO", NULL, "authentication cancelled");
		return;
	}

	char *message = NULL;
	int length = decode_base64(encoded, encoded_length, &message);
	ex_managesieve_command_clear(&response);
	if (length < 0) {
		respond(self, "NO", NULL, "invalid base64 in the SASL response");
		return;
	}
	ex_smtp_auth_status status = plain ? check_plain(self, message, length) : check_oauthbearer(self, message, length);
	OPENSSL_cleanse(message, (size_t)length);
	free(message);

	if (status == EX_SMTP_AUTH_ACCEPTED) {
		self->authenticated = true;
		self->owner = (ex_mail_sieve_owner){ self->service, self->identity.tenant_id, self->identity.user_id };
		ex_log(EX_LOG_INFO, "managesieve_login", "{s:s, s:s, s:s}", "client", self->address, "tenant",
		       self->identity.tenant_id, "user", self->identity.user_id);
		respond(self, "OK", NULL, "authenticated");
	} else if (status == EX_SMTP_AUTH_RATE_LIMITED || status == EX_SMTP_AUTH_TEMPORARY_FAILURE) {
		respond(self, "NO", "TRYLATER", "authentication is not possible now; try again later");
	} else {
		respond(self, "NO", NULL, "authentication failed");
	}
}

/* ---- script commands ---------------------------------------------------------- */

/* Validates a script. Responds NO with the reason and returns false when it is not acceptable. */
static bool check_script(session *self, const char *script, size_t length)
{
	ex_sieve_errors errors;
	ex_sieve_status status = ex_sieve_validate(script, length, self->service->sieve_max_script_size, &errors);
	if (status == EX_SIEVE_OK)
		return true;
	char text[EX_SIEVE_MAX_ERROR_TEXT + 64];
	if (status == EX_SIEVE_TOO_LARGE) {
		snprintf(text, sizeof(text), "script of %zu bytes exceeds the limit of %zu bytes", length,
			 self->service->sieve_max_script_size);
		respond(self, "NO", "QUOTA/MAXSIZE", text);
		return false;
	}
	if (errors.count > 0 && errors.items[0].line > 0)
		snprintf(text, sizeof(text), "line %d: %s", errors.items[0].line, errors.items[0].message);
	else
		snprintf(text, sizeof(text), "%s", errors.count > 0 ? errors.items[0].message : "invalid script");
	respond(self, "NO", NULL, text);
	return false;
}

static bool valid_name(session *self, const ex_managesieve_command *command, size_t index)
{
	if (command->arg_lengths[index] == strlen(command->args[index]) && ex_mail_sieve_name_valid(command->args[index]))
		return true;
	respond(self, "NO", NULL, "invalid script name: 1 to 255 bytes of UTF-8 without control characters");
	return false;
}

static void list_scripts(session *self)
{
	json_t *list = NULL;
	ex_mail_sieve_store_status status = ex_mail_sieve_store_list(&self->owner, &list);
	if (status != EX_MAIL_SIEVE_STORE_OK) {
		respond_store(self, status, "");
		return;
	}
	size_t index;
	json_t *script;
	json_array_foreach(list, index, script) {
		const char *name = json_string_value(json_object_get(script, "name"));
		send_string(self, name, strlen(name));
		send_text(self, "%s\r\n", json_is_true(json_object_get(script, "active")) ? " ACTIVE" : "");
	}
	json_decref(list);
	respond(self, "OK", NULL, "listed");
}

static void get_script(session *self, const char *name)
{
	json_t *script = NULL;
	ex_mail_sieve_store_status status = ex_mail_sieve_store_get(&self->owner, name, &script);
	if (status != EX_MAIL_SIEVE_STORE_OK) {
		respond_store(self, status, "");
		return;
	}
	json_t *content = json_object_get(script, "content");
	send_text(self, "{%zu}\r\n", json_string_length(content));
	write_all(self, json_string_value(content), json_string_length(content));
	write_all(self, "\r\n", 2);
	const char *last_error = json_string_value(json_object_get(script, "last_error"));
	if (last_error != NULL) {
		/* The only place a ManageSieve client can show why the script failed at delivery. */
		char text[EX_MAIL_SIEVE_ERROR_TEXT + 32];
		snprintf(text, sizeof(text), "last delivery error: %s", last_error);
		respond(self, "OK", "WARNINGS", text);
	} else {
		respond(self, "OK", NULL, "script follows");
	}
	json_decref(script);
}

static void have_space(session *self, const ex_managesieve_command *command)
{
	char *end = NULL;
	unsigned long long size = strtoull(command->args[1], &end, 10);
	if (end == command->args[1] || *end != '\0') {
		respond(self, "NO", NULL, "usage: HAVESPACE <name> <size>");
		return;
	}
	if (size > self->service->sieve_max_script_size) {
		char text[128];
		snprintf(text, sizeof(text), "a script may have at most %zu bytes", self->service->sieve_max_script_size);
		respond(self, "NO", "QUOTA/MAXSIZE", text);
		return;
	}
	respond(self, "OK", NULL, "there is space");
}

/* Argument counts per command: minimum and maximum. */
static bool arguments(session *self, const ex_managesieve_command *command, size_t minimum, size_t maximum)
{
	if (command->arg_count >= minimum && command->arg_count <= maximum)
		return true;
	char text[96];
	snprintf(text, sizeof(text), "%s takes %zu to %zu arguments", command->name, minimum, maximum);
	respond(self, "NO", NULL, text);
	return false;
}

static int start_tls(session *self)
{
	if (self->ssl != NULL || self->service->tls == NULL) {
		respond(self, "NO", NULL, self->ssl != NULL ? "TLS is already active" : "TLS is not configured");
		return 0;
	}
	respond(self, "OK", NULL, "begin TLS negotiation now");
	self->input_length = 0; /* RFC 5804 section 2.2: nothing sent before the handshake counts */
	char reason[256];
	self->ssl = ex_mail_tls_accept(self->service->tls, self->fd, reason, sizeof(reason));
	if (self->ssl == NULL) {
		ex_log(EX_LOG_INFO, "managesieve_tls_failed", "{s:s, s:s}", "client", self->address, "error", reason);
		return -1;
	}
	send_capabilities(self);
	return 0;
}

/* Runs one command. Returns -1 when the session ends. */
static int run_command(session *self, const ex_managesieve_command *command)
{
	const char *name = command->name;
	if (strcmp(name, "LOGOUT") == 0) {
		respond(self, "OK", NULL, "logout completed");
		return -1;
	}
	if (strcmp(name, "CAPABILITY") == 0) {
		send_capabilities(self);
		return 0;
	}
	if (strcmp(name, "NOOP") == 0) {
		if (command->arg_count == 1) {
			send_text(self, "OK (TAG ");
			send_string(self, command->args[0], command->arg_lengths[0]);
			send_text(self, ") \"done\"\r\n");
		} else {
			respond(self, "OK", NULL, "done");
		}
		return 0;
	}
	if (strcmp(name, "STARTTLS") == 0)
		return start_tls(self);
	if (strcmp(name, "AUTHENTICATE") == 0) {
		authenticate(self, command);
		return self->closing ? -1 : 0;
	}
	if (!self->authenticated) {
		respond(self, "NO", NULL, "authenticate first");
		return 0;
	}

	if (strcmp(name, "LISTSCRIPTS") == 0) {
		if (arguments(self, command, 0, 0))
			list_scripts(self);
	} else if (strcmp(name, "GETSCRIPT") == 0) {
		if (arguments(self, command, 1, 1) && valid_name(self, command, 0))
			get_script(self, command->args[0]);
	} else if (strcmp(name, "PUTSCRIPT") == 0) {
		if (arguments(self, command, 2, 2) && valid_name(self, command, 0) &&
		    check_script(self, command->args[1], command->arg_lengths[1]))
			respond_store(self,
				      ex_mail_sieve_store_put(&self->owner, command->args[0], command->args[1],
							      command->arg_lengths[1], false),
				      "script stored");
	} else if (strcmp(name, "CHECKSCRIPT") == 0) {
		if (arguments(self, command, 1, 1) && check_script(self, command->args[0], command->arg_lengths[0]))
			respond(self, "OK", NULL, "script is valid");
	} else if (strcmp(name, "SETACTIVE") == 0) {
		if (!arguments(self, command, 1, 1))
			return 0;
		if (command->arg_lengths[0] == 0)
			respond_store(self, ex_mail_sieve_store_activate(&self->owner, NULL), "no script is active");
		else if (valid_name(self, command, 0))
			respond_store(self, ex_mail_sieve_store_activate(&self->owner, command->args[0]), "script activated");
	} else if (strcmp(name, "DELETESCRIPT") == 0) {
		if (arguments(self, command, 1, 1) && valid_name(self, command, 0))
			respond_store(self, ex_mail_sieve_store_delete(&self->owner, command->args[0]), "script deleted");
	} else if (strcmp(name, "RENAMESCRIPT") == 0) {
		if (arguments(self, command, 2, 2) && valid_name(self, command, 0) && valid_name(self, command, 1))
			respond_store(self, ex_mail_sieve_store_rename(&self->owner, command->args[0], command->args[1]),
				      "script renamed");
	} else if (strcmp(name, "HAVESPACE") == 0) {
		if (arguments(self, command, 2, 2) && valid_name(self, command, 0))
			have_space(self, command);
	} else {
		respond(self, "NO", NULL, "unknown command");
	}
	return self->closing ? -1 : 0;
}

/* ---- sessions and the listener ------------------------------------------------ */

/* Runs one session in the thread the listener started for it. The listener closes the socket. */
static void run_session(ex_mail_connection *connection, void *context)
{
	ex_managesieve_server *server = context;
	session *self = calloc(1, sizeof(*self));
	if (self == NULL)
		return;
	self->listener = connection->listener;
	self->service = server->service;
	self->fd = connection->fd;
	self->address = connection->address;
	self->max_input = server->service->sieve_max_script_size * 2 + COMMAND_OVERHEAD;

	send_capabilities(self);
	while (!self->closing && !ex_mail_listener_stopping(self->listener)) {
		ex_managesieve_command command;
		int rc = read_command(self, false, &command);
		if (rc < 0)
			break;
		if (rc > 0)
			continue;
		rc = run_command(self, &command);
		ex_managesieve_command_clear(&command);
		if (rc != 0)
			break;
	}

	if (self->ssl != NULL) {
		SSL_shutdown(self->ssl);
		SSL_free(self->ssl);
	}
	free(self->input);
	free(self);
}

ex_managesieve_server *ex_managesieve_start(ex_mail_service *service, const ex_managesieve_options *options,
					    char *err, size_t errlen)
{
	ex_managesieve_server *server = calloc(1, sizeof(*server));
	if (server == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	server->service = service;
	server->options = *options;

	const ex_mail_listener_port port = { options->port, "managesieve", false, 0 };
	const ex_mail_listener_options listener = {
		.protocol = "managesieve",
		.bind_address = options->bind_address,
		.ports = &port,
		.port_count = 1,
		.max_connections = options->max_connections,
		.max_connections_per_address = options->max_connections_per_address,
		.idle_timeout_ms = options->idle_timeout_ms,
		.reply_too_many = "BYE (TRYLATER) \"too many connections; try again later\"\r\n",
		.reply_too_many_from_address = "BYE (TRYLATER) \"too many connections; try again later\"\r\n",
		.handler = run_session,
		.context = server,
	};
	server->listener = ex_mail_listener_start(&listener, err, errlen);
	if (server->listener == NULL) {
		free(server);
		return NULL;
	}
	return server;
}

void ex_managesieve_stop(ex_managesieve_server *server)
{
	if (server == NULL)
		return;
	/* Sessions blocked in a read see end of file once their socket is shut down. */
	if (!ex_mail_listener_stop(server->listener, true, STOP_WAIT_MS))
		return; /* session threads still use SERVER as their handler's context */
	free(server);
}
