/*
 * A stand-in for libFuzzer's main(), for builds without it (gcc, or clang
 * without -fsanitize=fuzzer): the "fuzz smoke run" of `make check`. Linked
 * with one fuzz_*.c target, it first runs every file named on the command
 * line (directories are read one level deep, in name order) through
 * LLVMFuzzerTestOneInput(), then, for a bounded time, feeds mutations of
 * those inputs: bit flips, byte sets, inserts, deletions, truncations,
 * block duplications and splices of two entries.
 *
 * The mutations come from a seeded PRNG and input i depends only on the
 * seed and i, never on timing, so a failure is reproducible: the driver
 * prints the seed and the input number when a sanitizer reports (and saves
 * the input to crash-<target>-<seed>-<i> in the current directory, or
 * under $FUZZ_ARTIFACT_DIR), and `-s SEED -n COUNT` replays exactly the
 * first COUNT mutated inputs. Every input is handed over in a fresh
 * allocation of exactly its size, as libFuzzer does, so reads past the end
 * are caught by ASan. There is no coverage feedback: this finds shallow bugs
 * cheaply on every build; the real campaigns use libFuzzer (README.md).
 *
 * Usage: smoke_X [-t SECONDS] [-n COUNT] [-s SEED] [-m MAXLEN] CORPUS...
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

#define DEFAULT_SECONDS 5
#define DEFAULT_SEED 0x636861726d6673ull /* "charmfs" */
#define DEFAULT_MAXLEN 65536
#define FILE_MAX (1024 * 1024)
#define MAX_STACKED 4

struct input {
	uint8_t *data;
	size_t len;
};

struct corpus {
	struct input *v;
	size_t n, cap;
	size_t longest;
};

/* What the death callback saves: the input being run and where it came from. */
static struct {
	char target[64];
	uint64_t seed;
	uint64_t index; /* 0 while running corpus files */
	const char *file;
	const uint8_t *data;
	size_t len;
} current;

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A number in [0, n); n > 0. */
static size_t below(uint64_t *rng, size_t n)
{
	return (size_t)(splitmix64(rng) % n);
}

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "%s: %s%s%s\n", current.target, what, arg ? ": " : "", arg ? arg : "");
	exit(2);
}

static void save_crash(void)
{
	const char *dir = getenv("FUZZ_ARTIFACT_DIR");
	char path[4096];
	int fd;

	if (current.file)
		fprintf(stderr, "%s: failed on corpus file %s\n", current.target, current.file);
	else
		fprintf(stderr, "%s: failed on mutated input %" PRIu64 " of seed %" PRIu64
			" (replay: -s %" PRIu64 " -n %" PRIu64 ")\n",
			current.target, current.index, current.seed, current.seed, current.index);
	if (!current.data)
		return;
	snprintf(path, sizeof(path), "%s%scrash-%s-%" PRIu64 "-%" PRIu64, dir ? dir : "",
		 dir ? "/" : "", current.target, current.seed, current.index);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0 && write_all(fd, current.data, current.len) == 0)
		fprintf(stderr, "%s: input saved to %s\n", current.target, path);
	if (fd >= 0)
		close(fd);
}

/* Runs one input from a private, exactly sized copy. */
static void run_one(const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		die("out of memory", NULL);
	if (len)
		memcpy(copy, data, len);
	current.data = copy;
	current.len = len;
	(void)LLVMFuzzerTestOneInput(copy, len);
	current.data = NULL;
	free(copy);
}

static void corpus_add(struct corpus *c, const char *path)
{
	char *data;
	size_t len;
	int r = read_file(path, FILE_MAX, &data, &len);

	if (r < 0)
		die(strerror(-r), path);
	if (c->n == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 64;
		struct input *v = reallocarray(c->v, ncap, sizeof(*v));
		if (!v)
			die("out of memory", NULL);
		c->v = v;
		c->cap = ncap;
	}
	c->v[c->n].data = (uint8_t *)data;
	c->v[c->n].len = len;
	c->n++;
	if (len > c->longest)
		c->longest = len;
	current.file = path;
	run_one((const uint8_t *)data, len);
	current.file = NULL;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Adds a file, or every regular file of a directory (sorted, one level). */
static void corpus_load(struct corpus *c, const char *path)
{
	struct dirent **names;
	struct stat st;
	int n;

	if (stat(path, &st) < 0)
		die(strerror(errno), path);
	if (!S_ISDIR(st.st_mode)) {
		corpus_add(c, path);
		return;
	}
	n = scandir(path, &names, not_hidden, name_cmp);
	if (n < 0)
		die(strerror(errno), path);
	for (int i = 0; i < n; i++) {
		char *file;
		if (asprintf(&file, "%s/%s", path, names[i]->d_name) < 0)
			die("out of memory", NULL);
		if (stat(file, &st) == 0 && S_ISREG(st.st_mode))
			corpus_add(c, file);
		free(file);
		free(names[i]);
	}
	free(names);
}

/* Bytes that often sit on parser edges: separators, quotes, digits, extremes. */
static uint8_t interesting_byte(uint64_t *rng)
{
	static const uint8_t v[] = { 0x00, 0x01, 0x7f, 0x80, 0xff, '\n', ' ', '\t', ':',
				     '/', '~', '-', '0', '9', '"', '\'', '&', '*', '!',
				     '[', '{', '#', '<', '=', 0xc0, 0xe0, 0xf0, 'a' };

	return v[below(rng, sizeof(v))];
}

/*
 * Applies one mutation to buf (len bytes, room for max), using other for
 * splices. Returns the new length.
 */
static size_t mutate_once(uint64_t *rng, uint8_t *buf, size_t len, size_t max,
			  const struct input *other)
{
	size_t pos, n;

	switch (below(rng, 8)) {
	case 0: /* flip one bit */
		if (len)
			buf[below(rng, len)] ^= (uint8_t)(1u << below(rng, 8));
		return len;
	case 1: /* set one byte */
		if (len)
			buf[below(rng, len)] =
				below(rng, 2) ? interesting_byte(rng) : (uint8_t)splitmix64(rng);
		return len;
	case 2: /* insert a few bytes */
		if (len >= max)
			return len;
		pos = below(rng, len + 1);
		n = 1 + below(rng, 4);
		if (n > max - len)
			n = max - len;
		memmove(buf + pos + n, buf + pos, len - pos);
		for (size_t i = 0; i < n; i++)
			buf[pos + i] = interesting_byte(rng);
		return len + n;
	case 3: /* delete a few bytes */
		if (!len)
			return len;
		pos = below(rng, len);
		n = 1 + below(rng, len - pos < 8 ? len - pos : 8);
		memmove(buf + pos, buf + pos + n, len - pos - n);
		return len - n;
	case 4: /* truncate */
		return len ? below(rng, len) : 0;
	case 5: /* duplicate a block */
		if (!len || len >= max)
			return len;
		pos = below(rng, len);
		n = 1 + below(rng, len - pos);
		if (n > max - len)
			n = max - len;
		memmove(buf + pos + n, buf + pos, len - pos);
		return len + n;
	case 6: /* overwrite a block with bytes of another entry */
		if (!len || !other->len)
			return len;
		pos = below(rng, len);
		n = 1 + below(rng, len - pos);
		if (n > other->len)
			n = other->len;
		memcpy(buf + pos, other->data + below(rng, other->len - n + 1), n);
		return len;
	default: /* splice: our prefix, then the other entry's suffix */
		pos = below(rng, len + 1);
		n = other->len ? below(rng, other->len + 1) : 0;
		n = other->len - n;
		if (n > max - pos)
			n = max - pos;
		memcpy(buf + pos, other->data + other->len - n, n);
		return pos + n;
	}
}

/* Builds mutated input number idx (1-based) into buf; the same idx always gives the same bytes. */
static size_t make_input(const struct corpus *c, uint64_t seed, uint64_t idx, uint8_t *buf,
			 size_t max)
{
	uint64_t rng = seed ^ (idx * 0xd6e8feb86659fd93ull);
	const struct input *base = &c->v[below(&rng, c->n)];
	size_t len = base->len < max ? base->len : max;
	size_t rounds = 1 + below(&rng, MAX_STACKED);

	memcpy(buf, base->data, len);
	for (size_t i = 0; i < rounds; i++)
		len = mutate_once(&rng, buf, len, max, &c->v[below(&rng, c->n)]);
	return len;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_target_name(const char *argv0)
{
	const char *base = strrchr(argv0, '/');

	base = base ? base + 1 : argv0;
	if (strncmp(base, "lt-", 3) == 0)
		base += 3;
	if (strncmp(base, "smoke_", 6) == 0)
		snprintf(current.target, sizeof(current.target), "fuzz_%s", base + 6);
	else
		snprintf(current.target, sizeof(current.target), "%s", base);
}

static uint64_t number_arg(const char *opt, const char *s)
{
	uint64_t v;

	if (!s || parse_u64(s, &v) < 0)
		die("bad number for option", opt);
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: %s [-t SECONDS] [-n COUNT] [-s SEED] [-m MAXLEN] CORPUS...\n",
		current.target);
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t seconds = DEFAULT_SECONDS, count = 0, seed = DEFAULT_SEED, maxlen = 0;
	uint64_t runs = 0, idx = 0;
	struct corpus c = { 0 };
	uint8_t *buf;
	double deadline;
	int i;

	set_target_name(argv[0]);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *opt = argv[i];
		if (strcmp(opt, "--") == 0) {
			i++;
			break;
		}
		if (opt[1] == '\0' || opt[2] != '\0' || i + 1 >= argc)
			usage();
		if (opt[1] == 't')
			seconds = number_arg(opt, argv[++i]);
		else if (opt[1] == 'n')
			count = number_arg(opt, argv[++i]);
		else if (opt[1] == 's')
			seed = number_arg(opt, argv[++i]);
		else if (opt[1] == 'm')
			maxlen = number_arg(opt, argv[++i]);
		else
			usage();
	}
	if (i == argc)
		usage();
	if (LLVMFuzzerInitialize)
		(void)LLVMFuzzerInitialize(&argc, &argv);
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(save_crash);
	current.seed = seed;

	for (; i < argc; i++)
		corpus_load(&c, argv[i]);
	runs = c.n;
	if (c.n == 0)
		die("empty corpus", NULL);

	if (!maxlen)
		maxlen = c.longest * 2 > DEFAULT_MAXLEN ? c.longest * 2 : DEFAULT_MAXLEN;
	buf = malloc(maxlen);
	if (!buf)
		die("out of memory", NULL);
	deadline = now() + (double)seconds;
	while (count ? idx < count : now() < deadline) {
		size_t len;
		current.index = ++idx;
		len = make_input(&c, seed, idx, buf, maxlen);
		run_one(buf, len);
		runs++;
	}

	printf("%s: %" PRIu64 " inputs, 0 crashes (%zu corpus files, %" PRIu64
	       " mutations, seed %" PRIu64 ")\n",
	       current.target, runs, c.n, idx, seed);
	free(buf);
	for (size_t k = 0; k < c.n; k++)
		free(c.v[k].data);
	free(c.v);
	return 0;
}
