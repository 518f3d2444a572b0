/* Dead properties, the allprop and propname lists, and privileges of the resources PROPFIND and REPORT describe. */
#include "expresso/dav_properties.h"

#include <stdio.h>
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
	while (live[live_count].name != NULL && live_count < EX_DAV_MAX_PROPERTIES)
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
