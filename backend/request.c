/*
 * Parsers for transaction-file requests. Input is untrusted and bounded by
 * REQ_LINE_MAX; split_words() (util.h) cuts the line into words, which are
 * counted and length-checked before use, and each failure names what was
 * wrong so the reply can say it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lock.h"
#include "request.h"
#include "banned.h"

#define MAX_TOKENS (REQ_MAX_URLS + 8)

static const struct split_rules request_rules = {
	.max_len = REQ_LINE_MAX,
	.max_words = MAX_TOKENS,
	.blanks = " \t",
};

struct tokens {
	char buf[REQ_LINE_MAX + 1];
	char *v[MAX_TOKENS];
	size_t n;
};

/* split_words() with this file's limits and messages. */
static int tokenize(const char *line, size_t len, struct tokens *t, char *err, size_t errlen)
{
	int r = split_words(line, len, &request_rules, t->buf, t->v, &t->n);

	if (r == -EMSGSIZE)
		return errf(err, errlen, -EINVAL, "request longer than %d bytes", REQ_LINE_MAX);
	if (r < 0)
		return errf(err, errlen, -EINVAL, "request must be one line of text");
	if (t->n > MAX_TOKENS)
		return errf(err, errlen, -EINVAL, "too many words in request");
	if (t->n == 0)
		return errf(err, errlen, -EINVAL, "empty request");
	return 0;
}

static int parse_target(const char *s, struct url *u, char *err, size_t errlen)
{
	int r = url_parse(s, u, err, errlen);

	if (r < 0)
		return r;
	if (strcmp(u->schema, "cs") != 0 || !u->series[0] || u->revision >= 0)
		return errf(err, errlen, -EINVAL,
			    "URL must be cs:[~user/]series/name without revision: %s", s);
	return 0;
}

/* Is u among v[0..n)? (The same URL twice in one request is a mistake, not a merge.) */
static bool url_listed(const struct url *v, size_t n, const struct url *u)
{
	char a[512], b[512];

	url_format(u, a, sizeof(a));
	for (size_t i = 0; i < n; i++) {
		url_format(&v[i], b, sizeof(b));
		if (strcmp(a, b) == 0)
			return true;
	}
	return false;
}

static bool valid_file(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= REQ_FILE_MAX && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

int req_parse_publish(const char *line, size_t len, struct req_publish *ret, char *err,
		      size_t errlen)
{
	struct tokens tok, *t = &tok;
	size_t i = 2;
	int r;

	r = tokenize(line, len, t, err, errlen);
	if (r < 0)
		return r;
	if (strcmp(t->v[0], "publish") != 0)
		return errf(err, errlen, -EINVAL, "unknown request \"%.32s\"", t->v[0]);
	if (t->n < 5)
		return errf(err, errlen, -EINVAL,
			    "usage: publish DIGEST URL [URL...] < incoming/FILE [lock=LOCKID]");
	memset(ret, 0, sizeof(*ret));
	if (strlen(t->v[1]) > REQ_DIGEST_MAX)
		return errf(err, errlen, -EINVAL, "digest longer than %d bytes", REQ_DIGEST_MAX);
	/* The digest is shown as text (info, events): it must be UTF-8. */
	if (!utf8_valid(t->v[1], strlen(t->v[1])))
		return errf(err, errlen, -EINVAL, "digest is not valid UTF-8");
	snprintf(ret->digest, sizeof(ret->digest), "%s", t->v[1]);
	for (; i < t->n && strcmp(t->v[i], "<") != 0; i++) {
		if (ret->n_urls == REQ_MAX_URLS)
			return errf(err, errlen, -EINVAL, "more than %d URLs", REQ_MAX_URLS);
		r = parse_target(t->v[i], &ret->urls[ret->n_urls], err, errlen);
		if (r < 0)
			return r;
		if (url_listed(ret->urls, ret->n_urls, &ret->urls[ret->n_urls]))
			return errf(err, errlen, -EINVAL, "URL given twice: %.256s", t->v[i]);
		ret->n_urls++;
	}
	if (ret->n_urls == 0 || i + 1 >= t->n || strncmp(t->v[i + 1], "incoming/", 9) != 0 ||
	    !valid_file(t->v[i + 1] + 9))
		return errf(err, errlen, -EINVAL, "expected URLs then \"< incoming/FILE\"");
	snprintf(ret->file, sizeof(ret->file), "%s", t->v[i + 1] + 9);
	for (i += 2; i < t->n; i++) {
		const char *v = t->v[i];
		if (strncmp(v, "lock=", 5) != 0 || ret->lock[0])
			return errf(err, errlen, -EINVAL, "unexpected \"%.64s\"", v);
		if (!lock_id_valid(v + 5))
			return errf(err, errlen, -EINVAL, "malformed lock id \"%.64s\"", v + 5);
		snprintf(ret->lock, sizeof(ret->lock), "%s", v + 5);
	}
	return 0;
}
