/*
 * JetStream publish and durable pull consumption with nats.c.
 *
 * Consumers are created explicitly with js_AddConsumer and subscriptions
 * are released with natsSubscription_Destroy, because
 * natsSubscription_Unsubscribe deletes a durable consumer the library
 * created and the next start would lose its position.
 */
#include "expresso/bus.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "expresso/log.h"

struct ex_bus {
	natsConnection *connection;
	jsCtx *jetstream;
};

struct ex_bus_consumer {
	ex_bus *bus;
	natsSubscription *subscription;
	char durable[128];
};

static void nats_error(char *err, size_t errlen, const char *what, natsStatus status, jsErrCode code)
{
	const char *detail = nats_GetLastError(NULL);
	snprintf(err, errlen, "%s: %s%s%s (jetstream error %d)", what, natsStatus_GetText(status),
		 detail ? ": " : "", detail ? detail : "", (int)code);
}

static void on_disconnected(natsConnection *connection, void *context)
{
	(void)connection;
	(void)context;
	ex_log(EX_LOG_WARN, "nats_disconnected", NULL);
}

static void on_reconnected(natsConnection *connection, void *context)
{
	(void)connection;
	(void)context;
	ex_log(EX_LOG_INFO, "nats_reconnected", NULL);
}

ex_bus *ex_bus_connect(const char *url, const char *client_name, char *err, size_t errlen)
{
	natsOptions *options = NULL;
	ex_bus *bus = calloc(1, sizeof(*bus));
	if (bus == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}

	natsStatus status = natsOptions_Create(&options);
	if (status == NATS_OK)
		status = natsOptions_SetURL(options, url);
	if (status == NATS_OK)
		status = natsOptions_SetName(options, client_name);
	if (status == NATS_OK)
		status = natsOptions_SetMaxReconnect(options, -1);
	if (status == NATS_OK)
		status = natsOptions_SetReconnectWait(options, 2000);
	if (status == NATS_OK)
		status = natsOptions_SetReconnectJitter(options, 500, 1000);
	if (status == NATS_OK)
		status = natsOptions_SetTimeout(options, 2000);
	if (status == NATS_OK)
		status = natsOptions_SetRetryOnFailedConnect(options, true, NULL, NULL);
	if (status == NATS_OK)
		status = natsOptions_SetDisconnectedCB(options, on_disconnected, NULL);
	if (status == NATS_OK)
		status = natsOptions_SetReconnectedCB(options, on_reconnected, NULL);
	if (status == NATS_OK) {
		status = natsConnection_Connect(&bus->connection, options);
		/* With retry-on-failed-connect, NATS_NOT_YET_CONNECTED means "connecting in the background". */
		if (status == NATS_NOT_YET_CONNECTED)
			status = NATS_OK;
	}
	if (status == NATS_OK)
		status = natsConnection_JetStream(&bus->jetstream, bus->connection, NULL);
	natsOptions_Destroy(options);

	if (status != NATS_OK) {
		nats_error(err, errlen, "cannot connect to NATS", status, 0);
		ex_bus_free(bus);
		return NULL;
	}
	return bus;
}

void ex_bus_free(ex_bus *bus)
{
	if (bus == NULL)
		return;
	jsCtx_Destroy(bus->jetstream);
	if (bus->connection != NULL) {
		natsConnection_Close(bus->connection);
		natsConnection_Destroy(bus->connection);
	}
	free(bus);
}

int ex_bus_ensure_stream(ex_bus *bus, char *err, size_t errlen)
{
	jsStreamInfo *info = NULL;
	jsErrCode code = 0;

	natsStatus status = js_GetStreamInfo(&info, bus->jetstream, EX_BUS_STREAM, NULL, &code);
	if (status == NATS_OK) {
		jsStreamInfo_Destroy(info);
		return 0;
	}
	if (status != NATS_NOT_FOUND) {
		nats_error(err, errlen, "cannot read the EXPRESSO stream", status, code);
		return -1;
	}

	jsStreamConfig config;
	const char *subjects[] = { EX_BUS_SUBJECTS };
	jsStreamConfig_Init(&config);
	config.Name = EX_BUS_STREAM;
	config.Subjects = subjects;
	config.SubjectsLen = 1;
	config.Storage = js_FileStorage;
	config.MaxAge = (int64_t)7 * 24 * 3600 * 1000000000LL; /* a week of events */
	config.Duplicates = (int64_t)2 * 60 * 1000000000LL;   /* dedup window for retried publishes */

	status = js_AddStream(&info, bus->jetstream, &config, NULL, &code);
	if (status != NATS_OK && code != JSStreamNameExistErr) {
		nats_error(err, errlen, "cannot create the EXPRESSO stream", status, code);
		return -1;
	}
	jsStreamInfo_Destroy(info);
	ex_log(EX_LOG_INFO, "nats_stream_created", "{s:s}", "stream", EX_BUS_STREAM);
	return 0;
}

int ex_bus_ping(ex_bus *bus, char *err, size_t errlen)
{
	if (natsConnection_Status(bus->connection) != NATS_CONN_STATUS_CONNECTED) {
		snprintf(err, errlen, "not connected to NATS");
		return -1;
	}
	jsStreamInfo *info = NULL;
	jsErrCode code = 0;
	natsStatus status = js_GetStreamInfo(&info, bus->jetstream, EX_BUS_STREAM, NULL, &code);
	if (status == NATS_NOT_FOUND)
		return ex_bus_ensure_stream(bus, err, errlen);
	if (status != NATS_OK) {
		nats_error(err, errlen, "JetStream did not answer", status, code);
		return -1;
	}
	jsStreamInfo_Destroy(info);
	return 0;
}

static int is_subject_token(const char *text)
{
	if (text == NULL || text[0] == '\0')
		return 0;
	for (const char *p = text; *p; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '_' || c == '-';
		if (!ok)
			return 0;
	}
	return 1;
}

int ex_bus_subject(char *out, size_t size, const char *tenant_id, const char *domain, const char *event)
{
	if (!is_subject_token(tenant_id) || !is_subject_token(domain) || !is_subject_token(event))
		return -1;
	int written = snprintf(out, size, "expresso.%s.%s.%s", tenant_id, domain, event);
	return written < 0 || (size_t)written >= size ? -1 : 0;
}

static void new_event_id(char *out, size_t size)
{
	unsigned char bytes[16];
	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		memset(bytes, 0, sizeof(bytes));
	bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40); /* UUID version 4 */
	bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80);
	snprintf(out, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
		 bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
}

static void fill_event_envelope(json_t *event, const char *tenant_id, const char *domain, const char *event_name)
{
	if (json_object_get(event, "id") == NULL) {
		char id[40];
		new_event_id(id, sizeof(id));
		json_object_set_new(event, "id", json_string(id));
	}
	if (json_object_get(event, "tenant") == NULL)
		json_object_set_new(event, "tenant", json_string(tenant_id));
	if (json_object_get(event, "type") == NULL) {
		char type[128];
		snprintf(type, sizeof(type), "%s.%s", domain, event_name);
		json_object_set_new(event, "type", json_string(type));
	}
	if (json_object_get(event, "time") == NULL) {
		char time_text[32];
		time_t now = time(NULL);
		struct tm utc;
		gmtime_r(&now, &utc);
		strftime(time_text, sizeof(time_text), "%Y-%m-%dT%H:%M:%SZ", &utc);
		json_object_set_new(event, "time", json_string(time_text));
	}
}

int ex_bus_publish(ex_bus *bus, const char *tenant_id, const char *domain, const char *event_name,
		   json_t *event, char *err, size_t errlen)
{
	char subject[EX_BUS_MAX_SUBJECT];
	if (ex_bus_subject(subject, sizeof(subject), tenant_id, domain, event_name) != 0) {
		snprintf(err, errlen, "invalid event subject parts: tenant, domain and event must be "
			 "tokens of letters, digits, '_' or '-'");
		return -1;
	}
	if (!json_is_object(event)) {
		snprintf(err, errlen, "an event must be a JSON object");
		return -1;
	}

	fill_event_envelope(event, tenant_id, domain, event_name);
	char *data = json_dumps(event, JSON_COMPACT);
	if (data == NULL) {
		snprintf(err, errlen, "event could not be encoded as JSON");
		return -1;
	}
	size_t length = strlen(data);
	if (length > EX_BUS_MAX_EVENT_BYTES) {
		snprintf(err, errlen, "event of %zu bytes exceeds the limit of %d bytes", length, EX_BUS_MAX_EVENT_BYTES);
		free(data);
		return -1;
	}

	jsPubOptions options;
	jsPubAck *ack = NULL;
	jsErrCode code = 0;
	jsPubOptions_Init(&options);
	options.MsgId = json_string_value(json_object_get(event, "id"));
	options.ExpectStream = EX_BUS_STREAM;
	options.MaxWait = 5000;

	natsStatus status = js_Publish(&ack, bus->jetstream, subject, data, (int)length, &options, &code);
	if (status == NATS_NO_RESPONDERS || code == JSStreamNotFoundErr) {
		/* The stream is missing (first start, or deleted): create it and try once more. */
		if (ex_bus_ensure_stream(bus, err, errlen) == 0)
			status = js_Publish(&ack, bus->jetstream, subject, data, (int)length, &options, &code);
	}
	free(data);
	jsPubAck_Destroy(ack);
	if (status != NATS_OK) {
		nats_error(err, errlen, "publish to the EXPRESSO stream failed", status, code);
		return -1;
	}
	return 0;
}

ex_bus_consumer *ex_bus_consumer_new(ex_bus *bus, const char *durable, const char *filter_subject,
				     char *err, size_t errlen)
{
	if (ex_bus_ensure_stream(bus, err, errlen) != 0)
		return NULL;

	ex_bus_consumer *consumer = calloc(1, sizeof(*consumer));
	if (consumer == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	consumer->bus = bus;
	snprintf(consumer->durable, sizeof(consumer->durable), "%s", durable);

	jsConsumerConfig config;
	jsConsumerInfo *info = NULL;
	jsErrCode code = 0;
	jsConsumerConfig_Init(&config);
	config.Durable = durable;
	config.AckPolicy = js_AckExplicit;
	config.AckWait = (int64_t)30 * 1000000000LL;
	config.MaxDeliver = 10;
	config.FilterSubject = filter_subject;
	config.DeliverPolicy = js_DeliverAll;

	natsStatus status = js_AddConsumer(&info, bus->jetstream, EX_BUS_STREAM, &config, NULL, &code);
	jsConsumerInfo_Destroy(info);
	if (status != NATS_OK && code != JSConsumerNameExistErr && code != JSConsumerExistingActiveErr) {
		nats_error(err, errlen, "cannot create the durable consumer", status, code);
		free(consumer);
		return NULL;
	}

	jsSubOptions subscribe;
	jsSubOptions_Init(&subscribe);
	subscribe.Stream = EX_BUS_STREAM;
	subscribe.Consumer = durable;
	status = js_PullSubscribe(&consumer->subscription, bus->jetstream, filter_subject ? filter_subject : EX_BUS_SUBJECTS,
				  durable, NULL, &subscribe, &code);
	if (status != NATS_OK) {
		nats_error(err, errlen, "cannot bind to the durable consumer", status, code);
		free(consumer);
		return NULL;
	}
	return consumer;
}

int ex_bus_consumer_fetch(ex_bus_consumer *consumer, int batch, int64_t timeout_ms,
			  ex_bus_handler handler, void *context, char *err, size_t errlen)
{
	natsMsgList list = { 0 };
	jsErrCode code = 0;

	natsStatus status = natsSubscription_Fetch(&list, consumer->subscription, batch, timeout_ms, &code);
	if (status == NATS_TIMEOUT)
		return 0;
	if (status != NATS_OK) {
		nats_error(err, errlen, "fetch from the durable consumer failed", status, code);
		return -1;
	}

	for (int i = 0; i < list.Count; i++) {
		natsMsg *message = list.Msgs[i];
		ex_bus_verdict verdict = handler(natsMsg_GetSubject(message), natsMsg_GetData(message),
						 (size_t)natsMsg_GetDataLength(message), context);
		switch (verdict) {
		case EX_BUS_ACK:
			status = natsMsg_AckSync(message, NULL, &code);
			break;
		case EX_BUS_NAK:
			status = natsMsg_Nak(message, NULL);
			break;
		case EX_BUS_TERM:
			ex_log(EX_LOG_WARN, "nats_message_terminated", "{s:s, s:s}", "consumer", consumer->durable,
			       "subject", natsMsg_GetSubject(message));
			status = natsMsg_Term(message, NULL);
			break;
		}
		if (status != NATS_OK)
			ex_log(EX_LOG_WARN, "nats_ack_failed", "{s:s, s:s}", "consumer", consumer->durable,
			       "error", natsStatus_GetText(status));
	}
	int count = list.Count;
	natsMsgList_Destroy(&list);
	return count;
}

void ex_bus_consumer_free(ex_bus_consumer *consumer)
{
	if (consumer == NULL)
		return;
	natsSubscription_Destroy(consumer->subscription);
	free(consumer);
}
