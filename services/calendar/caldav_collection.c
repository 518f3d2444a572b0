/*
 * MKCALENDAR (RFC 4791 section 5.3.1), MKCOL and extended MKCOL (RFC 5689)
 * of calendars, and PROPPATCH (RFC 4918 section 9.2) on every resource of
 * the user. DAV:displayname, CALDAV:calendar-description,
 * CALDAV:calendar-timezone and Apple's calendar-color of a calendar are
 * stored in its row; CALDAV:supported-calendar-component-set is set only
 * at creation; any other property that is not protected is stored as a
 * dead property. A PROPPATCH is all or nothing: when one instruction
 * fails, the others get 424 and nothing is written.
 */
#include "calendar_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_properties.h"

#include "ical_object.h"

typedef struct {
	calendar_context *context;
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
	{ EX_CALDAV_NS, "calendar-home-set" },
	{ EX_CALDAV_NS, "supported-calendar-data" },
	{ EX_CALDAV_NS, "supported-calendar-component-set" },
	{ EX_CALDAV_NS, "supported-collation-set" },
	{ EX_CALDAV_NS, "min-date-time" },
	{ EX_CALDAV_NS, "max-date-time" },
	{ EX_CALDAV_NS, "max-resource-size" },
	{ EX_CALDAV_NS, "calendar-data" },
};

static bool is_protected(const char *ns, const char *name)
{
	return ex_dav_property_is_listed(protected_properties, sizeof(protected_properties) / sizeof(protected_properties[0]),
					 ns, name);
}

/* The properties of a calendar stored in its row, with the UPDATE that sets each. */
static const struct {
	const char *ns;
	const char *name;
	const char *update;
} calendar_columns[] = {
	{ EX_DAV_NS, "displayname", "UPDATE calendars SET displayname = left($3, 255) WHERE user_id = $1 AND name = $2" },
	{ EX_CALDAV_NS, "calendar-description",
	  "UPDATE calendars SET description = left($3, 4096) WHERE user_id = $1 AND name = $2" },
	{ EX_CALDAV_NS, "calendar-timezone",
	  "UPDATE calendars SET timezone = left($3, 65536) WHERE user_id = $1 AND name = $2" },
	{ CALENDAR_APPLE_NS, "calendar-color", "UPDATE calendars SET color = left($3, 32) WHERE user_id = $1 AND name = $2" },
};

/* Returns the UPDATE of the calendar column a live property is stored in, or NULL for a dead property. */
static const char *calendar_column(const calendar_context *context, const char *ns, const char *name)
{
	if (context->target.kind != TARGET_CALENDAR)
		return NULL;
	for (size_t i = 0; i < sizeof(calendar_columns) / sizeof(calendar_columns[0]); i++) {
		if (strcmp(ns, calendar_columns[i].ns) == 0 && strcmp(name, calendar_columns[i].name) == 0)
			return calendar_columns[i].update;
	}
	return NULL;
}

/* Writes one instruction; returns 0 or -1 on a database error. */
static int apply_instruction(PGconn *connection, calendar_context *context, const ex_dav_proppatch_op *op,
			     const char *path, ex_db_error *error)
{
	const char *ns = ex_dav_xml_namespace(op->property);
	const char *name = (const char *)op->property->name;
	const char *sql = calendar_column(context, ns, name);
	PGresult *result;

	if (sql != NULL) {
		xmlChar *text = op->remove ? NULL : xmlNodeGetContent(op->property);
		result = calendar_sql(connection, error, sql, 3, context->principal.user_id, context->target.calendar,
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
				      sizeof(protected_properties) / sizeof(protected_properties[0]), CALENDAR_MAX_DEAD_PROPERTY,
				      state->statuses);
}

/* Returns 1 when the target of CONTEXT exists, 0 when not, -1 on error. */
static int target_exists(PGconn *connection, calendar_context *context, ex_db_error *error)
{
	bool failed;
	if (context->target.kind != TARGET_CALENDAR && context->target.kind != TARGET_OBJECT)
		return 1;
	PGresult *calendar = calendar_find(connection, context, context->target.calendar, true, error, &failed);
	if (calendar == NULL)
		return failed ? -1 : 0;
	int exists = 1;
	if (context->target.kind == TARGET_OBJECT) {
		PGresult *object = calendar_sql(connection, error,
					      "SELECT 1 FROM calendar_objects WHERE calendar_id = $1 AND name = $2", 2,
					      PQgetvalue(calendar, 0, 0), context->target.object);
		exists = object == NULL ? -1 : PQntuples(object) > 0;
		PQclear(object);
	}
	PQclear(calendar);
	return exists;
}

static int proppatch_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	proppatch_state *state = opaque;
	calendar_context *context = state->context;
	char path[CALENDAR_MAX_HREF];

	calendar_reply_reset(&context->reply);
	if (calendar_ensure_defaults(connection, context, error) != 0)
		return -1;
	int exists = target_exists(connection, context, error);
	if (exists <= 0) {
		if (exists == 0)
			calendar_reply_error(&context->reply, 404, NULL, NULL, "the resource does not exist");
		return exists;
	}
	if (calendar_property_path(path, sizeof(path), context->principal.user_id, &context->target) != 0) {
		calendar_reply_error(&context->reply, 403, NULL, NULL, "this resource has no properties to change");
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

static void target_href(const calendar_context *context, char *href)
{
	const char *user = context->principal.user_id;
	href[0] = '\0';
	if (context->target.kind == TARGET_PRINCIPAL)
		calendar_href_principal(href, user);
	else if (context->target.kind == TARGET_HOME)
		calendar_href_home(href, user);
	else if (context->target.kind == TARGET_CALENDAR)
		calendar_href_calendar(href, user, context->target.calendar);
	else if (context->target.kind == TARGET_OBJECT)
		calendar_href_object(href, user, context->target.calendar, context->target.object);
}

void calendar_handle_proppatch(calendar_context *context)
{
	proppatch_state *state = calloc(1, sizeof(*state));
	char err[256];
	char href[CALENDAR_MAX_HREF];

	if (state == NULL) {
		calendar_reply_error(&context->reply, 500, NULL, NULL, "out of memory");
		return;
	}
	state->context = context;
	if (ex_dav_parse_proppatch(context->document, &state->patch, err, sizeof(err)) != 0) {
		calendar_reply_error(&context->reply, 400, NULL, NULL, "%s", err);
	} else {
		calendar_run(context, EX_DB_READ_COMMITTED, proppatch_work, state);
		if (context->reply.dav.status == 0) {
			target_href(context, href);
			ex_dav_reply_proppatch(&context->reply.dav, &state->patch, state->statuses, href);
		}
	}
	free(state);
}

typedef struct {
	calendar_context *context;
	const char *displayname;
	const char *description;
	const char *timezone;
	const char *color;
	unsigned components;
	const xmlNode *set_prop; /* DAV:prop of the MKCALENDAR or extended MKCOL, or NULL */
} mkcol_state;

static int mkcol_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	mkcol_state *state = opaque;
	calendar_context *context = state->context;
	char path[CALENDAR_MAX_HREF];
	char components[16];

	calendar_reply_reset(&context->reply);
	snprintf(components, sizeof(components), "%u", state->components);
	PGresult *created = calendar_sql(connection, error,
					 "INSERT INTO calendars (tenant_id, user_id, name, displayname, description, components, "
					 "timezone, color) VALUES ($1, $2, $3, left($4, 255), left($5, 4096), $6, left($7, 65536), "
					 "left($8, 32)) ON CONFLICT (user_id, name) DO NOTHING RETURNING id",
					 8, context->principal.tenant_id, context->principal.user_id, context->target.calendar,
					 state->displayname, state->description, components, state->timezone, state->color);
	if (created == NULL)
		return -1;
	int inserted = PQntuples(created) == 1;
	PQclear(created);
	if (!inserted) {
		calendar_reply_error(&context->reply, 405, EX_DAV_NS, "resource-must-be-null",
				     "the calendar %s already exists", context->target.calendar);
		return 0;
	}

	calendar_property_path(path, sizeof(path), context->principal.user_id, &context->target);
	for (const xmlNode *child = state->set_prop ? state->set_prop->children : NULL; child; child = child->next) {
		const char *ns = child->type == XML_ELEMENT_NODE ? ex_dav_xml_namespace(child) : NULL;
		if (ns == NULL || calendar_column(context, ns, (const char *)child->name) != NULL ||
		    is_protected(ns, (const char *)child->name))
			continue;
		ex_dav_proppatch_op op = { .remove = 0, .property = child };
		if (apply_instruction(connection, context, &op, path, error) != 0)
			return -1;
	}
	context->reply.dav.status = 201;
	context->reply.dav.changed = true;
	context->reply.dav.change_kind = "created";
	return 0;
}

/* Reads CALDAV:supported-calendar-component-set into STATE; sets a 403 reply and returns false for other components. */
static bool read_components(calendar_context *context, mkcol_state *state, const xmlNode *set)
{
	unsigned components = 0;
	for (const xmlNode *comp = set ? set->children : NULL; comp != NULL; comp = comp->next) {
		if (!ex_dav_xml_is(comp, EX_CALDAV_NS, "comp"))
			continue;
		xmlChar *name = xmlGetProp(comp, BAD_CAST "name");
		unsigned bit = name ? ex_ical_component_from_name((const char *)name) : 0;
		if (bit == 0) {
			calendar_reply_error(&context->reply, 403, EX_CALDAV_NS, "supported-calendar-component",
					     "calendars take VEVENT, VTODO and VJOURNAL components, not %.64s",
					     name ? (const char *)name : "(no name)");
			xmlFree(name);
			return false;
		}
		components |= bit;
		xmlFree(name);
	}
	if (set != NULL && components == 0) {
		calendar_reply_error(&context->reply, 403, EX_CALDAV_NS, "supported-calendar-component",
				     "supported-calendar-component-set must name at least one component");
		return false;
	}
	if (components != 0)
		state->components = components;
	return true;
}

/* Reads a MKCALENDAR or extended MKCOL body; sets an error reply and returns false when it cannot be served. */
static bool read_mkcol_body(calendar_context *context, mkcol_state *state, xmlChar **texts)
{
	const xmlNode *root = xmlDocGetRootElement(context->document);
	bool mkcalendar = strcmp(ex_http_method(context->request), "MKCALENDAR") == 0;
	if (mkcalendar ? !ex_dav_xml_is(root, EX_CALDAV_NS, "mkcalendar") : !ex_dav_xml_is(root, EX_DAV_NS, "mkcol")) {
		calendar_reply_error(&context->reply, 415, NULL, NULL,
				     mkcalendar ? "the MKCALENDAR body must be a CALDAV:mkcalendar element (RFC 4791)"
						: "the MKCOL body must be a DAV:mkcol element (RFC 5689)");
		return false;
	}
	state->set_prop = ex_dav_xml_child(ex_dav_xml_child(root, EX_DAV_NS, "set"), EX_DAV_NS, "prop");
	const xmlNode *type = ex_dav_xml_child(state->set_prop, EX_DAV_NS, "resourcetype");
	if (!mkcalendar && type != NULL && ex_dav_xml_child(type, EX_CALDAV_NS, "calendar") == NULL) {
		calendar_reply_error(&context->reply, 403, EX_DAV_NS, "valid-resourcetype",
				     "only calendars can be created here; the resourcetype must contain CALDAV:calendar");
		return false;
	}
	if (!read_components(context, state, ex_dav_xml_child(state->set_prop, EX_CALDAV_NS, "supported-calendar-component-set")))
		return false;
	static const struct {
		const char *ns;
		const char *name;
	} text_properties[] = {
		{ EX_DAV_NS, "displayname" },
		{ EX_CALDAV_NS, "calendar-description" },
		{ EX_CALDAV_NS, "calendar-timezone" },
		{ CALENDAR_APPLE_NS, "calendar-color" },
	};
	for (size_t i = 0; i < 4; i++) {
		const xmlNode *element = ex_dav_xml_child(state->set_prop, text_properties[i].ns, text_properties[i].name);
		texts[i] = element ? xmlNodeGetContent(element) : NULL;
	}
	if (texts[0] != NULL)
		state->displayname = (const char *)texts[0];
	if (texts[1] != NULL)
		state->description = (const char *)texts[1];
	if (texts[2] != NULL)
		state->timezone = (const char *)texts[2];
	if (texts[3] != NULL)
		state->color = (const char *)texts[3];
	return true;
}

void calendar_handle_mkcol(calendar_context *context)
{
	mkcol_state state = { .context = context, .displayname = context->target.calendar, .description = "",
			      .timezone = "", .color = "", .components = EX_ICAL_COMPONENT_ALL };
	xmlChar *texts[4] = { NULL, NULL, NULL, NULL };

	if (context->target.kind != TARGET_CALENDAR) {
		calendar_reply_error(&context->reply, context->target.kind == TARGET_OBJECT ? 403 : 405,
				     context->target.kind == TARGET_OBJECT ? EX_CALDAV_NS : NULL,
				     context->target.kind == TARGET_OBJECT ? "calendar-collection-location-ok" : NULL,
				     "calendars are created directly in the calendar home");
		return;
	}
	/* NOTE: a plain MKCOL also creates a calendar, because the home contains nothing else. */
	if (context->document == NULL || read_mkcol_body(context, &state, texts)) {
		calendar_run(context, EX_DB_READ_COMMITTED, mkcol_work, &state);
		snprintf(context->reply.dav.changed_collection, sizeof(context->reply.dav.changed_collection), "%s", context->target.calendar);
	}
	for (size_t i = 0; i < 4; i++)
		xmlFree(texts[i]);
}
