/*
 * Prometheus metrics: HTTP request counts and latency histograms keyed by
 * route pattern, method and status, plus counters and gauges a daemon
 * registers. Rendering follows the Prometheus text exposition format 0.0.4.
 */
#ifndef EXPRESSO_METRICS_H
#define EXPRESSO_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ex_metrics ex_metrics;
typedef struct ex_counter ex_counter;

ex_metrics *ex_metrics_new(const char *daemon);
void ex_metrics_free(ex_metrics *metrics);

/* Records one finished HTTP request. route is the pattern, never the raw path. */
void ex_metrics_observe_request(ex_metrics *metrics, const char *route, const char *method,
				unsigned status, double seconds);

/*
 * Registers a counter (name must match [a-z_][a-z0-9_]*; the "expresso_"
 * prefix is added). Registering the same name twice returns the same counter.
 * Returns NULL when the name is invalid or the registry is full.
 */
ex_counter *ex_metrics_counter(ex_metrics *metrics, const char *name, const char *help);
void ex_counter_add(ex_counter *counter, uint64_t amount);
uint64_t ex_counter_value(const ex_counter *counter);

/* Registers a gauge whose value is read by calling sample(context) at render time. */
int ex_metrics_gauge(ex_metrics *metrics, const char *name, const char *help,
		     double (*sample)(void *context), void *context);

/* Renders every metric; the caller frees the returned string. */
char *ex_metrics_render(ex_metrics *metrics);

#endif
