/*
 * A package's row and the settings rules (pkg_int.h): the config.yaml of
 * a version, the checks of the user's values against its options, the
 * settings as shown (defaults filled, compact, sorted) and their MD5.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "pkg_int.h"
#include "store_int.h"
#include "banned.h"

void pkg_row_free(struct pkg_row *r)
{
	free(r->settings);
	free(r->message);
}

struct pkg_life *pkg_of(struct store *s)
{
	return store_pkg(s);
}

int64_t pkg_now_ns(void)
{
	return store_now_ns();
}

#define ROW_COLS                                                                          \
	"version, sha256, settings, enabled, failed, removing, state, message, installed," \
	" change_id, cc_change, log_start, log_end, created, version_ns, settings_ns,"     \
	" enabled_ns, status_ns, log_ns"

int pkg_row_read(struct store *s, const char *name, bool visible_only, struct pkg_row *ret)
{
	sqlite3_stmt *st = db_prep(store_db(s), "SELECT " ROW_COLS " FROM packages WHERE name = ?");
	struct pkg_row w = { 0 };
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
		pkg_row_free(&w);
		return r;
	}
	*ret = w;
	return 0;
}

/* Runs sql (binding name as ?1) inside the caller's transaction. */
int pkg_row_exec(struct store *s, const char *sql, const char *name)
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
int pkg_config_load(struct store *s, const char *version, struct charm_config **ret,
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
int pkg_settings_check(const struct charm_config *c, const char *version, json_t *obj,
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
char *pkg_json_dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

/* The settings as shown: c's defaults, then the user's values. A new string. */
int pkg_settings_shown(const struct charm_config *c, const char *user, char **ret)
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
	if (r == 0 && !(*ret = pkg_json_dump(out)))
		r = -ENOMEM;
	json_decref(u);
	json_decref(out);
	return r;
}

void pkg_md5_hex(const char *s, char out[33])
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
/*
 * The settings as shown depend only on the version, its content (its
 * SHA-256) and the user's settings, and config-get asks for them at every
 * call: the last SHOWN_CACHE answers are kept, so that a call costs no
 * config.yaml parse. Shared by every store of the process (the key is
 * content), guarded by its own mutex.
 */
#define SHOWN_CACHE 16
static struct shown {
	char sha256[65];
	char version[URL_STR_MAX];
	char *settings, *shown;
} shown_cache[SHOWN_CACHE];
static size_t shown_next;
static pthread_mutex_t shown_lock = PTHREAD_MUTEX_INITIALIZER;

static char *shown_get(const struct pkg_row *w)
{
	char *copy = NULL;

	pthread_mutex_lock(&shown_lock);
	for (size_t i = 0; i < SHOWN_CACHE && !copy; i++) {
		const struct shown *c = &shown_cache[i];
		if (c->shown && !strcmp(c->sha256, w->sha256) && !strcmp(c->version, w->version) &&
		    !strcmp(c->settings, w->settings))
			copy = strdup(c->shown);
	}
	pthread_mutex_unlock(&shown_lock);
	return copy;
}

static void shown_put(const struct pkg_row *w, const char *shown)
{
	char *settings = strdup(w->settings), *copy = strdup(shown);
	struct shown *c;

	if (!settings || !copy) {
		free(settings);
		free(copy);
		return;
	}
	pthread_mutex_lock(&shown_lock);
	c = &shown_cache[shown_next++ % SHOWN_CACHE];
	free(c->settings);
	free(c->shown);
	snprintf(c->sha256, sizeof(c->sha256), "%s", w->sha256);
	snprintf(c->version, sizeof(c->version), "%s", w->version);
	c->settings = settings;
	c->shown = copy;
	pthread_mutex_unlock(&shown_lock);
}

int pkg_row_shown(struct store *s, const struct pkg_row *w, char **ret)
{
	struct charm_config *c = NULL;
	struct strv ignored = { 0 };
	bool cacheable = w->sha256[0] && w->version[0] && w->settings;
	int r;

	if (cacheable && (*ret = shown_get(w)))
		return 0;
	r = pkg_config_load(s, w->version, &c, &ignored);
	strv_clear(&ignored);
	if (r == -ENOENT || r == -EINVAL) {
		r = 0; /* revision deleted since: shown without defaults */
		cacheable = false;
	}
	if (r == 0)
		r = pkg_settings_shown(c, w->settings, ret);
	if (r == 0 && cacheable)
		shown_put(w, *ret);
	config_free(c);
	return r;
}

/* Parses the user's JSON: an object, nulls dropped, as compact sorted text into *ret. */
int pkg_settings_parse(const char *json, size_t len, char **ret, struct strv *errors)
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
	*ret = pkg_json_dump(j);
	json_decref(j);
	return *ret ? 0 : -ENOMEM;
}
