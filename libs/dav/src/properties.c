/* Dead properties, the allprop and propname lists, privileges, and the checks and results of PROPPATCH. */
#include "expresso/dav_properties.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_store.h"
#include "expresso/dav_xml.h"

PGresult *ex_dav_load_dead_properties(PGconn *connection, const char *user_id, ex_db_error *error)
{
	char sql[160];

	snprintf(sql, sizeof(sql),
		 "SELECT path, namespace, name, value FROM dav_properties WHERE user_id = $1 "
		 "ORDER BY path, namespace, name LIMIT %d",
		 EX_DAV_MAX_DEAD_PROPERTIES_LOADED);
	return ex_dav_sql(connection, error, sql, 1, user_id);
}

int ex_dav_find_dead_property(const PGresult *rows, const char *path, const char *ns, const char *name)
{
	if (rows == NULL || path == NULL)
		return -1;
	for (int row = 0; row < PQntuples(rows); row++) {
		if (strcmp(PQgetvalue(rows, row, 0), path) == 0 && strcmp(PQgetvalue(rows, row, 1), ns) == 0 &&
		    strcmp(PQgetvalue(rows, row, 2), name) == 0)
			return row;
	}
	return -1;
}

static bool is_live_name(const ex_dav_property_name *live, const char *ns, const char *name)
{
	for (size_t i = 0; live[i].name != NULL; i++) {
		if (strcmp(live[i].ns, ns) == 0 && strcmp(live[i].name, name) == 0)
			return true;
	}
	return false;
}

void ex_dav_write_resource_properties(ex_dav_multistatus *ms, const ex_dav_propfind *request,
				      const ex_dav_property_name *live, const PGresult *rows, const char *path,
				      ex_dav_property_resolver resolver, void *resource)
{
	ex_dav_property_name names[2 * EX_DAV_MAX_PROPERTIES + 1];
	size_t live_count = 0;
	size_t count = 0;

	if (request->kind == EX_DAV_PROPFIND_PROP) {
		ex_dav_ms_write_properties(ms, request, live, resolver, resource);
		return;
	}
	while (live_count < EX_DAV_MAX_PROPERTIES && live[live_count].name != NULL)
		names[count++] = live[live_count++];

	/* Dead properties of this resource follow the live ones. */
	for (int row = 0; rows != NULL && path != NULL && row < PQntuples(rows); row++) {
		if (count == live_count + EX_DAV_MAX_PROPERTIES)
			break;
		if (strcmp(PQgetvalue(rows, row, 0), path) != 0 ||
		    is_live_name(live, PQgetvalue(rows, row, 1), PQgetvalue(rows, row, 2)))
			continue;
		names[count].ns = PQgetvalue(rows, row, 1);
		names[count].name = PQgetvalue(rows, row, 2);
		count++;
	}
	names[count] = (ex_dav_property_name){ NULL, NULL };
	ex_dav_ms_write_properties(ms, request, names, resolver, resource);
}

void ex_dav_write_privileges(ex_dav_multistatus *ms, bool owner)
{
	static const char *const owner_privileges[] = { "read", "write", "write-properties", "write-content",
							"bind", "unbind", "read-current-user-privilege-set" };
	size_t count = owner ? sizeof(owner_privileges) / sizeof(owner_privileges[0]) : 1;

	ex_dav_ms_begin_property(ms, EX_DAV_NS, "current-user-privilege-set");
	for (size_t i = 0; i < count; i++) {
		ex_dav_ms_begin_property(ms, EX_DAV_NS, "privilege");
		ex_dav_ms_empty_element(ms, EX_DAV_NS, owner_privileges[i]);
		ex_dav_ms_end_property(ms);
	}
	if (count == 1) {
		ex_dav_ms_begin_property(ms, EX_DAV_NS, "privilege");
		ex_dav_ms_empty_element(ms, EX_DAV_NS, "read-current-user-privilege-set");
		ex_dav_ms_end_property(ms);
	}
	ex_dav_ms_end_property(ms);
}

bool ex_dav_property_is_listed(const ex_dav_property_name *names, size_t count, const char *ns, const char *name)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp(names[i].ns, ns) == 0 && strcmp(names[i].name, name) == 0)
			return true;
	}
	return false;
}

bool ex_dav_proppatch_check(const ex_dav_proppatch *patch, const ex_dav_property_name *protected_names, size_t count,
			    size_t max_value_size, unsigned *statuses)
{
	bool ok = true;

	for (size_t i = 0; i < patch->count; i++) {
		const xmlNode *property = patch->ops[i].property;
		const char *ns = ex_dav_xml_namespace(property);
		statuses[i] = 200;
		if (ex_dav_property_is_listed(protected_names, count, ns, (const char *)property->name)) {
			statuses[i] = 403;
			ok = false;
		} else if (!patch->ops[i].remove) {
			char *value = ex_dav_xml_serialize_element(property);
			if (value == NULL || strlen(value) > max_value_size) {
				statuses[i] = 507;
				ok = false;
			}
			free(value);
		}
	}
	if (!ok) {
		for (size_t i = 0; i < patch->count; i++) {
			if (statuses[i] == 200)
				statuses[i] = 424;
		}
	}
	return ok;
}

ex_dav_multistatus *ex_dav_proppatch_result(const ex_dav_proppatch *patch, const unsigned *statuses, const char *href)
{
	static const unsigned written[] = { 200, 403, 424, 507 };
	ex_dav_multistatus *ms = ex_dav_multistatus_new();

	if (ms == NULL)
		return NULL;
	ex_dav_ms_begin_response(ms, href);
	for (size_t s = 0; s < sizeof(written) / sizeof(written[0]); s++) {
		const xmlNode *names[EX_DAV_MAX_PROPERTIES];
		size_t count = 0;
		for (size_t i = 0; i < patch->count; i++) {
			if (statuses[i] == written[s])
				names[count++] = patch->ops[i].property;
		}
		ex_dav_ms_propstat_names(ms, names, count, written[s]);
	}
	ex_dav_ms_end_response(ms);
	return ms;
}

int ex_dav_store_dead_property(PGconn *connection, const char *tenant_id, const char *user_id, const char *path,
			       const ex_dav_proppatch_op *op, ex_db_error *error)
{
	const char *ns = ex_dav_xml_namespace(op->property);
	const char *name = (const char *)op->property->name;
	PGresult *result;

	if (op->remove) {
		result = ex_dav_sql(connection, error,
				    "DELETE FROM dav_properties WHERE user_id = $1 AND path = $2 AND namespace = $3 AND name = $4",
				    4, user_id, path, ns, name);
	} else {
		char *value = ex_dav_xml_serialize_element(op->property);
		if (value == NULL) {
			snprintf(error->message, sizeof(error->message), "the value of property %s could not be serialized",
				 name);
			return -1;
		}
		result = ex_dav_sql(connection, error,
				    "INSERT INTO dav_properties (tenant_id, user_id, path, namespace, name, value) "
				    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, path, namespace, name) "
				    "DO UPDATE SET value = excluded.value",
				    6, tenant_id, user_id, path, ns, name, value);
		free(value);
	}
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

void ex_dav_write_supported_reports(ex_dav_multistatus *ms, const ex_dav_property_name *reports, size_t count)
{
	ex_dav_ms_begin_property(ms, EX_DAV_NS, "supported-report-set");
	for (size_t i = 0; i < count; i++) {
		ex_dav_ms_begin_property(ms, EX_DAV_NS, "supported-report");
		ex_dav_ms_begin_property(ms, EX_DAV_NS, "report");
		ex_dav_ms_empty_element(ms, reports[i].ns, reports[i].name);
		ex_dav_ms_end_property(ms);
		ex_dav_ms_end_property(ms);
	}
	ex_dav_ms_end_property(ms);
}

bool ex_dav_write_content_property(ex_dav_multistatus *ms, const char *name, const char *etag,
				   const char *content_type, const char *length, const char *last_modified)
{
	const char *value = strcmp(name, "getetag") == 0	    ? etag
			    : strcmp(name, "getcontenttype") == 0   ? content_type
			    : strcmp(name, "getcontentlength") == 0 ? length
			    : strcmp(name, "getlastmodified") == 0  ? last_modified
								    : NULL;

	if (value != NULL && ms)
		ex_dav_ms_text_property(ms, EX_DAV_NS, name, value);
	return value != NULL;
}
