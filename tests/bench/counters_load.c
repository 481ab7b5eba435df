/*
 * Bulk loader for tests/bench/counters.sh: adds increments to a charmfs
 * store through the store's own code (store_open(), counter_inc_tx()), in
 * write transactions of BATCH increments, with the daemon stopped (the
 * store's lock is taken). Not part of the build; counters.sh compiles it
 * against a non-sanitizer libcharmfs.a.
 *
 *   counters_load STOREDIR FIRST COUNT [BATCH]
 *
 * BATCH (default 10000) increments per write transaction; BATCH=1 measures
 * the store-level cost of what one counter.inc write does.
 *
 * Increment i (FIRST <= i < FIRST + COUNT) adds 1 to key
 * charm-bundle:SERIES:cNNN with k = h(i) % 10000 (SERIES = SERIES_NAMES[k /
 * 1000], NNN = k % 1000), at a second of 2013 given by another hash of i:
 * 10,000 keys, 365 days. The mapping depends only on i, so loading 0..N in
 * one run or in several gives the same store.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counter.h"
#include "db.h"
#include "store.h"

#define NKEYS 10000
#define T2013 1356998400 /* 2013-01-01 00:00:00 UTC */

static const char *const SERIES_NAMES[10] = {
	"bionic", "focal", "jammy", "noble", "precise",
	"trusty", "utopic", "vivid", "wily", "xenial",
};

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

int main(int argc, char **argv)
{
	struct store_opts o;
	struct store *s;
	char err[512];
	struct timespec t0, t1;
	int r;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: %s STOREDIR FIRST COUNT [BATCH]\n", argv[0]);
		return 2;
	}
	uint64_t first = strtoull(argv[2], NULL, 10);
	uint64_t count = strtoull(argv[3], NULL, 10);
	uint64_t batch = argc == 5 ? strtoull(argv[4], NULL, 10) : 10000;

	if (batch == 0)
		batch = 1;

	store_opts_default(&o);
	r = store_open(argv[1], &o, &s, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "store_open %s: %s (%s)\n", argv[1], strerror(-r), err);
		return 1;
	}
	struct db *db = store_db(s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t done = 0; done < count;) {
		uint64_t n = count - done < batch ? count - done : batch;
		r = db_write_begin(db);
		for (uint64_t j = 0; r == 0 && j < n; j++) {
			uint64_t i = first + done + j;
			uint64_t h = mix(i);
			unsigned k = (unsigned)(h % NKEYS);
			char name[16];
			snprintf(name, sizeof(name), "c%03u", k % 1000);
			const char *tok[3] = { "charm-bundle", SERIES_NAMES[k / 1000], name };
			int64_t t = T2013 + (int64_t)(mix(h) % (365ull * 86400));
			r = counter_inc_tx(db, tok, 3, 1, t);
		}
		r = db_write_end(db, r);
		if (r < 0) {
			fprintf(stderr, "counter_inc_tx: %s\n", strerror(-r));
			store_close(s);
			return 1;
		}
		done += n;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "counters_load: %" PRIu64 " increments in %.2f s (%.0f/s)\n", count, secs,
		secs > 0 ? (double)count / secs : 0.0);
	store_close(s);
	return 0;
}
