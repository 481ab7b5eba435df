/*
 * Fuzz target for url_parse() (backend/url.c), the first parser every
 * charm URL from a path, a request line or an HTTP query meets. The input
 * is taken as a C string (bytes after a NUL are ignored, as the daemon would
 * see them). Besides "no crash, no leak", it checks the round trips that the
 * store relies on: a parsed URL is made of valid parts, formats within
 * URL_STR_MAX and parses back to the same struct; its path form rebuilds
 * through url_from_parts(); and a refusal is always -EINVAL with a message
 * in the original wording, whatever the size of the error buffer.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "fuzz_url: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                        \
			abort();                                                         \
		}                                                                        \
	} while (0)

static bool same_url(const struct url *a, const struct url *b)
{
	return strcmp(a->schema, b->schema) == 0 && strcmp(a->user, b->user) == 0 &&
	       strcmp(a->series, b->series) == 0 && strcmp(a->name, b->name) == 0 &&
	       a->revision == b->revision;
}

static void check_valid(const struct url *u)
{
	char s[URL_STR_MAX + 64], err[256];
	struct url again, parts;

	CHECK(strcmp(u->schema, "cs") == 0 || strcmp(u->schema, "local") == 0);
	CHECK(url_valid_name(u->name));
	CHECK(!u->user[0] || url_valid_user(u->user));
	CHECK(!u->user[0] || strcmp(u->schema, "cs") == 0);
	CHECK(!u->series[0] || url_valid_series(u->series));
	CHECK(u->revision >= -1);

	url_format(u, s, sizeof(s));
	CHECK(strlen(s) < URL_STR_MAX);
	CHECK(url_parse(s, &again, err, sizeof(err)) == 0);
	CHECK(same_url(u, &again));

	if (u->series[0]) {
		CHECK(url_from_parts(u->user, u->series, u->name, &parts) == 0);
		CHECK(strcmp(parts.schema, "cs") == 0 && parts.revision == -1);
		CHECK(strcmp(parts.name, u->name) == 0 && strcmp(parts.series, u->series) == 0 &&
		      strcmp(parts.user, u->user) == 0);
		url_path(u, s, sizeof(s));
		CHECK(url_parse(s, &again, err, sizeof(err)) == 0);
		CHECK(same_url(&parts, &again));
	}
}

static void check_refused(const char *s, const char *err)
{
	char small[12];
	struct url u;

	CHECK(err[0] != '\0');
	CHECK(strncmp(err, "charm URL ", 10) == 0 || strncmp(err, "local charm URL ", 16) == 0);
	CHECK(url_parse(s, &u, NULL, 0) == -EINVAL);
	CHECK(url_parse(s, &u, small, sizeof(small)) == -EINVAL);
	CHECK(strlen(small) == sizeof(small) - 1 && strncmp(small, err, sizeof(small) - 1) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char err[1024];
	struct url u;
	int r;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&u, 0xa5, sizeof(u));
	r = url_parse(s, &u, err, sizeof(err));
	if (r == 0) {
		check_valid(&u);
	} else {
		CHECK(r == -EINVAL);
		check_refused(s, err);
	}
	free(s);
	return 0;
}
