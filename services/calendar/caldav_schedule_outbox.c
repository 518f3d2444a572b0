/*
 * POST to the schedule outbox (RFC 6638 section 5). A free-busy request
 * is a VFREEBUSY with METHOD:REQUEST whose ORGANIZER is the user. The
 * response is a CALDAV:schedule-response that contains, for each
 * ATTENDEE, a request-status and a VFREEBUSY REPLY. Users of the tenant get
 * 2.0 and their busy time, and any other address gets 3.7. The reply lists busy
 * periods only, never what the events are, so private events show as
 * busy time and nothing else. Other iTIP messages are not taken here,
 * because the server schedules events itself (caldav_schedule.c).
 */
#include "caldav_schedule.h"

#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cal_busy.h"
#include "calendar_addresses.h"
#include "calendar_itip.h"
#include "expresso/log.h"
#include "ical_object.h"

enum {
	MAX_BUSY_PERIODS = 10000,  /* periods listed per recipient; later ones are left out */
};

/* One free-busy request, read from the POST body. */
typedef struct {
	calendar_context *context;
	icalcomponent *calendar;   /* the parsed body */
	icalcomponent *request;    /* its VFREEBUSY */
	int64_t start;
	int64_t end;
	char organizer[EX_ITIP_MAX_ADDRESS];
	const char *uid;           /* UID of the request, NULL when it has none */
	const char **recipients;   /* the ATTENDEE values as sent, owned by CALENDAR */
	size_t recipient_count;
	xmlBufferPtr output;       /* the schedule-response being written */
} freebusy_request;

/* Returns the VFREEBUSY REPLY for the recipient ADDRESS (malloc'd), or NULL without memory. */
static char *build_reply(const freebusy_request *request, const char *address, const ex_cal_busy_list *list)
{
	char *text = NULL;
	size_t length = 0;
	FILE *out = open_memstream(&text, &length);
	if (out == NULL)
		return NULL;
	char start[20];
	char end[20];
	char stamp[20];
	ex_ical_format_utc(request->start, start, sizeof(start));
	ex_ical_format_utc(request->end, end, sizeof(end));
	ex_ical_format_utc((int64_t)time(NULL), stamp, sizeof(stamp));
	fprintf(out, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Expresso//CalDAV//EN\r\nMETHOD:REPLY\r\n"
		     "BEGIN:VFREEBUSY\r\n");
	/* The UID was checked by libical's parser, which accepts no line breaks in a value. */
	if (request->uid != NULL)
		fprintf(out, "UID:%s\r\n", request->uid);
	fprintf(out, "DTSTAMP:%s\r\nDTSTART:%s\r\nDTEND:%s\r\nORGANIZER:mailto:%s\r\nATTENDEE:mailto:%s\r\n", stamp, start,
		end, request->organizer, address);
	ex_cal_busy_write(out, list);
	fprintf(out, "END:VFREEBUSY\r\nEND:VCALENDAR\r\n");
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Writes one CALDAV:response of the schedule-response: RECIPIENT as sent, its STATUS and, when not NULL, DATA. */
static int write_response(xmlTextWriterPtr writer, const char *recipient, const char *status, const char *data)
{
	int failed = xmlTextWriterStartElement(writer, BAD_CAST "C:response") < 0;
	failed |= xmlTextWriterStartElement(writer, BAD_CAST "C:recipient") < 0;
	failed |= xmlTextWriterWriteElement(writer, BAD_CAST "D:href", BAD_CAST recipient) < 0;
	failed |= xmlTextWriterEndElement(writer) < 0;
	failed |= xmlTextWriterWriteElement(writer, BAD_CAST "C:request-status", BAD_CAST status) < 0;
	if (data != NULL)
		failed |= xmlTextWriterWriteElement(writer, BAD_CAST "C:calendar-data", BAD_CAST data) < 0;
	failed |= xmlTextWriterEndElement(writer) < 0;
	return failed ? -1 : 0;
}

/* Writes the response for one recipient: 3.7 for an address that is not an enabled user of the tenant, else 2.0 and the busy periods. */
static int answer_recipient(PGconn *connection, freebusy_request *request, xmlTextWriterPtr writer,
			    const char *recipient, ex_db_error *error)
{
	char address[EX_ITIP_MAX_ADDRESS];
	if (ex_itip_address(recipient, address, sizeof(address)) != 0)
		return write_response(writer, recipient, "3.7;Invalid calendar user", NULL);
	char user_id[EX_DAV_UUID_TEXT];
	int found = calendar_user_for_address(connection, address, true, user_id, sizeof(user_id), error);
	if (found < 0)
		return -1;
	if (found == 0)
		return write_response(writer, recipient, "3.7;Invalid calendar user", NULL);
	ex_cal_busy_list list = { .max = MAX_BUSY_PERIODS, .range_start = request->start, .range_end = request->end };
	int status = ex_cal_busy_collect(connection, user_id, &list, error);
	char *reply = status == 0 ? build_reply(request, address, &list) : NULL;
	ex_cal_busy_free(&list);
	if (reply == NULL)
		return -1;
	status = write_response(writer, recipient, "2.0;Success", reply);
	free(reply);
	return status;
}

static int freebusy_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	freebusy_request *request = opaque;
	xmlBufferEmpty(request->output);
	xmlTextWriterPtr writer = xmlNewTextWriterMemory(request->output, 0);
	if (writer == NULL)
		return -1;
	int failed = xmlTextWriterStartDocument(writer, "1.0", "utf-8", NULL) < 0;
	failed |= xmlTextWriterStartElement(writer, BAD_CAST "C:schedule-response") < 0;
	failed |= xmlTextWriterWriteAttribute(writer, BAD_CAST "xmlns:D", BAD_CAST EX_DAV_NS) < 0;
	failed |= xmlTextWriterWriteAttribute(writer, BAD_CAST "xmlns:C", BAD_CAST EX_CALDAV_NS) < 0;
	for (size_t i = 0; i < request->recipient_count && !failed; i++)
		failed |= answer_recipient(connection, request, writer, request->recipients[i], error) != 0;
	if (!failed)
		failed |= xmlTextWriterEndDocument(writer) < 0;
	xmlFreeTextWriter(writer);
	if (failed && error->message[0] == '\0')
		snprintf(error->message, sizeof(error->message), "writing the schedule-response failed");
	return failed ? -1 : 0;
}

/* Reads the VFREEBUSY of REQUEST->calendar. Returns true, or false with a 403 reply set. */
static bool read_request(freebusy_request *request)
{
	calendar_context *context = request->context;
	calendar_reply *reply = &context->reply;
	icalcomponent *calendar = request->calendar;

	if (icalcomponent_get_method(calendar) != ICAL_METHOD_REQUEST ||
	    (request->request = icalcomponent_get_first_component(calendar, ICAL_VFREEBUSY_COMPONENT)) == NULL) {
		calendar_reply_error(reply, 403, EX_CALDAV_NS, "valid-scheduling-message",
				     "the schedule outbox takes free-busy requests only (METHOD:REQUEST with a VFREEBUSY); "
				     "events are scheduled by storing them in a calendar");
		return false;
	}
	struct icaltimetype start = icalcomponent_get_dtstart(request->request);
	struct icaltimetype end = icalcomponent_get_dtend(request->request);
	if (icaltime_is_null_time(start) || icaltime_is_null_time(end)) {
		calendar_reply_error(reply, 403, EX_CALDAV_NS, "valid-scheduling-message",
				     "the VFREEBUSY needs DTSTART and DTEND");
		return false;
	}
	request->start = ex_ical_time_to_utc(start, start.zone, NULL);
	request->end = ex_ical_time_to_utc(end, end.zone, NULL);
	if (request->end <= request->start) {
		calendar_reply_error(reply, 403, EX_CALDAV_NS, "valid-scheduling-message",
				     "the VFREEBUSY DTEND must be after its DTSTART");
		return false;
	}

	icalproperty *organizer = icalcomponent_get_first_property(request->request, ICAL_ORGANIZER_PROPERTY);
	if (organizer == NULL ||
	    ex_itip_address(icalproperty_get_organizer(organizer), request->organizer, sizeof(request->organizer)) != 0 ||
	    !calendar_schedule_is_own_address(context, request->organizer)) {
		calendar_reply_error(reply, 403, EX_CALDAV_NS, "organizer-allowed",
				     "the ORGANIZER of a free-busy request must be your address, mailto:%s, or one of your aliases",
				     context->user_email);
		return false;
	}
	request->uid = icalcomponent_get_uid(request->request);
	return true;
}

/* Collects the ATTENDEE values of the request. Returns true, or false with a 403 reply set. */
static bool read_recipients(freebusy_request *request, size_t max)
{
	calendar_reply *reply = &request->context->reply;
	size_t count = 0;
	for (icalproperty *p = icalcomponent_get_first_property(request->request, ICAL_ATTENDEE_PROPERTY); p != NULL;
	     p = icalcomponent_get_next_property(request->request, ICAL_ATTENDEE_PROPERTY))
		count++;
	if (count == 0) {
		calendar_reply_error(reply, 403, EX_CALDAV_NS, "recipient-specified",
				     "the free-busy request names no ATTENDEE");
		return false;
	}
	if (count > max) {
		calendar_reply_error(reply, 403, EX_CALDAV_NS, "valid-scheduling-message",
				     "the free-busy request names %zu attendees; at most %zu are answered "
				     "(EXPRESSO_CALENDAR_MAX_FREEBUSY_USERS)", count, max);
		return false;
	}
	request->recipients = calloc(count, sizeof(*request->recipients));
	if (request->recipients == NULL)
		return false;
	for (icalproperty *p = icalcomponent_get_first_property(request->request, ICAL_ATTENDEE_PROPERTY); p != NULL;
	     p = icalcomponent_get_next_property(request->request, ICAL_ATTENDEE_PROPERTY)) {
		const char *value = icalproperty_get_attendee(p);
		request->recipients[request->recipient_count++] = value != NULL ? value : "";
	}
	return true;
}

static bool body_is_calendar(const calendar_context *context)
{
	const char *type = ex_http_header(context->request, "Content-Type");
	return type != NULL && strncasecmp(type, "text/calendar", 13) == 0;
}

void calendar_schedule_handle_post(calendar_context *context)
{
	freebusy_request request = { .context = context };
	char *body = NULL;

	if (context->target.kind != TARGET_SCHEDULE_OUTBOX) {
		calendar_reply_error(&context->reply, 405, NULL, NULL, "POST is served only by the schedule outbox");
		return;
	}
	if (!body_is_calendar(context)) {
		calendar_reply_error(&context->reply, 415, NULL, NULL,
				     "a POST to the schedule outbox takes text/calendar, not %.100s",
				     ex_http_header(context->request, "Content-Type") ? ex_http_header(context->request, "Content-Type")
											: "an untyped body");
		return;
	}
	calendar_schedule_load_address(context);
	body = malloc(context->body_length + 1);
	if (body != NULL) {
		memcpy(body, context->body, context->body_length);
		body[context->body_length] = '\0';
		request.calendar = ex_ical_parse_stored(body);
	}
	if (request.calendar == NULL) {
		calendar_reply_error(&context->reply, 403, EX_CALDAV_NS, "valid-calendar-data",
				     "the body is not one iCalendar VCALENDAR object");
	} else if (context->user_email[0] == '\0') {
		calendar_reply_error(&context->reply, 403, EX_CALDAV_NS, "organizer-allowed",
				     "your account has no email address, so it cannot organize a free-busy request");
	} else if (read_request(&request) &&
		   read_recipients(&request, context->service->max_freebusy_users)) {
		request.output = xmlBufferCreate();
		if (request.output != NULL)
			calendar_run(context, EX_DB_REPEATABLE_READ, freebusy_work, &request);
		if (request.output != NULL && context->reply.dav.status == 0) {
			context->reply.dav.status = 200;
			context->reply.dav.length = (size_t)xmlBufferLength(request.output);
			context->reply.dav.body = malloc(context->reply.dav.length + 1);
			if (context->reply.dav.body != NULL)
				memcpy(context->reply.dav.body, xmlBufferContent(request.output), context->reply.dav.length + 1);
			context->reply.dav.content_type = "application/xml; charset=utf-8";
		}
	}
	if (context->reply.dav.status == 0 || (context->reply.dav.status == 200 && context->reply.dav.body == NULL))
		calendar_reply_error(&context->reply, 500, NULL, NULL, "the free-busy request could not be answered");
	xmlBufferFree(request.output);
	free((void *)request.recipients);
	if (request.calendar != NULL)
		icalcomponent_free(request.calendar);
	free(body);
}
