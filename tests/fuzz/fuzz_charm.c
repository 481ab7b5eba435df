/*
 * Fuzz target for charm_open() and charm_store() (backend/charm.c and
 * charmcheck.c, with the YAML parsers behind them): the whole path a
 * published zip takes. Each input is written to one temporary file that
 * the process reuses, and opened with small limits (1 MiB archive, 2 MiB
 * expanded, 256 entries) so that no input can make a run slow. A refusal
 * must be -EINVAL or -EFBIG with at least one message, or -EIO/-ENOMEM. An
 * accepted archive must store: charm_store() of an unchanged source cannot
 * fail, its tree goes to a fresh directory that is removed afterwards, and
 * the stored zip opens again with the same name and digest (the digest
 * ignores the added `revision` entry, charm.c).
 *
 * Everything lives in one mkdtemp() directory under $TMPDIR (or /tmp),
 * removed at exit.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "charm.h"
#include "charmcheck.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_charm: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                          \
			abort();                                                           \
		}                                                                          \
	} while (0)

static struct {
	char dir[256];
	char in[300];
	char out[300];
	char tree[300];
	int in_fd, out_fd;
	struct charm_limits lim;
	struct charm_limits relim; /* for the stored zip: recompression may raise its ratio */
} fx = { .in_fd = -1, .out_fd = -1 };

static void fixture_remove(void)
{
	if (fx.in_fd >= 0)
		close(fx.in_fd);
	if (fx.out_fd >= 0)
		close(fx.out_fd);
	if (fx.dir[0])
		(void)rm_rf(fx.dir);
}

static void fixture_init(void)
{
	const char *tmp = getenv("TMPDIR");

	if (fx.dir[0])
		return;
	snprintf(fx.dir, sizeof(fx.dir), "%s/fuzz_charm.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(fx.dir) != NULL);
	snprintf(fx.in, sizeof(fx.in), "%s/in.charm", fx.dir);
	snprintf(fx.out, sizeof(fx.out), "%s/out.charm", fx.dir);
	snprintf(fx.tree, sizeof(fx.tree), "%s/tree", fx.dir);
	fx.in_fd = open(fx.in, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fx.out_fd = open(fx.out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fx.in_fd >= 0 && fx.out_fd >= 0);
	fx.lim.max_archive = 1024 * 1024;
	fx.lim.max_expanded = 2 * 1024 * 1024;
	fx.lim.max_ratio = 100;
	fx.lim.max_entries = 256;
	fx.relim = fx.lim;
	fx.relim.max_ratio = UINT64_MAX;
	fx.relim.max_entries = fx.lim.max_entries + 1;
	atexit(fixture_remove);
}

static void write_input(const uint8_t *data, size_t size)
{
	CHECK(ftruncate(fx.in_fd, 0) == 0);
	CHECK(lseek(fx.in_fd, 0, SEEK_SET) == 0);
	CHECK(write_all(fx.in_fd, data, size) == 0);
}

static void check_refusal(int r, const struct strv *errors)
{
	if (r == -EINVAL || r == -EFBIG)
		CHECK(errors->n > 0);
	else
		CHECK(r == -EIO || r == -ENOMEM);
}

/*
 * The data callback of charm_store_cb(): each small file once, whole, and
 * hashing to what charm_open() recorded.
 */
static int check_inline(void *ud, const struct charm_entry *e, const void *data, size_t len)
{
	unsigned char sha[32];

	(void)ud;
	CHECK(len <= CHARM_INLINE_MAX && len == e->size);
	CHECK(EVP_Digest(data, len, sha, NULL, EVP_sha256(), NULL) == 1);
	CHECK(memcmp(sha, e->sha256, sizeof(sha)) == 0);
	return 0;
}

/* An accepted charm stores, and the stored zip is accepted with the same digest. */
static void check_store(const struct charm *c)
{
	struct strv errors = { 0 }, warnings = { 0 };
	struct charm *again = NULL;
	int r;

	CHECK(charm_name(c) != NULL && charm_meta(c) != NULL);
	CHECK(strncmp(charm_digest(c), "sha256:", 7) == 0 &&
	      strlen(charm_digest(c)) == 7 + 64);

	CHECK(ftruncate(fx.out_fd, 0) == 0);
	CHECK(lseek(fx.out_fd, 0, SEEK_SET) == 0);
	(void)rm_rf(fx.tree);
	CHECK(mkdir(fx.tree, 0755) == 0);
	r = charm_store_cb(c, 7, fx.out_fd, fx.tree, check_inline, NULL);
	if (r < 0) {
		fprintf(stderr, "fuzz_charm: charm_store of a valid charm failed: %s\n",
			strerror(-r));
		abort();
	}
	CHECK(rm_rf(fx.tree) == 0);

	r = charm_open(fx.out, &fx.relim, &again, &errors, &warnings);
	if (r < 0) {
		char *msg = strv_join(&errors, "; ");
		fprintf(stderr, "fuzz_charm: stored archive refused (%s): %s\n", strerror(-r),
			msg ? msg : "");
		free(msg);
		abort();
	}
	CHECK(strcmp(charm_name(again), charm_name(c)) == 0);
	CHECK(strcmp(charm_digest(again), charm_digest(c)) == 0);
	CHECK(warnings.n == 0);
	charm_free(again);
	strv_clear(&warnings);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strv errors = { 0 }, warnings = { 0 };
	struct charm *c = NULL;
	int r;

	fixture_init();
	write_input(data, size);
	r = charm_open(fx.in, &fx.lim, &c, &errors, &warnings);
	if (r == 0) {
		CHECK(c != NULL);
		check_store(c);
		charm_free(c);
	} else {
		CHECK(c == NULL);
		check_refusal(r, &errors);
	}
	strv_clear(&errors);
	strv_clear(&warnings);
	return 0;
}
