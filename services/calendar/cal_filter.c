/*
 * calendar-query filters: reading the CALDAV:filter element into a
 * bounded table, and evaluating it against a parsed VCALENDAR.
 */
#include "cal_filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/dav_xml.h"
#include "ical_object.h"

enum { MAX_COMP_DEPTH = 3 }; /* VCALENDAR, a component, a VALARM */

int ex_cal_read_time_range(const xmlNode *element, int64_t *start, int64_t *end, char *err, size_t errlen)
{
	xmlChar *start_text = xmlGetProp(element, BAD_CAST "start");
	xmlChar *end_text = xmlGetProp(element, BAD_CAST "end");
	int status = 0;

	*start = EX_ICAL_TIME_MIN;
	*end = EX_ICAL_TIME_MAX;
	if (start_text == NULL && end_text == NULL) {
		snprintf(err, errlen, "a time-range needs a start or an end attribute");
		status = -1;
	} else if (start_text != NULL && ex_ical_parse_utc((const char *)start_text, start) != 0) {
		snprintf(err, errlen, "the time-range start must be a UTC date-time such as 20260101T000000Z");
		status = -1;
	} else if (end_text != NULL && ex_ical_parse_utc((const char *)end_text, end) != 0) {
		snprintf(err, errlen, "the time-range end must be a UTC date-time such as 20260101T000000Z");
		status = -1;
	} else if (*end <= *start) {
		snprintf(err, errlen, "the time-range end must be after its start");
		status = -1;
	}
	xmlFree(start_text);
	xmlFree(end_text);
	return status;
}

/* Copies the name attribute of ELEMENT, upper-cased, into OUT. */
static int read_name(const xmlNode *element, char *out, char *err, size_t errlen)
{
	xmlChar *name = xmlGetProp(element, BAD_CAST "name");
	size_t length = name ? strlen((const char *)name) : 0;
	if (length == 0 || length > EX_CAL_FILTER_MAX_NAME) {
		xmlFree(name);
		snprintf(err, errlen, "the %s element needs a name attribute of 1 to %d bytes", (const char *)element->name,
			 EX_CAL_FILTER_MAX_NAME);
		return -1;
	}
	for (size_t i = 0; i <= length; i++) {
		char c = (char)name[i];
		out[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
	}
	xmlFree(name);
	return 0;
}

static ex_cal_filter_status read_text_match(const xmlNode *element, ex_card_text_match *match, char *err, size_t errlen)
{
	xmlChar *collation = xmlGetProp(element, BAD_CAST "collation");
	xmlChar *negate = xmlGetProp(element, BAD_CAST "negate-condition");
	xmlChar *match_type = xmlGetProp(element, BAD_CAST "match-type");
	xmlChar *text = xmlNodeGetContent(element);
	ex_cal_filter_status status = EX_CAL_FILTER_OK;

	memset(match, 0, sizeof(*match));
	match->collation = EX_COLLATION_ASCII_CASEMAP;
	match->match_type = EX_MATCH_CONTAINS;
	match->negate = negate != NULL && strcmp((const char *)negate, "yes") == 0;
	if (collation != NULL) {
		if (strcmp((const char *)collation, "i;ascii-casemap") == 0)
			match->collation = EX_COLLATION_ASCII_CASEMAP;
		else if (strcmp((const char *)collation, "i;octet") == 0)
			match->collation = EX_COLLATION_OCTET;
		else if (strcmp((const char *)collation, "i;unicode-casemap") == 0)
			match->collation = EX_COLLATION_UNICODE_CASEMAP;
		else {
			snprintf(err, errlen, "the collation %.64s is not supported; use i;ascii-casemap or i;octet",
				 (const char *)collation);
			status = EX_CAL_FILTER_UNSUPPORTED_COLLATION;
		}
	}
	if (status == EX_CAL_FILTER_OK && match_type != NULL) {
		static const struct {
			const char *name;
			ex_match_type type;
		} types[] = { { "equals", EX_MATCH_EQUALS }, { "contains", EX_MATCH_CONTAINS },
			      { "starts-with", EX_MATCH_STARTS_WITH }, { "ends-with", EX_MATCH_ENDS_WITH } };
		status = EX_CAL_FILTER_INVALID;
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			if (strcmp((const char *)match_type, types[i].name) == 0) {
				match->match_type = types[i].type;
				status = EX_CAL_FILTER_OK;
			}
		}
		if (status != EX_CAL_FILTER_OK)
			snprintf(err, errlen, "the match-type %.64s is not one of equals, contains, starts-with, ends-with",
				 (const char *)match_type);
	}
	if (status == EX_CAL_FILTER_OK && text != NULL && strlen((const char *)text) >= sizeof(match->text)) {
		snprintf(err, errlen, "a text-match is limited to %zu bytes", sizeof(match->text) - 1);
		status = EX_CAL_FILTER_INVALID;
	}
	if (status == EX_CAL_FILTER_OK)
		snprintf(match->text, sizeof(match->text), "%s", text ? (const char *)text : "");
	xmlFree(collation);
	xmlFree(negate);
	xmlFree(match_type);
	xmlFree(text);
	return status;
}

static ex_cal_filter_status read_param_filter(const xmlNode *element, ex_cal_param_filter *filter, char *err,
					      size_t errlen)
{
	if (read_name(element, filter->name, err, errlen) != 0)
		return EX_CAL_FILTER_INVALID;
	for (const xmlNode *child = element->children; child != NULL; child = child->next) {
		if (ex_dav_xml_is(child, EX_CALDAV_NS, "is-not-defined")) {
			filter->is_not_defined = true;
		} else if (ex_dav_xml_is(child, EX_CALDAV_NS, "text-match")) {
			filter->has_text_match = true;
			ex_cal_filter_status status = read_text_match(child, &filter->text_match, err, errlen);
			if (status != EX_CAL_FILTER_OK)
				return status;
		}
	}
	return EX_CAL_FILTER_OK;
}

static ex_cal_filter_status read_prop_filter(const xmlNode *element, ex_cal_prop_filter *filter, char *err,
					     size_t errlen)
{
	if (read_name(element, filter->name, err, errlen) != 0)
		return EX_CAL_FILTER_INVALID;
	for (const xmlNode *child = element->children; child != NULL; child = child->next) {
		ex_cal_filter_status status = EX_CAL_FILTER_OK;
		if (ex_dav_xml_is(child, EX_CALDAV_NS, "is-not-defined")) {
			filter->is_not_defined = true;
		} else if (ex_dav_xml_is(child, EX_CALDAV_NS, "text-match")) {
			filter->has_text_match = true;
			status = read_text_match(child, &filter->text_match, err, errlen);
		} else if (ex_dav_xml_is(child, EX_CALDAV_NS, "time-range")) {
			snprintf(err, errlen, "a time-range inside a prop-filter is not supported; put it in the comp-filter");
			status = EX_CAL_FILTER_UNSUPPORTED;
		} else if (ex_dav_xml_is(child, EX_CALDAV_NS, "param-filter")) {
			if (filter->param_count == EX_CAL_FILTER_MAX_PARAMS) {
				snprintf(err, errlen, "a prop-filter is limited to %d param-filters", EX_CAL_FILTER_MAX_PARAMS);
				return EX_CAL_FILTER_INVALID;
			}
			status = read_param_filter(child, &filter->params[filter->param_count++], err, errlen);
		}
		if (status != EX_CAL_FILTER_OK)
			return status;
	}
	return EX_CAL_FILTER_OK;
}

static ex_cal_filter_status read_comp_filter(const xmlNode *element, ex_cal_filter *out, int parent, int depth,
					     char *err, size_t errlen)
{
	if (depth >= MAX_COMP_DEPTH) {
		snprintf(err, errlen, "comp-filters nest at most %d deep (VCALENDAR, a component, VALARM)", MAX_COMP_DEPTH);
		return EX_CAL_FILTER_INVALID;
	}
	if (out->count == EX_CAL_FILTER_MAX_COMPS) {
		snprintf(err, errlen, "a filter is limited to %d comp-filters", EX_CAL_FILTER_MAX_COMPS);
		return EX_CAL_FILTER_INVALID;
	}
	int index = (int)out->count++;
	ex_cal_comp_filter *filter = &out->comps[index];
	filter->parent = parent;
	filter->start = EX_ICAL_TIME_MIN;
	filter->end = EX_ICAL_TIME_MAX;
	if (read_name(element, filter->name, err, errlen) != 0)
		return EX_CAL_FILTER_INVALID;
	if ((depth == 0) != (strcmp(filter->name, "VCALENDAR") == 0)) {
		snprintf(err, errlen, "the outer comp-filter must name VCALENDAR, and only it");
		return EX_CAL_FILTER_INVALID;
	}
	for (const xmlNode *child = element->children; child != NULL; child = child->next) {
		ex_cal_filter_status status = EX_CAL_FILTER_OK;
		if (ex_dav_xml_is(child, EX_CALDAV_NS, "is-not-defined")) {
			filter->is_not_defined = true;
		} else if (ex_dav_xml_is(child, EX_CALDAV_NS, "time-range")) {
			if (ex_ical_component_from_name(filter->name) == 0) {
				snprintf(err, errlen, "a time-range is supported on VEVENT, VTODO and VJOURNAL, not on %s",
					 filter->name);
				return EX_CAL_FILTER_UNSUPPORTED;
			}
			filter->has_time_range = true;
			if (ex_cal_read_time_range(child, &filter->start, &filter->end, err, errlen) != 0)
				return EX_CAL_FILTER_INVALID;
		} else if (ex_dav_xml_is(child, EX_CALDAV_NS, "prop-filter")) {
			if (filter->prop_count == EX_CAL_FILTER_MAX_PROPS) {
				snprintf(err, errlen, "a comp-filter is limited to %d prop-filters", EX_CAL_FILTER_MAX_PROPS);
				return EX_CAL_FILTER_INVALID;
			}
			status = read_prop_filter(child, &filter->props[filter->prop_count++], err, errlen);
		} else if (ex_dav_xml_is(child, EX_CALDAV_NS, "comp-filter")) {
			status = read_comp_filter(child, out, index, depth + 1, err, errlen);
		}
		if (status != EX_CAL_FILTER_OK)
			return status;
	}
	return EX_CAL_FILTER_OK;
}

ex_cal_filter_status ex_cal_filter_parse(const xmlNode *filter, ex_cal_filter *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (filter == NULL)
		return EX_CAL_FILTER_OK;
	const xmlNode *root = ex_dav_xml_child(filter, EX_CALDAV_NS, "comp-filter");
	if (root == NULL) {
		snprintf(err, errlen, "the filter must contain one comp-filter naming VCALENDAR");
		return EX_CAL_FILTER_INVALID;
	}
	return read_comp_filter(root, out, -1, 0, err, errlen);
}

static bool text_match_holds(const ex_card_text_match *match, const char *value)
{
	bool found = ex_card_text_matches(match, value, strlen(value));
	return match->negate ? !found : found;
}

/* Returns the value of PROPERTY as text-match compares it: TEXT values unescaped, others as written. */
static const char *property_text(icalproperty *property)
{
	icalvalue *value = icalproperty_get_value(property);
	if (value != NULL && icalvalue_isa(value) == ICAL_TEXT_VALUE)
		return icalvalue_get_text(value);
	const char *text = icalproperty_get_value_as_string(property);
	return text != NULL ? text : "";
}

static bool param_filter_holds(const ex_cal_param_filter *filter, icalproperty *property)
{
	const char *value = icalproperty_get_parameter_as_string(property, filter->name);
	if (filter->is_not_defined)
		return value == NULL;
	if (value == NULL)
		return false;
	return !filter->has_text_match || text_match_holds(&filter->text_match, value);
}

static bool property_holds(const ex_cal_prop_filter *filter, icalproperty *property)
{
	if (filter->has_text_match && !text_match_holds(&filter->text_match, property_text(property)))
		return false;
	for (size_t i = 0; i < filter->param_count; i++) {
		if (!param_filter_holds(&filter->params[i], property))
			return false;
	}
	return true;
}

static bool prop_filter_holds(const ex_cal_prop_filter *filter, icalcomponent *component)
{
	bool defined = false;
	for (icalproperty *property = icalcomponent_get_first_property(component, ICAL_ANY_PROPERTY); property != NULL;
	     property = icalcomponent_get_next_property(component, ICAL_ANY_PROPERTY)) {
		if (strcasecmp(icalproperty_get_property_name(property), filter->name) != 0)
			continue;
		defined = true;
		if (!filter->is_not_defined && property_holds(filter, property))
			return true;
	}
	return filter->is_not_defined && !defined;
}

static bool comp_filter_holds(const ex_cal_filter *filter, int index, icalcomponent *calendar, icalcomponent *component);

/* Returns true when COMPONENT has a subcomponent matching comp-filter INDEX (or none, for is-not-defined). */
static bool child_filter_holds(const ex_cal_filter *filter, int index, icalcomponent *calendar, icalcomponent *component)
{
	const ex_cal_comp_filter *child = &filter->comps[index];
	icalcomponent_kind kind = icalcomponent_string_to_kind(child->name);
	bool defined = false;

	/* The list is copied first because nested filters iterate the same component. */
	icalcomponent *matches[EX_ICAL_MAX_COMPONENTS];
	int count = 0;
	for (icalcomponent *sub = icalcomponent_get_first_component(component, ICAL_ANY_COMPONENT);
	     sub != NULL && count < EX_ICAL_MAX_COMPONENTS; sub = icalcomponent_get_next_component(component, ICAL_ANY_COMPONENT)) {
		if (kind != ICAL_NO_COMPONENT && icalcomponent_isa(sub) == kind)
			matches[count++] = sub;
	}
	defined = count > 0;
	if (child->is_not_defined)
		return !defined;
	if (child->has_time_range &&
	    !ex_ical_overlaps_in(calendar, ex_ical_component_from_name(child->name), child->start, child->end,
				 filter->floating_zone))
		return false;
	for (int i = 0; i < count; i++) {
		if (comp_filter_holds(filter, index, calendar, matches[i]))
			return true;
	}
	return false;
}

static bool comp_filter_holds(const ex_cal_filter *filter, int index, icalcomponent *calendar, icalcomponent *component)
{
	const ex_cal_comp_filter *comp = &filter->comps[index];
	for (size_t i = 0; i < comp->prop_count; i++) {
		if (!prop_filter_holds(&comp->props[i], component))
			return false;
	}
	for (size_t i = 0; i < filter->count; i++) {
		if (filter->comps[i].parent == index && !child_filter_holds(filter, (int)i, calendar, component))
			return false;
	}
	return true;
}

bool ex_cal_filter_matches(const ex_cal_filter *filter, icalcomponent *calendar)
{
	if (filter->count == 0)
		return true;
	if (filter->comps[0].is_not_defined)
		return false;
	return comp_filter_holds(filter, 0, calendar, calendar);
}

bool ex_cal_filter_time_range(const ex_cal_filter *filter, int64_t *start, int64_t *end)
{
	for (size_t i = 0; i < filter->count; i++) {
		const ex_cal_comp_filter *comp = &filter->comps[i];
		if (comp->parent == 0 && comp->has_time_range && !comp->is_not_defined) {
			*start = comp->start;
			*end = comp->end;
			return true;
		}
	}
	return false;
}
