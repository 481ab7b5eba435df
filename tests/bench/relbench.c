/*
 * The upgrade benchmark's client (tests/bench/upgrade.sh): the two costs of
 * taking a release that do not depend on the store, measured through the
 * same calls the daemon makes.
 *
 *   relbench download URL FILE
 *       a release client for URL's base (URL up to its last '/'), then
 *       release_client_download() of URL into FILE (created or truncated),
 *       which hashes the body while receiving it. Prints
 *       "bytes N seconds S sha256 HEX" (S: the download call alone).
 *   relbench verify PUBKEY FILE VERSION HEXSIG
 *       sha256_fd() of FILE, then release_key_load() and release_verify()
 *       of HEXSIG for VERSION. Prints "bytes N seconds S" (S: all three).
 *
 * Exit status 0, or 1 with a message on stderr when a call fails (a
 * signature that does not verify included), 2 for a usage error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "release.h"
#include "util.h"
#include "banned.h"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: relbench download URL FILE\n"
			"       relbench verify PUBKEY FILE VERSION HEXSIG\n");
	return 2;
}

static int download(const char *url, const char *file)
{
	struct release_client_opts o = {.stop_fd = -1};
	struct release_client *c = NULL;
	_cleanup_free_ char *base = NULL;
	const char *slash = strrchr(url, '/');
	unsigned char sha[32];
	char err[1024] = "", hex[65];
	uint64_t size = 0;
	double t0, t1;
	int fd, r;

	if (!slash)
		return usage();
	base = strndup(url, (size_t)(slash - url + 1));
	if (!base || release_client_global_init() < 0) {
		fprintf(stderr, "relbench: cannot initialise libcurl\n");
		return 1;
	}
	o.base = base;
	if (release_client_new(&o, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "relbench: %s\n", err);
		return 1;
	}
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "relbench: %s: %s\n", file, strerror(errno));
		release_client_free(c);
		return 1;
	}
	t0 = now_s();
	r = release_client_download(c, url, fd, sha, &size, err, sizeof(err));
	t1 = now_s();
	release_client_free(c);
	if (close(fd) != 0 && r == 0)
		r = errf(err, sizeof(err), -errno, "%s: %s", file, strerror(errno));
	if (r < 0) {
		fprintf(stderr, "relbench: %s\n", err);
		return 1;
	}
	hex_encode(sha, sizeof(sha), hex);
	printf("bytes %llu seconds %.6f sha256 %s\n", (unsigned long long)size, t1 - t0, hex);
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int verify(const char *pubkey, const char *file, const char *version, const char *sig)
{
	struct release_key *k = NULL;
	unsigned char sha[32];
	char err[1024] = "", hex[65];
	uint64_t size = 0;
	double t0, t1;
	int fd, r;

	t0 = now_s();
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "relbench: %s: %s\n", file, strerror(errno));
		return 1;
	}
	r = sha256_fd(fd, hex, &size);
	close(fd);
	if (r < 0) {
		fprintf(stderr, "relbench: %s: %s\n", file, strerror(-r));
		return 1;
	}
	for (size_t i = 0; i < sizeof(sha); i++)
		sha[i] = (unsigned char)(hex_digit(hex[2 * i]) << 4 | hex_digit(hex[2 * i + 1]));
	r = release_key_load(pubkey, &k, err, sizeof(err));
	if (r == 0)
		r = release_verify(k, version, sha, sig, err, sizeof(err));
	t1 = now_s();
	release_key_free(k);
	if (r < 0) {
		fprintf(stderr, "relbench: %s\n", err);
		return 1;
	}
	printf("bytes %llu seconds %.6f\n", (unsigned long long)size, t1 - t0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "download") == 0)
		return download(argv[2], argv[3]);
	if (argc == 6 && strcmp(argv[1], "verify") == 0)
		return verify(argv[2], argv[3], argv[4], argv[5]);
	return usage();
}
