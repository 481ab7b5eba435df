/*
 * What pkg.c, pkgdata.c and pkghook.c share and nobody else sees: a
 * package's row and the settings rules. Calls go one way: pkg.c and
 * pkghook.c call pkgdata.c, which calls neither (nor pkglife.c).
 *
 *  - pkgdata.c: reading a row, the settings rules (config.yaml, checks,
 *    defaults, checksum).
 *  - pkg.c: the user's writes and the change each records (pkg.h, "the
 *    user's files").
 *  - pkghook.c: the log, the hook tools, charm/ and state/ for fs/, the
 *    hook handler's begin and end.
 */
#ifndef CHARMFS_PKG_INT_H
#define CHARMFS_PKG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "pkg.h"
#include "url.h"
#include "yamlcfg.h"

/* The log's rows hold at most this many bytes each. */
#define PKG_LOG_CHUNK (64 * 1024)

/* One package's row. */
struct pkg_row {
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


void pkg_row_free(struct pkg_row *r);
/* The row of name (visible_only: -ENOENT while it is being removed). -ENOENT, -ENOMEM, -EIO. */
int pkg_row_read(struct store *s, const char *name, bool visible_only, struct pkg_row *ret) WUR;
/* Runs sql, binding name as ?1, inside the caller's transaction. */
int pkg_row_exec(struct store *s, const char *sql, const char *name) WUR;
/* The store's package component. */
struct pkg_life *pkg_of(struct store *s);
/* Now, in ns since the epoch. */
int64_t pkg_now_ns(void);

/* The config.yaml of the revision version (a canonical URL) into *ret (NULL: it has none). */
int pkg_config_load(struct store *s, const char *version, struct charm_config **ret,
		    struct strv *errors) WUR;
/* Checks every key of obj against c (NULL: no options): -EINVAL with reasons naming the keys. */
int pkg_settings_check(const struct charm_config *c, const char *version, json_t *obj,
		       struct strv *errors) WUR;
/* Parses the user's JSON: an object, nulls dropped, as compact sorted text into *ret. */
int pkg_settings_parse(const char *json, size_t len, char **ret, struct strv *errors) WUR;
/* The settings as shown: c's defaults under the user's values, compact and sorted. */
int pkg_settings_shown(const struct charm_config *c, const char *user, char **ret) WUR;
/* The shown settings of a row under its own version (without defaults when it is gone). */
int pkg_row_shown(struct store *s, const struct pkg_row *w, char **ret) WUR;
/* Compact, sorted text of j (a new string), NULL on ENOMEM. */
char *pkg_json_dump(const json_t *j);
/* Lower-case hex MD5 of s ("" if the digest fails). */
void pkg_md5_hex(const char *s, char out[33]);

/*
 * Fires a package event (SPEC §4.7: package-changed, package-error) for
 * package name, after the commit of what caused it; hook and message may
 * be NULL. The hooks see {"kind": EVENT, "package": NAME, ...} on their
 * standard input and CHARMFS_PACKAGE, CHARMFS_HOOK_NAME, CHARMFS_MESSAGE.
 * May be called under the component's mutex (the engine's comes after it).
 * Fire and forget: a run that cannot be recorded costs the write nothing.
 */
void pkg_fire_event(struct store *s, const char *event, const char *name, const char *hook,
		    const char *message);

#endif
