/*
 * Group commit of local deliveries: several sessions' rows in one
 * transaction and their objects' directory entries in one fsync per
 * directory (mail_commit_group.c).
 */
#ifndef EXPRESSO_MAIL_COMMIT_GROUP_H
#define EXPRESSO_MAIL_COMMIT_GROUP_H

#include <stdbool.h>
#include <stddef.h>

#include "expresso/db.h"
#include "expresso/metrics.h"
#include "expresso/storage.h"

typedef struct ex_mail_commit_group ex_mail_commit_group;

enum { EX_MAIL_COMMIT_RUN_AGAIN = 1 };

/* One request to the group: a delivery's garbage records or its rows. The caller fills the fields up to object_count. */
typedef struct ex_mail_commit_request {
	/*
	 * Writes the delivery's rows. It runs inside its own savepoint with no
	 * tenant bound, so it binds each tenant it writes for with
	 * ex_mail_commit_bind_tenant first. It returns 0 or -1, and runs
	 * again after a serialization failure or deadlock, so it must reset
	 * what it records.
	 */
	ex_db_work work;
	/*
	 * The fast path, or NULL for none. send_fast queues the delivery's
	 * statements, tenant bindings included, on a connection in pipeline
	 * mode and returns how many it queued, or -1. read_fast reads their
	 * results in order and returns 0 when every row was written,
	 * EX_MAIL_COMMIT_RUN_AGAIN when the slow path must write them, or -1.
	 */
	int (*send_fast)(PGconn *connection, void *context);
	int (*read_fast)(PGconn *connection, void *context, ex_db_error *error);
	void *context;
	const ex_storage_object_name *objects; /* made durable before the rows commit */
	size_t object_count;

	/* Set by the group. */
	int status;        /* 0: committed; -1: failed, see error */
	bool fast;         /* committed by the fast path: what send_fast queued is what committed */
	ex_db_error error;
	bool done;
	struct ex_mail_commit_request *next;
} ex_mail_commit_request;

/*
 * Creates a group that commits at most MAX_BATCH requests per
 * transaction and counts them in METRICS (NULL: no metrics). Returns NULL
 * when out of memory.
 */
ex_mail_commit_group *ex_mail_commit_group_new(ex_db_pool *database, ex_storage *storage, size_t max_batch,
					       ex_metrics *metrics);
void ex_mail_commit_group_free(ex_mail_commit_group *group);

/*
 * Makes REQUEST's objects durable and commits its rows, together with
 * the requests of other threads that arrive meanwhile. Blocks until its
 * batch has committed or failed. Returns REQUEST->status.
 */
int ex_mail_commit_group_run(ex_mail_commit_group *group, ex_mail_commit_request *request);

/* Binds TENANT_ID for the statements that follow in a request's work. */
int ex_mail_commit_bind_tenant(PGconn *connection, const char *tenant_id, ex_db_error *error);
/*
 * Leaves libpq pipeline mode after a failed send. The QUEUED statements
 * sent so far are synced and their results dropped, so the connection
 * goes back to the pool idle or visibly broken, never half inside a
 * pipeline.
 */
void ex_mail_pipeline_abandon(PGconn *connection, size_t queued);

/*
 * Queues the binding of TENANT_ID on a connection in pipeline mode, for
 * send_fast, with the prepared statement of mail_prepared.h. Returns 0 or -1.
 */
int ex_mail_commit_send_bind_tenant(PGconn *connection, const char *tenant_id);

#endif
