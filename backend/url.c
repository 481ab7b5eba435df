/*
 * Charm URL parsing and formatting (SPEC §3). The grammar and the error
 * messages follow juju/charm's ParseReference, because HTTP clients match
 * on the message text; the differences are deliberate and stricter:
 *
 *   - a revision with leading zeros ("foo-007") or beyond INT_MAX is an
 *     error ("charm URL has invalid revision"), where the original either
 *     accepted it without round-tripping or panicked;
 *   - more than two parts after "~user" is "invalid form" (one version of
 *     the original read "cs:a/b/c" as the name "a");
 *   - every part has a maximum length (url.h), and the series "ctl" and
 *     "incoming" are reserved because they name control files in the tree;
 *   - input longer than URL_INPUT_MAX is refused before any other check.
 *
 * The regular expressions of SPEC §3 are matched by hand with character
 * loops; no regex library is involved and nothing here allocates, so every
 * function is thread-safe. Messages quote the input the way Go's %q does
 * (go_quote_fixed() of util.h).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "url.h"
#include "banned.h"

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* ^[a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*$ and at most URL_NAME_MAX bytes. */
static bool valid_name(const char *s, size_t n)
{
	bool letter = true;

	if (n == 0 || n > URL_NAME_MAX || !is_lower(s[0]))
		return false;
	for (size_t i = 1; i < n; i++) {
		if (s[i] == '-') {
			if (!letter)
				return false;
			letter = false;
		} else if (is_lower(s[i])) {
			letter = true;
		} else if (!is_digit(s[i])) {
			return false;
		}
	}
	return letter;
}

/* ^[a-z]+([a-z0-9]+)?$, at most URL_SERIES_MAX bytes, not reserved. */
static bool valid_series(const char *s, size_t n)
{
	if (n == 0 || n > URL_SERIES_MAX || !is_lower(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_lower(s[i]) && !is_digit(s[i]))
			return false;
	if ((n == 3 && memcmp(s, "ctl", 3) == 0) || (n == 8 && memcmp(s, "incoming", 8) == 0))
		return false;
	return true;
}

/* ^[a-z0-9][a-zA-Z0-9+.-]+$ and at most URL_USER_MAX bytes. */
static bool valid_user(const char *s, size_t n)
{
	if (n < 2 || n > URL_USER_MAX || !(is_lower(s[0]) || is_digit(s[0])))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if (!is_lower(c) && !is_upper(c) && !is_digit(c) && c != '+' && c != '.' &&
		    c != '-')
			return false;
	}
	return true;
}

bool url_valid_name(const char *s)
{
	return s && valid_name(s, strnlen(s, URL_NAME_MAX + 1));
}

bool url_valid_series(const char *s)
{
	return s && valid_series(s, strnlen(s, URL_SERIES_MAX + 1));
}

bool url_valid_user(const char *s)
{
	return s && valid_user(s, strnlen(s, URL_USER_MAX + 1));
}

/* The original's message: what, then the input quoted as Go's %q does. -EINVAL. */
static int fail(char *err, size_t errlen, const char *what, const char *input)
{
	/* Room for the whole quote of any input up to URL_INPUT_MAX bytes. */
	char q[4 * URL_INPUT_MAX + 8];

	return errf(err, errlen, -EINVAL, "%s%s", what,
		    go_quote_fixed(q, sizeof(q), input, strlen(input), 0));
}

struct part {
	const char *p;
	size_t n;
};

/*
 * Cuts a trailing "-digits" revision off the name part as the original did.
 * Returns 0, or -EINVAL for leading zeros or a value beyond INT_MAX.
 */
static int cut_revision(struct part *name, int *ret_rev)
{
	*ret_rev = -1;
	for (size_t i = name->n; i-- > 1;) {
		const char *digits = name->p + i + 1;
		if (is_digit(name->p[i]))
			continue;
		if (name->p[i] != '-' || i == name->n - 1)
			break;
		/* The name part ends the input, so digits is NUL-terminated. */
		if (digits[0] == '0' && digits[1] != '\0')
			return -EINVAL;
		if (parse_nonneg_int(digits, ret_rev) < 0)
			return -EINVAL;
		name->n = i;
		break;
	}
	return 0;
}

int url_parse(const char *s, struct url *ret, char *err, size_t errlen)
{
	struct url u = {.schema = "cs", .revision = -1};
	struct part parts[3];
	size_t nparts = 0, first = 0, left;
	const char *rest, *colon;

	if (err && errlen)
		err[0] = '\0';
	if (!s)
		return fail(err, errlen, "charm URL has invalid form: ", "");
	if (strnlen(s, URL_INPUT_MAX + 1) > URL_INPUT_MAX)
		return fail(err, errlen, "charm URL has invalid form: ", s);

	rest = s;
	colon = strchr(s, ':');
	if (colon) {
		size_t n = (size_t)(colon - s);
		if (n == 5 && memcmp(s, "local", 5) == 0)
			memcpy(u.schema, "local", 6);
		else if (!(n == 2 && memcmp(s, "cs", 2) == 0))
			return fail(err, errlen, "charm URL has invalid schema: ", s);
		rest = colon + 1;
	}

	for (const char *p = rest;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (nparts == ARRAY_SIZE(parts))
			return fail(err, errlen, "charm URL has invalid form: ", s);
		parts[nparts].p = rest;
		parts[nparts].n = (size_t)(p - rest);
		nparts++;
		if (*p == '\0')
			break;
		rest = p + 1;
	}

	if (parts[0].n > 0 && parts[0].p[0] == '~') {
		if (strcmp(u.schema, "local") == 0)
			return fail(err, errlen, "local charm URL with user name: ", s);
		if (!valid_user(parts[0].p + 1, parts[0].n - 1))
			return fail(err, errlen, "charm URL has invalid user name: ", s);
		memcpy(u.user, parts[0].p + 1, parts[0].n - 1);
		u.user[parts[0].n - 1] = '\0';
		first = 1;
	}
	left = nparts - first;
	if (left > 2)
		return fail(err, errlen, "charm URL has invalid form: ", s);
	if (left == 2) {
		if (!valid_series(parts[first].p, parts[first].n))
			return fail(err, errlen, "charm URL has invalid series: ", s);
		memcpy(u.series, parts[first].p, parts[first].n);
		u.series[parts[first].n] = '\0';
		first++;
	}
	if (first == nparts)
		return fail(err, errlen, "charm URL without charm name: ", s);

	struct part name = parts[first];
	if (cut_revision(&name, &u.revision) < 0)
		return fail(err, errlen, "charm URL has invalid revision: ", s);
	if (!valid_name(name.p, name.n))
		return fail(err, errlen, "charm URL has invalid charm name: ", s);
	memcpy(u.name, name.p, name.n);
	u.name[name.n] = '\0';

	*ret = u;
	return 0;
}

void url_format(const struct url *u, char *out, size_t outlen)
{
	char rev[16] = "";

	if (u->revision >= 0)
		snprintf(rev, sizeof(rev), "-%d", u->revision);
	snprintf(out, outlen, "%s:%s%s%s%s%s%s%s", u->schema, u->user[0] ? "~" : "", u->user,
		 u->user[0] ? "/" : "", u->series, u->series[0] ? "/" : "", u->name, rev);
}

void url_path(const struct url *u, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%s%s%s%s%s", u->user[0] ? "~" : "", u->user, u->user[0] ? "/" : "",
		 u->series, u->series[0] ? "/" : "", u->name);
}

int url_from_parts(const char *user, const char *series, const char *name, struct url *ret)
{
	struct url u = {.schema = "cs", .revision = -1};

	if (user && *user) {
		if (!url_valid_user(user))
			return -EINVAL;
		memcpy(u.user, user, strlen(user) + 1);
	}
	if (!url_valid_series(series) || !url_valid_name(name))
		return -EINVAL;
	memcpy(u.series, series, strlen(series) + 1);
	memcpy(u.name, name, strlen(name) + 1);
	*ret = u;
	return 0;
}
