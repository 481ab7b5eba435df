/*
 * Counters (SPEC §4.4): download statistics keyed by a list of tokens
 * ("charm-bundle", "trusty", "wordpress"), stored in the store's SQLite
 * database, with the query semantics and output formats of the original
 * charm store's /stats/counter API.
 *
 * A key is 0..COUNTER_MAX_DEPTH tokens; the empty key is the root of the
 * tree (counters/ itself) and is never counted. A token is 1..
 * COUNTER_MAX_TOKEN bytes, without '/', ':' or control characters, is not
 * "*" and does not start with "counter.".
 *
 * Calling sequence for a query:
 *   struct counter_req req = { .tokens = t, .n = n, .prefix = true };
 *   struct counter_result res = { 0 };
 *   counter_query(db, &req, &res);
 *   counter_format(&res, fmt, &buf);
 *   counter_result_free(&res);
 *
 * Thread-safety: every function may be called from any thread (the db
 * layer gives each thread its own connection and serialises writers).
 * Reads never create tokens or keys. Library code does not log.
 */
#ifndef CHARMFS_COUNTER_H
#define CHARMFS_COUNTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db; /* db.h: for backend/ only */
#include "util.h"

#define COUNTER_MAX_DEPTH 16
#define COUNTER_MAX_TOKEN 128
/* Most rows one query may return (-EFBIG beyond). */
#define COUNTER_MAX_ROWS (1u << 20)
/* Longest counter.query line accepted. */
#define COUNTER_MAX_QUERY 1024

/*
 * CREATE ... IF NOT EXISTS statements of the counter tables, NULL-terminated:
 * the counters' part of the store's schema step 1 (store.c). Never changed
 * once released: a change to these tables is a new step there.
 */
extern const char *const counter_schema[];

/* Checks one token for a key that may be written. 0 or -EINVAL. */
int counter_token_valid(const char *token) WUR;

/*
 * Adds count (1..INT64_MAX) to the key tokens[0..n) (n >= 1) at time now_unix
 * (seconds, 0..year 9999), creating the key and its ancestors as needed, in
 * one write transaction; durable per the store's sync mode on return.
 * -EINVAL (bad token, n == 0 or > COUNTER_MAX_DEPTH, bad count or time),
 * -EOVERFLOW (the grand total would pass INT64_MAX), -ENOSPC/-EIO.
 */
int counter_inc(struct db *db, const char *const *tokens, size_t n, uint64_t count,
		int64_t now_unix) WUR;
/*
 * The same inside a write transaction the caller already holds
 * (db_write_begin()), for batching increments with other changes.
 */
int counter_inc_tx(struct db *db, const char *const *tokens, size_t n, uint64_t count,
		   int64_t now_unix) WUR;

/*
 * Makes the key exist, with its ancestors, without counting anything
 * (mkdir). 0 when created, -EEXIST when it already existed, -EINVAL as for
 * counter_inc (n == 0 is the root, which always exists: -EEXIST).
 */
int counter_mkkey(struct db *db, const char *const *tokens, size_t n) WUR;
/*
 * Removes a key that has no counts and no child keys (rmdir). -ENOENT when
 * unknown, -ENOTEMPTY when it has counts or children, -EBUSY for the root.
 */
int counter_rmkey(struct db *db, const char *const *tokens, size_t n) WUR;

/* 0 when the key exists (the root always does), -ENOENT when not, or -errno. */
int counter_exists(struct db *db, const char *const *tokens, size_t n) WUR;

/* The grand total: every count of every key (what no increment may take past INT64_MAX). */
int counter_total(struct db *db, uint64_t *ret) WUR;

/* Called once per child token; a nonzero return stops the walk and is returned. */
typedef int (*counter_name_cb)(void *ud, const char *token);
/*
 * Calls cb with the next-level child tokens of the key, in byte order.
 * -ENOENT when the key does not exist.
 */
int counter_children(struct db *db, const char *const *tokens, size_t n, counter_name_cb cb,
		     void *ud) WUR;

enum counter_by { COUNTER_BY_ALL, COUNTER_BY_DAY, COUNTER_BY_WEEK };

struct counter_req {
	const char *const *tokens; /* the key; tokens need not be valid (they just match nothing) */
	size_t n;
	bool prefix;   /* keys extending the key by >= 1 token, not the key itself */
	bool self;     /* with prefix and without list: the key itself too (counter.by-day) */
	bool list;     /* one row per next-level key (prefix) or the key's own row (exact) */
	enum counter_by by;
	int64_t start; /* unix seconds, 0 = unbounded: counts from the UTC day of start */
	int64_t stop;  /* unix seconds, 0 = unbounded: counts through the UTC day of stop */
};

struct counter_row {
	char *key;      /* as printed: "a:b" or "a:b:*"; NULL when not listing */
	size_t baselen; /* bytes of key without ":*" */
	bool prefix;
	bool dated;     /* time is a bucket: a day start, or a week's following Sunday */
	int64_t time;
	uint64_t count;
};

struct counter_result {
	struct counter_row *rows;
	size_t n;
};

/*
 * Runs a query with the original semantics: rows in the original order
 * (earlier time, larger count, token-wise key, shorter key, exact before
 * prefix). Without list the answer is never empty (an unknown key gives one
 * undated zero row); with list an unknown key gives no rows. Fills *ret
 * (free with counter_result_free()) only on success. -EINVAL (self with
 * list, stop before start), -EFBIG (more than COUNTER_MAX_ROWS rows), -EIO.
 */
int counter_query(struct db *db, const struct counter_req *req, struct counter_result *ret) WUR;
void counter_result_free(struct counter_result *res);

/*
 * Verifies that every key's totals agree with the per-minute counts and
 * the day, week and prefix rollups (charmfs --check). One message per
 * disagreement goes to problems. 0 when all agree, -EIO when not, or
 * another -errno when the check cannot run.
 */
int counter_check(struct db *db, struct strv *problems) WUR;

/* ---- formats and parsing (counterfmt.c) --------------------------------- */

enum counter_fmt {
	COUNTER_FMT_AUTO,      /* not yet chosen; see counter_fmt_resolve() */
	COUNTER_FMT_NUMBER,    /* the bare count, no newline (the HTTP default) */
	COUNTER_FMT_NUMBER_NL, /* the count and "\n" (files) */
	COUNTER_FMT_TEXT,
	COUNTER_FMT_CSV,
	COUNTER_FMT_JSON,
};

/*
 * The original default for an unset format: the number when neither listing
 * nor bucketed (with a newline when newline), text otherwise. Other formats
 * are returned unchanged.
 */
enum counter_fmt counter_fmt_resolve(const struct counter_req *req, enum counter_fmt fmt,
				     bool newline);

/*
 * Appends the answer to out byte-exactly as the original: text pads keys to
 * the longest key + 2 spaces, then "YYYY-MM-DD  " when dated, then the
 * count and "\n"; csv "key,date,count\n" with absent fields left out; json
 * [["key","date",count],...] or [] with no newline. A number format prints
 * the first row's count (0 without rows). -EINVAL for COUNTER_FMT_AUTO,
 * -EFBIG/-ENOMEM from the buffer.
 */
int counter_format(const struct counter_result *res, enum counter_fmt fmt, struct buf *out) WUR;

/*
 * Parses a counter.query line: words "exact", "prefix", "list", "by=day|week",
 * "start=YYYY-MM-DD", "stop=YYYY-MM-DD", "format=text|csv|json", separated by
 * blanks, an optional final newline; later words override earlier ones.
 * Sets every field of *ret_req except tokens/n (left NULL/0 for the caller)
 * and *ret_fmt (resolved, with newline). -EINVAL with a message in err.
 */
int counter_parse_query(const char *line, size_t len, struct counter_req *ret_req,
			enum counter_fmt *ret_fmt, char *err, size_t errlen) WUR;

/*
 * Applies one /stats/counter HTTP parameter (name "list", "by", "start",
 * "stop" or "format"; others are ignored) to *req and *fmt, as the original:
 * list is on only for "1"; an empty value means unset. -EINVAL with the
 * original 400 body in err, e.g. `Invalid 'by' value: "x"`.
 */
int counter_parse_param(const char *name, const char *value, struct counter_req *req,
			enum counter_fmt *fmt, char *err, size_t errlen) WUR;

/*
 * Splits an HTTP key ("a:b", "a:b:*") in place into at most max tokens,
 * with the original's rules: -ENOENT (404) when it contains '/', -EPERM
 * (403) when empty or a lone "*", -E2BIG when it has more than max tokens.
 */
int counter_split_key(char *key, const char **ret_tokens, size_t max, size_t *ret_n,
		      bool *ret_prefix) WUR;

/* Parses "YYYY-MM-DD" (a valid date) into the unix time of its UTC start. 0 or -EINVAL. */
int counter_parse_date(const char *s, int64_t *ret) WUR;

#endif
