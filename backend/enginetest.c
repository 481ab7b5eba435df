/*
 * The `test` task kind (enginetest.h): handlers that do what their task's
 * data says, so that tests drive the change engine through the mount
 * with nothing but request lines. A step is parsed twice: when the
 * request line is added (so a bad line is EINVAL and adds nothing) and by
 * the handler from the task's data, which holds the step in its
 * normalised form ("verb" or "verb argument"). The handlers keep no
 * state of their own: every attempt starts from the data, which makes
 * them idempotent as the handler contract (engine.h) asks.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enginetest.h"
#include "banned.h"

/* Longest step (bytes, after trimming): the summary "test N: STEP" must fit. */
#define STEP_MAX 512

enum step_verb { STEP_OK, STEP_SLEEP, STEP_WAIT, STEP_FAIL };

struct step {
	enum step_verb verb;
	uint64_t ms;	       /* STEP_SLEEP */
	char arg[STEP_MAX + 1]; /* STEP_WAIT: the path; STEP_FAIL: the message */
	char norm[STEP_MAX + 8]; /* the step as stored in the task's data (verb, blank, arg) */
};

static const char *const verbs[] = {
	[STEP_OK] = "ok", [STEP_SLEEP] = "sleep", [STEP_WAIT] = "wait", [STEP_FAIL] = "fail",
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses the len bytes at s (one step, blanks around it allowed) into *st. */
static int parse_step(const char *s, size_t len, struct step *st, char *err, size_t errlen)
{
	const char *arg;
	size_t vlen, alen;

	while (len && is_blank(*s)) {
		s++;
		len--;
	}
	while (len && is_blank(s[len - 1]))
		len--;
	if (len == 0)
		return errf(err, errlen, -EINVAL, "empty test step");
	if (len > STEP_MAX)
		return errf(err, errlen, -EINVAL, "test step longer than %d bytes", STEP_MAX);
	for (vlen = 0; vlen < len && !is_blank(s[vlen]); vlen++)
		;
	arg = s + vlen;
	alen = len - vlen;
	while (alen && is_blank(*arg)) {
		arg++;
		alen--;
	}
	memcpy(st->arg, arg, alen);
	st->arg[alen] = '\0';
	for (size_t v = 0; v < ARRAY_SIZE(verbs); v++) {
		if (strlen(verbs[v]) != vlen || memcmp(verbs[v], s, vlen) != 0)
			continue;
		st->verb = (enum step_verb)v;
		switch (st->verb) {
		case STEP_OK:
			if (alen)
				return errf(err, errlen, -EINVAL, "test step ok takes no argument");
			break;
		case STEP_SLEEP:
			if (parse_u64(st->arg, &st->ms) < 0 || st->ms > ENGINE_TEST_SLEEP_MAX)
				return errf(err, errlen, -EINVAL,
					    "test step sleep takes milliseconds, 0 to %d",
					    ENGINE_TEST_SLEEP_MAX);
			break;
		case STEP_WAIT:
			if (st->arg[0] != '/')
				return errf(err, errlen, -EINVAL,
					    "test step wait takes an absolute path");
			break;
		case STEP_FAIL:
			if (!alen)
				return errf(err, errlen, -EINVAL, "test step fail takes a message");
			break;
		}
		snprintf(st->norm, sizeof(st->norm), "%s%s%s", verbs[v], alen ? " " : "", st->arg);
		return 0;
	}
	return errf(err, errlen, -EINVAL, "unknown test step: %.*s (ok, sleep MS, wait PATH, fail MESSAGE)",
		    (int)vlen, s);
}

/* ---- handlers ------------------------------------------------------------------ */

static int test_do(struct engine_run *run, void *ud)
{
	const char *data = engine_run_data(run);
	struct step *st = malloc(sizeof(*st));
	int r = 0;

	(void)ud;
	if (!st)
		return -ENOMEM;
	if (!data || parse_step(data, strlen(data), st, NULL, 0) < 0) {
		free(st);
		return engine_run_fail(run, -EINVAL, "bad test step in the task's data");
	}
	switch (st->verb) {
	case STEP_OK:
		(void)engine_run_logf(run, false, "ok");
		break;
	case STEP_SLEEP:
		if (engine_run_wait_stop(run, (int64_t)st->ms))
			r = engine_run_retry(run, 0);
		else
			(void)engine_run_logf(run, false, "slept %llu ms", (unsigned long long)st->ms);
		break;
	case STEP_WAIT:
		engine_run_set_progress(run, "waiting", 0, 1);
		(void)engine_run_logf(run, false, "waiting for %s", st->arg);
		while (access(st->arg, F_OK) < 0) {
			if (engine_run_wait_stop(run, ENGINE_TEST_POLL_MS)) {
				r = engine_run_retry(run, 0);
				break;
			}
		}
		if (r == 0) {
			(void)engine_run_logf(run, false, "found %s", st->arg);
			engine_run_set_progress(run, "waiting", 1, 1);
		}
		break;
	case STEP_FAIL:
		r = engine_run_fail(run, -EIO, "%s", st->arg);
		break;
	}
	free(st);
	return r;
}

static int test_undo(struct engine_run *run, void *ud)
{
	(void)ud;
	(void)engine_run_logf(run, false, "undone");
	return 0;
}

int engine_test_register(struct engine *e)
{
	return engine_add_handler(e, ENGINE_TEST_KIND, test_do, test_undo, NULL);
}

/* ---- request lines ------------------------------------------------------------- */

struct plan {
	struct step *steps;
	struct engine_task_spec *specs;
	size_t *waits;
	char (*summaries)[STEP_MAX + 48];
	size_t n;
};

static void plan_free(struct plan *p)
{
	free(p->steps);
	free(p->specs);
	free(p->waits);
	free(p->summaries);
}

/* Splits line[len] (no line end, no NUL) on ";" into p's steps. */
static int plan_parse(const char *line, size_t len, struct plan *p, char *err, size_t errlen)
{
	size_t n = 1, i = 0;
	const char *s = line, *end = line + len;
	int r;

	for (size_t k = 0; k < len; k++)
		n += line[k] == ';';
	if (n > ENGINE_TASKS_MAX)
		return errf(err, errlen, -EINVAL, "more than %d test steps", ENGINE_TASKS_MAX);
	p->steps = calloc(n, sizeof(*p->steps));
	p->specs = calloc(n, sizeof(*p->specs));
	p->waits = calloc(n, sizeof(*p->waits));
	p->summaries = calloc(n, sizeof(*p->summaries));
	if (!p->steps || !p->specs || !p->waits || !p->summaries)
		return -ENOMEM;
	for (;;) {
		const char *semi = memchr(s, ';', (size_t)(end - s));
		const char *stop = semi ? semi : end;

		r = parse_step(s, (size_t)(stop - s), &p->steps[i], err, errlen);
		if (r < 0)
			return r;
		snprintf(p->summaries[i], sizeof(p->summaries[i]), "test %zu: %s", i + 1,
			 p->steps[i].norm);
		p->specs[i] = (struct engine_task_spec){
			.kind = ENGINE_TEST_KIND,
			.summary = p->summaries[i],
			.data = p->steps[i].norm,
		};
		if (i > 0) {
			p->waits[i] = i - 1;
			p->specs[i].wait_for = &p->waits[i];
			p->specs[i].n_wait = 1;
		}
		i++;
		if (!semi)
			break;
		s = semi + 1;
	}
	p->n = i;
	return 0;
}

int engine_test_add(struct engine *e, const char *line, size_t len, int64_t *ret_id, char *err,
		    size_t errlen)
{
	struct plan p = { 0 };
	char summary[64];
	int r;

	if (len && line[len - 1] == '\n')
		len--;
	if (len > ENGINE_TEST_LINE_MAX)
		return errf(err, errlen, -EINVAL, "test request longer than %d bytes",
			    ENGINE_TEST_LINE_MAX);
	if (len && (memchr(line, '\0', len) || memchr(line, '\n', len) || memchr(line, '\r', len)))
		return errf(err, errlen, -EINVAL, "test request must be one line of text");
	r = plan_parse(line, len, &p, err, errlen);
	if (r == 0) {
		snprintf(summary, sizeof(summary), "Test change of %zu task%s", p.n,
			 p.n == 1 ? "" : "s");
		r = engine_change_add(e, ENGINE_TEST_KIND, summary, p.specs, p.n, ret_id);
		if (r < 0)
			(void)errf(err, errlen, r, "cannot add the change: %s", strerror(-r));
	}
	plan_free(&p);
	return r;
}
