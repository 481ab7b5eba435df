/*
 * The counter log (see counterlog.h). Record format, one line each:
 *
 *   SEQ TIME COUNT TOKEN<TAB>TOKEN...\n
 *
 * Tokens never hold control characters (counter_token_valid()), so tabs
 * and newlines delimit them safely. The log is truncated after each batch
 * is committed, so it only ever holds increments the database may lack.
 * A batch is applied in one write transaction that also stores the last
 * sequence number it holds (meta 'counter_log_seq'); a record whose number
 * is not above it was applied already and is skipped on replay. A torn
 * last line (power loss) is ignored: its write() never returned.
 *
 * A worker thread applies pending increments a moment after they arrive,
 * started on first use because the daemon forks after opening the store.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "counter.h"
#include "counterlog.h"
#include "db.h"
#include "banned.h"

#define APPLY_DELAY_MS 50
#define LINE_MAX_BYTES (64 + COUNTER_MAX_DEPTH * (COUNTER_MAX_TOKEN + 1))
/* Keys COUNTER_LOG_EXISTING found, so that a write to counter.inc costs no query. */
#define KNOWN_SLOTS 64
#define KNOWN_KEY_MAX 256

struct known_key {
	uint64_t removals; /* l->removals when it was found; 0: empty slot */
	char key[KNOWN_KEY_MAX]; /* the tokens joined by tabs */
};

struct record {
	uint64_t seq;
	int64_t time;
	uint64_t count;
	size_t n;
	char *tokens[COUNTER_MAX_DEPTH];
};

struct counter_log {
	struct db *db;
	int fd;
	bool sync_full;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;
	uint64_t next_seq;
	off_t size; /* bytes in the log */
	uint64_t replay_done; /* at open: the last sequence number the database has */
	uint64_t total; /* the grand total: the database's and the pending increments' */
	struct record *pending;
	size_t n_pending;
	uint64_t removals; /* counter_log_rmkey() calls, + 1: a key found before one may be gone */
	struct known_key known[KNOWN_SLOTS];
	pthread_t thread;
	bool running, stop;
};

static void record_free(struct record *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->tokens[i]);
}

static void pending_clear(struct counter_log *l)
{
	for (size_t i = 0; i < l->n_pending; i++)
		record_free(&l->pending[i]);
	l->n_pending = 0;
}

static int meta_seq(struct db *db, uint64_t *ret)
{
	char *v = NULL;
	int r = db_meta_get(db, "counter_log_seq", &v);

	*ret = 0;
	if (r == -ENOENT)
		return 0;
	if (r == 0 && parse_u64(v, ret) < 0)
		r = -EIO;
	free(v);
	return r;
}

/*
 * Adds the pending records the database lacks (seq above its
 * counter_log_seq, into *ret_done) inside the caller's write transaction;
 * *ret_last is the highest sequence number seen. A record that
 * can no longer apply (a key's total would overflow: only a database changed
 * by hand allows it, counter_log_inc() refuses such increments) is dropped.
 */
static int apply_records_tx(struct counter_log *l, uint64_t *ret_done, uint64_t *ret_last)
{
	uint64_t done = 0, last = 0;
	int r = meta_seq(l->db, &done);

	for (size_t i = 0; r == 0 && i < l->n_pending; i++) {
		struct record *rec = &l->pending[i];
		last = rec->seq > last ? rec->seq : last;
		if (rec->seq <= done)
			continue;
		r = counter_inc_tx(l->db, (const char *const *)rec->tokens, rec->n, rec->count,
				   rec->time);
		if (r == -EINVAL || r == -EOVERFLOW)
			r = 0;
	}
	*ret_done = done;
	*ret_last = last;
	return r;
}

static int meta_seq_set(struct db *db, uint64_t seq)
{
	sqlite3_stmt *st = db_prep(db, "INSERT OR REPLACE INTO meta VALUES('counter_log_seq', ?)");
	char num[32];
	int r;

	if (!st)
		return -EIO;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)seq);
	sqlite3_bind_text(st, 1, num, -1, SQLITE_TRANSIENT);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	return r;
}

/* Applies the pending records (seq above what the database has) in one transaction. */
static int apply_locked(struct counter_log *l)
{
	uint64_t done = 0, last = 0;
	int r;

	if (!l->n_pending)
		return 0;
	r = db_write_begin(l->db);
	if (r < 0)
		return r;
	r = apply_records_tx(l, &done, &last);
	if (r == 0 && last > done)
		r = meta_seq_set(l->db, last);
	r = db_write_end(l->db, r);
	if (r < 0)
		return r;
	pending_clear(l);
	if (ftruncate(l->fd, 0) < 0)
		return -errno;
	l->size = 0;
	return 0;
}

int counter_log_flush(struct counter_log *l)
{
	int r;

	if (!l)
		return 0;
	pthread_mutex_lock(&l->lock);
	r = apply_locked(l);
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* Runs fn(db, ud), a read, with every increment that returned visible (see counterlog.h). */
static int counter_log_read(struct counter_log *l, struct db *db,
			    int (*fn)(struct db *db, void *ud), void *ud)
{
	uint64_t done, last;
	int r;

	if (!l)
		return fn(db, ud);
	pthread_mutex_lock(&l->lock);
	if (apply_locked(l) == 0) {
		pthread_mutex_unlock(&l->lock);
		return fn(db, ud);
	}
	/*
	 * The database cannot take them now (a full disk): apply them in a
	 * transaction that lives in memory, read through it, and roll it back.
	 */
	r = db_write_begin(l->db);
	if (r == 0) {
		r = apply_records_tx(l, &done, &last);
		if (r == 0)
			r = fn(l->db, ud);
		/* Rolled back: its only result is the read's. */
		int rolled = db_write_end(l->db, r < 0 ? r : -ECANCELED);
		(void)rolled;
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

struct read_args {
	const struct counter_req *req;
	struct counter_result *res;
	const char *const *tokens;
	size_t n;
	counter_name_cb cb;
	void *ud;
};

static int do_query(struct db *db, void *ud)
{
	struct read_args *a = ud;

	return counter_query(db, a->req, a->res);
}

static int do_exists(struct db *db, void *ud)
{
	struct read_args *a = ud;

	return counter_exists(db, a->tokens, a->n);
}

static int do_children(struct db *db, void *ud)
{
	struct read_args *a = ud;

	return counter_children(db, a->tokens, a->n, a->cb, a->ud);
}

int counter_log_query(struct counter_log *l, struct db *db, const struct counter_req *req,
		      struct counter_result *ret)
{
	struct read_args a = { .req = req, .res = ret };

	return counter_log_read(l, db, do_query, &a);
}

int counter_log_exists(struct counter_log *l, struct db *db, const char *const *tokens, size_t n)
{
	struct read_args a = { .tokens = tokens, .n = n };

	return counter_log_read(l, db, do_exists, &a);
}

int counter_log_children(struct counter_log *l, struct db *db, const char *const *tokens,
			 size_t n, counter_name_cb cb, void *ud)
{
	struct read_args a = { .tokens = tokens, .n = n, .cb = cb, .ud = ud };

	return counter_log_read(l, db, do_children, &a);
}

int counter_log_rmkey(struct counter_log *l, struct db *db, const char *const *tokens, size_t n)
{
	int r;

	if (!l)
		return -EROFS;
	pthread_mutex_lock(&l->lock);
	r = apply_locked(l);
	if (r == 0)
		r = counter_rmkey(db, tokens, n);
	l->removals++;
	pthread_mutex_unlock(&l->lock);
	return r;
}

static void *applier_main(void *arg)
{
	struct counter_log *l = arg;

	pthread_mutex_lock(&l->lock);
	while (!l->stop) {
		if (!l->n_pending) {
			pthread_cond_wait(&l->cond, &l->lock);
			continue;
		}
		/* Let a burst gather: one transaction then serves all of it. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += APPLY_DELAY_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!l->stop && pthread_cond_timedwait(&l->cond, &l->lock, &ts) != ETIMEDOUT)
			;
		if (!l->stop)
			(void)apply_locked(l);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/* Does rec count the same key in the same minute (so that one row update serves both)? */
static bool same_slot(const struct record *rec, int64_t t, const char *const *tokens, size_t n)
{
	if (rec->n != n || rec->time / 60 != t / 60)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(rec->tokens[i], tokens[i]) != 0)
			return false;
	return true;
}

static int record_add(struct counter_log *l, uint64_t seq, int64_t t, uint64_t count,
		      const char *const *tokens, size_t n)
{
	struct record *rec;

	/* Bursts on a few keys fold into the recent record of the same key and minute. */
	for (size_t k = 0; k < 8 && k < l->n_pending; k++) {
		rec = &l->pending[l->n_pending - 1 - k];
		if (same_slot(rec, t, tokens, n) && rec->count <= INT64_MAX - count) {
			rec->count += count;
			rec->seq = seq;
			return 0;
		}
	}

	if (l->n_pending % 256 == 0) {
		struct record *v = realloc(l->pending, (l->n_pending + 256) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->pending = v;
	}
	rec = &l->pending[l->n_pending];
	memset(rec, 0, sizeof(*rec));
	rec->seq = seq;
	rec->time = t;
	rec->count = count;
	for (size_t i = 0; i < n; i++) {
		rec->tokens[i] = strdup(tokens[i]);
		if (!rec->tokens[i]) {
			rec->n = i;
			record_free(rec);
			return -ENOMEM;
		}
	}
	rec->n = n;
	l->n_pending++;
	return 0;
}

/* Parses one record line (without its newline); -EINVAL for a torn or foreign line. */
static int parse_line(char *line, struct counter_log *l)
{
	char *p = line, *end, *tok[COUNTER_MAX_DEPTH];
	unsigned long long v[3];
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (errno || end == p || *end != ' ')
			return -EINVAL;
		p = end + 1;
	}
	while (*p) {
		if (n == COUNTER_MAX_DEPTH)
			return -EINVAL;
		tok[n++] = p;
		p += strcspn(p, "\t");
		if (*p)
			*p++ = '\0';
	}
	if (n == 0 || v[1] > INT64_MAX)
		return -EINVAL;
	if (v[0] >= l->next_seq)
		l->next_seq = v[0] + 1;
	/* Applied before a crash cut the truncation short: never fold it into a new record. */
	if (v[0] <= l->replay_done)
		return 0;
	return record_add(l, v[0], (int64_t)v[1], v[2], (const char *const *)tok, n);
}

static int replay(struct counter_log *l, const char *path)
{
	char *data = NULL, *line, *nl;
	size_t len = 0;
	int r = read_file(path, (size_t)COUNTER_LOG_MAX_PENDING * 4 * LINE_MAX_BYTES, &data, &len);

	if (r < 0)
		return r == -ENOENT ? 0 : r;
	for (line = data; (nl = memchr(line, '\n', len - (size_t)(line - data))); line = nl + 1) {
		*nl = '\0';
		if (parse_line(line, l) == -ENOMEM) {
			r = -ENOMEM;
			break;
		}
	}
	free(data);
	return r < 0 ? r : apply_locked(l);
}

int counter_log_open(struct db *db, const char *path, bool sync_full, struct counter_log **ret)
{
	struct counter_log *l = calloc(1, sizeof(*l));
	uint64_t done = 0;
	int r;

	if (!l)
		return -ENOMEM;
	l->db = db;
	l->sync_full = sync_full;
	l->removals = 1;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	l->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	r = l->fd < 0 ? -errno : meta_seq(db, &done);
	l->next_seq = done + 1;
	l->replay_done = done;
	if (r == 0)
		r = replay(l, path);
	if (r == 0)
		r = counter_total(db, &l->total);
	if (r == 0)
		l->size = lseek(l->fd, 0, SEEK_END);
	if (r < 0) {
		counter_log_close(l);
		return r;
	}
	*ret = l;
	return 0;
}

void counter_log_close(struct counter_log *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	if (l->running)
		pthread_join(l->thread, NULL);
	if (l->fd >= 0) {
		(void)apply_locked(l);
		close(l->fd);
	}
	pending_clear(l);
	free(l->pending);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l);
}

/* Is the key in the database, or made by a pending increment of it or of a key below it? */
static bool key_exists(struct counter_log *l, const char *const *tokens, size_t n)
{
	if (counter_exists(l->db, tokens, n) == 0)
		return true;
	for (size_t i = 0; i < l->n_pending; i++) {
		const struct record *rec = &l->pending[i];
		size_t k = 0;

		while (k < n && k < rec->n && strcmp(rec->tokens[k], tokens[k]) == 0)
			k++;
		if (k == n)
			return true;
	}
	return false;
}

/*
 * key_exists(), remembered: a key that exists keeps existing until the next
 * counter_log_rmkey(), so a found key is kept (one slot per hash of its
 * name) until l->removals moves on. Keys too long for a slot are looked up.
 */
static bool key_known(struct counter_log *l, const char *const *tokens, size_t n)
{
	char key[KNOWN_KEY_MAX];
	size_t len = 0;
	uint32_t h = 2166136261u;
	struct known_key *slot;

	for (size_t i = 0; i < n; i++) {
		int w = snprintf(key + len, sizeof(key) - len, "%s%s", i ? "\t" : "", tokens[i]);
		if (w < 0 || (size_t)w >= sizeof(key) - len)
			return key_exists(l, tokens, n);
		len += (size_t)w;
	}
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	slot = &l->known[h % KNOWN_SLOTS];
	if (slot->removals == l->removals && strcmp(slot->key, key) == 0)
		return true;
	if (!key_exists(l, tokens, n))
		return false;
	slot->removals = l->removals;
	memcpy(slot->key, key, len + 1);
	return true;
}

/* Appends one record to the log file; on failure the file is as it was. */
static int log_append(struct counter_log *l, const char *line, size_t len)
{
	int r = write_all(l->fd, line, len);

	if (r == 0 && l->sync_full && fdatasync(l->fd) < 0)
		r = -errno;
	/* A failed increment was reported: it must neither be glued to the next record nor replayed. */
	if (r < 0 && ftruncate(l->fd, l->size) < 0)
		r = -EIO;
	if (r == 0)
		l->size += (off_t)len;
	return r;
}

int counter_log_inc(struct counter_log *l, const char *const *tokens, size_t n, uint64_t count,
		    int64_t now, unsigned flags)
{
	struct buf line;
	bool was_empty;
	int r = 0;

	if (!l)
		return -EROFS;
	if (n == 0 || n > COUNTER_MAX_DEPTH || count == 0 || now < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (counter_token_valid(tokens[i]) < 0)
			return -EINVAL;
	if (count > COUNTER_LOG_MAX_COUNT)
		return -EOVERFLOW;
	buf_init(&line, LINE_MAX_BYTES);
	pthread_mutex_lock(&l->lock);
	if ((flags & COUNTER_LOG_EXISTING) && !key_known(l, tokens, n))
		r = -ENOENT;
	else if (l->total > (uint64_t)INT64_MAX - count)
		r = -EOVERFLOW;
	if (r == 0 && l->n_pending >= COUNTER_LOG_MAX_PENDING)
		r = apply_locked(l);
	if (r == 0)
		r = buf_addf(&line, "%llu %lld %llu ", (unsigned long long)l->next_seq, (long long)now,
			     (unsigned long long)count);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = buf_addf(&line, "%s%s", tokens[i], i + 1 < n ? "\t" : "\n");
	if (r == 0)
		r = log_append(l, line.data, line.len);
	was_empty = l->n_pending == 0;
	if (r == 0) {
		r = record_add(l, l->next_seq, now, count, tokens, n);
		if (r < 0 && ftruncate(l->fd, l->size - (off_t)line.len) == 0)
			l->size -= (off_t)line.len;
	}
	if (r == 0) {
		l->next_seq++;
		l->total += count;
	}
	if (r == 0 && !l->running && !l->stop &&
	    pthread_create(&l->thread, NULL, applier_main, l) == 0)
		l->running = true;
	if (r == 0 && was_empty)
		pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
	buf_free(&line);
	return r;
}
