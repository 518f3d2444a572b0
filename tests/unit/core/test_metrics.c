/* Metrics: exposition format of request series, counters and gauges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/metrics.h"

static double sample_connections(void *context)
{
	return *(double *)context;
}

static void render_contains_series(void **state)
{
	double connections = 3;
	(void)state;

	ex_metrics *metrics = ex_metrics_new("auth");
	ex_metrics_observe_request(metrics, "/auth/me", "GET", 200, 0.004);
	ex_metrics_observe_request(metrics, "/auth/me", "GET", 200, 0.3);
	ex_metrics_observe_request(metrics, "/auth/me", "GET", 401, 0.001);
	ex_counter *logins = ex_metrics_counter(metrics, "logins_total", "Completed logins.");
	ex_counter_add(logins, 2);
	assert_ptr_equal(ex_metrics_counter(metrics, "logins_total", "again"), logins);
	assert_int_equal(ex_metrics_gauge(metrics, "open_connections", "Open connections.",
					  sample_connections, &connections), 0);

	char *text = ex_metrics_render(metrics);
	assert_non_null(text);
	assert_non_null(strstr(text, "# TYPE expresso_http_requests_total counter\n"));
	assert_non_null(strstr(text,
		"expresso_http_requests_total{daemon=\"auth\",route=\"/auth/me\",method=\"GET\",status=\"200\"} 2\n"));
	assert_non_null(strstr(text,
		"expresso_http_request_duration_seconds_bucket{daemon=\"auth\",route=\"/auth/me\",method=\"GET\",status=\"200\",le=\"0.005\"} 1\n"));
	assert_non_null(strstr(text,
		"expresso_http_request_duration_seconds_bucket{daemon=\"auth\",route=\"/auth/me\",method=\"GET\",status=\"200\",le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(text,
		"expresso_http_request_duration_seconds_count{daemon=\"auth\",route=\"/auth/me\",method=\"GET\",status=\"401\"} 1\n"));
	assert_non_null(strstr(text, "expresso_logins_total{daemon=\"auth\"} 2\n"));
	assert_non_null(strstr(text, "# TYPE expresso_open_connections gauge\nexpresso_open_connections{daemon=\"auth\"} 3\n"));
	free(text);
	ex_metrics_free(metrics);
}

static void invalid_names_are_refused(void **state)
{
	(void)state;
	ex_metrics *metrics = ex_metrics_new("auth");
	assert_null(ex_metrics_counter(metrics, "Bad-Name", "x"));
	assert_null(ex_metrics_counter(metrics, "", "x"));
	assert_null(ex_metrics_counter(metrics, "9lives", "x"));
	ex_metrics_free(metrics);
}

static void label_values_are_escaped(void **state)
{
	(void)state;
	ex_metrics *metrics = ex_metrics_new("auth");
	ex_metrics_observe_request(metrics, "/a\"b\\c", "GET", 200, 0.01);
	char *text = ex_metrics_render(metrics);
	assert_non_null(strstr(text, "route=\"/a\\\"b\\\\c\""));
	free(text);
	ex_metrics_free(metrics);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(render_contains_series),
		cmocka_unit_test(invalid_names_are_refused),
		cmocka_unit_test(label_values_are_escaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
