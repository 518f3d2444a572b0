/*
 * Metric registry. Request series live in a fixed array, scanned
 * linearly and guarded by one mutex. Their number is bounded by routes x methods x
 * statuses, because unmatched paths are recorded under the route
 * "unmatched" rather than their raw path.
 */
#include "expresso/metrics.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	MAX_REQUEST_SERIES = 1024,
	MAX_COUNTERS = 64,
	MAX_GAUGES = 32,
	MAX_LABEL = 128,
	MAX_METRIC_NAME = 96,
};

/* Upper bounds in seconds of the latency histogram buckets. */
static const double latency_buckets[] = {
	0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define BUCKET_COUNT (sizeof(latency_buckets) / sizeof(latency_buckets[0]))

typedef struct {
	char route[MAX_LABEL];
	char method[16];
	unsigned status;
	uint64_t count;
	double sum;
	uint64_t buckets[BUCKET_COUNT];
} request_series;

struct ex_counter {
	char name[MAX_METRIC_NAME];
	char help[MAX_LABEL];
	atomic_uint_fast64_t value;
};

typedef struct {
	char name[MAX_METRIC_NAME];
	char help[MAX_LABEL];
	double (*sample)(void *context);
	void *context;
} gauge;

struct ex_metrics {
	char daemon[64];
	pthread_mutex_t mutex;
	size_t series_count;
	request_series series[MAX_REQUEST_SERIES];
	uint64_t dropped_series;
	size_t counter_count;
	ex_counter counters[MAX_COUNTERS];
	size_t gauge_count;
	gauge gauges[MAX_GAUGES];
};

ex_metrics *ex_metrics_new(const char *daemon)
{
	ex_metrics *metrics = calloc(1, sizeof(*metrics));
	if (metrics == NULL)
		return NULL;
	snprintf(metrics->daemon, sizeof(metrics->daemon), "%s", daemon);
	pthread_mutex_init(&metrics->mutex, NULL);
	return metrics;
}

void ex_metrics_free(ex_metrics *metrics)
{
	if (metrics == NULL)
		return;
	pthread_mutex_destroy(&metrics->mutex);
	free(metrics);
}

static int valid_metric_name(const char *name)
{
	if (name[0] == '\0' || strlen(name) + sizeof("expresso_") > MAX_METRIC_NAME)
		return 0;
	if (!(islower((unsigned char)name[0]) || name[0] == '_'))
		return 0;
	for (const char *p = name; *p; p++) {
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
			return 0;
	}
	return 1;
}

void ex_metrics_observe_request(ex_metrics *metrics, const char *route, const char *method,
				unsigned status, double seconds)
{
	pthread_mutex_lock(&metrics->mutex);

	request_series *found = NULL;
	for (size_t i = 0; i < metrics->series_count; i++) {
		request_series *s = &metrics->series[i];
		if (s->status == status && strcmp(s->route, route) == 0 && strcmp(s->method, method) == 0) {
			found = s;
			break;
		}
	}
	if (found == NULL && metrics->series_count < MAX_REQUEST_SERIES) {
		found = &metrics->series[metrics->series_count++];
		snprintf(found->route, sizeof(found->route), "%s", route);
		snprintf(found->method, sizeof(found->method), "%s", method);
		found->status = status;
	}

	if (found == NULL) {
		metrics->dropped_series++;
	} else {
		found->count++;
		found->sum += seconds;
		for (size_t b = 0; b < BUCKET_COUNT; b++) {
			if (seconds <= latency_buckets[b])
				found->buckets[b]++;
		}
	}

	pthread_mutex_unlock(&metrics->mutex);
}

ex_counter *ex_metrics_counter(ex_metrics *metrics, const char *name, const char *help)
{
	if (!valid_metric_name(name))
		return NULL;

	ex_counter *result = NULL;
	pthread_mutex_lock(&metrics->mutex);
	for (size_t i = 0; i < metrics->counter_count; i++) {
		if (strcmp(metrics->counters[i].name, name) == 0)
			result = &metrics->counters[i];
	}
	if (result == NULL && metrics->counter_count < MAX_COUNTERS) {
		result = &metrics->counters[metrics->counter_count++];
		snprintf(result->name, sizeof(result->name), "%s", name);
		snprintf(result->help, sizeof(result->help), "%s", help);
		atomic_init(&result->value, 0);
	}
	pthread_mutex_unlock(&metrics->mutex);
	return result;
}

void ex_counter_add(ex_counter *counter, uint64_t amount)
{
	if (counter != NULL)
		atomic_fetch_add(&counter->value, amount);
}

uint64_t ex_counter_value(const ex_counter *counter)
{
	return counter == NULL ? 0 : atomic_load(&counter->value);
}

int ex_metrics_gauge(ex_metrics *metrics, const char *name, const char *help,
		     double (*sample)(void *context), void *context)
{
	if (!valid_metric_name(name))
		return -1;

	int rc = -1;
	pthread_mutex_lock(&metrics->mutex);
	if (metrics->gauge_count < MAX_GAUGES) {
		gauge *g = &metrics->gauges[metrics->gauge_count++];
		snprintf(g->name, sizeof(g->name), "%s", name);
		snprintf(g->help, sizeof(g->help), "%s", help);
		g->sample = sample;
		g->context = context;
		rc = 0;
	}
	pthread_mutex_unlock(&metrics->mutex);
	return rc;
}

/* A growable string for rendering; on allocation failure it stays truncated. */
typedef struct {
	char *data;
	size_t length;
	size_t capacity;
	int failed;
} text_buffer;

__attribute__((format(printf, 2, 3)))
static void append(text_buffer *buffer, const char *format, ...)
{
	va_list args;

	if (buffer->failed)
		return;
	for (;;) {
		size_t room = buffer->capacity - buffer->length;
		va_start(args, format);
		int needed = vsnprintf(buffer->data + buffer->length, room, format, args);
		va_end(args);
		if (needed < 0) {
			buffer->failed = 1;
			return;
		}
		if ((size_t)needed < room) {
			buffer->length += (size_t)needed;
			return;
		}
		size_t capacity = buffer->capacity * 2 + (size_t)needed;
		char *grown = realloc(buffer->data, capacity);
		if (grown == NULL) {
			buffer->failed = 1;
			return;
		}
		buffer->data = grown;
		buffer->capacity = capacity;
	}
}

/* Escapes a label value as the exposition format requires (\\, \" and \n). */
static void escape_label(const char *value, char *out, size_t size)
{
	size_t used = 0;
	for (const char *p = value; *p && used + 3 < size; p++) {
		if (*p == '\\' || *p == '"') {
			out[used++] = '\\';
			out[used++] = *p;
		} else if (*p == '\n') {
			out[used++] = '\\';
			out[used++] = 'n';
		} else {
			out[used++] = *p;
		}
	}
	out[used] = '\0';
}

static void render_requests(ex_metrics *metrics, text_buffer *out)
{
	append(out, "# HELP expresso_http_requests_total HTTP requests by route, method and status.\n"
		    "# TYPE expresso_http_requests_total counter\n");
	for (size_t i = 0; i < metrics->series_count; i++) {
		const request_series *s = &metrics->series[i];
		char route[MAX_LABEL * 2];
		escape_label(s->route, route, sizeof(route));
		append(out, "expresso_http_requests_total{daemon=\"%s\",route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n",
		       metrics->daemon, route, s->method, s->status, (unsigned long long)s->count);
	}

	append(out, "# HELP expresso_http_request_duration_seconds HTTP request latency.\n"
		    "# TYPE expresso_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < metrics->series_count; i++) {
		const request_series *s = &metrics->series[i];
		char labels[MAX_LABEL * 3];
		char route[MAX_LABEL * 2];
		escape_label(s->route, route, sizeof(route));
		snprintf(labels, sizeof(labels), "daemon=\"%s\",route=\"%s\",method=\"%s\",status=\"%u\"",
			 metrics->daemon, route, s->method, s->status);
		for (size_t b = 0; b < BUCKET_COUNT; b++)
			append(out, "expresso_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n",
			       labels, latency_buckets[b], (unsigned long long)s->buckets[b]);
		append(out, "expresso_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n",
		       labels, (unsigned long long)s->count);
		append(out, "expresso_http_request_duration_seconds_sum{%s} %.6f\n", labels, s->sum);
		append(out, "expresso_http_request_duration_seconds_count{%s} %llu\n",
		       labels, (unsigned long long)s->count);
	}
	append(out, "# HELP expresso_metrics_dropped_series_total Request series not recorded because the table was full.\n"
		    "# TYPE expresso_metrics_dropped_series_total counter\n"
		    "expresso_metrics_dropped_series_total{daemon=\"%s\"} %llu\n",
	       metrics->daemon, (unsigned long long)metrics->dropped_series);
}

char *ex_metrics_render(ex_metrics *metrics)
{
	text_buffer out = { .data = malloc(4096), .capacity = 4096 };
	if (out.data == NULL)
		return NULL;
	out.data[0] = '\0';

	pthread_mutex_lock(&metrics->mutex);
	render_requests(metrics, &out);
	for (size_t i = 0; i < metrics->counter_count; i++) {
		const ex_counter *c = &metrics->counters[i];
		append(&out, "# HELP expresso_%s %s\n# TYPE expresso_%s counter\nexpresso_%s{daemon=\"%s\"} %llu\n",
		       c->name, c->help, c->name, c->name, metrics->daemon,
		       (unsigned long long)atomic_load(&c->value));
	}
	size_t gauge_count = metrics->gauge_count;
	pthread_mutex_unlock(&metrics->mutex);

	/* Gauges are sampled outside the lock: a sampler may take locks of its own. */
	for (size_t i = 0; i < gauge_count; i++) {
		const gauge *g = &metrics->gauges[i];
		append(&out, "# HELP expresso_%s %s\n# TYPE expresso_%s gauge\nexpresso_%s{daemon=\"%s\"} %g\n",
		       g->name, g->help, g->name, g->name, metrics->daemon, g->sample(g->context));
	}

	if (out.failed) {
		free(out.data);
		return NULL;
	}
	return out.data;
}
