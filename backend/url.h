/*
 * Charm URLs: cs:[~user/][series/]name[-revision] (SPEC §3).
 *
 * The parser is strict where the original was lax: an overflowing or
 * leading-zero revision is an error, never a crash. Messages use the
 * original store's wording because HTTP clients match on them.
 */
#ifndef CHARMFS_URL_H
#define CHARMFS_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define URL_USER_MAX 64
#define URL_SERIES_MAX 32
#define URL_NAME_MAX 64
/* Longest string form: "local:~" user "/" series "/" name "-" 10 digits. */
#define URL_STR_MAX (8 + URL_USER_MAX + 1 + URL_SERIES_MAX + 1 + URL_NAME_MAX + 12)
/* Longest string accepted by url_parse(); longer input is EINVAL. */
#define URL_INPUT_MAX 512

struct url {
	char schema[8];                /* "cs" or "local" */
	char user[URL_USER_MAX + 1];   /* "" when absent */
	char series[URL_SERIES_MAX + 1]; /* "" when absent (an unresolved reference) */
	char name[URL_NAME_MAX + 1];
	int revision;                  /* -1 when absent */
};

/*
 * Parses s. A string without "schema:" is taken as cs:. On error returns
 * -EINVAL and, when err is not NULL, writes the original's message, e.g.
 * `charm URL has invalid series: "cs:/bad"` (truncated to errlen).
 */
int url_parse(const char *s, struct url *ret, char *err, size_t errlen) WUR;

/* Formats u as schema:[~user/][series/]name[-rev] into out[URL_STR_MAX]. */
void url_format(const struct url *u, char *out, size_t outlen);

/* Formats the path form [~user/]series/name (no schema, no revision). */
void url_path(const struct url *u, char *out, size_t outlen);

/*
 * Builds a cs: URL without revision from path parts (user may be NULL or
 * ""). Returns -EINVAL if any part is not valid.
 */
int url_from_parts(const char *user, const char *series, const char *name, struct url *ret) WUR;

bool url_valid_name(const char *s);
bool url_valid_series(const char *s);   /* also refuses the reserved "ctl" and "incoming" */
bool url_valid_user(const char *s);     /* without the leading '~' */

#endif
