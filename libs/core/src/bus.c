/*
 * JetStream publish and durable pull consumption with nats.c.
 *
 * Published events go into a bounded queue (bus_queue.c), and one thread
 * per bus sends them in order with js_Publish, each after the stream
 * acknowledged the one before. While NATS is unreachable the thread keeps
 * the event at the head and tries again with a growing delay. So a
 * publisher does not wait for NATS, and the events published during an
 * outage reach the stream after it, as long as the queue has room for them.
 *
 * Consumers are created explicitly with js_AddConsumer and subscriptions
 * are released with natsSubscription_Destroy, because
 * natsSubscription_Unsubscribe deletes a durable consumer the library
 * created and the next start would lose its position.
 */
#include "expresso/bus.h"

#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "bus_queue.h"
#include "expresso/log.h"

enum {
	PUBLISH_WAIT_MS = 2000,  /* wait for the stream's acknowledgement of one event */
	RETRY_FIRST_MS = 100,    /* delay before sending an event again after a failure, doubled each time */
	RETRY_MAX_MS = 2000,
};

struct ex_bus {
	natsConnection *connection;
	jsCtx *jetstream;
	pthread_mutex_t lock; /* guards queue and stopping */
	pthread_cond_t wake;  /* an event was queued, or the bus is stopping */
	bus_queue queue;
	bool stopping;
	bool publisher_started;
	pthread_t publisher;
	struct timespec drain_deadline; /* set with stopping */
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

static void *run_publisher(void *opaque);

ex_bus *ex_bus_connect(const char *url, const char *client_name, char *err, size_t errlen)
{
	natsOptions *options = NULL;
	ex_bus *bus = calloc(1, sizeof(*bus));
	if (bus == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&bus->lock, NULL);
	pthread_condattr_t wake_clock;
	pthread_condattr_init(&wake_clock);
	pthread_condattr_setclock(&wake_clock, CLOCK_MONOTONIC);
	pthread_cond_init(&bus->wake, &wake_clock);
	pthread_condattr_destroy(&wake_clock);

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
	int code = pthread_create(&bus->publisher, NULL, run_publisher, bus);
	if (code != 0) {
		snprintf(err, errlen, "cannot start the publishing thread: %s", strerror(code));
		ex_bus_free(bus);
		return NULL;
	}
	bus->publisher_started = true;
	return bus;
}

/* Returns the CLOCK_MONOTONIC time MS milliseconds from now. */
static struct timespec after_ms(unsigned ms)
{
	struct timespec time;
	clock_gettime(CLOCK_MONOTONIC, &time);
	time.tv_sec += ms / 1000;
	time.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (time.tv_nsec >= 1000000000L) {
		time.tv_sec++;
		time.tv_nsec -= 1000000000L;
	}
	return time;
}

static bool earlier(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static bool past(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return !earlier(&now, deadline);
}

/* Lets the publisher send what it can until the drain deadline, then waits for it to end. */
static void stop_publisher(ex_bus *bus)
{
	pthread_mutex_lock(&bus->lock);
	bus->stopping = true;
	bus->drain_deadline = after_ms(EX_BUS_DRAIN_MS);
	pthread_cond_broadcast(&bus->wake);
	pthread_mutex_unlock(&bus->lock);
	pthread_join(bus->publisher, NULL);
}

void ex_bus_free(ex_bus *bus)
{
	if (bus == NULL)
		return;
	if (bus->publisher_started)
		stop_publisher(bus);
	size_t dropped = bus_queue_clear(&bus->queue);
	if (dropped > 0)
		ex_log(EX_LOG_WARN, "nats_events_dropped", "{s:I}", "events", (json_int_t)dropped);
	jsCtx_Destroy(bus->jetstream);
	if (bus->connection != NULL) {
		natsConnection_Close(bus->connection);
		natsConnection_Destroy(bus->connection);
	}
	pthread_cond_destroy(&bus->wake);
	pthread_mutex_destroy(&bus->lock);
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

typedef enum {
	SEND_DONE,    /* the stream has the event */
	SEND_RETRY,   /* NATS is unreachable or slow: send the event again later */
	SEND_REJECTED, /* the stream rejected the event: sending it again would not help */
} send_outcome;

/* Sends EVENT to the stream and waits for its acknowledgement, creating the stream when it is missing. */
static send_outcome send_event(ex_bus *bus, const bus_event *event, char *err, size_t errlen)
{
	if (natsConnection_Status(bus->connection) != NATS_CONN_STATUS_CONNECTED) {
		snprintf(err, errlen, "not connected to NATS");
		return SEND_RETRY;
	}

	jsPubOptions options;
	jsPubAck *ack = NULL;
	jsErrCode code = 0;
	jsPubOptions_Init(&options);
	options.MsgId = event->id;
	options.ExpectStream = EX_BUS_STREAM;
	options.MaxWait = PUBLISH_WAIT_MS;

	natsStatus status = js_Publish(&ack, bus->jetstream, event->subject, event->data, (int)event->length, &options,
				       &code);
	if (status == NATS_NO_RESPONDERS || code == JSStreamNotFoundErr) {
		/* The stream is missing (first start, or deleted): create it and try once more. */
		jsPubAck_Destroy(ack);
		ack = NULL;
		code = 0;
		if (ex_bus_ensure_stream(bus, err, errlen) != 0)
			return SEND_RETRY;
		status = js_Publish(&ack, bus->jetstream, event->subject, event->data, (int)event->length, &options,
				    &code);
	}
	jsPubAck_Destroy(ack);
	if (status == NATS_OK)
		return SEND_DONE;
	nats_error(err, errlen, "publish to the EXPRESSO stream failed", status, code);
	return status == NATS_ERR && code != 0 ? SEND_REJECTED : SEND_RETRY;
}

/* Waits DELAY_MS, or until the drain deadline when the bus stops sooner; the caller holds the lock. */
static void wait_before_retry(ex_bus *bus, unsigned delay_ms)
{
	struct timespec until = after_ms(delay_ms);

	for (;;) {
		const struct timespec *limit = &until;
		if (bus->stopping && earlier(&bus->drain_deadline, &until))
			limit = &bus->drain_deadline;
		if (past(limit) || pthread_cond_timedwait(&bus->wake, &bus->lock, limit) == ETIMEDOUT)
			return;
	}
}

/*
 * The publishing thread: sends the oldest queued event until the stream
 * has it, then the next. A failure is logged once per outage, with the
 * number of events waiting, and so is the recovery.
 */
static void *run_publisher(void *opaque)
{
	ex_bus *bus = opaque;
	unsigned delay_ms = 0;
	char err[512];

	pthread_mutex_lock(&bus->lock);
	for (;;) {
		while (bus->queue.head == NULL && !bus->stopping)
			pthread_cond_wait(&bus->wake, &bus->lock);
		if (bus->queue.head == NULL || (bus->stopping && past(&bus->drain_deadline)))
			break;
		const bus_event *event = bus->queue.head;
		pthread_mutex_unlock(&bus->lock);
		send_outcome outcome = send_event(bus, event, err, sizeof(err));
		pthread_mutex_lock(&bus->lock);

		if (outcome == SEND_RETRY) {
			if (delay_ms == 0)
				ex_log(EX_LOG_WARN, "nats_publish_delayed", "{s:s, s:s, s:I}", "subject", event->subject,
				       "error", err, "queued", (json_int_t)bus->queue.count);
			delay_ms = delay_ms == 0 ? RETRY_FIRST_MS : delay_ms * 2;
			if (delay_ms > RETRY_MAX_MS)
				delay_ms = RETRY_MAX_MS;
			wait_before_retry(bus, delay_ms);
			continue;
		}
		if (delay_ms != 0)
			ex_log(EX_LOG_INFO, "nats_publish_resumed", "{s:I}", "queued", (json_int_t)bus->queue.count);
		delay_ms = 0;
		if (outcome == SEND_REJECTED)
			ex_log(EX_LOG_WARN, "nats_event_rejected", "{s:s, s:s, s:s}", "subject", event->subject, "id",
			       event->id, "error", err);
		bus_queue_drop_first(&bus->queue);
	}
	pthread_mutex_unlock(&bus->lock);
	return NULL;
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
	const char *id = json_string_value(json_object_get(event, "id"));
	if (id == NULL || strlen(id) > EX_BUS_MAX_EVENT_ID) {
		snprintf(err, errlen, "an event id must be a string of at most %d bytes", EX_BUS_MAX_EVENT_ID);
		return -1;
	}
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
	bus_event *queued = bus_event_new(subject, id, data, length);
	free(data);
	if (queued == NULL) {
		snprintf(err, errlen, "out of memory queueing the event");
		return -1;
	}

	pthread_mutex_lock(&bus->lock);
	bool stopping = bus->stopping;
	int pushed = stopping ? -1 : bus_queue_push(&bus->queue, queued);
	size_t waiting = bus->queue.count;
	if (pushed == 0)
		pthread_cond_signal(&bus->wake);
	pthread_mutex_unlock(&bus->lock);
	if (pushed == 0)
		return 0;

	free(queued);
	if (stopping)
		snprintf(err, errlen, "the bus is closing and takes no more events");
	else
		snprintf(err, errlen, "the event queue is full: %zu events wait for NATS (at most %d events or %d bytes)",
			 waiting, EX_BUS_QUEUE_MAX_EVENTS, EX_BUS_QUEUE_MAX_BYTES);
	return -1;
}

size_t ex_bus_queued_events(ex_bus *bus)
{
	pthread_mutex_lock(&bus->lock);
	size_t count = bus->queue.count;
	pthread_mutex_unlock(&bus->lock);
	return count;
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
