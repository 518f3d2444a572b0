/*
 * The THREAD algorithms of RFC 5256 section 3. Messages and the "dummy"
 * messages that stand for referenced but absent Message IDs are nodes of
 * one array, linked by indices. Parent links are the source of truth:
 * child lists are rebuilt from them after each step that moves nodes.
 * Every walk over the tree is iterative, so a deep thread cannot exhaust
 * the stack, and a parent link is never made when it would close a loop.
 */
#include "expresso/imap_thread.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NONE SIZE_MAX

typedef struct {
	size_t message;       /* index into the messages, or NONE for a dummy */
	size_t parent;        /* NONE until linked; the root after gathering */
	size_t first_child;
	size_t next_sibling;
	size_t child_count;
	bool removed;         /* pruned dummy */
} thread_node;

/* A Message ID as it appears between '<' and '>'. */
typedef struct {
	const char *text;
	size_t length;
	size_t node;
} id_entry;

typedef struct {
	const ex_imap_thread_message *messages;
	size_t message_count;
	thread_node *nodes;
	size_t node_count;
	size_t node_capacity;
	size_t root;
	id_entry *ids;        /* open addressing, capacity a power of two */
	size_t id_count;
	size_t id_capacity;
	size_t *scratch;      /* one entry per node, for sorting and walks */
} thread_state;

/* ---- Message IDs ----------------------------------------------------------------- */

/*
 * Finds the next "<...>" in [*CURSOR, END) whose inside is not empty and has
 * no space or '<', and moves *CURSOR past it. Returns false when none is left.
 */
static bool next_message_id(const char **cursor, const char *end, const char **id, size_t *length)
{
	const char *p = *cursor;
	while (p < end) {
		const char *open = memchr(p, '<', (size_t)(end - p));
		if (open == NULL)
			break;
		const char *q = open + 1;
		while (q < end && *q != '>' && *q != '<' && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
			q++;
		if (q < end && *q == '>' && q > open + 1) {
			*id = open + 1;
			*length = (size_t)(q - open - 1);
			*cursor = q + 1;
			return true;
		}
		p = q;
	}
	*cursor = end;
	return false;
}

static uint64_t hash_id(const char *text, size_t length)
{
	uint64_t hash = 1469598103934665603ULL; /* FNV-1a */
	for (size_t i = 0; i < length; i++) {
		hash ^= (unsigned char)text[i];
		hash *= 1099511628211ULL;
	}
	return hash;
}

static id_entry *find_slot(id_entry *table, size_t capacity, const char *text, size_t length)
{
	size_t mask = capacity - 1;
	for (size_t slot = (size_t)hash_id(text, length) & mask;; slot = (slot + 1) & mask) {
		id_entry *entry = &table[slot];
		if (entry->text == NULL || (entry->length == length && memcmp(entry->text, text, length) == 0))
			return entry;
	}
}

static int grow_ids(thread_state *state)
{
	size_t capacity = state->id_capacity == 0 ? 64 : state->id_capacity * 2;
	id_entry *table = calloc(capacity, sizeof(*table));
	if (table == NULL)
		return -1;
	for (size_t i = 0; i < state->id_capacity; i++) {
		const id_entry *old = &state->ids[i];
		if (old->text != NULL)
			*find_slot(table, capacity, old->text, old->length) = *old;
	}
	free(state->ids);
	state->ids = table;
	state->id_capacity = capacity;
	return 0;
}

/* Returns the entry of ID, adding an empty one (node NONE) when it is new; NULL when out of memory. */
static id_entry *lookup_id(thread_state *state, const char *text, size_t length)
{
	if ((state->id_count + 1) * 2 > state->id_capacity && grow_ids(state) != 0)
		return NULL;
	id_entry *entry = find_slot(state->ids, state->id_capacity, text, length);
	if (entry->text == NULL) {
		*entry = (id_entry){ .text = text, .length = length, .node = NONE };
		state->id_count++;
	}
	return entry;
}

/* ---- nodes ------------------------------------------------------------------------- */

static size_t add_node(thread_state *state, size_t message)
{
	if (state->node_count == state->node_capacity) {
		size_t capacity = state->node_capacity == 0 ? 64 : state->node_capacity * 2;
		thread_node *grown = realloc(state->nodes, capacity * sizeof(*grown));
		if (grown == NULL)
			return NONE;
		state->nodes = grown;
		state->node_capacity = capacity;
	}
	state->nodes[state->node_count] = (thread_node){ .message = message, .parent = NONE, .first_child = NONE,
							 .next_sibling = NONE };
	return state->node_count++;
}

/* Returns the node that carries ID, creating a dummy for an ID no message has; NONE when out of memory. */
static size_t node_for_id(thread_state *state, const char *text, size_t length)
{
	id_entry *entry = lookup_id(state, text, length);
	if (entry == NULL)
		return NONE;
	if (entry->node == NONE)
		entry->node = add_node(state, NONE);
	return entry->node;
}

static bool is_dummy(const thread_state *state, size_t node)
{
	return state->nodes[node].message == NONE;
}

/* True when making PARENT the parent of CHILD would close a loop. */
static bool would_loop(const thread_state *state, size_t parent, size_t child)
{
	if (parent == child)
		return true;
	/* A node without children is nobody's ancestor. */
	if (state->nodes[child].child_count == 0)
		return false;
	for (size_t node = state->nodes[parent].parent; node != NONE; node = state->nodes[node].parent)
		if (node == child)
			return true;
	return false;
}

static void set_parent(thread_state *state, size_t child, size_t parent)
{
	thread_node *node = &state->nodes[child];
	if (node->parent != NONE)
		state->nodes[node->parent].child_count--;
	node->parent = parent;
	if (parent != NONE)
		state->nodes[parent].child_count++;
}

/* Rebuilds every child list from the parent links, children in node order. */
static void rebuild_children(thread_state *state)
{
	size_t *last = state->scratch;
	for (size_t i = 0; i < state->node_count; i++) {
		state->nodes[i].first_child = NONE;
		state->nodes[i].next_sibling = NONE;
		state->nodes[i].child_count = 0;
		last[i] = NONE;
	}
	for (size_t i = 0; i < state->node_count; i++) {
		thread_node *node = &state->nodes[i];
		if (node->removed || node->parent == NONE)
			continue;
		thread_node *parent = &state->nodes[node->parent];
		if (last[node->parent] == NONE)
			parent->first_child = i;
		else
			state->nodes[last[node->parent]].next_sibling = i;
		last[node->parent] = i;
		parent->child_count++;
	}
}

/* ---- sorting by sent date ------------------------------------------------------------- */

/* The message a node sorts by: its own, or for a dummy that of its first child. */
static size_t sort_message(const thread_state *state, size_t node)
{
	while (node != NONE && state->nodes[node].message == NONE)
		node = state->nodes[node].first_child;
	return node == NONE ? NONE : state->nodes[node].message;
}

static int compare_messages(const thread_state *state, size_t left, size_t right)
{
	if (left == NONE || right == NONE)
		return left == right ? 0 : (left == NONE ? -1 : 1);
	int64_t left_date = state->messages[left].sent_date;
	int64_t right_date = state->messages[right].sent_date;
	if (left_date != right_date)
		return left_date < right_date ? -1 : 1;
	/* Equal dates keep mailbox order (RFC 5256 section 2.2 and 3). */
	return left < right ? -1 : left > right;
}

static int compare_nodes(const void *a, const void *b, void *context)
{
	const thread_state *state = context;
	size_t left = *(const size_t *)a;
	size_t right = *(const size_t *)b;
	return compare_messages(state, sort_message(state, left), sort_message(state, right));
}

/* Sorts the children of PARENT by sent date. */
static void sort_children(thread_state *state, size_t parent)
{
	size_t count = 0;
	for (size_t child = state->nodes[parent].first_child; child != NONE; child = state->nodes[child].next_sibling)
		state->scratch[count++] = child;
	if (count < 2)
		return;
	qsort_r(state->scratch, count, sizeof(*state->scratch), compare_nodes, state);
	state->nodes[parent].first_child = state->scratch[0];
	for (size_t i = 0; i + 1 < count; i++)
		state->nodes[state->scratch[i]].next_sibling = state->scratch[i + 1];
	state->nodes[state->scratch[count - 1]].next_sibling = NONE;
}

/* Step 6 (and the final order of ORDEREDSUBJECT): every sibling set, the root's last so that dummies sort by their first child. */
static void sort_all(thread_state *state)
{
	for (size_t i = 0; i < state->node_count; i++)
		if (i != state->root && !state->nodes[i].removed)
			sort_children(state, i);
	sort_children(state, state->root);
}

/* ---- REFERENCES ------------------------------------------------------------------------- */

/* Step 1, first half: one node per message; a repeated Message ID names only its first message. */
static int create_message_nodes(thread_state *state)
{
	for (size_t i = 0; i < state->message_count; i++) {
		size_t node = add_node(state, i);
		if (node == NONE)
			return -1;
		const char *header = state->messages[i].message_id;
		const char *id = NULL;
		size_t length = 0;
		if (header == NULL || !next_message_id(&header, header + strlen(header), &id, &length))
			continue;
		id_entry *entry = lookup_id(state, id, length);
		if (entry == NULL)
			return -1;
		if (entry->node == NONE)
			entry->node = node;
	}
	return 0;
}

/* Step 1 (A) and (B) for message I: links its references as a chain, then the last one to I. */
static int link_references(thread_state *state, size_t i)
{
	const ex_imap_thread_message *message = &state->messages[i];
	const char *header = message->references;
	const char *id = NULL;
	size_t length = 0;
	size_t previous = NONE;

	if (header != NULL) {
		const char *end = header + strlen(header);
		while (next_message_id(&header, end, &id, &length)) {
			size_t node = node_for_id(state, id, length);
			if (node == NONE)
				return -1;
			/* A link made earlier is kept, because a client may have truncated References. */
			if (previous != NONE && state->nodes[node].parent == NONE && !would_loop(state, previous, node))
				set_parent(state, node, previous);
			previous = node;
		}
	}
	/* Without a valid References, the first valid ID of In-Reply-To is the only reference. */
	header = message->in_reply_to;
	if (previous == NONE && header != NULL && next_message_id(&header, header + strlen(header), &id, &length)) {
		previous = node_for_id(state, id, length);
		if (previous == NONE)
			return -1;
	}

	/*
	 * Message I is node I. Its last reference replaces any parent an
	 * earlier chain gave it, unless that link would close a loop: then the
	 * earlier parent stays.
	 */
	if (previous == NONE)
		set_parent(state, i, NONE);
	else if (!would_loop(state, previous, i))
		set_parent(state, i, previous);
	return 0;
}

/* Lists the nodes under the root breadth-first into scratch; returns how many. */
static size_t breadth_first(thread_state *state, size_t *order)
{
	size_t count = 0;
	order[count++] = state->root;
	for (size_t next = 0; next < count; next++)
		for (size_t child = state->nodes[order[next]].first_child; child != NONE;
		     child = state->nodes[child].next_sibling)
			order[count++] = child;
	return count;
}

/*
 * Step 3: removes dummies and promotes their children, except that a
 * top-level dummy stays when it would promote more than one message to
 * the root. Every dummy below the top level goes, so a top-level dummy's
 * children after pruning are the messages reached from it through
 * dummies only.
 */
static int prune_dummies(thread_state *state)
{
	size_t *order = malloc(state->node_count * sizeof(*order));
	size_t *reached = calloc(state->node_count, sizeof(*reached));
	if (order == NULL || reached == NULL) {
		free(order);
		free(reached);
		return -1;
	}
	size_t count = breadth_first(state, order);

	/* Children before parents: count the messages each dummy would promote. */
	for (size_t k = count; k-- > 1;) {
		size_t node = order[k];
		size_t parent = state->nodes[node].parent;
		if (parent != state->root && is_dummy(state, parent))
			reached[parent] += is_dummy(state, node) ? reached[node] : 1;
	}
	for (size_t k = 1; k < count; k++) {
		size_t node = order[k];
		if (is_dummy(state, node) && (state->nodes[node].parent != state->root || reached[node] <= 1))
			state->nodes[node].removed = true;
	}

	/* Parents before children: a node moves up past every removed dummy above it. */
	size_t *new_parent = reached;
	for (size_t k = 1; k < count; k++) {
		size_t node = order[k];
		size_t parent = state->nodes[node].parent;
		new_parent[node] = state->nodes[parent].removed ? new_parent[parent] : parent;
	}
	for (size_t k = 1; k < count; k++) {
		size_t node = order[k];
		state->nodes[node].parent = state->nodes[node].removed ? NONE : new_parent[node];
	}
	free(order);
	free(reached);
	rebuild_children(state);
	return 0;
}

/* The base subject of a top-level node: its own, or its first child's for a dummy. */
static const char *thread_subject(const thread_state *state, size_t node)
{
	size_t message = sort_message(state, node);
	if (message == NONE || state->messages[message].base_subject == NULL)
		return "";
	return state->messages[message].base_subject;
}

static bool is_reply(const thread_state *state, size_t node)
{
	return !is_dummy(state, node) && state->messages[state->nodes[node].message].reply_or_forward;
}

/* Step 5 (B): one node per thread subject, preferring a dummy, then a message that is not a reply. */
static int fill_subject_table(thread_state *state, const size_t *top, size_t count, id_entry **table_out,
			      size_t *capacity_out)
{
	size_t capacity = 16;
	while (capacity < count * 2 + 2)
		capacity *= 2;
	id_entry *table = calloc(capacity, sizeof(*table));
	if (table == NULL)
		return -1;
	for (size_t k = 0; k < count; k++) {
		size_t node = top[k];
		const char *subject = thread_subject(state, node);
		if (*subject == '\0')
			continue;
		id_entry *entry = find_slot(table, capacity, subject, strlen(subject));
		if (entry->text == NULL) {
			*entry = (id_entry){ .text = subject, .length = strlen(subject), .node = node };
		} else if (!is_dummy(state, entry->node) &&
			   (is_dummy(state, node) || (is_reply(state, entry->node) && !is_reply(state, node)))) {
			entry->node = node;
		}
	}
	*table_out = table;
	*capacity_out = capacity;
	return 0;
}

/* Step 5 (C): merges NODE into the thread the subject table holds for its subject. */
static int merge_thread(thread_state *state, size_t node, id_entry *entry)
{
	size_t kept = entry->node;
	if (is_dummy(state, kept) && is_dummy(state, node)) {
		/* NODE's child list is still the one pruning left: no merge has touched it. */
		for (size_t child = state->nodes[node].first_child; child != NONE; child = state->nodes[child].next_sibling)
			set_parent(state, child, kept);
		set_parent(state, node, NONE);
		state->nodes[node].removed = true;
	} else if (is_dummy(state, kept) || (is_reply(state, node) && !is_reply(state, kept))) {
		set_parent(state, node, kept);
	} else {
		size_t dummy = add_node(state, NONE);
		if (dummy == NONE)
			return -1;
		set_parent(state, dummy, state->root);
		set_parent(state, kept, dummy);
		set_parent(state, node, dummy);
		entry->node = dummy;
	}
	return 0;
}

static int merge_by_subject(thread_state *state)
{
	size_t count = 0;
	size_t *top = malloc((state->nodes[state->root].child_count + 1) * sizeof(*top));
	if (top == NULL)
		return -1;
	for (size_t child = state->nodes[state->root].first_child; child != NONE; child = state->nodes[child].next_sibling)
		top[count++] = child;

	id_entry *table = NULL;
	size_t capacity = 0;
	if (fill_subject_table(state, top, count, &table, &capacity) != 0) {
		free(top);
		return -1;
	}
	int status = 0;
	for (size_t k = 0; k < count && status == 0; k++) {
		size_t node = top[k];
		/* A node an earlier merge moved under a dummy is no longer a thread of its own. */
		if (state->nodes[node].parent != state->root)
			continue;
		const char *subject = thread_subject(state, node);
		if (*subject == '\0')
			continue;
		id_entry *entry = find_slot(table, capacity, subject, strlen(subject));
		if (entry->text != NULL && entry->node != node)
			status = merge_thread(state, node, entry);
	}
	free(table);
	free(top);
	return status;
}

static int thread_references(thread_state *state)
{
	if (create_message_nodes(state) != 0)
		return -1;
	for (size_t i = 0; i < state->message_count; i++)
		if (link_references(state, i) != 0)
			return -1;

	/* Step 2: every node without a parent goes under the root. */
	state->root = add_node(state, NONE);
	if (state->root == NONE)
		return -1;
	for (size_t i = 0; i < state->root; i++)
		if (state->nodes[i].parent == NONE)
			set_parent(state, i, state->root);
	/* The subject merge adds at most one dummy per thread. */
	size_t *scratch = malloc((state->node_count * 2 + 1) * sizeof(*scratch));
	if (scratch == NULL)
		return -1;
	state->scratch = scratch;
	rebuild_children(state);

	if (prune_dummies(state) != 0)
		return -1;

	/* Step 4: the threads by the date of their first message. */
	for (size_t child = state->nodes[state->root].first_child; child != NONE; child = state->nodes[child].next_sibling)
		if (is_dummy(state, child))
			sort_children(state, child);
	sort_children(state, state->root);

	if (merge_by_subject(state) != 0)
		return -1;
	rebuild_children(state);
	sort_all(state);
	return 0;
}

/* ---- ORDEREDSUBJECT ---------------------------------------------------------------------- */

static int compare_by_subject(const void *a, const void *b, void *context)
{
	const thread_state *state = context;
	size_t left = *(const size_t *)a;
	size_t right = *(const size_t *)b;
	const char *left_subject = state->messages[left].base_subject;
	const char *right_subject = state->messages[right].base_subject;
	int difference = strcmp(left_subject != NULL ? left_subject : "", right_subject != NULL ? right_subject : "");
	return difference != 0 ? difference : compare_messages(state, left, right);
}

/*
 * Messages are sorted by base subject, then sent date. The first of each
 * subject starts a thread and every later one is its child, so the
 * threads have no grandchildren (RFC 5256 section 3).
 */
static int thread_ordered_subject(thread_state *state)
{
	size_t count = state->message_count;
	for (size_t i = 0; i < count; i++)
		if (add_node(state, i) == NONE)
			return -1;
	state->root = add_node(state, NONE);
	if (state->root == NONE)
		return -1;
	state->scratch = malloc((state->node_count + 1) * sizeof(*state->scratch));
	size_t *order = malloc((count + 1) * sizeof(*order));
	if (state->scratch == NULL || order == NULL) {
		free(order);
		return -1;
	}
	for (size_t i = 0; i < count; i++)
		order[i] = i;
	qsort_r(order, count, sizeof(*order), compare_by_subject, state);

	size_t first = NONE;
	for (size_t k = 0; k < count; k++) {
		size_t node = order[k];
		const ex_imap_thread_message *message = &state->messages[node];
		const char *subject = message->base_subject != NULL ? message->base_subject : "";
		const char *first_subject = first == NONE || state->messages[first].base_subject == NULL
						    ? ""
						    : state->messages[first].base_subject;
		if (first == NONE || strcmp(subject, first_subject) != 0) {
			first = node;
			set_parent(state, node, state->root);
		} else {
			set_parent(state, node, first);
		}
	}
	free(order);
	rebuild_children(state);
	sort_all(state);
	return 0;
}

/* ---- output ---------------------------------------------------------------------------------- */

/*
 * Writes each thread under the root as "(" members ")". A chain of only
 * children is written as numbers separated by spaces. Where a node has
 * several children, each child's subthread follows in its own
 * parentheses. STACK has one entry per open parenthesis: the node whose
 * siblings come next.
 */
static int write_threads(const thread_state *state, ex_imap_writer *writer)
{
	size_t *stack = malloc((state->node_count + 1) * sizeof(*stack));
	if (stack == NULL)
		return -1;
	size_t depth = 0;
	stack[depth++] = state->nodes[state->root].first_child;
	while (depth > 0) {
		size_t start = stack[depth - 1];
		if (start == NONE) {
			depth--;
			if (depth == 0)
				break;
			ex_imap_write_text(writer, ")");
			stack[depth - 1] = state->nodes[stack[depth - 1]].next_sibling;
			continue;
		}
		ex_imap_write_text(writer, "(");
		bool written = false;
		size_t node = start;
		for (;;) {
			if (!is_dummy(state, node)) {
				if (written)
					ex_imap_write_text(writer, " ");
				ex_imap_write_number(writer, state->messages[state->nodes[node].message].number);
				written = true;
			}
			if (state->nodes[node].child_count != 1)
				break;
			node = state->nodes[node].first_child;
		}
		if (state->nodes[node].child_count == 0) {
			ex_imap_write_text(writer, ")");
			stack[depth - 1] = state->nodes[start].next_sibling;
			continue;
		}
		if (written)
			ex_imap_write_text(writer, " ");
		stack[depth++] = state->nodes[node].first_child;
	}
	free(stack);
	return 0;
}

bool ex_imap_thread_algorithm_parse(const char *name, ex_imap_thread_algorithm *algorithm)
{
	if (strcasecmp(name, "ORDEREDSUBJECT") == 0) {
		*algorithm = EX_IMAP_THREAD_ORDEREDSUBJECT;
		return true;
	}
	if (strcasecmp(name, "REFERENCES") == 0) {
		*algorithm = EX_IMAP_THREAD_REFERENCES;
		return true;
	}
	return false;
}

int ex_imap_thread_write(ex_imap_writer *writer, ex_imap_thread_algorithm algorithm,
			 const ex_imap_thread_message *messages, size_t count)
{
	thread_state state = { .messages = messages, .message_count = count, .root = NONE };
	int status = algorithm == EX_IMAP_THREAD_REFERENCES ? thread_references(&state) : thread_ordered_subject(&state);
	if (status == 0)
		status = write_threads(&state, writer);
	free(state.nodes);
	free(state.ids);
	free(state.scratch);
	return status;
}
