/*
 * Packages (pkg.h): the rules of SPEC §4.6 and every write's change.
 *
 * A write runs under the component's one mutex (pkglife.c): it reads the
 * package's row, decides, aborts what it must (engine_abort() outside any
 * transaction), then stores the row and records its one change
 * (engine_record_tx()) in one transaction, and notices the engine after
 * the commit. The row's change_id names the newest change; cc_change the
 * change whose config-changed has not begun: a settings write while it is
 * set records nothing (the hook will read the newest settings, late
 * binding), and pkg_hook_begin() clears it under the same mutex, so no
 * write can fall between "not begun" and the hook's first config-get.
 *
 * Settings are stored as the user wrote them (compact, sorted keys, nulls
 * dropped) and shown with the version's defaults filled; the checksum is
 * the MD5 of what is shown (agents.md D1). The D5 rule compares what is
 * shown: a write that shows the same settings for the same version does
 * nothing, unless the package is in error (failed): then it retries.
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
#include <openssl/evp.h>

#include "engine.h"
#include "pkg.h"
#include "pkglife.h"
#include "store_int.h"
#include "yamlcfg.h"
#include "banned.h"

/* The log's rows hold at most this many bytes each. */
#define PKG_LOG_CHUNK (64 * 1024)

/* One package's row. */
struct row {
	char version[URL_STR_MAX];
	char sha256[65];
	char *settings; /* the user's, compact and sorted */
	bool enabled, failed, removing;
	char state[16];
	char *message;
	char installed[URL_STR_MAX];
	int64_t change_id, cc_change, log_start, log_end;
	int64_t created, version_ns, settings_ns, enabled_ns, status_ns, log_ns;
};

static void row_free(struct row *r)
{
	free(r->settings);
	free(r->message);
}

static struct pkg_life *life(struct store *s)
{
	return store_pkg(s);
}

static int64_t now_ns(void)
{
	return store_now_ns();
}

#define ROW_COLS                                                                          \
	"version, sha256, settings, enabled, failed, removing, state, message, installed," \
	" change_id, cc_change, log_start, log_end, created, version_ns, settings_ns,"     \
	" enabled_ns, status_ns, log_ns"

static int read_row(struct store *s, const char *name, bool visible_only, struct row *ret)
{
	sqlite3_stmt *st = db_prep(store_db(s), "SELECT " ROW_COLS " FROM packages WHERE name = ?");
	struct row w = { 0 };
	int rc, r = -ENOENT;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(w.version, sizeof(w.version), "%s", sqlite3_column_text(st, 0));
		snprintf(w.sha256, sizeof(w.sha256), "%s", sqlite3_column_text(st, 1));
		w.settings = strdup((const char *)sqlite3_column_text(st, 2));
		w.enabled = sqlite3_column_int(st, 3) != 0;
		w.failed = sqlite3_column_int(st, 4) != 0;
		w.removing = sqlite3_column_int(st, 5) != 0;
		snprintf(w.state, sizeof(w.state), "%s", sqlite3_column_text(st, 6));
		w.message = strdup((const char *)sqlite3_column_text(st, 7));
		snprintf(w.installed, sizeof(w.installed), "%s", sqlite3_column_text(st, 8));
		w.change_id = sqlite3_column_int64(st, 9);
		w.cc_change = sqlite3_column_int64(st, 10);
		w.log_start = sqlite3_column_int64(st, 11);
		w.log_end = sqlite3_column_int64(st, 12);
		w.created = sqlite3_column_int64(st, 13);
		w.version_ns = sqlite3_column_int64(st, 14);
		w.settings_ns = sqlite3_column_int64(st, 15);
		w.enabled_ns = sqlite3_column_int64(st, 16);
		w.status_ns = sqlite3_column_int64(st, 17);
		w.log_ns = sqlite3_column_int64(st, 18);
		r = w.settings && w.message ? 0 : -ENOMEM;
	} else if (rc != SQLITE_DONE) {
		r = db_errno(rc);
	}
	db_reset(st);
	if (r == 0 && visible_only && w.removing)
		r = -ENOENT;
	if (r < 0) {
		row_free(&w);
		return r;
	}
	*ret = w;
	return 0;
}

/* Runs sql (binding name as ?1) inside the caller's transaction. */
static int exec_name(struct store *s, const char *sql, const char *name)
{
	sqlite3_stmt *st = db_prep(store_db(s), sql);
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	return r;
}

/* ---- settings --------------------------------------------------------------- */

/* The config.yaml of the revision version (a canonical URL) into *ret (NULL: it has none). */
static int load_config(struct store *s, const char *version, struct charm_config **ret,
		       struct strv *errors)
{
	struct url u;
	struct store_rev rev;
	struct buf b;
	int r;

	*ret = NULL;
	if (!version[0])
		return 0;
	r = url_parse(version, &u, NULL, 0);
	if (r == 0)
		r = store_get_rev(s, &u, u.revision, &rev);
	if (r == -ENOENT)
		return strv_errf(errors, -ENOENT, NULL, "no revision %s in the store", version);
	if (r < 0)
		return r;
	buf_init(&b, YAML_MAX_BYTES);
	if (rev.in_db && !rev.has_config) {
		buf_free(&b);
		return 0;
	}
	if (rev.in_db) {
		r = store_file_data(s, &rev, "config.yaml", &b);
	} else {
		char path[PATH_MAX], *data = NULL;
		size_t n = 0;
		r = store_tree_ready(s, rev.sha256);
		store_tree_path(s, rev.sha256, path, sizeof(path));
		if (r == 0 && strlen(path) + 13 < sizeof(path))
			strncat(path, "/config.yaml", sizeof(path) - strlen(path) - 1);
		if (r == 0)
			r = read_file(path, YAML_MAX_BYTES, &data, &n);
		if (r == -ENOENT) {
			buf_free(&b);
			return 0;
		}
		if (r == 0)
			r = buf_add(&b, data, n);
		free(data);
	}
	if (r == 0)
		r = config_parse(b.data ? b.data : "", b.len, ret, errors);
	buf_free(&b);
	return r;
}

static const struct charm_option *find_option(const struct charm_config *c, const char *key)
{
	for (size_t i = 0; c && i < c->n_options; i++)
		if (!strcmp(c->options[i].name, key))
			return &c->options[i];
	return NULL;
}

static bool type_fits(enum opt_type t, const json_t *v)
{
	switch (t) {
	case OPT_INT: return json_is_integer(v);
	case OPT_FLOAT: return json_is_number(v);
	case OPT_STRING: return json_is_string(v);
	case OPT_BOOLEAN: return json_is_boolean(v);
	}
	return false;
}

/* Checks every key of obj against c (NULL: a charm without options). -EINVAL with reasons. */
static int validate(const struct charm_config *c, const char *version, json_t *obj,
		    struct strv *errors)
{
	const char *key;
	json_t *v;
	int r = 0;

	json_object_foreach(obj, key, v) {
		const struct charm_option *o = find_option(c, key);
		if (json_is_null(v))
			continue;
		if (!o)
			r = strv_errf(errors, -EINVAL, "settings", "unknown option \"%s\" for %s", key,
				      version);
		else if (!type_fits(o->type, v))
			r = strv_errf(errors, -EINVAL, "settings",
				      "option \"%s\" of %s expects %s, not %s", key, version,
				      opt_type_name(o->type),
				      json_is_string(v) ? "a string" : json_is_boolean(v) ? "a boolean" :
				      json_is_integer(v) ? "an integer" : json_is_real(v) ? "a float" :
				      json_is_array(v) ? "an array" : "an object");
		if (r == -ENOMEM)
			return r;
	}
	return r;
}

/* Compact, sorted text of j (new string) or NULL. */
static char *dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

/* The settings as shown: c's defaults, then the user's values. A new string. */
static int shown(const struct charm_config *c, const char *user, char **ret)
{
	json_t *u = json_loads(user, 0, NULL), *out = json_object();
	const char *key;
	json_t *v;
	int r = u && out ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && c && i < c->n_options; i++) {
		const struct charm_option *o = &c->options[i];
		json_t *d = NULL;
		if (!o->has_default)
			continue;
		switch (o->type) {
		case OPT_STRING: d = json_string(o->s ? o->s : ""); break;
		case OPT_INT: d = json_integer(o->i); break;
		case OPT_FLOAT: d = json_real(o->f); break;
		case OPT_BOOLEAN: d = json_boolean(o->b); break;
		}
		if (!d || json_object_set_new(out, o->name, d) < 0)
			r = -ENOMEM;
	}
	if (r == 0)
		json_object_foreach(u, key, v) if (json_object_set(out, key, v) < 0) r = -ENOMEM;
	if (r == 0 && !(*ret = dump(out)))
		r = -ENOMEM;
	json_decref(u);
	json_decref(out);
	return r;
}

static void md5_hex(const char *s, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL) != 1 || n != 16) {
		out[0] = '\0';
		return;
	}
	hex_encode(md, 16, out);
}

/* The shown settings of a row under its own version. */
static int row_shown(struct store *s, const struct row *w, char **ret)
{
	struct charm_config *c = NULL;
	struct strv ignored = { 0 };
	int r = load_config(s, w->version, &c, &ignored);

	strv_clear(&ignored);
	if (r == -ENOENT || r == -EINVAL)
		r = 0; /* revision deleted since: shown without defaults */
	if (r == 0)
		r = shown(c, w->settings, ret);
	config_free(c);
	return r;
}

/* Parses the user's JSON: an object, nulls dropped, as compact sorted text into *ret. */
static int parse_settings(const char *json, size_t len, char **ret, struct strv *errors)
{
	json_error_t je;
	json_t *j;
	void *tmp;
	const char *key;
	json_t *v;

	if (len > PKG_SETTINGS_MAX)
		return strv_errf(errors, -EFBIG, "settings", "more than %d bytes", PKG_SETTINGS_MAX);
	while (len > 0 && (json[len - 1] == '\n' || json[len - 1] == ' '))
		len--;
	if (len == 0) {
		*ret = strdup("{}");
		return *ret ? 0 : -ENOMEM;
	}
	j = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!j)
		return strv_errf(errors, -EINVAL, "settings", "invalid JSON: %s (line %d, column %d)",
				 je.text, je.line, je.column);
	if (!json_is_object(j)) {
		json_decref(j);
		return strv_errf(errors, -EINVAL, "settings", "not a JSON object");
	}
	json_object_foreach_safe(j, tmp, key, v) if (json_is_null(v)) json_object_del(j, key);
	*ret = dump(j);
	json_decref(j);
	return *ret ? 0 : -ENOMEM;
}

/* ---- recording changes -------------------------------------------------------- */

struct plan {
	const char *kind;    /* change kind */
	char summary[256];
	enum pkg_change_kind ck;
	bool deploy;	     /* a deploy task first */
	const char *hooks[4];
	size_t n_hooks;
	bool purge;	     /* a purge task last */
};

static void plan_hook(struct plan *p, const char *hook)
{
	p->hooks[p->n_hooks++] = hook;
}

/* The hooks after a version write (or a retry): install/upgrade-charm, config-changed, start. */
static void plan_version(struct plan *p, const char *name, const struct row *w)
{
	p->ck = PKG_CH_DEPLOY;
	p->deploy = true;
	if (!w->installed[0]) {
		p->kind = "install-package";
		snprintf(p->summary, sizeof(p->summary), "Install %s as %s", w->version, name);
		plan_hook(p, "install");
	} else if (strcmp(w->installed, w->version)) {
		p->kind = "upgrade-package";
		snprintf(p->summary, sizeof(p->summary), "Upgrade %s to %s", name, w->version);
		plan_hook(p, "upgrade-charm");
	} else {
		p->kind = "configure-package";
		snprintf(p->summary, sizeof(p->summary), "Retry %s with %s", name, w->version);
	}
	plan_hook(p, "config-changed");
	if (w->enabled)
		plan_hook(p, "start");
}

static char *task_data(const char *name, const char *key, const char *val)
{
	json_t *j = json_pack("{s:s}", "package", name);
	char *out = NULL;

	if (j && key)
		json_object_set_new(j, key, json_string(val));
	if (j)
		out = dump(j);
	json_decref(j);
	return out;
}

/*
 * Records the plan's change for package name (row w) in the caller's
 * transaction and points the row at it. ret_id may be NULL.
 */
static int record(struct store *s, const char *name, const struct row *w, const struct plan *p,
		  int64_t *ret_id)
{
	struct engine_task_spec t[6] = { 0 };
	char sums[6][256];
	char *data[6] = { 0 };
	size_t waits[6], n = 0;
	bool cc = false;
	int64_t id = 0;
	int r = 0;

	if (p->deploy) {
		snprintf(sums[n], sizeof(sums[n]), "Deploy %s into packages/%s", w->version, name);
		data[n] = task_data(name, "sha256", w->sha256);
		t[n++].kind = PKG_TASK_DEPLOY;
	}
	for (size_t i = 0; i < p->n_hooks; i++) {
		snprintf(sums[n], sizeof(sums[n]), "Run %s hook of %s", p->hooks[i], name);
		data[n] = task_data(name, "hook", p->hooks[i]);
		t[n++].kind = PKG_TASK_HOOK;
		cc = cc || !strcmp(p->hooks[i], "config-changed");
	}
	if (p->purge) {
		snprintf(sums[n], sizeof(sums[n]), "Delete package %s", name);
		data[n] = task_data(name, NULL, NULL);
		t[n++].kind = PKG_TASK_PURGE;
	}
	for (size_t i = 0; i < n; i++) {
		if (!data[i])
			r = -ENOMEM;
		t[i].summary = sums[i];
		t[i].data = data[i];
		t[i].status = ENGINE_DO;
		if (i > 0) {
			waits[i] = i - 1;
			t[i].wait_for = &waits[i];
			t[i].n_wait = 1;
		}
	}
	if (r == 0)
		r = engine_record_tx(store_db(s), p->kind, p->summary, now_ns() / 1000000, t, n, &id);
	if (r == 0)
		r = pkg_life_note_change(life(s), name, id, p->ck);
	if (r == 0) {
		sqlite3_stmt *st = db_prep(store_db(s), "UPDATE packages SET change_id = ?2,"
					   " cc_change = CASE WHEN ?3 THEN ?2 ELSE cc_change END"
					   " WHERE name = ?1");
		if (!st) {
			r = -EIO;
		} else {
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, id);
			sqlite3_bind_int(st, 3, cc);
			r = db_errno(sqlite3_step(st));
			db_reset(st);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(data[i]);
	if (r == 0 && ret_id)
		*ret_id = id;
	return r;
}

/* Aborts the package's unready changes of the kinds in mask (0: all). */
static int abort_unready(struct store *s, const char *name, unsigned mask)
{
	int64_t *ids = NULL;
	size_t n = 0;
	int r = pkg_life_unready(life(s), name, mask, 0, &ids, &n);

	/* Newest first: an older one's end cannot let a newer one start meanwhile. */
	for (size_t i = n; r == 0 && i-- > 0;) {
		int a = engine_abort(store_engine(s), ids[i]);
		if (a < 0 && a != -EALREADY && a != -ENOENT)
			r = a;
	}
	free(ids);
	return r;
}

/*
 * After a write committed: the engine reads its change.
 * EVENTS: the `package-changed` event (SPEC §4.7) fires here, once per
 * package write that recorded a change (name, the change id); the event
 * hooks module adds the call. `package-error` fires in pkg_hook_end().
 */
static void written(struct store *s, const char *name, bool recorded)
{
	(void)name;
	if (recorded && store_engine(s))
		engine_notice(store_engine(s));
}

/* ---- the user's files ---------------------------------------------------------- */

int pkg_create(struct store *s, const char *name)
{
	struct row w;
	int64_t t = now_ns();
	int r;

	if (!url_valid_name(name))
		return -EINVAL;
	pkg_life_lock(life(s));
	r = read_row(s, name, false, &w);
	if (r == 0) {
		bool removing = w.removing;
		row_free(&w);
		r = removing ? 0 : -EEXIST;
	} else if (r == -ENOENT) {
		r = 0;
	}
	if (r == 0)
		r = pkg_life_mkdirs(life(s), name);
	if (r == 0)
		r = pkg_life_ensure_charm(life(s), name);
	if (r == 0)
		r = db_write_begin(store_db(s));
	if (r == 0) {
		sqlite3_stmt *st = db_prep(store_db(s),
			"INSERT INTO packages(name, created, version_ns, settings_ns, enabled_ns,"
			" status_ns, log_ns) VALUES(?1, ?2, ?2, ?2, ?2, ?2, ?2)"
			" ON CONFLICT(name) DO UPDATE SET removing = 0, enabled = 1, created = ?2,"
			" version_ns = ?2, settings_ns = ?2, enabled_ns = ?2");
		if (st) {
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, t);
			r = db_errno(sqlite3_step(st));
			db_reset(st);
		} else {
			r = -EIO;
		}
		r = db_write_end(store_db(s), r);
	}
	pkg_life_unlock(life(s));
	if (r == 0)
		written(s, name, false);
	return r;
}

int pkg_list(struct store *s, store_name_cb cb, void *ud)
{
	sqlite3_stmt *st = db_prep(store_db(s), "SELECT name FROM packages WHERE removing = 0"
						" ORDER BY name");
	struct strv names = { 0 };
	int rc, r = 0;

	if (!st)
		return -EIO;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = strv_push(&names, (const char *)sqlite3_column_text(st, 0));
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc);
	db_reset(st);
	for (size_t i = 0; r == 0 && i < names.n; i++)
		r = cb(ud, names.v[i]);
	strv_clear(&names);
	return r;
}

static char *status_text(const char *state, const char *message)
{
	size_t n = strlen(state) + strlen(message) + 3;
	char *out = malloc(n);

	if (out)
		snprintf(out, n, "%s%s%s", state, *message ? ": " : "", message);
	return out;
}

int pkg_get(struct store *s, const char *name, struct pkg_info *ret)
{
	struct pkg_info pi = { 0 };
	struct row w;
	int r = read_row(s, name, true, &w);

	if (r < 0)
		return r;
	r = row_shown(s, &w, &pi.settings);
	if (r == 0) {
		md5_hex(pi.settings, pi.checksum);
		pi.version = strdup(w.version);
		pi.status = status_text(w.state, w.message);
		if (!pi.version || !pi.status)
			r = -ENOMEM;
	}
	pi.enabled = w.enabled;
	pi.change_id = w.change_id;
	pi.created_ns = w.created;
	pi.version_ns = w.version_ns;
	pi.settings_ns = w.settings_ns;
	pi.enabled_ns = w.enabled_ns;
	pi.status_ns = w.status_ns;
	pi.log_ns = w.log_ns;
	pi.log_size = (uint64_t)(w.log_end - w.log_start);
	row_free(&w);
	if (r < 0) {
		pkg_info_free(&pi);
		return r;
	}
	*ret = pi;
	return 0;
}

void pkg_info_free(struct pkg_info *pi)
{
	if (!pi)
		return;
	free(pi->version);
	free(pi->settings);
	free(pi->status);
	memset(pi, 0, sizeof(*pi));
}

/* Parses a version write into the canonical URL and its revision. */
static int parse_version(struct store *s, const char *text, size_t len, char *out,
			 struct store_rev *rev, struct strv *errors)
{
	char in[URL_INPUT_MAX + 1], err[256];
	struct url u;
	int r;

	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (len == 0 || len > URL_INPUT_MAX || memchr(text, '\0', len))
		return strv_errf(errors, -EINVAL, "version", "expected cs:[~user/]series/name-REV");
	memcpy(in, text, len);
	in[len] = '\0';
	r = url_parse(in, &u, err, sizeof(err));
	if (r < 0)
		return strv_errf(errors, r, "version", "%s", err);
	if (strcmp(u.schema, "cs") || !u.series[0] || u.revision < 0)
		return strv_errf(errors, -EINVAL, "version",
				 "expected cs:[~user/]series/name-REV, with series and revision");
	url_format(&u, out, URL_STR_MAX);
	r = store_get_rev(s, &u, u.revision, rev);
	if (r == -ENOENT)
		return strv_errf(errors, r, "version", "no revision %s in the store", out);
	return r;
}

/* Runs the version plan for w (version already set in w): aborts, stores, records. */
static int apply_version(struct store *s, const char *name, struct row *w, const char *settings,
			 bool set_settings)
{
	struct plan p = { 0 };
	int64_t t = now_ns();
	sqlite3_stmt *st;
	int r = abort_unready(s, name, 0);

	plan_version(&p, name, w);
	if (r == 0)
		r = db_write_begin(store_db(s));
	if (r < 0)
		return r;
	st = db_prep(store_db(s), "UPDATE packages SET version = ?2, sha256 = ?3,"
				  " version_ns = CASE WHEN version = ?2 THEN version_ns ELSE ?4 END,"
				  " settings = CASE WHEN ?5 THEN ?6 ELSE settings END,"
				  " settings_ns = CASE WHEN ?5 THEN ?4 ELSE settings_ns END,"
				  " cc_change = 0 WHERE name = ?1");
	if (!st)
		return db_write_end(store_db(s), -EIO);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, w->version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, w->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, t);
	sqlite3_bind_int(st, 5, set_settings);
	sqlite3_bind_text(st, 6, settings, -1, SQLITE_STATIC);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	if (r == 0)
		r = record(s, name, w, &p, NULL);
	r = db_write_end(store_db(s), r);
	if (r == 0)
		written(s, name, true);
	return r;
}

int pkg_set_version(struct store *s, const char *name, const char *text, size_t len,
		    struct strv *errors)
{
	char version[URL_STR_MAX];
	struct store_rev rev;
	struct charm_config *c = NULL;
	json_t *obj = NULL;
	struct row w;
	int r = parse_version(s, text, len, version, &rev, errors);

	if (r < 0)
		return r;
	pkg_life_lock(life(s));
	r = read_row(s, name, true, &w);
	if (r < 0)
		goto out;
	if (!strcmp(w.version, version) && !w.failed)
		goto done; /* D5: unchanged */
	r = load_config(s, version, &c, errors);
	if (r == 0) {
		obj = json_loads(w.settings, 0, NULL);
		r = obj ? validate(c, version, obj, errors) : -EIO;
	}
	if (r == 0) {
		snprintf(w.version, sizeof(w.version), "%s", version);
		snprintf(w.sha256, sizeof(w.sha256), "%s", rev.sha256);
		r = apply_version(s, name, &w, NULL, false);
	}
done:
	row_free(&w);
out:
	pkg_life_unlock(life(s));
	json_decref(obj);
	config_free(c);
	return r;
}

/* True when change id's config-changed may still be absorbed: the change is unready. */
static bool cc_pending(struct store *s, int64_t id)
{
	struct engine_change_info *ci = NULL;
	bool pending = false;

	if (id > 0 && engine_change_get(store_engine(s), id, &ci) == 0)
		pending = !ci->ready && ci->status != ENGINE_ABORT && ci->status != ENGINE_UNDO &&
			  ci->status != ENGINE_UNDOING;
	engine_change_info_free(ci);
	return pending;
}

/* Stores settings (and records config-changed unless absorbed). */
static int apply_settings(struct store *s, const char *name, const struct row *w,
			  const char *settings, bool record_change)
{
	struct plan p = { .kind = "configure-package", .ck = PKG_CH_CONFIG };
	sqlite3_stmt *st;
	int r = db_write_begin(store_db(s));

	if (r < 0)
		return r;
	snprintf(p.summary, sizeof(p.summary), "Configure %s", name);
	plan_hook(&p, "config-changed");
	if (w->failed && w->enabled)
		plan_hook(&p, "start");
	st = db_prep(store_db(s), "UPDATE packages SET settings = ?2, settings_ns = ?3 WHERE name = ?1");
	if (!st)
		return db_write_end(store_db(s), -EIO);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, settings, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ns());
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	if (r == 0 && record_change)
		r = record(s, name, w, &p, NULL);
	r = db_write_end(store_db(s), r);
	if (r == 0)
		written(s, name, record_change);
	return r;
}

int pkg_set_settings(struct store *s, const char *name, const char *json, size_t len,
		     struct strv *errors)
{
	_cleanup_free_ char *settings = NULL, *old = NULL, *new = NULL;
	struct charm_config *c = NULL;
	json_t *obj = NULL;
	struct row w;
	int r = parse_settings(json, len, &settings, errors);

	if (r < 0)
		return r;
	pkg_life_lock(life(s));
	r = read_row(s, name, true, &w);
	if (r < 0)
		goto out;
	if (!w.version[0]) {
		if (strcmp(w.settings, settings))
			r = apply_settings(s, name, &w, settings, false);
		goto done;
	}
	r = load_config(s, w.version, &c, errors);
	if (r == 0) {
		obj = json_loads(settings, 0, NULL);
		r = obj ? validate(c, w.version, obj, errors) : -ENOMEM;
	}
	if (r == 0)
		r = shown(c, w.settings, &old);
	if (r == 0)
		r = shown(c, settings, &new);
	if (r < 0 || (!strcmp(old, new) && !w.failed))
		goto done; /* D5 */
	if (w.failed && strcmp(w.installed, w.version))
		r = apply_version(s, name, &w, settings, true);
	else
		r = apply_settings(s, name, &w, settings, w.failed || !cc_pending(s, w.cc_change));
done:
	row_free(&w);
out:
	pkg_life_unlock(life(s));
	json_decref(obj);
	config_free(c);
	return r;
}

int pkg_set_enabled(struct store *s, const char *name, bool enabled)
{
	struct plan p = { 0 };
	sqlite3_stmt *st;
	struct row w;
	bool rec;
	int r;

	pkg_life_lock(life(s));
	r = read_row(s, name, true, &w);
	if (r < 0)
		goto out;
	if (w.enabled == enabled)
		goto done;
	rec = w.version[0] != '\0';
	if (rec)
		r = abort_unready(s, name, 1u << PKG_CH_ENABLE | 1u << PKG_CH_DISABLE);
	p.kind = enabled ? "enable-package" : "disable-package";
	p.ck = enabled ? PKG_CH_ENABLE : PKG_CH_DISABLE;
	snprintf(p.summary, sizeof(p.summary), "%s %s", enabled ? "Enable" : "Disable", name);
	if (enabled)
		plan_hook(&p, "config-changed");
	plan_hook(&p, enabled ? "start" : "stop");
	if (r == 0)
		r = db_write_begin(store_db(s));
	if (r < 0)
		goto done;
	st = db_prep(store_db(s), "UPDATE packages SET enabled = ?2, enabled_ns = ?3 WHERE name = ?1");
	if (st) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, enabled);
		sqlite3_bind_int64(st, 3, now_ns());
		r = db_errno(sqlite3_step(st));
		db_reset(st);
	} else {
		r = -EIO;
	}
	if (r == 0 && rec)
		r = record(s, name, &w, &p, NULL);
	r = db_write_end(store_db(s), r);
	if (r == 0)
		written(s, name, rec);
done:
	row_free(&w);
out:
	pkg_life_unlock(life(s));
	return r;
}

int pkg_remove(struct store *s, const char *name)
{
	static const char *const now_sql[] = {
		"DELETE FROM packages WHERE name = ?1",
		"DELETE FROM pkg_log WHERE name = ?1",
		"DELETE FROM pkg_ports WHERE name = ?1",
		"DELETE FROM pkg_changes WHERE name = ?1",
	};
	struct plan p = { .kind = "remove-package", .ck = PKG_CH_REMOVE, .purge = true };
	char path[PATH_MAX];
	bool at_once;
	struct row w;
	int r;

	pkg_life_lock(life(s));
	r = read_row(s, name, true, &w);
	if (r < 0)
		goto out;
	at_once = !w.sha256[0];
	r = abort_unready(s, name, 0);
	if (r == 0)
		r = db_write_begin(store_db(s));
	if (r < 0)
		goto done;
	if (at_once) {
		for (size_t i = 0; r == 0 && i < ARRAY_SIZE(now_sql); i++)
			r = exec_name(s, now_sql[i], name);
	} else {
		snprintf(p.summary, sizeof(p.summary), "Remove %s", name);
		plan_hook(&p, "stop");
		plan_hook(&p, "remove");
		r = exec_name(s, "UPDATE packages SET version = '', settings = '{}', removing = 1,"
				 " installed = '', cc_change = 0 WHERE name = ?1", name);
		if (r == 0)
			r = record(s, name, &w, &p, NULL);
	}
	r = db_write_end(store_db(s), r);
	if (r == 0 && at_once && pkg_life_path(life(s), name, NULL, path, sizeof(path)) == 0)
		(void)rm_rf(path);
	if (r == 0)
		written(s, name, !at_once);
done:
	row_free(&w);
out:
	pkg_life_unlock(life(s));
	return r;
}

/* ---- the log ------------------------------------------------------------------ */

int pkg_log_size(struct store *s, const char *name, uint64_t *ret)
{
	struct row w;
	int r = read_row(s, name, false, &w);

	if (r == 0) {
		*ret = (uint64_t)(w.log_end - w.log_start);
		row_free(&w);
	}
	return r;
}

int pkg_log_read(struct store *s, const char *name, uint64_t off, size_t len, struct buf *out)
{
	sqlite3_stmt *st;
	bool started = false;
	struct row w;
	int64_t from, to;
	int rc, r = db_read_begin(store_db(s), &started);

	if (r < 0)
		return r;
	r = read_row(s, name, false, &w);
	if (r < 0)
		goto out;
	from = w.log_start + (int64_t)(off < (uint64_t)INT64_MAX / 2 ? off : (uint64_t)INT64_MAX / 2);
	to = from + (int64_t)(len < PKG_LOG_MAX ? len : PKG_LOG_MAX);
	if (to > w.log_end)
		to = w.log_end;
	row_free(&w);
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
	struct row w;
	sqlite3_stmt *st;
	int64_t end, start;
	int rc, r;

	if (n > PKG_LOG_MAX) {
		p += n - PKG_LOG_MAX;
		n = PKG_LOG_MAX;
	}
	r = read_row(s, name, false, &w);
	if (r < 0)
		return r;
	end = w.log_end;
	start = w.log_start;
	row_free(&w);
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
		sqlite3_bind_int64(st, 4, now_ns());
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
	format_rfc3339(now_ns() / 1000000000, t);
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
	struct row w;
	int r = read_row(s, name, false, &w);

	if (r < 0)
		return r;
	r = row_shown(s, &w, ret);
	row_free(&w);
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
		sqlite3_bind_int64(st, 4, now_ns());
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
	struct row w;
	int r = read_row(s, name, false, &w);
	char *st;

	if (r < 0)
		return r;
	st = strdup(w.state);
	if (!st) {
		row_free(&w);
		return -ENOMEM;
	}
	*ret_state = st;
	*ret_message = TAKE_PTR(w.message);
	row_free(&w);
	return 0;
}

int pkg_port(struct store *s, const char *name, bool open, int from, int to, const char *proto)
{
	bool icmp = !strcmp(proto, "icmp");
	sqlite3_stmt *st;
	struct row w;
	int r;

	if (!icmp && strcmp(proto, "tcp") && strcmp(proto, "udp"))
		return -EINVAL;
	if (icmp ? (from != 0 || to != 0) : (from < 1 || to > 65535 || from > to))
		return -EINVAL;
	r = read_row(s, name, false, &w);
	if (r < 0)
		return r;
	row_free(&w);
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
	struct row w;
	int rc, r = read_row(s, name, false, &w);

	if (r < 0)
		return r;
	row_free(&w);
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

int pkg_dir_at(struct store *s, const char *name, enum pkg_dir which, int *ret_dirfd)
{
	char path[PATH_MAX];
	struct row w;
	int fd, r = read_row(s, name, false, &w);

	if (r < 0)
		return r;
	row_free(&w);
	r = pkg_life_mkdirs(life(s), name);
	if (r == 0 && which == PKG_DIR_CHARM)
		r = pkg_life_ensure_charm(life(s), name);
	if (r == 0)
		r = pkg_life_path(life(s), name, which == PKG_DIR_CHARM ? "charm" : "state", path,
				  sizeof(path));
	if (r < 0)
		return r;
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_dirfd = fd;
	return 0;
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
	int r = pkg_life_path(life(s), name, NULL, path, sizeof(path));

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
	struct row w;
	int r = name && hook && url_valid_name(name) && lifecycle_hook(hook) ? 0 : -EINVAL;

	if (r == 0)
		r = read_row(s, name, false, &w);
	if (r < 0)
		goto out;
	row_free(&w);
	r = pkg_life_unready(life(s), name, 0, h.change_id, &ids, &n);
	free(ids);
	if (r == 0 && (n > 0 || engine_run_stopping(run)))
		r = -EAGAIN; /* stopping: the retry lets the engine hold the aborted task */
	if (r < 0)
		goto out;
	pkg_life_lock(life(s));
	r = pkg_life_mkdirs(life(s), name);
	if (r == 0)
		r = pkg_life_ensure_charm(life(s), name);
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
	pkg_life_unlock(life(s));
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
	pkg_life_lock(life(s));
	r = db_write_begin(store_db(s));
	if (r < 0)
		goto out;
	if (exit_code == 0) {
		r = exec_name(s, "UPDATE packages SET failed = 0 WHERE name = ?1", name);
		if (r == 0 && (!strcmp(h->hook, "install") || !strcmp(h->hook, "upgrade-charm")))
			r = exec_name(s, "UPDATE packages SET installed = version WHERE name = ?1",
				      name);
		if (r == 0)
			r = exec_name(s, "UPDATE packages SET state = 'unknown', message = ''"
					 " WHERE name = ?1 AND state = 'error'", name);
	} else {
		char msg[128];
		snprintf(msg, sizeof(msg), "hook %s failed", h->hook);
		r = exec_name(s, "UPDATE packages SET failed = 1 WHERE name = ?1", name);
		if (r == 0)
			r = status_put(s, name, "error", msg);
		buf_init(&line, 512);
		if (r == 0)
			r = buf_addf(&line, "%s: %s\n", msg, describe ? describe : "failed");
		if (r == 0)
			r = log_add(s, name, line.data, line.len);
		buf_free(&line);
		/* EVENTS: the `package-error` event (SPEC §4.7) fires here, after the commit. */
	}
	r = db_write_end(store_db(s), r);
out:
	pkg_life_unlock(life(s));
	return r;
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
