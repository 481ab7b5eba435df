/*
 * The upgrade state (upgstate.h) as rows of the meta table, keys
 * "upgrade.current", "upgrade.latest", "upgrade.versions",
 * "upgrade.checked" and "upgrade.history"; a check writes its three in one
 * transaction, an applied version its two.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_int.h"
#include "upgstate.h"
#include "banned.h"

/* meta(key) into *ret, or a copy of dflt when there is none. */
static int get(struct store *s, const char *key, const char *dflt, char **ret)
{
	int r = db_meta_get(store_db(s), key, ret);

	if (r == -ENOENT) {
		*ret = strdup(dflt);
		r = *ret ? 0 : -ENOMEM;
	}
	return r;
}

int upg_state_get(struct store *s, struct upg_state *ret)
{
	struct upg_state st = { 0 };
	char *checked = NULL;
	uint64_t ns = 0;
	int r = get(s, "upgrade.current", UPG_NONE, &st.current);

	if (r == 0)
		r = get(s, "upgrade.latest", "", &st.latest);
	if (r == 0)
		r = get(s, "upgrade.versions", "", &st.versions);
	if (r == 0)
		r = get(s, "upgrade.history", "", &st.history);
	if (r == 0)
		r = get(s, "upgrade.checked", "0", &checked);
	if (r == 0 && parse_u64(checked, &ns) == 0 && ns <= INT64_MAX)
		st.checked_ns = (int64_t)ns;
	free(checked);
	if (r < 0) {
		upg_state_free(&st);
		return r;
	}
	*ret = st;
	return 0;
}

void upg_state_free(struct upg_state *st)
{
	if (!st)
		return;
	free(st->current);
	free(st->latest);
	free(st->versions);
	free(st->history);
	memset(st, 0, sizeof(*st));
}

static int put(struct store *s, const char *key, const char *value)
{
	sqlite3_stmt *st = db_prep(store_db(s), "INSERT OR REPLACE INTO meta VALUES(?, ?)");
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	return r;
}

int upg_state_checked(struct store *s, const char *latest, const char *const *versions, size_t n)
{
	struct buf b;
	char ns[32];
	int r = 0;

	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = buf_addf(&b, "%s\n", versions[i]);
	if (r == 0)
		r = buf_add(&b, "", 1);
	snprintf(ns, sizeof(ns), "%lld", (long long)store_now_ns());
	if (r == 0)
		r = db_write_begin(store_db(s));
	if (r == 0) {
		r = put(s, "upgrade.latest", latest);
		if (r == 0)
			r = put(s, "upgrade.versions", b.data);
		if (r == 0)
			r = put(s, "upgrade.checked", ns);
		r = db_write_end(store_db(s), r);
	}
	buf_free(&b);
	return r;
}

int upg_state_applied(struct store *s, const char *version)
{
	struct buf b;
	char *history = NULL, stamp[32];
	int r = db_write_begin(store_db(s));

	if (r < 0)
		return r;
	buf_init(&b, SIZE_MAX);
	format_rfc3339(store_now_ns() / 1000000000, stamp);
	r = get(s, "upgrade.history", "", &history);
	if (r == 0)
		r = buf_addf(&b, "%s%s %s\n", history, version, stamp);
	if (r == 0)
		r = buf_add(&b, "", 1);
	if (r == 0)
		r = put(s, "upgrade.history", b.data);
	if (r == 0)
		r = put(s, "upgrade.current", version);
	r = db_write_end(store_db(s), r);
	free(history);
	buf_free(&b);
	return r;
}
