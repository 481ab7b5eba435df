/*
 * The run API (engine.h, "for handlers: their own run"): what a handler
 * reads and sets of its own task while it runs — data, log, progress,
 * the stop request, retry and failure. Each call takes engine.lock and
 * commits what must survive (data, log, a final progress) before it
 * returns; see enginerun.c for the runner that calls the handlers.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "engine_int.h"
#include "banned.h"

int64_t engine_run_task_id(const struct engine_run *run)
{
	return run->task_id;
}

int64_t engine_run_change_id(const struct engine_run *run)
{
	return run->change_id;
}

const char *engine_run_kind(const struct engine_run *run)
{
	return run->kind;
}

const char *engine_run_summary(const struct engine_run *run)
{
	return run->summary;
}

bool engine_run_undoing(const struct engine_run *run)
{
	return run->undo;
}

const char *engine_run_data(const struct engine_run *run)
{
	return run->data;
}

/* The run's task, or NULL; engine.lock held. */
static struct eng_task *run_task(struct engine_run *run)
{
	struct eng_task *t = eng_task_find(run->e, run->task_id);

	return t && t->run == run ? t : NULL;
}

int engine_run_set_data(struct engine_run *run, const char *data)
{
	struct engine *e = run->e;
	char *copy = NULL, *mine = NULL;
	struct eng_task *t;
	int r = 0;

	if (data && strnlen(data, ENGINE_DATA_MAX + 1) > ENGINE_DATA_MAX)
		return -EFBIG;
	if (data && (!(copy = strdup(data)) || !(mine = strdup(data)))) {
		free(copy);
		return -ENOMEM;
	}
	pthread_mutex_lock(&e->lock);
	t = run_task(run);
	if (!t) {
		r = -ENOENT;
	} else {
		free(t->data);
		t->data = copy;
		copy = NULL;
		eng_mark(e, t, DIRTY_DATA);
		r = eng_flush(e);
	}
	if (r == 0) {
		free(run->data);
		run->data = mine;
		mine = NULL;
	}
	pthread_mutex_unlock(&e->lock);
	free(copy);
	free(mine);
	return r;
}

int engine_run_logf(struct engine_run *run, bool error, const char *fmt, ...)
{
	struct engine *e = run->e;
	struct eng_task *t;
	va_list ap;
	char *msg;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	pthread_mutex_lock(&e->lock);
	t = run_task(run);
	r = t ? eng_log(e, t, error, msg) : -ENOENT;
	if (r == 0)
		r = eng_flush(e);
	pthread_mutex_unlock(&e->lock);
	free(msg);
	return r;
}

void engine_run_set_progress(struct engine_run *run, const char *label, int64_t done,
			     int64_t total)
{
	struct engine *e = run->e;
	struct eng_task *t;
	char *l = NULL;
	bool clear = total <= 0 || done < 0 || done > total;

	if (!clear && !(l = strdup(label ? label : "")))
		return;
	pthread_mutex_lock(&e->lock);
	t = run_task(run);
	if (t) {
		free(t->plabel);
		t->plabel = l;
		l = NULL;
		t->pdone = clear ? 0 : done;
		t->ptotal = clear ? 0 : total;
		if (clear || done == total) {
			eng_mark(e, t, DIRTY_PROGRESS);
			(void)eng_flush(e);
		} else {
			eng_changed(e);
		}
	}
	pthread_mutex_unlock(&e->lock);
	free(l);
}

bool engine_run_stopping(struct engine_run *run)
{
	return atomic_load(&run->stop);
}

bool engine_run_wait_stop(struct engine_run *run, int64_t timeout_ms)
{
	struct engine *e = run->e;
	int64_t end = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
	bool stop;

	pthread_mutex_lock(&e->lock);
	while (!atomic_load(&run->stop)) {
		struct timespec ts;
		int64_t d = end - mono_ms();
		if (end < 0) {
			pthread_cond_wait(&run->stopped, &e->lock);
			continue;
		}
		if (d <= 0)
			break;
		mono_deadline(&ts, d);
		pthread_cond_timedwait(&run->stopped, &e->lock, &ts);
	}
	stop = atomic_load(&run->stop);
	pthread_mutex_unlock(&e->lock);
	return stop;
}

int engine_run_stop_fd(struct engine_run *run)
{
	struct engine *e = run->e;
	int fd;

	pthread_mutex_lock(&e->lock);
	if (run->stop_fd < 0)
		run->stop_fd = eventfd(atomic_load(&run->stop) ? 1 : 0, EFD_CLOEXEC | EFD_NONBLOCK);
	fd = run->stop_fd >= 0 ? run->stop_fd : -errno;
	pthread_mutex_unlock(&e->lock);
	return fd;
}

int engine_run_retry(struct engine_run *run, int64_t after_ms)
{
	run->retry_ms = after_ms > 0 ? after_ms : 0;
	return ENGINE_RETRY;
}

int engine_run_fail(struct engine_run *run, int r, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) >= 0) {
		free(run->fail_msg);
		run->fail_msg = msg;
	}
	va_end(ap);
	return r < 0 ? r : -EIO;
}
