/*
 * Locks and counters of a store, for front ends (storestate.h): the
 * repositories (lock.c, counter.c, counterlog.c) with the store's database,
 * counter log and clock filled in.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counterlog.h"
#include "store_int.h"
#include "storestate.h"
#include "banned.h"

/* ---- locks ------------------------------------------------------------------ */

int store_lock_release(struct store *s, const char *id, lock_name_cb held, void *ud)
{
	struct db *db = store_db(s);

	if (held && lock_id_valid(id))
		(void)lock_list_urls(db, id, held, ud);
	return lock_release(db, id);
}

int store_lock_release_url(struct store *s, const struct url *u)
{
	return lock_release_url(store_db(s), u, lock_now());
}

int store_lock_renew(struct store *s, const struct url *u, unsigned timeout)
{
	return lock_renew(store_db(s), u, lock_now(), timeout);
}

int store_lock_get(struct store *s, const struct url *u, struct lock_info *ret)
{
	return lock_get(store_db(s), u, lock_now(), ret);
}

int store_lock_list(struct store *s, const char *user, const char *series, lock_name_cb cb,
		    void *ud)
{
	struct db *db = store_db(s);
	int64_t now = lock_now();

	if (!user)
		return lock_list_users(db, now, cb, ud);
	if (!series)
		return lock_list_series(db, user, now, cb, ud);
	return lock_list_names(db, user, series, now, cb, ud);
}

/* ---- counters ------------------------------------------------------------------ */

int store_counter_inc(struct store *s, const char *const *tokens, size_t n, uint64_t count,
		      bool must_exist)
{
	return counter_log_inc(store_counters(s), tokens, n, count, (int64_t)time(NULL),
			       must_exist ? COUNTER_LOG_EXISTING : 0);
}

int store_counter_mkkey(struct store *s, const char *const *tokens, size_t n)
{
	return counter_mkkey(store_db(s), tokens, n);
}

int store_counter_rmkey(struct store *s, const char *const *tokens, size_t n)
{
	return counter_log_rmkey(store_counters(s), store_db(s), tokens, n);
}

int store_counter_exists(struct store *s, const char *const *tokens, size_t n)
{
	return counter_log_exists(store_counters(s), store_db(s), tokens, n);
}

int store_counter_children(struct store *s, const char *const *tokens, size_t n,
			   counter_name_cb cb, void *ud)
{
	return counter_log_children(store_counters(s), store_db(s), tokens, n, cb, ud);
}

int store_counter_query(struct store *s, const struct counter_req *req,
			struct counter_result *ret)
{
	return counter_log_query(store_counters(s), store_db(s), req, ret);
}

int store_counter_report(struct store *s, const struct counter_req *req, enum counter_fmt fmt,
			 struct buf *out)
{
	struct counter_result res = { 0 };
	int r = store_counter_query(s, req, &res);

	if (r == 0)
		r = counter_format(&res, fmt, out);
	counter_result_free(&res);
	return r;
}

/* ---- counting what clients fetch ------------------------------------------------ */

int store_count(struct store *s, enum store_count_kind kind, const struct url *u)
{
	static const char *const first[] = {
		[STORE_COUNT_BUNDLE] = "charm-bundle",
		[STORE_COUNT_INFO] = "charm-info",
		[STORE_COUNT_MISSING] = "charm-missing",
		[STORE_COUNT_EVENT] = "charm-event",
	};
	const char *tokens[4] = { first[kind], u->series, u->name, u->user };

	return store_counter_inc(s, tokens, u->user[0] ? 4 : 3, 1, false);
}
