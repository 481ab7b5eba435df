/*
 * changes/ (SPEC §4.8): the change engine's changes and tasks as files,
 * read from the engine (engine.h) at every request. Changes and tasks
 * progress by themselves, so nothing here is kept with an inode
 * (TREE_CACHE_NONE), attributes are never cached (a pruned change
 * answers ENOENT at once), entries are kept (ids are never reused) and
 * files are streams with direct_io: each read builds the file's content
 * afresh and each getattr gives its current size, so `cat` shows the
 * current state and `tail -f` of a task log follows it.
 *
 *   changes/ctl              transaction file, 0666: settle [SECONDS], test STEPS
 *   changes/ID/              ctl (0600: abort) err kind ready-time spawn-time status summary tasks/
 *   changes/ID/tasks/TID/    kind log (0400) progress status summary wait-for
 *
 * The file formats are charmfs(5)'s. A settle blocks its FUSE worker
 * thread, never the session: the loop starts a thread per waiting
 * request (fs/main.c, MAX_THREADS); a FUSE INTERRUPT for it sets a flag
 * and wakes the engine (engine_wake()), whose wait checks the flag.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "enginetest.h"
#include "fs.h"
#include "fsfile.h"
#include "banned.h"

enum changes_kind {
	CG_TOP,		/* /changes */
	CG_CTL,		/* /changes/ctl */
	CG_CHANGE,	/* /changes/ID */
	CG_CHANGE_CTL,	/* /changes/ID/ctl */
	CG_CHANGE_FILE, /* /changes/ID/{err,kind,...} */
	CG_TASKS,	/* /changes/ID/tasks */
	CG_TASK,	/* /changes/ID/tasks/TID */
	CG_TASK_FILE,	/* /changes/ID/tasks/TID/{kind,log,...} */
};

enum change_file { CF_ERR, CF_KIND, CF_READY, CF_SPAWN, CF_STATUS, CF_SUMMARY };
enum task_file { TF_KIND, TF_LOG, TF_PROGRESS, TF_STATUS, TF_SUMMARY, TF_WAIT };

static const char *const change_files[] = {
	[CF_ERR] = "err",	  [CF_KIND] = "kind",	    [CF_READY] = "ready-time",
	[CF_SPAWN] = "spawn-time", [CF_STATUS] = "status", [CF_SUMMARY] = "summary",
};
static const char *const task_files[] = {
	[TF_KIND] = "kind",	[TF_LOG] = "log",	  [TF_PROGRESS] = "progress",
	[TF_STATUS] = "status", [TF_SUMMARY] = "summary", [TF_WAIT] = "wait-for",
};

struct changes_state {
	int64_t change; /* CG_CHANGE and below */
	int64_t task;	/* CG_TASK, CG_TASK_FILE */
	int file;	/* enum change_file or enum task_file */
	int64_t spawn_ms; /* of the change (CG_CHANGE..CG_TASKS) or the task, as resolved */
};
TREE_STATE_FITS(struct changes_state);

#define ST(n) TREE_STATE(n, struct changes_state)
#define CST(n) TREE_CSTATE(n, struct changes_state)

static struct engine *engine_of(struct fs *fs)
{
	return store_engine(fs->ctx.store);
}

/* A change or task id: a positive decimal without leading zeros. */
static bool parse_id(const char *s, int64_t *ret)
{
	uint64_t v;

	if (s[0] == '0' || parse_u64(s, &v) < 0 || v > INT64_MAX)
		return false;
	*ret = (int64_t)v;
	return true;
}

static int name_index(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

static int changes_resolve(struct fs *fs, const struct comps *cp, struct node *ret)
{
	struct changes_state *s = ST(ret);
	struct engine *e = engine_of(fs);
	struct engine_change_info *ci;
	struct engine_task_info *ti;
	const char *const *v = cp->v;
	size_t n = cp->n;
	int r;

	ret->kind = CG_TOP;
	if (n == 1)
		return 0;
	if (n == 2 && strcmp(v[1], "ctl") == 0) {
		ret->kind = CG_CTL;
		return 0;
	}
	if (!e || !parse_id(v[1], &s->change) || n > 5)
		return -ENOENT;
	r = engine_change_get(e, s->change, &ci);
	if (r < 0)
		return r;
	s->spawn_ms = ci->spawn_ms;
	engine_change_info_free(ci);
	ret->kind = CG_CHANGE;
	if (n == 2)
		return 0;
	if (strcmp(v[2], "tasks") != 0) {
		if (n != 3)
			return -ENOENT;
		if (strcmp(v[2], "ctl") == 0) {
			ret->kind = CG_CHANGE_CTL;
			return 0;
		}
		s->file = name_index(v[2], change_files, ARRAY_SIZE(change_files));
		ret->kind = CG_CHANGE_FILE;
		return s->file < 0 ? -ENOENT : 0;
	}
	ret->kind = CG_TASKS;
	if (n == 3)
		return 0;
	if (!parse_id(v[3], &s->task))
		return -ENOENT;
	r = engine_task_get(e, s->task, &ti);
	if (r < 0)
		return r;
	if (ti->change_id != s->change) {
		engine_task_info_free(ti);
		return -ENOENT;
	}
	s->spawn_ms = ti->spawn_ms;
	engine_task_info_free(ti);
	ret->kind = CG_TASK;
	if (n == 4)
		return 0;
	s->file = name_index(v[4], task_files, ARRAY_SIZE(task_files));
	ret->kind = CG_TASK_FILE;
	return s->file < 0 ? -ENOENT : 0;
}

/* ---- content ------------------------------------------------------------------ */

static int add_time(struct buf *out, int64_t ms)
{
	char ts[32];

	format_rfc3339(ms / 1000, ts);
	return buf_addf(out, "%s\n", ts);
}

/* The unix ms of a log line's leading "YYYY-MM-DDTHH:MM:SSZ", or 0. */
static int64_t log_line_ms(const char *line)
{
	struct tm tm = { 0 };
	const char *end = strptime(line, "%Y-%m-%dT%H:%M:%SZ", &tm);

	return end && *end == ' ' ? (int64_t)timegm(&tm) * 1000 : 0;
}

/* A change file's content into out; its modification time (ms) into *ret_ms. */
static int change_content(const struct engine_change_info *ci, int file, struct buf *out,
			  int64_t *ret_ms)
{
	*ret_ms = ci->ready ? ci->ready_ms : ci->spawn_ms;
	switch ((enum change_file)file) {
	case CF_KIND:
		*ret_ms = ci->spawn_ms;
		return buf_addf(out, "%s\n", ci->kind);
	case CF_SUMMARY:
		*ret_ms = ci->spawn_ms;
		return buf_addf(out, "%s\n", ci->summary);
	case CF_SPAWN:
		*ret_ms = ci->spawn_ms;
		return add_time(out, ci->spawn_ms);
	case CF_STATUS:
		return buf_addf(out, "%s\n", engine_status_name(ci->status));
	case CF_READY:
		return ci->ready ? add_time(out, ci->ready_ms) : 0;
	case CF_ERR:
		return ci->err ? buf_addf(out, "%s\n", ci->err) : 0;
	}
	return -ENOENT;
}

static int task_content(const struct engine_task_info *ti, int file, struct buf *out,
			int64_t *ret_ms)
{
	int r = 0;

	*ret_ms = ti->ready_ms > 0 ? ti->ready_ms : ti->spawn_ms;
	switch ((enum task_file)file) {
	case TF_KIND:
		*ret_ms = ti->spawn_ms;
		return buf_addf(out, "%s\n", ti->kind);
	case TF_SUMMARY:
		*ret_ms = ti->spawn_ms;
		return buf_addf(out, "%s\n", ti->summary);
	case TF_STATUS:
		return buf_addf(out, "%s\n", engine_status_name(ti->status));
	case TF_PROGRESS:
		return buf_addf(out, "%s%s%lld/%lld\n", ti->progress_label,
				ti->progress_label[0] ? " " : "", (long long)ti->progress_done,
				(long long)ti->progress_total);
	case TF_WAIT:
		*ret_ms = ti->spawn_ms;
		for (size_t i = 0; r == 0 && i < ti->n_wait; i++)
			r = buf_addf(out, "%lld\n", (long long)ti->wait_for[i]);
		return r;
	case TF_LOG:
		for (size_t i = 0; r == 0 && i < ti->n_log; i++)
			r = buf_addf(out, "%s\n", ti->log[i]);
		if (ti->n_log && log_line_ms(ti->log[ti->n_log - 1]))
			*ret_ms = log_line_ms(ti->log[ti->n_log - 1]);
		return r;
	}
	return -ENOENT;
}

/* The current content of the file n into out, and its modification time (ms). */
static int content(struct fs *fs, const struct node *n, struct buf *out, int64_t *ret_ms)
{
	const struct changes_state *s = CST(n);
	struct engine *e = engine_of(fs);
	struct engine_change_info *ci;
	struct engine_task_info *ti;
	int r;

	if (!e)
		return -ENOENT;
	if (n->kind == CG_CHANGE_FILE) {
		r = engine_change_get(e, s->change, &ci);
		if (r < 0)
			return r;
		r = change_content(ci, s->file, out, ret_ms);
		engine_change_info_free(ci);
		return r;
	}
	r = engine_task_get(e, s->task, &ti);
	if (r < 0)
		return r;
	r = task_content(ti, s->file, out, ret_ms);
	engine_task_info_free(ti);
	return r;
}

/* ---- attributes and listings ----------------------------------------------------- */

static void set_ms(struct stat *st, int64_t ms)
{
	tree_set_time(st, ms * 1000000);
}

static int changes_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	const struct changes_state *s = CST(n);
	struct buf b;
	int64_t ms = 0;
	int r;

	switch ((enum changes_kind)n->kind) {
	case CG_TOP:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	case CG_CTL:
		st->st_mode = S_IFREG | 0666;
		return 0;
	case CG_CHANGE:
	case CG_TASKS:
	case CG_TASK:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		set_ms(st, s->spawn_ms);
		return 0;
	case CG_CHANGE_CTL:
		st->st_mode = S_IFREG | 0600;
		set_ms(st, s->spawn_ms);
		return 0;
	case CG_CHANGE_FILE:
	case CG_TASK_FILE:
		st->st_mode = n->kind == CG_TASK_FILE && s->file == TF_LOG ? S_IFREG | 0400
									    : S_IFREG | 0444;
		buf_init(&b, SIZE_MAX);
		r = content(fs, n, &b, &ms);
		st->st_size = (off_t)b.len;
		buf_free(&b);
		if (r == 0)
			set_ms(st, ms);
		return r;
	}
	return -ENOENT;
}

static int list_ids(const int64_t *ids, size_t n, tree_list_cb cb, void *ud)
{
	char name[32];
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++) {
		snprintf(name, sizeof(name), "%lld", (long long)ids[i]);
		r = cb(ud, name, S_IFDIR);
	}
	return r;
}

static int list_files(const char *const *names, size_t n, tree_list_cb cb, void *ud)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++)
		r = cb(ud, names[i], S_IFREG);
	return r;
}

static int changes_list(struct fs *fs, const struct node *n, void *dirstate, tree_list_cb cb,
			void *ud)
{
	const struct changes_state *s = CST(n);
	struct engine *e = engine_of(fs);
	int64_t *ids = NULL;
	size_t count = 0;
	int r;

	switch (n->kind) {
	case CG_TOP:
		r = cb(ud, "ctl", S_IFREG);
		if (r < 0 || !e)
			return r;
		r = engine_change_ids(e, &ids, &count);
		break;
	case CG_CHANGE:
		r = cb(ud, "ctl", S_IFREG);
		if (r == 0)
			r = list_files(change_files, ARRAY_SIZE(change_files), cb, ud);
		return r ? r : cb(ud, "tasks", S_IFDIR);
	case CG_TASKS:
		r = engine_task_ids(e, s->change, &ids, &count);
		break;
	case CG_TASK:
		return list_files(task_files, ARRAY_SIZE(task_files), cb, ud);
	default:
		return -ENOTDIR;
	}
	if (r == 0)
		r = list_ids(ids, count, cb, ud);
	free(ids);
	return r;
}

/* ---- opening and reading ----------------------------------------------------------- */

static int changes_open(struct fs *fs, const struct node *n, struct fuse_file_info *fi,
			struct fh **ret)
{
	int acc = fi->flags & O_ACCMODE;
	struct fh *h;

	if (n->kind == CG_CTL || n->kind == CG_CHANGE_CTL)
		h = fh_new(fs, n, FH_CTL, acc);
	else if (n->kind != CG_CHANGE_FILE && n->kind != CG_TASK_FILE)
		return -EISDIR;
	else if (acc != O_RDONLY)
		return -EACCES;
	else
		h = fh_new(fs, n, FH_STREAM, acc);
	if (!h)
		return -ENOMEM;
	fi->direct_io = 1;
	*ret = h;
	return 0;
}

static int changes_read(struct fs *fs, struct fh *h, uint64_t off, size_t size, struct buf *out)
{
	struct buf b;
	int64_t ms;
	int r;

	buf_init(&b, SIZE_MAX);
	r = content(fs, &h->node, &b, &ms);
	if (r == 0 && off < b.len)
		r = buf_add(out, b.data + off, b.len - off < size ? b.len - off : size);
	buf_free(&b);
	return r;
}

static int changes_setattr(fuse_req_t req, struct fs *fs, struct node *n, const struct stat *attr,
			   int to_set, struct fuse_file_info *fi, double *ret_timeout)
{
	if (n->kind == CG_CTL || n->kind == CG_CHANGE_CTL)
		return fsfile_ctl_setattr(to_set);
	return -EACCES;
}

/* ---- changes/ctl and changes/ID/ctl ------------------------------------------------ */

/* A settle's FUSE interrupt: the INTERRUPT request's thread sets it and wakes the engine. */
struct settle_wait {
	fuse_req_t req;
	struct engine *e;
	atomic_bool interrupted;
};

static void settle_interrupt(fuse_req_t req, void *ud)
{
	struct settle_wait *w = ud;

	atomic_store(&w->interrupted, true);
	engine_wake(w->e);
}

/* engine_interrupted: called under the engine's lock, so only flags and libfuse. */
static bool settle_interrupted(void *ud)
{
	struct settle_wait *w = ud;

	return atomic_load(&w->interrupted) || fuse_req_interrupted(w->req);
}

static int settle(fuse_req_t req, struct engine *e, int64_t timeout_ms, struct buf *reply)
{
	struct settle_wait w = { .req = req, .e = e };
	int r;

	atomic_init(&w.interrupted, false);
	fuse_req_interrupt_func(req, settle_interrupt, &w);
	r = engine_settle(e, timeout_ms, settle_interrupted, &w);
	/* Waits for a running callback (libfuse holds the request's lock around it). */
	fuse_req_interrupt_func(req, NULL, NULL);
	if (r == 0)
		return buf_addf(reply, "ok\n");
	if (r == -ETIMEDOUT)
		(void)buf_addf(reply, "error timed out\n");
	else if (r == -EINTR)
		(void)buf_addf(reply, "error interrupted\n");
	return r;
}

static const struct split_rules ctl_rules = {
	.max_len = ENGINE_TEST_LINE_MAX + 8,
	.max_words = 2,
	.blanks = " \t",
	.flags = 0,
};

/* The request's text after its first word and the blanks that follow it. */
static const char *after_verb(const char *data, size_t size, size_t *ret_len)
{
	size_t i = 0;

	while (i < size && (data[i] == ' ' || data[i] == '\t'))
		i++;
	while (i < size && data[i] != ' ' && data[i] != '\t')
		i++;
	while (i < size && (data[i] == ' ' || data[i] == '\t'))
		i++;
	*ret_len = size - i;
	return data + i;
}

/*
 * changes/ctl: "settle" replies "ok" when no change is in progress;
 * "settle SECONDS" gives up after that long ("error timed out", ETIMEDOUT);
 * "test STEPS" (only with -o test_tasks) adds a test change, "ok ID".
 */
static int top_request(fuse_req_t req, struct fs *fs, const char *data, size_t size,
		       struct buf *reply, bool *malformed, char *err, size_t errlen)
{
	struct engine *e = engine_of(fs);
	char *words[2], *buf = malloc(ctl_rules.max_len + 1);
	const char *rest;
	uint64_t secs;
	size_t nw, rlen;
	int64_t id;
	int r;

	if (!buf)
		return -ENOMEM;
	r = split_words(data, size, &ctl_rules, buf, words, &nw);
	if (r < 0 || nw == 0) {
		r = errf(err, errlen, -EINVAL, "request must be one line: settle [SECONDS]");
	} else if (strcmp(words[0], "settle") == 0) {
		if (nw > 2 || (nw == 2 && (parse_u64(words[1], &secs) < 0 ||
					   secs > INT64_MAX / 1000)))
			r = errf(err, errlen, -EINVAL, "settle takes a number of seconds");
		else if (!e)
			r = errf(err, errlen, -EROFS, "no change engine");
		else
			r = settle(req, e, nw == 2 ? (int64_t)secs * 1000 : -1, reply);
	} else if (strcmp(words[0], "test") == 0) {
		rest = after_verb(data, size, &rlen);
		if (!fs->ctx.test_tasks || !e)
			r = errf(err, errlen, -EINVAL,
				 "test changes need the daemon's -o test_tasks");
		else
			r = engine_test_add(e, rest, rlen, &id, err, errlen);
		if (r == 0)
			r = buf_addf(reply, "ok %lld\n", (long long)id);
	} else {
		r = errf(err, errlen, -EINVAL, "unknown request: %s (settle [SECONDS])", words[0]);
	}
	*malformed = r == -EINVAL;
	free(buf);
	return r;
}

/* changes/ID/ctl: "abort" (engine_abort()); a ready change has nothing to abort: EINVAL. */
static int change_request(struct fs *fs, const struct node *n, const char *data, size_t size,
			  struct buf *reply, bool *malformed, char *err, size_t errlen)
{
	char *words[2], buf[64];
	const struct split_rules rules = { .max_len = sizeof(buf) - 1, .max_words = 2,
					   .blanks = " \t" };
	size_t nw;
	int r = split_words(data, size, &rules, buf, words, &nw);

	if (r < 0 || nw != 1 || strcmp(words[0], "abort") != 0) {
		*malformed = true;
		return errf(err, errlen, -EINVAL, "the request is: abort");
	}
	r = engine_abort(engine_of(fs), CST(n)->change);
	if (r == 0)
		return buf_addf(reply, "ok\n");
	if (r == -EALREADY)
		return errf(err, errlen, -EINVAL, "change %lld is ready: nothing to abort",
			    (long long)CST(n)->change);
	if (r == -ENOENT)
		return errf(err, errlen, r, "no change %lld", (long long)CST(n)->change);
	return errf(err, errlen, r, "%s", strerror(-r));
}

static int changes_request(fuse_req_t req, struct fs *fs, const struct node *n, const char *data,
			   size_t size, struct buf *reply, bool *malformed)
{
	char err[512] = "";
	int r;

	if (n->kind == CG_CTL)
		r = top_request(req, fs, data, size, reply, malformed, err, sizeof(err));
	else
		r = change_request(fs, n, data, size, reply, malformed, err, sizeof(err));
	if (r < 0 && !reply->len)
		(void)buf_addf(reply, "error %s\n", err[0] ? err : strerror(-r));
	/* An interrupted settle is no failure of the filesystem. */
	if (r < 0 && r != -EINTR)
		fs_fail("write", n->path, -r, err);
	return r;
}

/* ---- caching -------------------------------------------------------------------- */

/*
 * Entries are kept NODE_TIMEOUT: an id is never reused, so a kept entry
 * never names another change, and its attributes are never kept (every
 * stat asks, and a change pruned meanwhile answers ENOENT at once). This
 * spares `ls -l` a LOOKUP for each of its statx and getxattr calls.
 */
static double changes_entry_timeout(const struct node *n)
{
	(void)n;
	return NODE_TIMEOUT;
}

/*
 * Everything but changes/ and changes/ctl moves by itself: sizes, times,
 * statuses, and a change vanishes when it is pruned. changes/ itself never
 * changes its attributes (its listing is read afresh at every readdir):
 * kept, they spare every path walk through it a GETATTR (the permission
 * check of default_permissions).
 */
static bool changes_volatile(const struct node *n)
{
	return n->kind != CG_CTL && n->kind != CG_TOP;
}

const struct tree_ops tree_changes = {
	.name = "changes",
	.type = S_IFDIR,
	/* New changes appear by themselves. */
	.negative_timeout = 0.0,
	.resolve = changes_resolve,
	.stat = changes_stat,
	.list = changes_list,
	.open = changes_open,
	.read = changes_read,
	.setattr = changes_setattr,
	.request = changes_request,
	.entry_timeout = changes_entry_timeout,
	.attr_volatile = changes_volatile,
};
