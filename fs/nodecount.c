/*
 * Paths of counters/ (SPEC §4.4). Each directory is a counter key, the
 * tree's root the empty key; a key directory exists while the key exists
 * in the store (counted, made by mkdir, or an ancestor of one). Every key
 * directory holds the cgroup-style files counter.value, counter.total,
 * counter.list, counter.by-day, counter.by-week (generated at each read,
 * never cached), counter.inc (write-only) and counter.query (a
 * transaction file). Looking a key up never creates it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "node.h"
#include "banned.h"

static const char *const counter_files[] = {
	[CF_BY_DAY] = "counter.by-day", [CF_BY_WEEK] = "counter.by-week",
	[CF_INC] = "counter.inc",       [CF_LIST] = "counter.list",
	[CF_QUERY] = "counter.query",   [CF_TOTAL] = "counter.total",
	[CF_VALUE] = "counter.value",
};

size_t node_tokens(const struct node *n, const char *v[COUNTER_MAX_DEPTH])
{
	for (size_t i = 0; i < n->n_tokens; i++)
		v[i] = n->tokens[i];
	return n->n_tokens;
}

static int resolve_file(const char *name, struct node *ret)
{
	for (size_t f = 0; f < ARRAY_SIZE(counter_files); f++) {
		if (strcmp(name, counter_files[f]) != 0)
			continue;
		ret->cfile = (enum counter_file)f;
		ret->kind = f == CF_INC ? N_CNT_INC : f == CF_QUERY ? N_CNT_QUERY : N_CNT_FILE;
		return 0;
	}
	return -ENOENT;
}

int node_resolve_counters(const struct node_ctx *c, const char *const *v, size_t n,
			  struct node *ret)
{
	const char *tok[COUNTER_MAX_DEPTH];
	size_t i;

	ret->kind = N_CNT_DIR;
	for (i = 1; i < n; i++) {
		if (strncmp(v[i], "counter.", 8) == 0)
			break;
		if (ret->n_tokens == COUNTER_MAX_DEPTH || counter_token_valid(v[i]) < 0)
			return -ENOENT;
		snprintf(ret->tokens[ret->n_tokens++], COUNTER_MAX_TOKEN + 1, "%s", v[i]);
	}
	/* Every increment that returned is visible to what follows. */
	if (store_counter_exists(c->store, tok, node_tokens(ret, tok)) < 0)
		return -ENOENT;
	if (i == n)
		return 0;
	if (i + 1 != n)
		return -ENOENT;
	return resolve_file(v[i], ret);
}

int node_content_counters(const struct node_ctx *c, const struct node *n, struct buf *out)
{
	const char *tok[COUNTER_MAX_DEPTH];
	struct counter_req req = { .tokens = tok, .n = node_tokens(n, tok) };
	enum counter_fmt fmt = COUNTER_FMT_TEXT;

	switch (n->cfile) {
	case CF_VALUE:
		fmt = COUNTER_FMT_NUMBER_NL;
		break;
	case CF_TOTAL:
		req.prefix = true;
		fmt = COUNTER_FMT_NUMBER_NL;
		break;
	case CF_LIST:
		req.prefix = true;
		req.list = true;
		break;
	case CF_BY_DAY:
	case CF_BY_WEEK:
		req.prefix = true;
		req.self = true;
		req.by = n->cfile == CF_BY_DAY ? COUNTER_BY_DAY : COUNTER_BY_WEEK;
		break;
	default:
		return 0;
	}
	return store_counter_report(c->store, &req, fmt, out);
}

int node_stat_counters(const struct node_ctx *c, const struct node *n, struct stat *st)
{
	struct buf b;
	int r;

	switch (n->kind) {
	case N_CNT_DIR:
		node_group_mode(c, st, S_IFDIR | 0775);
		return 0;
	case N_CNT_INC:
		node_group_mode(c, st, S_IFREG | 0220);
		return 0;
	case N_CNT_QUERY:
		/* Anyone may ask (SPEC §2). */
		st->st_mode = S_IFREG | 0666;
		return 0;
	case N_CNT_FILE:
		node_group_mode(c, st, S_IFREG | 0444);
		buf_init(&b, 64 << 20);
		r = node_content_counters(c, n, &b);
		st->st_size = (off_t)b.len;
		buf_free(&b);
		return r;
	default:
		return -ENOENT;
	}
}

struct adapter {
	node_list_cb cb;
	void *ud;
};

static int list_child(void *ud, const char *token)
{
	struct adapter *a = ud;

	return a->cb(a->ud, token, S_IFDIR);
}

int node_list_counters(const struct node_ctx *c, const struct node *n, node_list_cb cb,
		       void *ud)
{
	const char *tok[COUNTER_MAX_DEPTH];
	struct adapter a = { .cb = cb, .ud = ud };
	int r;

	for (size_t f = 0; f < ARRAY_SIZE(counter_files); f++) {
		r = cb(ud, counter_files[f], S_IFREG);
		if (r < 0)
			return r;
	}
	return store_counter_children(c->store, tok, node_tokens(n, tok), list_child, &a);
}
