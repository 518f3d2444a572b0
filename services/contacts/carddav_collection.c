/*
 * MKCOL and extended MKCOL (RFC 5689) of address books, and PROPPATCH
 * (RFC 4918 section 9.2) on every resource of the user. DAV:displayname
 * and CARDDAV:addressbook-description of an address book are stored in
 * its row; any other property that is not protected is stored as a dead
 * property. A PROPPATCH is all or nothing: when one instruction fails, the
 * others get 424 and nothing is written.
 */
#include "contacts_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_properties.h"

typedef struct {
	contacts_context *context;
	ex_dav_proppatch patch;
	unsigned statuses[EX_DAV_MAX_PROPERTIES];
	ex_dav_multistatus *ms;
} proppatch_state;

static const ex_dav_property_name protected_properties[] = {
	{ EX_DAV_NS, "resourcetype" },
	{ EX_DAV_NS, "getetag" },
	{ EX_DAV_NS, "getcontenttype" },
	{ EX_DAV_NS, "getcontentlength" },
	{ EX_DAV_NS, "getlastmodified" },
	{ EX_DAV_NS, "sync-token" },
	{ EX_DAV_NS, "current-user-principal" },
	{ EX_DAV_NS, "current-user-privilege-set" },
	{ EX_DAV_NS, "supported-report-set" },
	{ EX_DAV_NS, "principal-URL" },
	{ EX_DAV_NS, "principal-collection-set" },
	{ EX_DAV_NS, "owner" },
	{ EX_DAV_NS, "quota-used-bytes" },
	{ EX_DAV_NS, "quota-available-bytes" },
	{ EX_CALSERVER_NS, "getctag" },
	{ EX_CARDDAV_NS, "addressbook-home-set" },
	{ EX_CARDDAV_NS, "supported-address-data" },
	{ EX_CARDDAV_NS, "max-resource-size" },
	{ EX_CARDDAV_NS, "address-data" },
};

static bool is_protected(const char *ns, const char *name)
{
	return ex_dav_property_is_listed(protected_properties, sizeof(protected_properties) / sizeof(protected_properties[0]),
					 ns, name);
}

/* Returns the book column a live property is stored in, or NULL for a dead property. */
static const char *book_column(const contacts_context *context, const char *ns, const char *name)
{
	if (context->target.kind != TARGET_BOOK)
		return NULL;
	if (strcmp(ns, EX_DAV_NS) == 0 && strcmp(name, "displayname") == 0)
		return "displayname";
	if (strcmp(ns, EX_CARDDAV_NS) == 0 && strcmp(name, "addressbook-description") == 0)
		return "description";
	return NULL;
}

/* Writes one instruction; returns 0 or -1 on a database error. */
static int apply_instruction(PGconn *connection, contacts_context *context, const ex_dav_proppatch_op *op,
			     const char *path, ex_db_error *error)
{
	const char *ns = ex_dav_xml_namespace(op->property);
	const char *name = (const char *)op->property->name;
	const char *column = book_column(context, ns, name);
	PGresult *result;

	if (column != NULL) {
		xmlChar *text = op->remove ? NULL : xmlNodeGetContent(op->property);
		const char *sql = strcmp(column, "displayname") == 0
					  ? "UPDATE addressbooks SET displayname = left($3, 255) WHERE user_id = $1 AND name = $2"
					  : "UPDATE addressbooks SET description = left($3, 4096) WHERE user_id = $1 AND name = $2";
		result = contacts_sql(connection, error, sql, 3, context->principal.user_id, context->target.book,
				      text ? (const char *)text : "");
		xmlFree(text);
		if (result == NULL)
			return -1;
		PQclear(result);
		return 0;
	}
	return ex_dav_store_dead_property(connection, context->principal.tenant_id, context->principal.user_id, path, op,
					  error);
}

/* Decides the status of each instruction before anything is written. Returns true when all may be applied. */
static bool check_instructions(proppatch_state *state)
{
	return ex_dav_proppatch_check(&state->patch, protected_properties,
				      sizeof(protected_properties) / sizeof(protected_properties[0]), CONTACTS_MAX_DEAD_PROPERTY,
				      state->statuses);
}

/* Returns 1 when the target of CONTEXT exists, 0 when not, -1 on error. */
static int target_exists(PGconn *connection, contacts_context *context, ex_db_error *error)
{
	bool failed;
	if (context->target.kind != TARGET_BOOK && context->target.kind != TARGET_CARD)
		return 1;
	PGresult *book = contacts_find_book(connection, context, context->target.book, true, error, &failed);
	if (book == NULL)
		return failed ? -1 : 0;
	int exists = 1;
	if (context->target.kind == TARGET_CARD) {
		PGresult *card = contacts_sql(connection, error,
					      "SELECT 1 FROM contact_cards WHERE addressbook_id = $1 AND name = $2", 2,
					      PQgetvalue(book, 0, 0), context->target.card);
		exists = card == NULL ? -1 : PQntuples(card) > 0;
		PQclear(card);
	}
	PQclear(book);
	return exists;
}

static int proppatch_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	proppatch_state *state = opaque;
	contacts_context *context = state->context;
	char path[CONTACTS_MAX_HREF];

	contacts_reply_reset(&context->reply);
	if (contacts_ensure_default_book(connection, context, error) != 0)
		return -1;
	int exists = target_exists(connection, context, error);
	if (exists <= 0) {
		if (exists == 0)
			contacts_reply_error(&context->reply, 404, NULL, NULL, "the resource does not exist");
		return exists;
	}
	if (contacts_property_path(path, sizeof(path), context->principal.user_id, &context->target) != 0) {
		contacts_reply_error(&context->reply, 403, NULL, NULL, "this resource has no properties to change");
		return 0;
	}
	if (!check_instructions(state))
		return 0;
	for (size_t i = 0; i < state->patch.count; i++) {
		if (apply_instruction(connection, context, &state->patch.ops[i], path, error) != 0)
			return -1;
	}
	return 0;
}

static void target_href(const contacts_context *context, char *href)
{
	const char *user = context->principal.user_id;
	href[0] = '\0';
	if (context->target.kind == TARGET_PRINCIPAL)
		contacts_href_principal(href, user);
	else if (context->target.kind == TARGET_HOME)
		contacts_href_home(href, user);
	else if (context->target.kind == TARGET_BOOK)
		contacts_href_book(href, user, context->target.book);
	else if (context->target.kind == TARGET_CARD)
		contacts_href_card(href, user, context->target.book, context->target.card);
}

void contacts_handle_proppatch(contacts_context *context)
{
	proppatch_state *state = calloc(1, sizeof(*state));
	char err[256];
	char href[CONTACTS_MAX_HREF];

	if (state == NULL) {
		contacts_reply_error(&context->reply, 500, NULL, NULL, "out of memory");
		return;
	}
	state->context = context;
	if (contacts_reject_gal_write(context)) {
		/* The reply is set. */
	} else if (ex_dav_parse_proppatch(context->document, &state->patch, err, sizeof(err)) != 0) {
		contacts_reply_error(&context->reply, 400, NULL, NULL, "%s", err);
	} else {
		contacts_run(context, EX_DB_READ_COMMITTED, proppatch_work, state);
		if (context->reply.status == 0) {
			target_href(context, href);
			ex_dav_reply_proppatch(&context->reply, &state->patch, state->statuses, href);
		}
	}
	free(state);
}

typedef struct {
	contacts_context *context;
	const char *displayname;
	const char *description;
	const xmlNode *set_prop; /* DAV:prop of the extended MKCOL, or NULL */
} mkcol_state;

static int mkcol_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	mkcol_state *state = opaque;
	contacts_context *context = state->context;
	char path[CONTACTS_MAX_HREF];

	contacts_reply_reset(&context->reply);
	PGresult *created = contacts_sql(connection, error,
					 "INSERT INTO addressbooks (tenant_id, user_id, name, displayname, description) "
					 "VALUES ($1, $2, $3, left($4, 255), left($5, 4096)) ON CONFLICT (user_id, name) DO NOTHING "
					 "RETURNING id",
					 5, context->principal.tenant_id, context->principal.user_id, context->target.book,
					 state->displayname, state->description);
	if (created == NULL)
		return -1;
	int inserted = PQntuples(created) == 1;
	PQclear(created);
	if (!inserted) {
		contacts_reply_error(&context->reply, 405, NULL, NULL, "the address book %s already exists", context->target.book);
		return 0;
	}

	contacts_property_path(path, sizeof(path), context->principal.user_id, &context->target);
	for (const xmlNode *child = state->set_prop ? state->set_prop->children : NULL; child; child = child->next) {
		const char *ns = child->type == XML_ELEMENT_NODE ? ex_dav_xml_namespace(child) : NULL;
		if (ns == NULL || book_column(context, ns, (const char *)child->name) != NULL || is_protected(ns, (const char *)child->name))
			continue;
		ex_dav_proppatch_op op = { .remove = 0, .property = child };
		if (apply_instruction(connection, context, &op, path, error) != 0)
			return -1;
	}
	context->reply.status = 201;
	context->reply.changed = true;
	context->reply.change_kind = "created";
	return 0;
}

/* Reads an extended MKCOL body; sets an error reply and returns false when it cannot be served. */
static bool read_extended_mkcol(contacts_context *context, mkcol_state *state, xmlChar **texts)
{
	const xmlNode *root = xmlDocGetRootElement(context->document);
	if (!ex_dav_xml_is(root, EX_DAV_NS, "mkcol")) {
		contacts_reply_error(&context->reply, 415, NULL, NULL, "the MKCOL body must be a DAV:mkcol element (RFC 5689)");
		return false;
	}
	state->set_prop = ex_dav_xml_child(ex_dav_xml_child(root, EX_DAV_NS, "set"), EX_DAV_NS, "prop");
	const xmlNode *type = ex_dav_xml_child(state->set_prop, EX_DAV_NS, "resourcetype");
	if (type != NULL && ex_dav_xml_child(type, EX_CARDDAV_NS, "addressbook") == NULL) {
		contacts_reply_error(&context->reply, 403, EX_DAV_NS, "valid-resourcetype",
				     "only address books can be created here; the resourcetype must contain CARDDAV:addressbook");
		return false;
	}
	const xmlNode *name = ex_dav_xml_child(state->set_prop, EX_DAV_NS, "displayname");
	const xmlNode *description = ex_dav_xml_child(state->set_prop, EX_CARDDAV_NS, "addressbook-description");
	texts[0] = name ? xmlNodeGetContent(name) : NULL;
	texts[1] = description ? xmlNodeGetContent(description) : NULL;
	state->displayname = texts[0] ? (const char *)texts[0] : context->target.book;
	state->description = texts[1] ? (const char *)texts[1] : "";
	return true;
}

void contacts_handle_mkcol(contacts_context *context)
{
	mkcol_state state = { .context = context, .displayname = context->target.book, .description = "" };
	xmlChar *texts[2] = { NULL, NULL };

	if (context->target.kind != TARGET_BOOK) {
		contacts_reply_error(&context->reply, context->target.kind == TARGET_CARD ? 409 : 405, NULL, NULL,
				     "address books are created directly in the address-book home");
		return;
	}
	if (contacts_is_gal(context->target.book)) {
		contacts_reply_error(&context->reply, 405, NULL, NULL, "the global address list already exists and is read-only");
		return;
	}
	/* NOTE: a plain MKCOL also creates an address book, because the home contains nothing else. */
	if (context->document == NULL || read_extended_mkcol(context, &state, texts)) {
		contacts_run(context, EX_DB_READ_COMMITTED, mkcol_work, &state);
		snprintf(context->reply.changed_collection, sizeof(context->reply.changed_collection), "%s", context->target.book);
	}
	xmlFree(texts[0]);
	xmlFree(texts[1]);
}
