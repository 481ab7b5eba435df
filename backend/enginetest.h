/*
 * The `test` task kind: tasks whose work is described by their own data,
 * for charmfs's own tests of the change engine through the mount
 * (changes/ctl `test ...`, SPEC §4.8). Production never registers it: the
 * daemon does only with `-o test_tasks` (charmfs(1)).
 *
 * A task's data is one step:
 *
 *   ok           logs "ok" and is done
 *   sleep MS     waits MS milliseconds (0..ENGINE_TEST_SLEEP_MAX), then is done
 *   wait PATH    logs "waiting for PATH", sets the progress "waiting 0/1",
 *                polls until PATH exists (every ENGINE_TEST_POLL_MS), then
 *                logs "found PATH" and is done ("waiting 1/1")
 *   fail MESSAGE fails with MESSAGE as its error (the change's err names it)
 *
 * Every step's undo logs "undone" and succeeds. A step told to stop
 * (an abort, the engine closing) returns at once with a retry, so an
 * aborted task is undone and a task cut off by a shutdown or a crash runs
 * again from the start at the next start (the handler contract, engine.h).
 *
 * A request line (engine_test_add()) is one or more steps separated by
 * ";": "wait /tmp/x ; fail boom ; ok". It becomes one change of kind
 * "test" whose tasks run in that order, each waiting for the one before
 * (one lane). Blanks around a step are dropped, inner runs of blanks are
 * kept in a fail message; ";" can therefore not appear in a message or a
 * path.
 *
 * Calling sequence:
 *   engine_test_register(e)     before engine_start()
 *   engine_test_add(e, ...)     any thread, any time after
 */
#ifndef CHARMFS_ENGINETEST_H
#define CHARMFS_ENGINETEST_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "util.h"

/* The kind registered. */
#define ENGINE_TEST_KIND "test"
/* Longest sleep step (ms). */
#define ENGINE_TEST_SLEEP_MAX 3600000
/* How often a wait step looks for its path (ms). */
#define ENGINE_TEST_POLL_MS 20
/* Longest request line (bytes) engine_test_add() takes. */
#define ENGINE_TEST_LINE_MAX 8192

/* Registers the `test` kind's handlers on e. engine_add_handler()'s errors. */
int engine_test_register(struct engine *e) WUR;

/*
 * Parses the len bytes at line (steps separated by ";", see above; one
 * final newline allowed) and adds them as one change, returning its id in
 * ret_id. -EINVAL for a malformed line, with a message for the user in err;
 * else engine_change_add()'s errors. Thread-safe.
 */
int engine_test_add(struct engine *e, const char *line, size_t len, int64_t *ret_id, char *err,
		    size_t errlen) WUR;

#endif
