/*
 * The component and property subset of CALDAV:calendar-data (RFC 4791
 * section 9.6.1): a CALDAV:comp tree that names the components and
 * properties a REPORT returns, and its application to an iCalendar
 * object. Nothing here reads the database.
 */
#ifndef EXPRESSO_ICAL_SUBSET_H
#define EXPRESSO_ICAL_SUBSET_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>

/* One CALDAV:comp element: the component NAME and what of it is returned. */
typedef struct ex_ical_subset {
	char *name;                   /* component name as sent, compared without case */
	bool all_properties;          /* CALDAV:allprop */
	bool all_components;          /* CALDAV:allcomp */
	char **properties;            /* CALDAV:prop names, when not all_properties */
	size_t property_count;
	struct ex_ical_subset *components; /* CALDAV:comp children, when not all_components */
	size_t component_count;
} ex_ical_subset;

/*
 * Reads the CALDAV:comp child of the CALDAV:calendar-data element DATA
 * into *SUBSET. Sets *SUBSET to NULL when DATA has no CALDAV:comp, so the
 * whole object is returned. Returns 0, or -1 with a sentence in ERR when
 * the tree is invalid (the outer comp must name VCALENDAR, each comp and
 * prop needs a name attribute). Its size is bounded by the XML body limits.
 */
int ex_ical_subset_read(const xmlNode *data, ex_ical_subset **subset, char *err, size_t err_size);

/*
 * Returns TEXT, an iCalendar object, with only the components and
 * properties SUBSET names, in memory the caller frees, or NULL when TEXT
 * cannot be parsed or memory runs out.
 */
char *ex_ical_subset_apply(const ex_ical_subset *subset, const char *text);

void ex_ical_subset_free(ex_ical_subset *subset);

#endif
