/*
 * The package files that move by themselves and the hook side of
 * packages (pkg.h): the log (rows of at most PKG_LOG_CHUNK bytes, the
 * newest PKG_LOG_MAX kept), the hook tools' calls (settings, status,
 * ports), the charm/ and state/ directories for fs/, and the hook
 * handler's pkg_hook_begin()/pkg_hook_end(). Begin and end take the
 * component's mutex, as the writes do, so that a settings write and the
 * start of config-changed never overlap (pkg.c, late binding).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "engine.h"
#include "evhook.h"
#include "pkg_int.h"
#include "pkglife.h"
#include "store_int.h"
#include "banned.h"

/* ---- the log ------------------------------------------------------------------ */

int pkg_log_size(struct store *s, const char *name, uint64_t *ret)
{
	struct pkg_row w;
	int r = pkg_row_read(s, name, false, &w);

	if (r == 0) {
		*ret = (uint64_t)(w.log_end - w.log_start);
		pkg_row_free(&w);
	}
	return r;
}

int pkg_log_read(struct store *s, const char *name, uint64_t off, size_t len, struct buf *out)
{
	sqlite3_stmt *st;
	bool started = false;
	struct pkg_row w;
	int64_t from, to;
	int rc, r = db_read_begin(store_db(s), &started);

	if (r < 0)
		return r;
	r = pkg_row_read(s, name, false, &w);
	if (r < 0)
		goto out;
	from = w.log_start + (int64_t)(off < (uint64_t)INT64_MAX / 2 ? off : (uint64_t)INT64_MAX / 2);
	to = from + (int64_t)(len < PKG_LOG_MAX ? len : PKG_LOG_MAX);
	if (to > w.log_end)
		to = w.log_end;
	pkg_row_free(&w);
	if (from >= to)
		goto out;
	st = db_prep(store_db(s), "SELECT off, data FROM pkg_log WHERE name = ?1"
				  " AND off < ?3 AND off + length(data) > ?2 ORDER BY off");
	if (!st) {
		r = -EIO;
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, from);
	sqlite3_bind_int64(st, 3, to);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t o = sqlite3_column_int64(st, 0);
		const char *d = sqlite3_column_blob(st, 1);
		int64_t n = sqlite3_column_bytes(st, 1);
		int64_t a = from > o ? from - o : 0, b = to < o + n ? to - o : n;
		if (b > a)
			r = buf_add(out, d + a, (size_t)(b - a));
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc);
	db_reset(st);
out:
	db_read_end(store_db(s), started);
	return r;
}

/* Appends n bytes in the caller's transaction, dropping the oldest rows past PKG_LOG_MAX. */
static int log_add(struct store *s, const char *name, const char *p, size_t n)
{
	struct pkg_row w;
	sqlite3_stmt *st;
	int64_t end, start;
	int rc, r;

	if (n > PKG_LOG_MAX) {
		p += n - PKG_LOG_MAX;
		n = PKG_LOG_MAX;
	}
	r = pkg_row_read(s, name, false, &w);
	if (r < 0)
		return r;
	end = w.log_end;
	start = w.log_start;
	pkg_row_free(&w);
	st = db_prep(store_db(s), "INSERT INTO pkg_log VALUES(?, ?, ?)");
	for (size_t done = 0; r == 0 && done < n;) {
		size_t k = n - done < PKG_LOG_CHUNK ? n - done : PKG_LOG_CHUNK;
		if (!st)
			return -EIO;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, end);
		sqlite3_bind_blob(st, 3, p + done, (int)k, SQLITE_STATIC);
		r = db_errno(sqlite3_step(st));
		db_reset(st);
		end += (int64_t)k;
		done += k;
	}
	st = db_prep(store_db(s), "SELECT off, length(data) FROM pkg_log WHERE name = ? ORDER BY off");
	if (r == 0 && !st)
		r = -EIO;
	if (r == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		while (end - start > PKG_LOG_MAX && (rc = sqlite3_step(st)) == SQLITE_ROW)
			start = sqlite3_column_int64(st, 0) + sqlite3_column_int64(st, 1);
		db_reset(st);
	}
	if (r == 0 && start > w.log_start) {
		st = db_prep(store_db(s), "DELETE FROM pkg_log WHERE name = ? AND off < ?");
		if (!st)
			return -EIO;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, start);
		r = db_errno(sqlite3_step(st));
		db_reset(st);
	}
	if (r == 0) {
		st = db_prep(store_db(s), "UPDATE packages SET log_start = ?2, log_end = ?3,"
					  " log_ns = ?4 WHERE name = ?1");
		if (!st)
			return -EIO;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, start);
		sqlite3_bind_int64(st, 3, end);
		sqlite3_bind_int64(st, 4, pkg_now_ns());
		r = db_errno(sqlite3_step(st));
		db_reset(st);
	}
	return r;
}

/* Formats one juju-log line into out. */
static int log_line(const char *level, const char *text, size_t len, struct buf *out)
{
	char t[32];
	size_t cut = len < PKG_LOG_LINE_MAX ? len : PKG_LOG_LINE_MAX;
	int r;

	while (cut < len && cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80)
		cut--;
	format_rfc3339(pkg_now_ns() / 1000000000, t);
	r = buf_addf(out, "%s %s ", t, level);
	if (r == 0)
		r = utf8_repair(text, cut, out);
	for (size_t i = strlen(t) + strlen(level) + 2; r == 0 && i < out->len; i++)
		if (out->data[i] == '\n' || out->data[i] == '\r')
			out->data[i] = ' ';
	return r == 0 ? buf_add(out, "\n", 1) : r;
}

int pkg_log_append(struct store *s, const char *name, const char *level, const char *text,
		   size_t len)
{
	struct buf b;
	int r = 0;

	buf_init(&b, PKG_LOG_LINE_MAX * 4 + 256);
	if (level)
		r = log_line(level, text, len, &b);
	if (r == 0)
		r = db_write_begin(store_db(s));
	if (r == 0)
		r = db_write_end(store_db(s), level ? log_add(s, name, b.data, b.len) :
						      log_add(s, name, text, len));
	buf_free(&b);
	return r;
}

/* ---- hook tools ----------------------------------------------------------------- */

int pkg_settings_json(struct store *s, const char *name, char **ret)
{
	struct pkg_row w;
	int r = pkg_row_read(s, name, false, &w);

	if (r < 0)
		return r;
	r = pkg_row_shown(s, &w, ret);
	pkg_row_free(&w);
	return r;
}

/* Sets the status in the caller's transaction. */
static int status_put(struct store *s, const char *name, const char *state, const char *message)
{
	sqlite3_stmt *st = db_prep(store_db(s), "UPDATE packages SET state = ?2, message = ?3,"
						" status_ns = ?4 WHERE name = ?1");
	struct buf m;
	size_t n = message ? strlen(message) : 0;
	int r;

	if (!st)
		return -EIO;
	while (n > PKG_STATUS_MSG_MAX || (n > 0 && n < strlen(message) &&
					  ((unsigned char)message[n] & 0xc0) == 0x80))
		n--;
	buf_init(&m, PKG_STATUS_MSG_MAX * 3 + 1);
	r = utf8_repair(message ? message : "", n, &m);
	for (size_t i = 0; r == 0 && i < m.len; i++)
		if (m.data[i] == '\n' || m.data[i] == '\r')
			m.data[i] = ' ';
	if (r == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, m.data ? m.data : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, pkg_now_ns());
		r = db_errno(sqlite3_step(st));
		if (r == 0 && sqlite3_changes(sqlite3_db_handle(st)) == 0)
			r = -ENOENT;
	}
	db_reset(st);
	buf_free(&m);
	return r;
}

int pkg_status_set(struct store *s, const char *name, const char *state, const char *message)
{
	static const char *const states[] = { "maintenance", "blocked", "waiting", "active" };
	bool ok = false;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(states); i++)
		ok = ok || !strcmp(state, states[i]);
	if (!ok)
		return -EINVAL;
	r = db_write_begin(store_db(s));
	return r < 0 ? r : db_write_end(store_db(s), status_put(s, name, state, message));
}

int pkg_status_get(struct store *s, const char *name, char **ret_state, char **ret_message)
{
	struct pkg_row w;
	int r = pkg_row_read(s, name, false, &w);
	char *st;

	if (r < 0)
		return r;
	st = strdup(w.state);
	if (!st) {
		pkg_row_free(&w);
		return -ENOMEM;
	}
	*ret_state = st;
	*ret_message = TAKE_PTR(w.message);
	pkg_row_free(&w);
	return 0;
}

int pkg_port(struct store *s, const char *name, bool open, int from, int to, const char *proto)
{
	bool icmp = !strcmp(proto, "icmp");
	sqlite3_stmt *st;
	struct pkg_row w;
	int r;

	if (!icmp && strcmp(proto, "tcp") && strcmp(proto, "udp"))
		return -EINVAL;
	if (icmp ? (from != 0 || to != 0) : (from < 1 || to > 65535 || from > to))
		return -EINVAL;
	r = pkg_row_read(s, name, false, &w);
	if (r < 0)
		return r;
	pkg_row_free(&w);
	r = db_write_begin(store_db(s));
	if (r < 0)
		return r;
	if (open) {
		st = db_prep(store_db(s), "SELECT 1 FROM pkg_ports WHERE name = ?1 AND proto = ?2"
					  " AND lo <= ?4 AND hi >= ?3 AND NOT (lo = ?3 AND hi = ?4)");
		if (!st)
			return db_write_end(store_db(s), -EIO);
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, proto, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, from);
		sqlite3_bind_int(st, 4, to);
		r = sqlite3_step(st);
		r = r == SQLITE_ROW ? -EEXIST : db_errno(r);
		db_reset(st);
		st = r == 0 ? db_prep(store_db(s), "INSERT OR IGNORE INTO pkg_ports VALUES(?, ?, ?, ?)")
			    : NULL;
	} else {
		st = db_prep(store_db(s), "DELETE FROM pkg_ports WHERE name = ? AND proto = ?"
					  " AND lo = ? AND hi = ?");
	}
	if (r == 0 && !st)
		r = -EIO;
	if (r == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, proto, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, from);
		sqlite3_bind_int(st, 4, to);
		r = db_errno(sqlite3_step(st));
		db_reset(st);
	}
	return db_write_end(store_db(s), r);
}

int pkg_ports(struct store *s, const char *name, struct strv *ret)
{
	sqlite3_stmt *st;
	struct pkg_row w;
	int rc, r = pkg_row_read(s, name, false, &w);

	if (r < 0)
		return r;
	pkg_row_free(&w);
	st = db_prep(store_db(s), "SELECT proto, lo, hi FROM pkg_ports WHERE name = ?"
				  " ORDER BY proto, lo, hi");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);
		int lo = sqlite3_column_int(st, 1), hi = sqlite3_column_int(st, 2);
		if (!strcmp(p, "icmp"))
			r = strv_push(ret, "icmp");
		else if (lo == hi)
			r = strv_pushf(ret, "%d/%s", lo, p);
		else
			r = strv_pushf(ret, "%d-%d/%s", lo, hi, p);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc);
	db_reset(st);
	return r;
}

struct dir_want {
	struct store *s;
	const char *name;
	enum pkg_dir which;
};

/* Makes the package's directories unless they exist (a restored copy has no charm/). */
static int make_dirs(void *ud)
{
	const struct dir_want *d = ud;
	struct pkg_row w;
	int r = pkg_row_read(d->s, d->name, false, &w);

	if (r < 0)
		return r;
	pkg_row_free(&w);
	r = pkg_life_mkdirs(pkg_of(d->s), d->name);
	if (r == 0 && d->which == PKG_DIR_CHARM)
		r = pkg_life_ensure_charm(pkg_of(d->s), d->name);
	return r;
}

int pkg_dir_at(struct store *s, const char *name, enum pkg_dir which, int *ret_dirfd)
{
	struct dir_want d = { s, name, which };
	char path[PATH_MAX];
	int r = pkg_life_path(pkg_of(s), name, which == PKG_DIR_CHARM ? "charm" : "state", path,
			      sizeof(path));

	/* Every request under charm/ and state/ comes here: an existing directory costs one open. */
	return r < 0 ? r : dir_open_or_make(path, make_dirs, &d, ret_dirfd);
}

/* ---- the hook handler ---------------------------------------------------------------- */

static const char *begin_message(const char *hook)
{
	static const char *const m[][2] = {
		{ "install", "installing" },
		{ "upgrade-charm", "upgrading" },
		{ "stop", "stopping" },
		{ "remove", "removing" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(m); i++)
		if (!strcmp(hook, m[i][0]))
			return m[i][1];
	return NULL;
}

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *out = malloc(n);

	if (out)
		snprintf(out, n, "%s/%s", a, b);
	return out;
}

static int hook_fill(struct store *s, const char *name, const char *hook, struct pkg_hook *h)
{
	char path[PATH_MAX];
	struct stat st;
	int r = pkg_life_path(pkg_of(s), name, NULL, path, sizeof(path));

	if (r < 0)
		return r;
	h->package = strdup(name);
	h->hook = strdup(hook);
	h->unit = malloc(strlen(name) + 3);
	if (h->unit)
		snprintf(h->unit, strlen(name) + 3, "%s/0", name);
	h->charm_dir = path_join(path, "charm");
	h->state_dir = path_join(path, "state");
	if (!h->package || !h->hook || !h->unit || !h->charm_dir || !h->state_dir)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/hooks/%s", h->charm_dir, hook);
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && !(h->hook_path = strdup(path)))
		return -ENOMEM;
	r = db_meta_get(store_db(s), "uuid", &h->model_uuid);
	return r;
}

/* Valid hook names of the lifecycle this module records. */
static bool lifecycle_hook(const char *h)
{
	static const char *const v[] = { "install", "config-changed", "start", "upgrade-charm",
					 "stop", "remove" };

	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		if (!strcmp(h, v[i]))
			return true;
	return false;
}

int pkg_hook_begin(struct store *s, struct engine_run *run, struct pkg_hook *ret)
{
	const char *data = engine_run_data(run);
	json_t *j = data ? json_loads(data, 0, NULL) : NULL;
	const char *name = j ? json_string_value(json_object_get(j, "package")) : NULL;
	const char *hook = j ? json_string_value(json_object_get(j, "hook")) : NULL;
	struct pkg_hook h = { .change_id = engine_run_change_id(run), .task_id = engine_run_task_id(run) };
	int64_t *ids = NULL;
	size_t n = 0;
	struct pkg_row w;
	int r = name && hook && url_valid_name(name) && lifecycle_hook(hook) ? 0 : -EINVAL;

	if (r == 0)
		r = pkg_row_read(s, name, false, &w);
	if (r < 0)
		goto out;
	pkg_row_free(&w);
	r = pkg_life_unready(pkg_of(s), name, 0, h.change_id, &ids, &n);
	free(ids);
	if (r == 0 && (n > 0 || engine_run_stopping(run)))
		r = -EAGAIN; /* stopping: the retry lets the engine hold the aborted task */
	if (r < 0)
		goto out;
	pkg_life_lock(pkg_of(s));
	r = pkg_life_mkdirs(pkg_of(s), name);
	if (r == 0)
		r = pkg_life_ensure_charm(pkg_of(s), name);
	if (r == 0)
		r = db_write_begin(store_db(s));
	if (r == 0) {
		const char *msg = begin_message(hook);
		sqlite3_stmt *st = db_prep(store_db(s), "UPDATE packages SET cc_change = 0"
							" WHERE name = ? AND cc_change = ?");
		if (!st)
			r = -EIO;
		if (r == 0 && !strcmp(hook, "config-changed")) {
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, h.change_id);
			r = db_errno(sqlite3_step(st));
		}
		db_reset(st);
		if (r == 0 && msg)
			r = status_put(s, name, "maintenance", msg);
		r = db_write_end(store_db(s), r);
	}
	pkg_life_unlock(pkg_of(s));
	if (r == 0)
		r = hook_fill(s, name, hook, &h);
out:
	json_decref(j);
	if (r < 0) {
		pkg_hook_free(&h);
		return r;
	}
	h.run = run;
	*ret = h;
	return 0;
}

int pkg_hook_end(struct store *s, const struct pkg_hook *h, int exit_code, const char *describe)
{
	const char *name = h->package;
	struct buf line;
	int r;

	if (exit_code != 0 && h->run && engine_run_stopping(h->run)) {
		/* Aborted (a newer write): not the charm's failure. */
		buf_init(&line, 512);
		r = buf_addf(&line, "hook %s stopped: %s\n", h->hook, describe ? describe : "aborted");
		if (r == 0)
			r = db_write_begin(store_db(s));
		if (r == 0)
			r = db_write_end(store_db(s), log_add(s, name, line.data, line.len));
		buf_free(&line);
		return r;
	}
	pkg_life_lock(pkg_of(s));
	r = db_write_begin(store_db(s));
	if (r < 0)
		goto out;
	if (exit_code == 0) {
		r = pkg_row_exec(s, "UPDATE packages SET failed = 0 WHERE name = ?1", name);
		if (r == 0 && (!strcmp(h->hook, "install") || !strcmp(h->hook, "upgrade-charm")))
			r = pkg_row_exec(s, "UPDATE packages SET installed = version WHERE name = ?1",
				      name);
		if (r == 0)
			r = pkg_row_exec(s, "UPDATE packages SET state = 'unknown', message = ''"
					 " WHERE name = ?1 AND state = 'error'", name);
	} else {
		char msg[128];
		snprintf(msg, sizeof(msg), "hook %s failed", h->hook);
		r = pkg_row_exec(s, "UPDATE packages SET failed = 1 WHERE name = ?1", name);
		if (r == 0)
			r = status_put(s, name, "error", msg);
		buf_init(&line, 512);
		if (r == 0)
			r = buf_addf(&line, "%s: %s\n", msg, describe ? describe : "failed");
		if (r == 0)
			r = log_add(s, name, line.data, line.len);
		buf_free(&line);
	}
	r = db_write_end(store_db(s), r);
out:
	pkg_life_unlock(pkg_of(s));
	if (r == 0 && exit_code != 0)
		pkg_fire_event(s, "package-error", name, h->hook, describe);
	return r;
}

void pkg_fire_event(struct store *s, const char *event, const char *name, const char *hook,
		    const char *message)
{
	struct evhook_fact f[3] = { { "package", name } };
	size_t n = 1;
	json_t *o;
	char *json;

	if (!evhook_wanted(store_evhooks(s), event))
		return;
	o = json_pack("{s:s, s:s}", "kind", event, "package", name);
	if (o && hook) {
		json_object_set_new(o, "hook", json_string(hook));
		f[n++] = (struct evhook_fact){ "hook-name", hook };
	}
	if (o && message) {
		json_object_set_new(o, "message", json_text(message, strlen(message)));
		f[n++] = (struct evhook_fact){ "message", message };
	}
	json = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (json)
		(void)evhook_fire(store_evhooks(s), store_engine(s), event, json, f, n);
	free(json);
	json_decref(o);
}

void pkg_hook_free(struct pkg_hook *h)
{
	if (!h)
		return;
	free(h->package);
	free(h->hook);
	free(h->unit);
	free(h->charm_dir);
	free(h->state_dir);
	free(h->hook_path);
	free(h->model_uuid);
	memset(h, 0, sizeof(*h));
}
