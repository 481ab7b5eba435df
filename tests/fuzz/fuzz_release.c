/*
 * Fuzz target for the release publisher's document decoders and the
 * release archive's packages.json decoder (upgrade/release.c):
 * release_parse_versions(), release_parse_latest(), release_parse_upgrade()
 * and release_parse_packages(), all four over every input. Checked: a
 * refusal is -EBADMSG with a message (or -ENOMEM); what is accepted holds
 * only valid versions, distinct; an accepted upgrade has a flist; every
 * package has a name, a version and enabled in -1..1; and what is accepted
 * re-encodes (release_format_*()) into text that decodes to the same.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "release.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "fuzz_release: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                              \
			abort();                                                               \
		}                                                                              \
	} while (0)

static void check_refusal(int r, const char *err)
{
	CHECK(r == -EBADMSG || r == -ENOMEM);
	CHECK(r == -ENOMEM || err[0]);
}

static void versions(const char *buf, size_t size)
{
	char err[256] = "";
	struct strv v = { 0 }, again = { 0 };
	char *text;
	int r = release_parse_versions(buf, size, &v, err, sizeof(err));

	if (r < 0) {
		check_refusal(r, err);
		return;
	}
	for (size_t i = 0; i < v.n; i++) {
		struct release_version a, b;
		CHECK(release_version_parse(v.v[i], &a) == 0);
		for (size_t j = i + 1; j < v.n && j < i + 8; j++) {
			CHECK(release_version_parse(v.v[j], &b) == 0);
			CHECK(release_version_cmp(&a, &b) != 0);
			CHECK(release_version_cmp(&a, &b) == -release_version_cmp(&b, &a));
		}
	}
	if (release_format_versions((const char *const *)v.v, v.n, &text) == 0) {
		CHECK(release_parse_versions(text, strlen(text), &again, err, sizeof(err)) == 0);
		CHECK(again.n == v.n);
		for (size_t i = 0; i < v.n; i++)
			CHECK(strcmp(again.v[i], v.v[i]) == 0);
		free(text);
	}
	strv_clear(&again);
	strv_clear(&v);
}

static void latest(const char *buf, size_t size)
{
	char err[256] = "", out[RELEASE_VERSION_FMT_MAX];
	struct release_version v;
	char *s, *text, *back;
	int r = release_parse_latest(buf, size, &s, err, sizeof(err));

	if (r < 0) {
		check_refusal(r, err);
		return;
	}
	CHECK(release_version_parse(s, &v) == 0);
	release_version_format(&v, out, sizeof(out));
	CHECK(strcmp(out, s) == 0);
	if (release_format_latest(s, &text) == 0) {
		CHECK(release_parse_latest(text, strlen(text), &back, err, sizeof(err)) == 0);
		CHECK(strcmp(back, s) == 0);
		free(back);
		free(text);
	}
	free(s);
}

static void upgrade(const char *buf, size_t size)
{
	char err[256] = "";
	struct release_upgrade u, back;
	char *text;
	int r = release_parse_upgrade(buf, size, &u, err, sizeof(err));

	if (r < 0) {
		check_refusal(r, err);
		return;
	}
	CHECK(u.flist && *u.flist);
	if (release_format_upgrade(&u, &text) == 0) {
		CHECK(release_parse_upgrade(text, strlen(text), &back, err, sizeof(err)) == 0);
		CHECK(strcmp(back.flist, u.flist) == 0);
		CHECK(!back.signature == !u.signature);
		CHECK(!u.signature || strcmp(back.signature, u.signature) == 0);
		release_upgrade_free(&back);
		free(text);
	}
	release_upgrade_free(&u);
}

static void packages(const char *buf, size_t size)
{
	char err[256] = "";
	struct release_packages p;
	int r = release_parse_packages(buf, size, &p, err, sizeof(err));

	if (r < 0) {
		check_refusal(r, err);
		return;
	}
	for (size_t i = 0; i < p.n; i++) {
		CHECK(p.v[i].name && *p.v[i].name);
		CHECK(p.v[i].version && *p.v[i].version);
		CHECK(p.v[i].enabled >= -1 && p.v[i].enabled <= 1);
		CHECK(!p.v[i].settings || p.v[i].settings[0] == '{');
		CHECK(i == 0 || strcmp(p.v[i - 1].name, p.v[i].name) < 0);
	}
	release_packages_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;

	versions(buf, size);
	latest(buf, size);
	upgrade(buf, size);
	packages(buf, size);
	return 0;
}
