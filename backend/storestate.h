/*
 * The store's state for front ends: update locks (SPEC §4.5), counters
 * (§4.4) and the counting of downloads. This is the surface fs/, the HTTP
 * server and the agent modules call; lock.h, counter.h and counterlog.h
 * are the repositories under it and are for backend/ only.
 *
 * What a caller would otherwise have to remember is done here:
 *   - every counter read sees every increment that returned before it
 *     (the counter log's pending increments are applied, or read through,
 *     inside);
 *   - the clock: locks and increments use the real time (lock_now(),
 *     time()); tests that need another clock call the repositories;
 *   - the keys of download counts (`KIND SERIES NAME [USER]`) are built
 *     in one place, store_count().
 *
 * Thread-safety: every function may be called from any thread, outside
 * any transaction. Errors are negative errno values, as listed; the
 * database's own message goes to the daemon's log, not to the caller.
 */
#ifndef CHARMFS_STORESTATE_H
#define CHARMFS_STORESTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "counter.h"
#include "lock.h"
#include "store.h"
#include "url.h"
#include "util.h"

/* ---- locks ------------------------------------------------------------------ */

/*
 * Releases every URL of lock id (`unlock` in locks/ctl). First held (may
 * be NULL) is called with each URL the lock holds, expired or not, as a
 * cs:... string, so that the caller can tell its caches. -ENOENT when no
 * such lock exists (released already, or expired and taken over); -EINVAL
 * for a malformed id; -EIO.
 */
int store_lock_release(struct store *s, const char *id, lock_name_cb held, void *ud) WUR;
/* Releases one URL's unexpired lock (`rmdir locks/...`). As lock_release_url(). */
int store_lock_release_url(struct store *s, const struct url *u) WUR;
/* Renews the unexpired lock holding u for timeout seconds (`touch`). As lock_renew(). */
int store_lock_renew(struct store *s, const struct url *u, unsigned timeout) WUR;
/* The unexpired lock holding u. -ENOENT when none; ret is written only on success. */
int store_lock_get(struct store *s, const struct url *u, struct lock_info *ret) WUR;
/*
 * Lists what holds an unexpired lock below a point of locks/: the users
 * (user NULL), the series of user ("" = no user; series NULL), or the
 * names of user/series; sorted. cb must not call store_lock_ functions.
 */
int store_lock_list(struct store *s, const char *user, const char *series, lock_name_cb cb,
		    void *ud) WUR;

/* ---- counters ------------------------------------------------------------------ */

/*
 * Adds count (1..COUNTER_LOG_MAX_COUNT) to the key tokens[0..n) now, and
 * durably on return (counterlog.h). With must_exist (a write to an
 * existing key's counter.inc), -ENOENT when the key was removed. -EINVAL,
 * -EOVERFLOW, -ENOSPC, -EIO, -EROFS (a read-only store).
 */
int store_counter_inc(struct store *s, const char *const *tokens, size_t n, uint64_t count,
		      bool must_exist) WUR;
/* Creates a key (`mkdir` in counters/). As counter_mkkey(). */
int store_counter_mkkey(struct store *s, const char *const *tokens, size_t n) WUR;
/* Removes a key and everything under it, no increment in flight lost. As counter_log_rmkey(). */
int store_counter_rmkey(struct store *s, const char *const *tokens, size_t n) WUR;
/* 1 when the key exists, 0 when not, or -errno. */
int store_counter_exists(struct store *s, const char *const *tokens, size_t n) WUR;
/* The child tokens of a key, sorted; a callback error stops and is returned. */
int store_counter_children(struct store *s, const char *const *tokens, size_t n,
			   counter_name_cb cb, void *ud) WUR;
/* Runs a counter query (counter.h); the caller frees ret with counter_result_free(). */
int store_counter_query(struct store *s, const struct counter_req *req,
			struct counter_result *ret) WUR;
/*
 * Runs a counter query and appends its answer in fmt to out
 * (counter_format()): what counter.* files and counter.query show.
 */
int store_counter_report(struct store *s, const struct counter_req *req, enum counter_fmt fmt,
			 struct buf *out) WUR;

/* ---- counting what clients fetch ------------------------------------------------ */

/* What store_count() counts; the first token of the key (SPEC §4.4). */
enum store_count_kind {
	STORE_COUNT_BUNDLE,  /* charm-bundle: an archive was downloaded */
	STORE_COUNT_INFO,    /* charm-info */
	STORE_COUNT_MISSING, /* charm-missing: info asked for a charm that is not there */
	STORE_COUNT_EVENT,   /* charm-event */
};

/*
 * Counts one fetch of u under `KIND SERIES NAME [USER]`. 0 or
 * store_counter_inc()'s errors; counting never fails the fetch, so the
 * caller only logs a failure.
 */
int store_count(struct store *s, enum store_count_kind kind, const struct url *u);

#endif
