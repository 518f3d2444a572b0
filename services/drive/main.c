/*
 * expresso-drive: people's files and folders, with resumable uploads
 * through tus 1.0.0 and downloads with Range. Metadata lives in
 * PostgreSQL, contents in object storage. See docs/drive.md.
 */
#include "drive_service.h"
#include "upload_store.h"

static int setup(ex_daemon *daemon, void *context)
{
	ex_drive_service *service = context;
	ex_http_server *http = ex_daemon_http(daemon);

	if (ex_drive_service_open(service, daemon) != 0)
		return -1;
	if (ex_drive_add_tus_routes(service, http) != 0 || ex_drive_add_file_routes(service, http) != 0 ||
	    ex_drive_add_manage_routes(service, http) != 0 || ex_drive_add_share_routes(service, http) != 0)
		return -1;
	return ex_drive_purge_start(service);
}

static void teardown(ex_daemon *daemon, void *context)
{
	(void)daemon;
	ex_drive_purge_stop(context);
	ex_drive_service_close(context);
}

int main(int argc, char **argv)
{
	static ex_drive_service service;
	const ex_daemon_spec spec = {
		.name = "expresso-drive",
		.metrics_name = "drive",
		.default_port = "8004",
		.needs = EX_NEEDS_DATABASE | EX_NEEDS_NATS,
		/*
		 * libmicrohttpd reads a streamed tus body into the connection's memory, so
		 * its size bounds each read. Uploading 512 MiB in 16 MiB PATCHes on a loaded
		 * 2-core VM, a read returned about 117 KiB with 256K against about 27 KiB
		 * with the 64K default (strace -c), and the daemon used a fifth to a third
		 * less CPU time (/proc/PID/stat). Request heads are limited by the same size.
		 */
		.default_http_max_header_size = "256K",
		.settings = ex_drive_settings,
		.setup = setup,
		.teardown = teardown,
		.context = &service,
	};
	return ex_daemon_main(&spec, argc, argv);
}
