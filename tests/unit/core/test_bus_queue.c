/*
 * The bus's publish queue. Each test starts its own nats-server on a free
 * loopback port, connects, then stops the server. Publishing still returns
 * at once, and the events wait, up to EX_BUS_QUEUE_MAX_EVENTS events and
 * EX_BUS_QUEUE_MAX_BYTES bytes. When the server starts again, the waiting
 * event reaches the stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expresso/bus.h"
#include "expresso/log.h"

extern char **environ;

static const char TENANT[] = "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11";

/* Returns the lowest port of the kernel's ephemeral range, which the tests' ports stay below. */
static unsigned ephemeral_start(void)
{
	char line[64] = "";
	FILE *range = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (range != NULL) {
		if (fgets(line, sizeof(line), range) == NULL)
			line[0] = '\0';
		fclose(range);
	}
	char *end = NULL;
	unsigned long low = strtoul(line, &end, 10);
	return end != line && low > 10000 && low <= 65535 ? (unsigned)low : 32768;
}

/*
 * Returns a free loopback port among the 10,000 below the ephemeral range,
 * where no outgoing connection takes it before the server binds it.
 */
static unsigned short free_port(void)
{
	unsigned top = ephemeral_start();
	for (int attempt = 0; attempt < 100; attempt++) {
		uint16_t random_value = 0;
		if (getrandom(&random_value, sizeof(random_value), 0) != (ssize_t)sizeof(random_value))
			random_value = (uint16_t)attempt;
		unsigned short port = (unsigned short)(top - 10000 + random_value % 10000);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
		address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int bound = bind(fd, (struct sockaddr *)&address, sizeof(address));
		close(fd);
		if (bound == 0)
			return port;
	}
	fail_msg("no free port found");
	return 0;
}

/* An event of the same encoded length every time: the bus adds no field to it. */
static json_t *fixed_event(size_t padding)
{
	char *text = malloc(padding + 1);
	memset(text, 'x', padding);
	text[padding] = '\0';
	json_t *event = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", "fixed-event", "tenant", TENANT, "type",
				  "test.queued", "time", "2026-12-05T00:00:00Z", "padding", text);
	free(text);
	return event;
}

static size_t encoded_length(json_t *event)
{
	char *text = json_dumps(event, JSON_COMPACT);
	size_t length = strlen(text);
	free(text);
	return length;
}

/* Starts nats-server with JetStream on PORT, keeping its store in DIRECTORY. */
static pid_t start_nats(unsigned short port, const char *directory)
{
	char port_text[16];
	snprintf(port_text, sizeof(port_text), "%u", port);
	const char *program = access("/usr/sbin/nats-server", X_OK) == 0 ? "/usr/sbin/nats-server" : "nats-server";
	char *const argv[] = { (char *)program, "-a", "127.0.0.1", "-p", port_text, "-js", "-sd", (char *)directory, NULL };
	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	pid_t pid = 0;
	int code = posix_spawnp(&pid, program, &actions, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	if (code != 0)
		fail_msg("cannot start %s: %s", program, strerror(code));
	return pid;
}

/* A nats-server of the test's own and a bus connected to it. */
typedef struct {
	unsigned short port;
	char directory[64];
	pid_t pid;
	ex_bus *bus;
} private_nats;

static void stop_nats(private_nats *nats)
{
	if (nats->pid > 0) {
		kill(nats->pid, SIGTERM);
		waitpid(nats->pid, NULL, 0);
		nats->pid = 0;
	}
}

/* Starts a server and connects a bus to it; the connection waits until the server listens. */
static void start_private_nats(private_nats *nats)
{
	char err[512];
	char url[64];

	memset(nats, 0, sizeof(*nats));
	nats->port = free_port();
	snprintf(nats->directory, sizeof(nats->directory), "/tmp/expresso-bus-queue-XXXXXX");
	assert_non_null(mkdtemp(nats->directory));
	nats->pid = start_nats(nats->port, nats->directory);
	snprintf(url, sizeof(url), "nats://127.0.0.1:%u", nats->port);
	nats->bus = ex_bus_connect(url, "expresso-test", err, sizeof(err));
	if (nats->bus == NULL)
		fail_msg("%s", err);
}

static int remove_entry(const char *path, const struct stat *status, int type, struct FTW *walk)
{
	(void)status;
	(void)type;
	(void)walk;
	return remove(path);
}

static void remove_private_nats(private_nats *nats)
{
	ex_bus_free(nats->bus);
	stop_nats(nats);
	/* Children first, without following links: the server's store. */
	assert_int_equal(nftw(nats->directory, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void publish_returns_at_once_and_queue_has_limits(void **state)
{
	char err[512];
	private_nats nats;
	(void)state;

	start_private_nats(&nats);
	stop_nats(&nats);

	/* Small events: the count limit, at the limit and one past. */
	json_t *small = fixed_event(10);
	time_t started = time(NULL);
	for (int i = 0; i < EX_BUS_QUEUE_MAX_EVENTS; i++)
		assert_int_equal(ex_bus_publish(nats.bus, TENANT, "test", "queued", small, err, sizeof(err)), 0);
	/* A publish that waited for NATS would take seconds for one event. */
	assert_true(time(NULL) - started < 5);
	assert_int_equal(ex_bus_queued_events(nats.bus), EX_BUS_QUEUE_MAX_EVENTS);
	assert_int_equal(ex_bus_publish(nats.bus, TENANT, "test", "queued", small, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "queue is full"));
	json_decref(small);

	/* Freeing gives the queue EX_BUS_DRAIN_MS to drain, then drops what is left. */
	started = time(NULL);
	remove_private_nats(&nats);
	assert_true(time(NULL) - started <= EX_BUS_DRAIN_MS / 1000 + 3);
}

static void queue_holds_at_most_its_bytes(void **state)
{
	char err[512];
	private_nats nats;
	(void)state;

	start_private_nats(&nats);
	stop_nats(&nats);

	/* Large events: the byte limit, at the limit and one past. */
	json_t *large = fixed_event(60 * 1024);
	size_t fitting = EX_BUS_QUEUE_MAX_BYTES / encoded_length(large);
	for (size_t i = 0; i < fitting; i++)
		assert_int_equal(ex_bus_publish(nats.bus, TENANT, "test", "queued", large, err, sizeof(err)), 0);
	assert_int_equal(ex_bus_publish(nats.bus, TENANT, "test", "queued", large, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "queue is full"));
	assert_int_equal(ex_bus_queued_events(nats.bus), fitting);
	json_decref(large);
	remove_private_nats(&nats);
}

static void publish_rejects_invalid_events(void **state)
{
	char err[512];
	char long_id[EX_BUS_MAX_EVENT_ID + 2];
	private_nats nats;
	(void)state;

	start_private_nats(&nats);
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	json_t *event = json_pack("{s:s}", "id", long_id);
	assert_int_equal(ex_bus_publish(nats.bus, TENANT, "test", "queued", event, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "event id"));
	json_decref(event);
	/* An id of EX_BUS_MAX_EVENT_ID bytes is accepted. */
	long_id[EX_BUS_MAX_EVENT_ID] = '\0';
	event = json_pack("{s:s}", "id", long_id);
	assert_int_equal(ex_bus_publish(nats.bus, TENANT, "test", "queued", event, err, sizeof(err)), 0);
	json_decref(event);
	remove_private_nats(&nats);
}

typedef struct {
	const char *expected_id;
	int seen;
} late_probe;

static ex_bus_verdict on_late_event(const char *subject, const char *data, size_t length, void *context)
{
	late_probe *probe = context;
	(void)subject;
	json_t *event = json_loadb(data, length, 0, NULL);
	if (event != NULL && strcmp(json_string_value(json_object_get(event, "id")), probe->expected_id) == 0)
		probe->seen++;
	json_decref(event);
	return EX_BUS_ACK;
}

static void event_published_while_nats_is_down_reaches_the_stream(void **state)
{
	char err[512];
	private_nats nats;
	(void)state;

	start_private_nats(&nats);
	stop_nats(&nats);

	late_probe probe = { .expected_id = "published-while-nats-was-down" };
	json_t *event = json_pack("{s:s}", "id", probe.expected_id);
	assert_int_equal(ex_bus_publish(nats.bus, TENANT, "test", "late", event, err, sizeof(err)), 0);
	json_decref(event);
	assert_int_equal(ex_bus_queued_events(nats.bus), 1);

	nats.pid = start_nats(nats.port, nats.directory);
	/* The bus reconnects every 2 to 3 s; bounded wait of 20 s for the queue to empty. */
	for (int i = 0; i < 200 && ex_bus_queued_events(nats.bus) > 0; i++)
		usleep(100 * 1000);
	assert_int_equal(ex_bus_queued_events(nats.bus), 0);

	ex_bus_consumer *consumer =
		ex_bus_consumer_new(nats.bus, "bus-queue-test", "expresso.*.test.late", err, sizeof(err));
	if (consumer == NULL)
		fail_msg("%s", err);
	for (int round = 0; round < 10 && probe.seen == 0; round++)
		assert_true(ex_bus_consumer_fetch(consumer, 10, 500, on_late_event, &probe, err, sizeof(err)) >= 0);
	assert_int_equal(probe.seen, 1);
	ex_bus_consumer_free(consumer);
	remove_private_nats(&nats);
}

int main(void)
{
	ex_log_init("test-bus-queue", EX_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(publish_returns_at_once_and_queue_has_limits),
		cmocka_unit_test(queue_holds_at_most_its_bytes),
		cmocka_unit_test(publish_rejects_invalid_events),
		cmocka_unit_test(event_published_while_nats_is_down_reaches_the_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
