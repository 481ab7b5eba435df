/*
 * Read-only store queries for the HTTP front end: series resolution of a
 * URL without series, revision lookup (latest or a given one) in one
 * statement, and the newest event of a URL (optionally for one digest).
 *
 * All functions return 0 or -errno (-ENOENT when nothing matches, -EIO or
 * the mapped SQLite error otherwise), write their ret_* argument only on
 * success, and may be called from any thread: they only read, through the
 * calling thread's connection (db_prep()).
 */
#ifndef CHARMFS_QUERY_H
#define CHARMFS_QUERY_H

#include <stdint.h>

#include "store.h"
#include "url.h"
#include "util.h"

/*
 * The series a URL without series resolves to, as the original store did:
 * among the series where [~user/]series/name has at least one revision
 * (the user must match exactly; "" only matches URLs without user), the
 * LTS series trusty, precise, lucid first, then the others in reverse
 * alphabetical order. Only cs: URLs resolve. Writes ret[URL_SERIES_MAX+1].
 */
int query_resolve_series(struct store *s, const struct url *u, char *ret, size_t retlen) WUR;

/*
 * The revision u names: u->revision, or the highest stored one when it is
 * -1. -ENOENT when there is none or u is not a cs: URL with a series.
 */
int query_rev(struct store *s, const struct url *u, struct store_rev *ret) WUR;

enum { QUERY_EVENT_PUBLISHED = 1, QUERY_EVENT_PUBLISH_ERROR = 2 };

/* One charm event. Release with query_event_clear(). */
struct query_event {
	int kind;            /* QUERY_EVENT_* */
	int revision;
	char *digest;
	int64_t time_ns;     /* nanoseconds since the epoch */
	struct strv errors;
	struct strv warnings;
};

/*
 * The newest event naming u (a cs: URL with series and without revision),
 * only among events with that digest when digest is not NULL. On success
 * *ret owns its strings; call query_event_clear() on it.
 */
int query_event_latest(struct store *s, const struct url *u, const char *digest,
		       struct query_event *ret) WUR;
/* Frees what an event owns and zeroes it. Accepts a zeroed event. */
void query_event_clear(struct query_event *e);

#endif
