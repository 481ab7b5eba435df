/*
 * The engine's public mutators and the reading functions front ends use
 * (engine.h). Each takes engine.lock, brings the cache up to date
 * (eng_refresh()), acts on the model (enginemodel.c), commits what moved
 * (eng_flush()) and lets the runner act on it (eng_ensure()). It is the
 * top of the engine's files: it calls the model, the persistence and the
 * runner, and none of them calls it (engine_int.h).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "engine_int.h"
#include "banned.h"

/* ---- public mutators ------------------------------------------------------------ */

int engine_change_add(struct engine *e, const char *kind, const char *summary,
		      const struct engine_task_spec *tasks, size_t n, int64_t *ret_id)
{
	int64_t id = 0;
	int r;

	pthread_mutex_lock(&e->lock);
	r = e->broken ? -EIO : db_write_begin(e->db);
	if (r == 0)
		r = db_write_end(e->db, eng_db_insert(e->db, kind, summary, eng_now(e), tasks, n, false, &id));
	if (r == 0) {
		/* Committed: a refresh that fails here is retried by the next read. */
		(void)eng_refresh(e);
		eng_changed(e);
		eng_ensure(e);
		if (ret_id)
			*ret_id = id;
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

static int abort_common(struct engine *e, int64_t id, const int *lanes, size_t n)
{
	struct eng_change *c;
	int r;

	pthread_mutex_lock(&e->lock);
	r = eng_catch_up(e);
	c = r == 0 ? eng_change_find(e, id) : NULL;
	if (r == 0 && !c)
		r = -ENOENT;
	else if (r == 0 && c->ready)
		r = -EALREADY;
	if (r == 0) {
		if (lanes)
			eng_abort_lanes(e, c, lanes, n);
		else
			eng_abort_change(e, c);
		r = eng_flush(e);
		/* Even on failure the cache was rebuilt; the runner may act on it. */
		eng_ensure(e);
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

int engine_abort(struct engine *e, int64_t id)
{
	return abort_common(e, id, NULL, 0);
}

int engine_abort_lanes(struct engine *e, int64_t id, const int *lanes, size_t n)
{
	static const int none;

	return abort_common(e, id, lanes ? lanes : &none, lanes ? n : 0);
}

int engine_task_set_status(struct engine *e, int64_t task_id, enum engine_status s)
{
	struct eng_task *t;
	int r;

	if ((unsigned)s > ENGINE_ERROR)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	r = eng_catch_up(e);
	t = r == 0 ? eng_task_find(e, task_id) : NULL;
	if (r == 0 && !t)
		r = -ENOENT;
	else if (r == 0 && t->run)
		r = -EBUSY;
	if (r == 0 && !(s == ENGINE_DONE && t->status == ENGINE_ABORT)) {
		r = eng_set_status(e, t, s);
		if (r == 0)
			r = eng_flush(e);
		eng_ensure(e);
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

int engine_task_logf(struct engine *e, int64_t task_id, bool error, const char *fmt, ...)
{
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
	r = eng_catch_up(e);
	t = r == 0 ? eng_task_find(e, task_id) : NULL;
	if (r == 0 && !t)
		r = -ENOENT;
	if (r == 0)
		r = eng_log(e, t, error, msg);
	if (r == 0)
		r = eng_flush(e);
	pthread_mutex_unlock(&e->lock);
	free(msg);
	return r;
}

/* ---- reading --------------------------------------------------------------------- */

uint64_t engine_generation(struct engine *e)
{
	uint64_t g;

	pthread_mutex_lock(&e->lock);
	(void)eng_catch_up(e);
	g = e->gen;
	pthread_mutex_unlock(&e->lock);
	return g;
}

int engine_change_ids(struct engine *e, int64_t **ret, size_t *ret_n)
{
	int64_t *v = NULL;
	size_t n = 0;
	int r;

	pthread_mutex_lock(&e->lock);
	r = eng_catch_up(e);
	if (r == 0 && e->n_chg > 0) {
		v = malloc(e->n_chg * sizeof(*v));
		if (!v)
			r = -ENOMEM;
		for (size_t i = 0; v && i < e->n_chg; i++)
			v[n++] = e->chg[i]->id;
	}
	pthread_mutex_unlock(&e->lock);
	if (r < 0)
		return r;
	*ret = v;
	*ret_n = n;
	return 0;
}

int engine_task_ids(struct engine *e, int64_t id, int64_t **ret, size_t *ret_n)
{
	struct eng_change *c;
	int64_t *v = NULL;
	size_t n = 0;
	int r;

	pthread_mutex_lock(&e->lock);
	r = eng_catch_up(e);
	c = r == 0 ? eng_change_find(e, id) : NULL;
	if (r == 0 && !c)
		r = -ENOENT;
	if (r == 0 && c->n_tasks > 0) {
		v = malloc(c->n_tasks * sizeof(*v));
		if (!v)
			r = -ENOMEM;
		for (size_t i = 0; v && i < c->n_tasks; i++)
			v[n++] = c->tasks[i]->id;
	}
	pthread_mutex_unlock(&e->lock);
	if (r < 0)
		return r;
	*ret = v;
	*ret_n = n;
	return 0;
}

/* The message of a log line "TIME ERROR message", or NULL when it is not an ERROR line. */
static const char *error_msg(const char *line)
{
	const char *sp = strchr(line, ' ');

	if (!sp || strncmp(sp + 1, "ERROR ", 6) != 0)
		return NULL;
	return sp + 7;
}

/* The change's err text (A19), or NULL when its status is not Error. */
static int change_err(const struct eng_change *c, char **ret)
{
	struct buf b;
	size_t n0;
	int r;

	*ret = NULL;
	if (eng_change_status(c) != ENGINE_ERROR)
		return 0;
	buf_init(&b, SIZE_MAX);
	r = buf_addf(&b, "cannot perform the following tasks:");
	n0 = b.len;
	for (size_t i = 0; r == 0 && i < c->n_tasks; i++) {
		const struct eng_task *t = c->tasks[i];
		for (size_t k = 0; r == 0 && t->status == ENGINE_ERROR && k < t->n_log; k++) {
			const char *m = error_msg(t->log[k]);
			if (m)
				r = buf_addf(&b, "\n- %s (%s)", t->summary, m);
		}
	}
	if (r == 0 && b.len == n0) {
		buf_free(&b);
		buf_init(&b, SIZE_MAX);
		r = buf_addf(&b,
			     "internal inconsistency: change \"%s\" in ErrorStatus with no task "
			     "errors logged",
			     c->kind);
	}
	if (r < 0) {
		buf_free(&b);
		return -ENOMEM;
	}
	*ret = buf_steal(&b, NULL);
	return 0;
}

void engine_change_info_free(struct engine_change_info *ci)
{
	if (!ci)
		return;
	free(ci->kind);
	free(ci->summary);
	free(ci->err);
	free(ci);
}

static int change_copy(const struct eng_change *c, struct engine_change_info **ret)
{
	struct engine_change_info *ci = calloc(1, sizeof(*ci));

	if (!ci)
		return -ENOMEM;
	ci->id = c->id;
	ci->kind = strdup(c->kind);
	ci->summary = strdup(c->summary);
	ci->status = eng_change_status(c);
	ci->ready = c->ready;
	ci->spawn_ms = c->spawn_ms;
	ci->ready_ms = c->ready ? c->ready_ms : 0;
	ci->n_tasks = c->n_tasks;
	if (!ci->kind || !ci->summary || change_err(c, &ci->err) < 0) {
		engine_change_info_free(ci);
		return -ENOMEM;
	}
	*ret = ci;
	return 0;
}

int engine_change_get(struct engine *e, int64_t id, struct engine_change_info **ret)
{
	struct eng_change *c;
	int r;

	pthread_mutex_lock(&e->lock);
	r = eng_catch_up(e);
	c = r == 0 ? eng_change_find(e, id) : NULL;
	if (r == 0 && !c)
		r = -ENOENT;
	if (r == 0)
		r = change_copy(c, ret);
	pthread_mutex_unlock(&e->lock);
	return r;
}

void engine_task_info_free(struct engine_task_info *ti)
{
	if (!ti)
		return;
	free(ti->kind);
	free(ti->summary);
	free(ti->wait_for);
	free(ti->lanes);
	for (size_t i = 0; i < ti->n_log; i++)
		free(ti->log[i]);
	free(ti->log);
	free(ti->progress_label);
	free(ti->data);
	free(ti);
}

static int task_copy(const struct eng_task *t, struct engine_task_info **ret)
{
	struct engine_task_info *ti = calloc(1, sizeof(*ti));
	size_t nl;
	const int *lanes = eng_lanes_of(t, &nl);
	bool ok;

	if (!ti)
		return -ENOMEM;
	ti->id = t->id;
	ti->change_id = t->chg->id;
	ti->status = t->status;
	ti->kind = strdup(t->kind);
	ti->summary = strdup(t->summary);
	ti->wait_for = malloc((t->n_wait + 1) * sizeof(*ti->wait_for));
	ti->lanes = malloc(nl * sizeof(*ti->lanes));
	ti->log = calloc(t->n_log + 1, sizeof(*ti->log));
	ti->data = t->data ? strdup(t->data) : NULL;
	ok = ti->kind && ti->summary && ti->wait_for && ti->lanes && ti->log &&
	     (ti->data || !t->data);
	if (t->ptotal > 0) {
		ti->progress_label = strdup(t->plabel ? t->plabel : "");
		ti->progress_done = t->pdone;
		ti->progress_total = t->ptotal;
	} else {
		ti->progress_label = strdup("");
		ti->progress_done = t->status == ENGINE_DO ? 0 : 1;
		ti->progress_total = 1;
	}
	ok = ok && ti->progress_label;
	for (size_t i = 0; ok && i < t->n_wait; i++)
		ti->wait_for[ti->n_wait++] = t->wait[i];
	for (size_t i = 0; ok && i < nl; i++)
		ti->lanes[ti->n_lanes++] = lanes[i];
	for (size_t i = 0; ok && i < t->n_log; i++) {
		ti->log[i] = strdup(t->log[i]);
		ok = ti->log[i] != NULL;
		ti->n_log += ok;
	}
	ti->at_ms = t->at_ms;
	ti->spawn_ms = t->spawn_ms;
	ti->ready_ms = t->ready_ms;
	if (!ok) {
		engine_task_info_free(ti);
		return -ENOMEM;
	}
	*ret = ti;
	return 0;
}

int engine_task_get(struct engine *e, int64_t id, struct engine_task_info **ret)
{
	struct eng_task *t;
	int r;

	pthread_mutex_lock(&e->lock);
	r = eng_catch_up(e);
	t = r == 0 ? eng_task_find(e, id) : NULL;
	if (r == 0 && !t)
		r = -ENOENT;
	if (r == 0)
		r = task_copy(t, ret);
	pthread_mutex_unlock(&e->lock);
	return r;
}
