/*
 * Releases, part one: semantic versions and the choice of what to apply
 * (agents.md Z4, Z5), and the decoders and encoders of the publisher
 * protocol's documents and of a release's packages.json (SPEC §4.9).
 *
 * Versions follow semver.org 2.0.0 strictly, with no leading "v": the text
 * is at once a URL segment (BASE/VERSION) and a file name
 * (upgrade/releases/VERSION), so one version must have one spelling.
 * Precedence is compared identifier by identifier; numeric identifiers have
 * no leading zeros, so comparing them by length then bytes is numeric
 * comparison without any overflow.
 *
 * Every decoder is bounded before jansson sees a byte (document size,
 * element counts, string lengths) and refuses anything that is not exactly
 * the document with -EBADMSG and one message; NUL bytes are refused by
 * jansson (no JSON_ALLOW_NUL). Signatures are in releasesig.c, archives in
 * releasearc.c.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "release.h"
#include "url.h"
#include "banned.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* MAJOR, MINOR or PATCH at *s up to a byte not a digit: no leading zero, fits 64 bits. */
static int parse_number(const char **s, uint64_t *ret)
{
	const char *p = *s;
	uint64_t v = 0;

	if (!is_digit(*p) || (p[0] == '0' && is_digit(p[1])))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*s = p;
	*ret = v;
	return 0;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* Dot-separated non-empty identifiers; numeric ones without leading zeros when strict. */
static bool valid_idents(const char *s, size_t n, bool numeric_rule)
{
	size_t start = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			if (!is_ident_char(s[i]))
				return false;
			continue;
		}
		size_t len = i - start;
		if (len == 0)
			return false;
		if (numeric_rule && len > 1 && s[start] == '0' && all_digits(s + start, len))
			return false;
		start = i + 1;
	}
	return true;
}

int release_version_parse(const char *s, struct release_version *ret)
{
	struct release_version v;
	const char *p = s, *pre = NULL, *build = NULL;
	size_t pre_len = 0, build_len = 0;

	if (!s || strnlen(s, RELEASE_VERSION_MAX + 1) > RELEASE_VERSION_MAX)
		return -EINVAL;
	memset(&v, 0, sizeof(v));
	if (parse_number(&p, &v.major) < 0 || *p++ != '.' || parse_number(&p, &v.minor) < 0 ||
	    *p++ != '.' || parse_number(&p, &v.patch) < 0)
		return -EINVAL;
	if (*p == '-') {
		pre = ++p;
		pre_len = strcspn(p, "+");
		if (!valid_idents(pre, pre_len, true))
			return -EINVAL;
		p += pre_len;
	}
	if (*p == '+') {
		build = ++p;
		build_len = strlen(p);
		if (!valid_idents(build, build_len, false))
			return -EINVAL;
		p += build_len;
	}
	if (*p)
		return -EINVAL;
	if (pre)
		memcpy(v.pre, pre, pre_len);
	if (build)
		memcpy(v.build, build, build_len);
	*ret = v;
	return 0;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

/* One prerelease identifier each (a[0..an), b[0..bn)), semver rule 11.4. */
static int cmp_ident(const char *a, size_t an, const char *b, size_t bn)
{
	bool na = all_digits(a, an), nb = all_digits(b, bn);
	int c;

	if (na && nb) {
		if (an != bn)
			return an < bn ? -1 : 1;
		c = memcmp(a, b, an);
		return c < 0 ? -1 : c > 0;
	}
	if (na != nb)
		return na ? -1 : 1;
	c = memcmp(a, b, an < bn ? an : bn);
	if (c)
		return c < 0 ? -1 : 1;
	return cmp_u64(an, bn);
}

int release_version_cmp(const struct release_version *a, const struct release_version *b)
{
	int c = cmp_u64(a->major, b->major);
	const char *pa = a->pre, *pb = b->pre;

	if (!c)
		c = cmp_u64(a->minor, b->minor);
	if (!c)
		c = cmp_u64(a->patch, b->patch);
	if (c)
		return c;
	if (!*pa || !*pb)
		return (*pa == 0) - (*pb == 0);
	for (;;) {
		size_t an = strcspn(pa, "."), bn = strcspn(pb, ".");
		c = cmp_ident(pa, an, pb, bn);
		if (c)
			return c;
		pa += an;
		pb += bn;
		if (!*pa || !*pb)
			return (*pa != 0) - (*pb != 0);
		pa++;
		pb++;
	}
}

void release_version_format(const struct release_version *v, char *out, size_t outlen)
{
	snprintf(out, outlen, "%llu.%llu.%llu%s%s%s%s", (unsigned long long)v->major,
		 (unsigned long long)v->minor, (unsigned long long)v->patch, *v->pre ? "-" : "",
		 v->pre, *v->build ? "+" : "", v->build);
}

struct parsed {
	struct release_version v;
	const char *text;
};

static int cmp_parsed(const void *a, const void *b)
{
	return release_version_cmp(&((const struct parsed *)a)->v, &((const struct parsed *)b)->v);
}

/*
 * Parses and sorts versions into a new array (caller frees), refusing an
 * unparsable entry or two of the same precedence with -EBADMSG.
 */
static int sort_versions(const char *const *versions, size_t n, struct parsed **ret, char *err,
			 size_t errlen)
{
	char q[64];
	struct parsed *p = calloc(n ? n : 1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		p[i].text = versions[i];
		if (!versions[i] || release_version_parse(versions[i], &p[i].v) < 0) {
			free(p);
			return errf(err, errlen, -EBADMSG, "invalid version %s in the publisher's list",
				    versions[i] ? go_quote_fixed(q, sizeof(q), versions[i],
								 strlen(versions[i]), 32)
						: "(null)");
		}
	}
	qsort(p, n, sizeof(*p), cmp_parsed);
	for (size_t i = 1; i < n; i++) {
		if (release_version_cmp(&p[i - 1].v, &p[i].v) == 0) {
			char q2[64];
			int r = errf(err, errlen, -EBADMSG,
				     "versions %s and %s of the publisher's list are the same version",
				     go_quote_fixed(q, sizeof(q), p[i - 1].text,
						    strlen(p[i - 1].text), 32),
				     go_quote_fixed(q2, sizeof(q2), p[i].text, strlen(p[i].text), 32));
			free(p);
			return r;
		}
	}
	*ret = p;
	return 0;
}

int release_versions_to_apply(const struct release_version *current,
			      const struct release_version *latest, const char *const *versions,
			      size_t n, struct strv *ret, char *err, size_t errlen)
{
	struct strv out = { 0 };
	struct parsed *p;
	char text[RELEASE_VERSION_FMT_MAX];
	size_t i;
	int r = sort_versions(versions, n, &p, err, errlen);

	if (r < 0)
		return r;
	if (release_version_cmp(current, latest) >= 0)
		goto done;
	for (i = 0; i < n; i++)
		if (release_version_cmp(&p[i].v, latest) == 0)
			break;
	if (i == n) {
		release_version_format(latest, text, sizeof(text));
		free(p);
		return errf(err, errlen, -ENOENT,
			    "latest version %s has not been found in available versions of the publisher",
			    text);
	}
	for (i = 0; i < n && release_version_cmp(&p[i].v, latest) <= 0; i++) {
		if (release_version_cmp(&p[i].v, current) <= 0)
			continue;
		r = strv_push(&out, p[i].text);
		if (r < 0) {
			strv_clear(&out);
			free(p);
			return r;
		}
	}
done:
	free(p);
	*ret = out;
	return 0;
}

/* ---- documents ----------------------------------------------------------- */

static int load(const char *buf, size_t len, size_t max, const char *what, json_t **ret, char *err,
		size_t errlen)
{
	json_error_t je;
	json_t *j;

	if (len > max)
		return errf(err, errlen, -EBADMSG, "%s is longer than %zu bytes", what, max);
	j = json_loadb(buf ? buf : "", len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return errf(err, errlen, -EBADMSG, "%s is not JSON: %s (at byte %d)", what, je.text,
			    je.position);
	*ret = j;
	return 0;
}

static int check_version_value(json_t *s, const char *what, char *err, size_t errlen)
{
	char q[64];

	if (!json_is_string(s))
		return errf(err, errlen, -EBADMSG, "%s is not a string", what);
	if (release_version_parse(json_string_value(s), &(struct release_version){ 0 }) < 0)
		return errf(err, errlen, -EBADMSG, "%s %s is not a semantic version", what,
			    go_quote_fixed(q, sizeof(q), json_string_value(s),
					   json_string_length(s), 32));
	return 0;
}

int release_parse_versions(const char *buf, size_t len, struct strv *ret, char *err,
			   size_t errlen)
{
	struct strv out = { 0 };
	struct parsed *sorted;
	json_t *j, *e;
	size_t i;
	int r = load(buf, len, RELEASE_VERSIONS_DOC_MAX, "the versions document", &j, err, errlen);

	if (r < 0)
		return r;
	if (!json_is_array(j))
		r = errf(err, errlen, -EBADMSG, "the versions document is not a JSON array");
	else if (json_array_size(j) > RELEASE_VERSIONS_MAX)
		r = errf(err, errlen, -EBADMSG, "the versions document lists more than %d versions",
			 RELEASE_VERSIONS_MAX);
	json_array_foreach(j, i, e) {
		if (r < 0)
			break;
		r = check_version_value(e, "a version of the versions document", err, errlen);
		if (r == 0)
			r = strv_push(&out, json_string_value(e));
	}
	json_decref(j);
	if (r == 0)
		r = sort_versions((const char *const *)out.v, out.n, &sorted, err, errlen);
	if (r < 0) {
		strv_clear(&out);
		return r;
	}
	free(sorted);
	*ret = out;
	return 0;
}

int release_parse_latest(const char *buf, size_t len, char **ret, char *err, size_t errlen)
{
	json_t *j;
	char *s = NULL;
	int r = load(buf, len, RELEASE_DOC_MAX, "the latest document", &j, err, errlen);

	if (r < 0)
		return r;
	r = check_version_value(j, "the latest version", err, errlen);
	if (r == 0 && !(s = strdup(json_string_value(j))))
		r = -ENOMEM;
	json_decref(j);
	if (r == 0)
		*ret = s;
	return r;
}

static bool has_control(const char *s, size_t n, bool space_too)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || (space_too && c == ' '))
			return true;
	}
	return false;
}

/* An optional string member: absent or null gives NULL. */
static int opt_string(json_t *o, const char *key, size_t max, char **ret, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return errf(err, errlen, -EBADMSG, "the upgrade's %s is not a string", key);
	if (json_string_length(v) > max)
		return errf(err, errlen, -EBADMSG, "the upgrade's %s is longer than %zu bytes", key,
			    max);
	if (has_control(json_string_value(v), json_string_length(v), false))
		return errf(err, errlen, -EBADMSG, "the upgrade's %s holds a control character", key);
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

int release_parse_upgrade(const char *buf, size_t len, struct release_upgrade *ret, char *err,
			  size_t errlen)
{
	struct release_upgrade u = { 0 };
	json_t *j;
	int r = load(buf, len, RELEASE_DOC_MAX, "the upgrade document", &j, err, errlen);

	if (r < 0)
		return r;
	if (!json_is_object(j))
		r = errf(err, errlen, -EBADMSG, "the upgrade document is not a JSON object");
	if (r == 0)
		r = opt_string(j, "flist", RELEASE_URL_MAX, &u.flist, err, errlen);
	if (r == 0 && !u.flist)
		r = errf(err, errlen, -EBADMSG, "the upgrade document has no flist");
	if (r == 0 && (!*u.flist || has_control(u.flist, strlen(u.flist), true)))
		r = errf(err, errlen, -EBADMSG, "the upgrade's flist is not a URL");
	if (r == 0)
		r = opt_string(j, "signature", RELEASE_SIGNATURE_MAX, &u.signature, err, errlen);
	if (r == 0)
		r = opt_string(j, "transaction_id", RELEASE_TXID_MAX, &u.transaction_id, err, errlen);
	json_decref(j);
	if (r < 0) {
		release_upgrade_free(&u);
		return r;
	}
	*ret = u;
	return 0;
}

void release_upgrade_free(struct release_upgrade *u)
{
	if (!u)
		return;
	free(u->flist);
	free(u->signature);
	free(u->transaction_id);
	memset(u, 0, sizeof(*u));
}

/* json_dumps() of j (stolen) with a newline, into *ret. */
static int dump(json_t *j, char **ret)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	struct buf b;

	json_decref(j);
	if (!s)
		return -ENOMEM;
	buf_init(&b, strlen(s) + 2);
	if (buf_addf(&b, "%s\n", s) < 0) {
		free(s);
		buf_free(&b);
		return -ENOMEM;
	}
	free(s);
	*ret = buf_steal(&b, NULL);
	return 0;
}

int release_format_versions(const char *const *versions, size_t n, char **ret)
{
	json_t *a = json_array();

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct release_version v;
		if (release_version_parse(versions[i], &v) < 0) {
			json_decref(a);
			return -EINVAL;
		}
		if (json_array_append_new(a, json_string(versions[i])) < 0) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	return dump(a, ret);
}

int release_format_latest(const char *version, char **ret)
{
	struct release_version v;

	if (release_version_parse(version, &v) < 0)
		return -EINVAL;
	return dump(json_string(version), ret);
}

static int set_text(json_t *o, const char *key, const char *s)
{
	return s ? json_object_set_new(o, key, json_text(s, strlen(s))) : 0;
}

int release_format_upgrade(const struct release_upgrade *u, char **ret)
{
	json_t *o;

	if (!u->flist || !*u->flist || strlen(u->flist) > RELEASE_URL_MAX ||
	    has_control(u->flist, strlen(u->flist), true) ||
	    (u->signature && strlen(u->signature) > RELEASE_SIGNATURE_MAX) ||
	    (u->transaction_id && strlen(u->transaction_id) > RELEASE_TXID_MAX))
		return -EINVAL;
	o = json_object();
	if (!o || set_text(o, "flist", u->flist) < 0 || set_text(o, "signature", u->signature) < 0 ||
	    set_text(o, "transaction_id", u->transaction_id) < 0) {
		json_decref(o);
		return -ENOMEM;
	}
	return dump(o, ret);
}

/* ---- packages.json -------------------------------------------------------- */

static int package_fail(char *err, size_t errlen, const char *name, const char *fmt, ...)
	PRINTF(4, 5);

static int package_fail(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
	char q[80], what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return errf(err, errlen, -EBADMSG, "packages.json: package %s: %s",
		    go_quote_fixed(q, sizeof(q), name, strlen(name), 64), what);
}

static int decode_package(const char *name, json_t *o, struct release_package *p, char *err,
			  size_t errlen)
{
	struct url u;
	const char *key;
	json_t *v, *settings = NULL;

	if (!url_valid_name(name))
		return package_fail(err, errlen, name, "not a valid package name");
	if (!json_is_object(o))
		return package_fail(err, errlen, name, "not a JSON object");
	json_object_foreach(o, key, v) {
		if (strcmp(key, "version") && strcmp(key, "settings") && strcmp(key, "enabled"))
			return package_fail(err, errlen, name, "unknown member %.64s", key);
	}
	v = json_object_get(o, "version");
	if (!json_is_string(v))
		return package_fail(err, errlen, name, "no version string");
	if (url_parse(json_string_value(v), &u, NULL, 0) < 0 || strcmp(u.schema, "cs") ||
	    !*u.series || u.revision < 0 || json_string_length(v) > URL_INPUT_MAX)
		return package_fail(err, errlen, name,
				    "version is not a cs: charm URL with series and revision");
	settings = json_object_get(o, "settings");
	if (settings && !json_is_object(settings))
		return package_fail(err, errlen, name, "settings is not a JSON object");
	v = json_object_get(o, "enabled");
	if (v && !json_is_boolean(v))
		return package_fail(err, errlen, name, "enabled is not true or false");
	p->enabled = v ? json_is_true(v) : -1;
	p->name = strdup(name);
	p->version = strdup(json_string_value(json_object_get(o, "version")));
	if (settings) {
		p->settings = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS);
		if (p->settings && strlen(p->settings) > RELEASE_DOC_MAX)
			return package_fail(err, errlen, name, "settings are longer than %d bytes",
					    RELEASE_DOC_MAX);
	}
	if (!p->name || !p->version || (settings && !p->settings))
		return -ENOMEM;
	return 0;
}

static int cmp_package(const void *a, const void *b)
{
	return strcmp(((const struct release_package *)a)->name,
		      ((const struct release_package *)b)->name);
}

int release_parse_packages(const char *buf, size_t len, struct release_packages *ret, char *err,
			   size_t errlen)
{
	struct release_packages out = { 0 };
	const char *name;
	json_t *j, *o;
	int r = load(buf, len, RELEASE_PACKAGES_DOC_MAX, "packages.json", &j, err, errlen);

	if (r < 0)
		return r;
	if (!json_is_object(j))
		r = errf(err, errlen, -EBADMSG, "packages.json is not a JSON object");
	else if (json_object_size(j) > RELEASE_PACKAGES_MAX)
		r = errf(err, errlen, -EBADMSG, "packages.json names more than %d packages",
			 RELEASE_PACKAGES_MAX);
	else if (!(out.v = calloc(json_object_size(j) + 1, sizeof(*out.v))))
		r = -ENOMEM;
	json_object_foreach(j, name, o) {
		if (r < 0)
			break;
		r = decode_package(name, o, &out.v[out.n++], err, errlen);
	}
	json_decref(j);
	if (r < 0) {
		release_packages_free(&out);
		return r;
	}
	qsort(out.v, out.n, sizeof(*out.v), cmp_package);
	*ret = out;
	return 0;
}

void release_packages_free(struct release_packages *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].version);
		free(p->v[i].settings);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}
