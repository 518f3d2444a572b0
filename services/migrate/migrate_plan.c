/*
 * Merge of the sorted file list with the sorted schema_migrations rows into
 * one plan, one entry per name.
 */
#include "migrate_plan.h"

#include <stdlib.h>
#include <string.h>

static int compare_applied(const void *left, const void *right)
{
	const ex_applied_migration *a = left;
	const ex_applied_migration *b = right;

	return strcmp(a->name, b->name);
}

const char *ex_migration_state_name(ex_migration_state state)
{
	switch (state) {
	case EX_MIGRATION_APPLIED:
		return "applied";
	case EX_MIGRATION_PENDING:
		return "pending";
	case EX_MIGRATION_MODIFIED:
		return "modified";
	case EX_MIGRATION_MISSING:
		return "missing";
	case EX_MIGRATION_OUT_OF_ORDER:
		return "out-of-order";
	}
	return "unknown";
}

static void count_entry(ex_migrate_plan *plan, const ex_plan_entry *entry)
{
	switch (entry->state) {
	case EX_MIGRATION_APPLIED:
		plan->applied++;
		break;
	case EX_MIGRATION_PENDING:
		plan->pending++;
		break;
	case EX_MIGRATION_MODIFIED:
		plan->modified++;
		break;
	case EX_MIGRATION_MISSING:
		plan->missing++;
		break;
	case EX_MIGRATION_OUT_OF_ORDER:
		plan->out_of_order++;
		break;
	}
}

/* Returns the state of a name that has a file, an applied row, or both. */
static ex_migration_state classify(const ex_migration_file *file, const ex_applied_migration *applied,
				   const ex_applied_migration *last_applied)
{
	if (file == NULL)
		return EX_MIGRATION_MISSING;
	if (applied != NULL)
		return strcmp(file->checksum, applied->checksum) == 0 ? EX_MIGRATION_APPLIED : EX_MIGRATION_MODIFIED;
	if (last_applied != NULL && strcmp(file->name, last_applied->name) < 0)
		return EX_MIGRATION_OUT_OF_ORDER;
	return EX_MIGRATION_PENDING;
}

int ex_migrate_plan_build(const ex_migration_list *files, ex_applied_list *applied, ex_migrate_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	if (applied->count > 1)
		qsort(applied->items, applied->count, sizeof(applied->items[0]), compare_applied);
	if (applied->count > 0)
		plan->last_applied = &applied->items[applied->count - 1];

	size_t capacity = files->count + applied->count;
	plan->entries = calloc(capacity ? capacity : 1, sizeof(plan->entries[0]));
	if (plan->entries == NULL)
		return -1;

	size_t f = 0;
	size_t a = 0;
	while (f < files->count || a < applied->count) {
		const ex_migration_file *file = f < files->count ? &files->items[f] : NULL;
		const ex_applied_migration *row = a < applied->count ? &applied->items[a] : NULL;
		/* order < 0: only the file; order > 0: only the row; 0: both. */
		int order;
		if (file == NULL)
			order = 1;
		else if (row == NULL)
			order = -1;
		else
			order = strcmp(file->name, row->name);

		ex_plan_entry *entry = &plan->entries[plan->count++];
		entry->file = order <= 0 ? file : NULL;
		entry->applied = order >= 0 ? row : NULL;
		entry->name = entry->file != NULL ? entry->file->name : entry->applied->name;
		entry->state = classify(entry->file, entry->applied, plan->last_applied);
		count_entry(plan, entry);

		if (order <= 0)
			f++;
		if (order >= 0)
			a++;
	}
	return 0;
}

int ex_migrate_plan_blocked(const ex_migrate_plan *plan)
{
	return plan->modified > 0 || plan->missing > 0 || plan->out_of_order > 0;
}

void ex_migrate_plan_free(ex_migrate_plan *plan)
{
	free(plan->entries);
	memset(plan, 0, sizeof(*plan));
}
