/*
 * Update locks (SPEC §4.5, §4.2): a lock holds the right to publish to a
 * set of charm URLs for a limited time. Locks live in the store's SQLite
 * database, so they survive a remount and are shared by every front end.
 *
 * A lock has an unguessable id (LOCKID, LOCK_ID_LEN lower-case hex
 * characters), the URLs it holds (cs:[~user/]series/name, never a
 * revision), a holder (pid, uid, command, as the caller describes it),
 * `since` and `expires`. Times are unix seconds given by the caller (`now`),
 * so tests control the clock; lock_now() gives the real one. A lock is
 * expired when now >= expires: it is then gone for every reader, and the
 * next taker of one of its URLs takes that URL over. A lock taken or
 * renewed at now with timeout T expires at now + T + 1: now is cut to
 * whole seconds, and the extra second keeps a lock until it is older
 * than T (SPEC §4.5), at most a second longer.
 *
 * Locks are identified by id, never by URL, for releasing: the holder of
 * an expired lock that was taken over can only release its own (now empty)
 * lock, never the new holder's.
 *
 * Thread-safety: every function may be called from any thread; writers
 * are serialised by the db layer (one write transaction each), readers use
 * the calling thread's own connection. Functions that change locks open
 * their own write transaction, so they must not be called inside one.
 */
#ifndef CHARMFS_LOCK_H
#define CHARMFS_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct db; /* db.h: for backend/ only */
#include "url.h"
#include "util.h"

/* Hex characters of a LOCKID (16 random bytes). */
#define LOCK_ID_LEN 32
/* Longest holder command kept; a longer one is truncated. */
#define LOCK_COMMAND_MAX 255
/* Most URLs in one `lock` request of locks/ctl. */
#define LOCK_REQ_URLS_MAX 32
/* Longest locks/ctl request line, newline included. */
#define LOCK_REQ_MAX 8192

/*
 * The lock tables as the store's schema step 1 creates them (store.c);
 * NULL-terminated, idempotent (CREATE ... IF NOT EXISTS). Never changed
 * once released: a change to these tables is a new step there.
 */
extern const char *const lock_schema[];

/* Who takes a lock: described by the caller, stored as given. */
struct lock_holder {
	pid_t pid; /* 0: no process (mkdir) */
	uid_t uid;
	const char *command; /* NULL or "": unknown; truncated to LOCK_COMMAND_MAX */
};

/* One unexpired lock, as lock_get() reads it. */
struct lock_info {
	char id[LOCK_ID_LEN + 1];
	pid_t pid;
	uid_t uid;
	char command[LOCK_COMMAND_MAX + 1];
	int64_t since;	 /* unix seconds */
	int64_t expires; /* unix seconds; the lock is gone from this second on */
};

/* The current time in unix seconds (CLOCK_REALTIME), for `now` arguments. */
int64_t lock_now(void);

/* True when s is a well-formed LOCKID (LOCK_ID_LEN lower-case hex characters). */
bool lock_id_valid(const char *s);

/*
 * Takes the locks of the n URLs (cs:, with series, without revision) for
 * timeout seconds, all or none, in sorted order with duplicates merged,
 * in one write transaction. A URL whose lock is expired is taken over:
 * it leaves its old lock (which is removed once it holds no URL) and a
 * line "URL OLDID" is appended to taken_over (may be NULL) for the
 * caller's `lock-expired` event. Returns 0 and the new id in ret_id;
 * -EEXIST when a URL holds an unexpired lock (nothing taken, taken_over
 * unchanged); -EINVAL for n == 0 or a URL of the wrong shape; -ENOMEM,
 * -EIO, -ENOSPC.
 */
int lock_take(struct db *db, const struct url *urls, size_t n, const struct lock_holder *h,
	      int64_t now, unsigned timeout, char ret_id[LOCK_ID_LEN + 1],
	      struct strv *taken_over) WUR;

/*
 * Releases every URL of lock id (`unlock` in locks/ctl), expired or not.
 * -ENOENT when no such lock exists (already released, or expired and
 * taken over: the new holder's lock is never touched); -EINVAL for a
 * malformed id; -EIO.
 */
int lock_release(struct db *db, const char *id) WUR;

/*
 * Releases the lock on one URL (`rmdir locks/.../URL`): only that URL
 * leaves its lock; a lock left without URLs is removed. -ENOENT when the
 * URL holds no lock or an expired one; -EINVAL, -EIO.
 */
int lock_release_url(struct db *db, const struct url *u, int64_t now) WUR;

/*
 * Renews the unexpired lock holding u (`touch`): the whole lock then
 * expires at now + timeout + 1. -ENOENT when u holds no unexpired lock;
 * -EINVAL, -EIO.
 */
int lock_renew(struct db *db, const struct url *u, int64_t now, unsigned timeout) WUR;

/*
 * Reads the unexpired lock holding u into ret. -ENOENT when none (an
 * expired lock is gone); -EINVAL, -EIO. ret is written only on success.
 */
int lock_get(struct db *db, const struct url *u, int64_t now, struct lock_info *ret) WUR;

/*
 * Listing callback: name is valid only during the call. Return 0 to go on,
 * or a negative errno to stop, which the listing function then returns.
 * It must not call lock_ functions (the statement is still running).
 */
typedef int (*lock_name_cb)(void *ud, const char *name);

/* Users ("" excluded) that hold at least one unexpired lock, sorted. */
int lock_list_users(struct db *db, int64_t now, lock_name_cb cb, void *ud) WUR;
/* Series with an unexpired lock under user ("" = no user), sorted. */
int lock_list_series(struct db *db, const char *user, int64_t now, lock_name_cb cb, void *ud) WUR;
/* Charm names with an unexpired lock under user/series, sorted. */
int lock_list_names(struct db *db, const char *user, const char *series, int64_t now,
		    lock_name_cb cb, void *ud) WUR;

/* The URLs (cs:... strings) lock id holds, expired or not, sorted. */
int lock_list_urls(struct db *db, const char *id, lock_name_cb cb, void *ud);

/*
 * For publishing (§4.2): 0 when every URL is unlocked, expired or held by
 * lock_id (may be NULL: no lock named); -EBUSY when any is held by
 * another unexpired lock; -EINVAL, -EIO. Only reads: it may run inside the
 * caller's write transaction (db_write_begin()), which makes the check
 * atomic with the publish that follows.
 */
int lock_check(struct db *db, const struct url *urls, size_t n, const char *lock_id,
	       int64_t now) WUR;

/*
 * Removes every expired lock (housekeeping; expired locks are invisible
 * anyway). For each URL freed, "URL ID" is appended to gone (may be NULL).
 * -ENOMEM, -EIO; nothing is removed on failure.
 */
int lock_purge(struct db *db, int64_t now, struct strv *gone) WUR;

/*
 * Releases every lock whose holder command is command, expired or not
 * (at start-up: the locks a daemon's own publishes held when it stopped).
 * 0 or -errno.
 */
int lock_release_command(struct db *db, const char *command) WUR;

/* ---- locks/ctl requests ----------------------------------------------------- */

enum lock_req_kind {
	LOCK_REQ_LOCK = 1, /* lock URL [URL...] */
	LOCK_REQ_UNLOCK,   /* unlock LOCKID */
};

struct lock_req {
	enum lock_req_kind kind;
	size_t n_urls;			    /* LOCK_REQ_LOCK: 1..LOCK_REQ_URLS_MAX */
	struct url urls[LOCK_REQ_URLS_MAX]; /* in request order, duplicates kept */
	char id[LOCK_ID_LEN + 1];	    /* LOCK_REQ_UNLOCK */
};

/*
 * Parses one locks/ctl request line of len bytes (one trailing "\n" or
 * "\r\n" allowed; words separated by spaces or tabs): `lock URL [URL...]`
 * with cs: URLs that have a series and no revision, or `unlock LOCKID`.
 * Returns 0, or -EINVAL with a message in err (truncated to errlen; err
 * may be NULL) for anything malformed, including a line over LOCK_REQ_MAX
 * bytes, a NUL byte or more than LOCK_REQ_URLS_MAX URLs.
 */
int lock_parse_request(const char *line, size_t len, struct lock_req *ret, char *err,
		       size_t errlen) WUR;

#endif
