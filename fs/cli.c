/*
 * The commands that do not mount (cli.h): --check, --keygen and
 * --sign-release, each a few calls of the core or of upgrade/release.h
 * with their messages on stderr.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "release.h"
#include "store.h"
#include "banned.h"

/* charmfs --keygen KEYBASE: an Ed25519 key pair for signing releases (SPEC §2, §4.9). */
int cli_keygen(int argc, char **argv)
{
	const char *base = NULL;
	char err[512] = "";

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--keygen") == 0)
			continue;
		if (base || argv[i][0] == '-') {
			return CLI_USAGE;
		}
		base = argv[i];
	}
	if (!base) {
		return CLI_USAGE;
	}
	if (release_keygen(base, err, sizeof(err)) < 0) {
		fprintf(stderr, "charmfs: %s\n", err);
		return 1;
	}
	printf("%s.pem (private, keep it secret) and %s.pub.pem (for upgrade_key=)\n", base, base);
	return 0;
}

/* The version an archive's name says: "0.2.0" of ".../0.2.0.tar.gz" (or .tgz, .tar, .zip). */
static bool version_of_name(const char *path, char *out, size_t len)
{
	static const char *const exts[] = { ".tar.gz", ".tgz", ".tar", ".zip" };
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct release_version v;
	size_t n = strlen(name);

	for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
		size_t e = strlen(exts[i]);
		if (n > e && strcmp(name + n - e, exts[i]) == 0) {
			n -= e;
			break;
		}
	}
	if (n == 0 || n >= len)
		return false;
	snprintf(out, len, "%.*s", (int)n, name);
	return release_version_parse(out, &v) == 0;
}

/*
 * charmfs --sign-release KEY.pem ARCHIVE [VERSION]: the hex signature of a
 * release (SPEC §4.9); VERSION defaults to what the archive's name says.
 */
int cli_sign_release(int argc, char **argv)
{
	const char *arg[3] = { NULL };
	char version[RELEASE_VERSION_MAX], hex[RELEASE_SIG_HEX + 1], err[512] = "";
	struct release_version v;
	size_t n = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--sign-release") == 0)
			continue;
		if (n == 3 || argv[i][0] == '-') {
			return CLI_USAGE;
		}
		arg[n++] = argv[i];
	}
	if (n < 2) {
		return CLI_USAGE;
	}
	if (n == 3) {
		snprintf(version, sizeof(version), "%s", arg[2]);
		if (release_version_parse(version, &v) < 0) {
			fprintf(stderr, "charmfs: not a version: %s\n", arg[2]);
			return 2;
		}
	} else if (!version_of_name(arg[1], version, sizeof(version))) {
		fprintf(stderr, "charmfs: %s does not name its version: charmfs --sign-release "
				"KEY.pem ARCHIVE VERSION\n", arg[1]);
		return 2;
	}
	if (release_sign_file(arg[0], arg[1], version, hex, err, sizeof(err)) < 0) {
		fprintf(stderr, "charmfs: %s\n", err);
		return 1;
	}
	printf("%s\n", hex);
	return 0;
}

int cli_check(int argc, char **argv)
{
	struct store_opts o;
	struct strv problems = { 0 }, notes = { 0 };
	struct store *s = NULL;
	const char *dir = NULL;
	bool repair = false;
	char err[512] = "";
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check") == 0)
			continue;
		if (strcmp(argv[i], "--repair") == 0)
			repair = true;
		else if (!dir && argv[i][0] != '-')
			dir = argv[i];
		else {
			return CLI_USAGE;
		}
	}
	if (!dir) {
		return CLI_USAGE;
	}
	store_opts_default(&o);
	o.read_only = !repair;
	r = store_open(dir, &o, &s, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "charmfs: %s\n", err[0] ? err : strerror(-r));
		return 1;
	}
	r = store_check(s, repair, &problems, &notes);
	for (size_t i = 0; i < notes.n; i++)
		printf("note: %s\n", notes.v[i]);
	for (size_t i = 0; i < problems.n; i++)
		printf("problem: %s\n", problems.v[i]);
	printf("%s: %zu problem%s\n", dir, problems.n, problems.n == 1 ? "" : "s");
	store_close(s);
	strv_clear(&problems);
	strv_clear(&notes);
	return r < 0 ? 1 : 0;
}
