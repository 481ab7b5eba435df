/*
 * Parsers for transaction-file requests. Input is untrusted and bounded by
 * REQ_LINE_MAX; tokens are counted and length-checked before use, and each
 * failure names what was wrong so the reply can say it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lock.h"
#include "request.h"
#include "banned.h"

#define MAX_TOKENS (REQ_MAX_URLS + 8)

struct tokens {
	char buf[REQ_LINE_MAX + 1];
	char *v[MAX_TOKENS];
	size_t n;
};

static int tokenize(const char *line, size_t len, struct tokens *t, char *err, size_t errlen)
{
	char *p;

	if (len && line[len - 1] == '\n')
		len--;
	if (len > REQ_LINE_MAX) {
		snprintf(err, errlen, "request longer than %d bytes", REQ_LINE_MAX);
		return -EINVAL;
	}
	if (memchr(line, '\0', len) || memchr(line, '\n', len)) {
		snprintf(err, errlen, "request must be one line of text");
		return -EINVAL;
	}
	memcpy(t->buf, line, len);
	t->buf[len] = '\0';
	t->n = 0;
	for (p = t->buf; *p;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		if (t->n == MAX_TOKENS) {
			snprintf(err, errlen, "too many words in request");
			return -EINVAL;
		}
		t->v[t->n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	if (t->n == 0) {
		snprintf(err, errlen, "empty request");
		return -EINVAL;
	}
	return 0;
}

static int parse_target(const char *s, struct url *u, char *err, size_t errlen)
{
	int r = url_parse(s, u, err, errlen);

	if (r < 0)
		return r;
	if (strcmp(u->schema, "cs") != 0 || !u->series[0] || u->revision >= 0) {
		snprintf(err, errlen, "URL must be cs:[~user/]series/name without revision: %s", s);
		return -EINVAL;
	}
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
	if (strcmp(t->v[0], "publish") != 0) {
		snprintf(err, errlen, "unknown request \"%.32s\"", t->v[0]);
		return -EINVAL;
	}
	if (t->n < 5) {
		snprintf(err, errlen, "usage: publish DIGEST URL [URL...] < incoming/FILE [lock=LOCKID]");
		return -EINVAL;
	}
	memset(ret, 0, sizeof(*ret));
	if (strlen(t->v[1]) > REQ_DIGEST_MAX) {
		snprintf(err, errlen, "digest longer than %d bytes", REQ_DIGEST_MAX);
		return -EINVAL;
	}
	/* The digest is shown as text (info, events): it must be UTF-8. */
	if (!utf8_valid(t->v[1], strlen(t->v[1]))) {
		snprintf(err, errlen, "digest is not valid UTF-8");
		return -EINVAL;
	}
	snprintf(ret->digest, sizeof(ret->digest), "%s", t->v[1]);
	for (; i < t->n && strcmp(t->v[i], "<") != 0; i++) {
		if (ret->n_urls == REQ_MAX_URLS) {
			snprintf(err, errlen, "more than %d URLs", REQ_MAX_URLS);
			return -EINVAL;
		}
		r = parse_target(t->v[i], &ret->urls[ret->n_urls], err, errlen);
		if (r < 0)
			return r;
		if (url_listed(ret->urls, ret->n_urls, &ret->urls[ret->n_urls])) {
			snprintf(err, errlen, "URL given twice: %.256s", t->v[i]);
			return -EINVAL;
		}
		ret->n_urls++;
	}
	if (ret->n_urls == 0 || i + 1 >= t->n || strncmp(t->v[i + 1], "incoming/", 9) != 0 ||
	    !valid_file(t->v[i + 1] + 9)) {
		snprintf(err, errlen, "expected URLs then \"< incoming/FILE\"");
		return -EINVAL;
	}
	snprintf(ret->file, sizeof(ret->file), "%s", t->v[i + 1] + 9);
	for (i += 2; i < t->n; i++) {
		const char *v = t->v[i];
		if (strncmp(v, "lock=", 5) != 0 || ret->lock[0]) {
			snprintf(err, errlen, "unexpected \"%.64s\"", v);
			return -EINVAL;
		}
		if (!lock_id_valid(v + 5)) {
			snprintf(err, errlen, "malformed lock id \"%.64s\"", v + 5);
			return -EINVAL;
		}
		snprintf(ret->lock, sizeof(ret->lock), "%s", v + 5);
	}
	return 0;
}
