/*
 * Reading a CALDAV:comp tree from calendar-data and trimming an iCalendar
 * object to it with libical. Components and properties that the tree does
 * not name are removed; CALDAV:allprop and CALDAV:allcomp keep all of them
 * at their level.
 */
#include "ical_subset.h"

#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/dav_xml.h"
#include "ical_object.h"

static void clear(ex_ical_subset *subset)
{
	xmlFree(subset->name);
	for (size_t i = 0; i < subset->property_count; i++)
		xmlFree(subset->properties[i]);
	free(subset->properties);
	for (size_t i = 0; i < subset->component_count; i++)
		clear(&subset->components[i]);
	free(subset->components);
	memset(subset, 0, sizeof(*subset));
}

void ex_ical_subset_free(ex_ical_subset *subset)
{
	if (subset == NULL)
		return;
	clear(subset);
	free(subset);
}

static size_t count_children(const xmlNode *node, const char *name)
{
	size_t count = 0;
	for (const xmlNode *child = node->children; child != NULL; child = child->next) {
		if (ex_dav_xml_is(child, EX_CALDAV_NS, name))
			count++;
	}
	return count;
}

/* Reads the CALDAV:comp element NODE into SUBSET. Returns 0, or -1 with ERR set. */
static int read_comp(const xmlNode *node, ex_ical_subset *subset, char *err, size_t err_size)
{
	subset->name = (char *)xmlGetProp(node, BAD_CAST "name");
	if (subset->name == NULL || subset->name[0] == '\0') {
		snprintf(err, err_size, "each CALDAV:comp of calendar-data needs a name attribute, such as name=\"VEVENT\"");
		return -1;
	}
	subset->all_properties = count_children(node, "allprop") > 0;
	subset->all_components = count_children(node, "allcomp") > 0;
	size_t properties = subset->all_properties ? 0 : count_children(node, "prop");
	size_t components = subset->all_components ? 0 : count_children(node, "comp");
	subset->properties = properties > 0 ? calloc(properties, sizeof(*subset->properties)) : NULL;
	subset->components = components > 0 ? calloc(components, sizeof(*subset->components)) : NULL;
	if ((properties > 0 && subset->properties == NULL) || (components > 0 && subset->components == NULL)) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}

	for (const xmlNode *child = node->children; child != NULL; child = child->next) {
		if (properties > 0 && ex_dav_xml_is(child, EX_CALDAV_NS, "prop")) {
			char *name = (char *)xmlGetProp(child, BAD_CAST "name");
			if (name == NULL || name[0] == '\0') {
				xmlFree(name);
				snprintf(err, err_size, "each CALDAV:prop of calendar-data needs a name attribute, such as name=\"SUMMARY\"");
				return -1;
			}
			/* NOTE: novalue="yes" is not honoured, so such a property is returned with its value. */
			subset->properties[subset->property_count++] = name;
		} else if (components > 0 && ex_dav_xml_is(child, EX_CALDAV_NS, "comp")) {
			if (read_comp(child, &subset->components[subset->component_count++], err, err_size) != 0)
				return -1;
		}
	}
	return 0;
}

int ex_ical_subset_read(const xmlNode *data, ex_ical_subset **subset, char *err, size_t err_size)
{
	const xmlNode *comp = NULL;

	*subset = NULL;
	for (const xmlNode *child = data->children; child != NULL && comp == NULL; child = child->next) {
		if (ex_dav_xml_is(child, EX_CALDAV_NS, "comp"))
			comp = child;
	}
	if (comp == NULL)
		return 0;

	ex_ical_subset *read = calloc(1, sizeof(*read));
	if (read == NULL) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if (read_comp(comp, read, err, err_size) != 0) {
		ex_ical_subset_free(read);
		return -1;
	}
	if (strcasecmp(read->name, "VCALENDAR") != 0) {
		snprintf(err, err_size, "the outer CALDAV:comp of calendar-data must name VCALENDAR, not %.64s", read->name);
		ex_ical_subset_free(read);
		return -1;
	}
	*subset = read;
	return 0;
}

/*
 * NOTE: libical 3.0.16 has no accessor for the name of an X- component, so
 * a CALDAV:comp cannot select one; only CALDAV:allcomp keeps them.
 */
static const char *component_name(icalcomponent *component)
{
	icalcomponent_kind kind = icalcomponent_isa(component);
	return kind == ICAL_X_COMPONENT ? NULL : icalcomponent_kind_to_string(kind);
}

static bool names_property(const ex_ical_subset *subset, icalproperty *property)
{
	const char *name = icalproperty_get_property_name(property);
	for (size_t i = 0; name != NULL && i < subset->property_count; i++) {
		if (strcasecmp(subset->properties[i], name) == 0)
			return true;
	}
	return false;
}

static const ex_ical_subset *find_component(const ex_ical_subset *subset, icalcomponent *component)
{
	const char *name = component_name(component);
	for (size_t i = 0; name != NULL && i < subset->component_count; i++) {
		if (strcasecmp(subset->components[i].name, name) == 0)
			return &subset->components[i];
	}
	return NULL;
}

/* Removes from COMPONENT what SUBSET does not name, then trims the kept subcomponents. Returns 0 or -1. */
static int trim(icalcomponent *component, const ex_ical_subset *subset)
{
	if (!subset->all_properties) {
		/* Collected first, so that removing properties does not disturb the iteration over them. */
		int count = icalcomponent_count_properties(component, ICAL_ANY_PROPERTY);
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers to libical's opaque structs */
		icalproperty **removed = count > 0 ? calloc((size_t)count, sizeof(*removed)) : NULL;
		if (count > 0 && removed == NULL)
			return -1;
		int used = 0;
		for (icalproperty *property = icalcomponent_get_first_property(component, ICAL_ANY_PROPERTY);
		     property != NULL && used < count;
		     property = icalcomponent_get_next_property(component, ICAL_ANY_PROPERTY)) {
			if (!names_property(subset, property))
				removed[used++] = property;
		}
		for (int i = 0; i < used; i++) {
			icalcomponent_remove_property(component, removed[i]);
			icalproperty_free(removed[i]);
		}
		free(removed);
	}
	if (subset->all_components)
		return 0;

	int count = icalcomponent_count_components(component, ICAL_ANY_COMPONENT);
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, as for the properties above */
	icalcomponent **children = count > 0 ? calloc((size_t)count, sizeof(*children)) : NULL;
	if (count > 0 && children == NULL)
		return -1;
	int used = 0;
	for (icalcomponent *child = icalcomponent_get_first_component(component, ICAL_ANY_COMPONENT);
	     child != NULL && used < count; child = icalcomponent_get_next_component(component, ICAL_ANY_COMPONENT))
		children[used++] = child;
	int status = 0;
	for (int i = 0; i < used; i++) {
		const ex_ical_subset *kept = find_component(subset, children[i]);
		if (kept == NULL) {
			icalcomponent_remove_component(component, children[i]);
			icalcomponent_free(children[i]);
		} else if (status == 0) {
			status = trim(children[i], kept);
		}
	}
	free(children);
	return status;
}

char *ex_ical_subset_apply(const ex_ical_subset *subset, const char *text)
{
	icalcomponent *calendar = ex_ical_parse_stored(text);
	if (calendar == NULL)
		return NULL;
	char *result = NULL;
	if (trim(calendar, subset) == 0) {
		char *written = icalcomponent_as_ical_string_r(calendar);
		result = written != NULL ? strdup(written) : NULL;
		icalmemory_free_buffer(written);
	}
	icalcomponent_free(calendar);
	return result;
}
