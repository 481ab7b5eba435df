/*
 * The engine's model: changes and tasks in memory, their statuses and the
 * rules that move them (snapd's overlord/state, agents.md A.3, A.4, A33):
 * finding, status derivation and transitions, logs, aborting tasks and
 * lanes, linking, inserting and freeing loaded changes, and checking the
 * specs of new ones. It calls no other engine file; enginedb.c,
 * enginerun.c and engine.c build on it (engine_int.h).
 *
 * The database is the truth and memory its cache. Every change of the
 * model goes the same way, under engine.lock: mutate memory, mark what
 * moved (eng_mark()), then eng_flush() commits it in one transaction
 * before the caller returns or a waiter is woken. When a commit fails,
 * eng_flush() rebuilds the cache from the database, so memory never shows
 * what the disk does not hold; a transition lost that way is a crash at
 * that point, which the handler contract (idempotent handlers) covers.
 *
 * Invariants: changes and tasks are kept sorted by id (ids only grow, so
 * new ones append); a task's status is never ENGINE_DEFAULT; a change is
 * ready from the moment all its tasks are ready and never becomes unready
 * (eng_set_status() refuses); n_unready counts the changes not ready.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"
#include "banned.h"

static const char *const status_names[] = {
	[ENGINE_DEFAULT] = "Do",      [ENGINE_HOLD] = "Hold",	    [ENGINE_DO] = "Do",
	[ENGINE_DOING] = "Doing",     [ENGINE_DONE] = "Done",	    [ENGINE_ABORT] = "Abort",
	[ENGINE_UNDO] = "Undo",	      [ENGINE_UNDOING] = "Undoing", [ENGINE_UNDONE] = "Undone",
	[ENGINE_ERROR] = "Error",
};

const char *engine_status_name(enum engine_status s)
{
	if ((unsigned)s >= ARRAY_SIZE(status_names))
		return "?";
	return status_names[s];
}

bool engine_status_ready(enum engine_status s)
{
	return s == ENGINE_DONE || s == ENGINE_UNDONE || s == ENGINE_HOLD || s == ENGINE_ERROR;
}

/* The first status of the priority list (A15) in seen, Hold when none. */
static enum engine_status pick(const bool seen[ENGINE_ERROR + 1])
{
	static const enum engine_status order[] = {
		ENGINE_ABORT, ENGINE_UNDOING, ENGINE_UNDO, ENGINE_DOING, ENGINE_DO,
		ENGINE_ERROR, ENGINE_UNDONE,  ENGINE_DONE, ENGINE_HOLD,
	};

	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		if (seen[order[i]])
			return order[i];
	return ENGINE_HOLD;
}

enum engine_status engine_status_derive(const enum engine_status *v, size_t n)
{
	bool seen[ENGINE_ERROR + 1] = {false};

	for (size_t i = 0; i < n; i++) {
		enum engine_status s = v[i] == ENGINE_DEFAULT ? ENGINE_DO : v[i];
		if ((unsigned)s <= ENGINE_ERROR)
			seen[s] = true;
	}
	return pick(seen);
}

int64_t engine_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t eng_now(struct engine *e)
{
	return e->o.clock ? e->o.clock(e->o.clock_ud) : engine_now_ms();
}

/* Something readable moved: wake readers and waiters. */
void eng_changed(struct engine *e)
{
	e->gen++;
	pthread_cond_broadcast(&e->changed);
}

struct eng_change *eng_change_find(struct engine *e, int64_t id)
{
	size_t lo = 0, hi = e->n_chg;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e->chg[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < e->n_chg && e->chg[lo]->id == id ? e->chg[lo] : NULL;
}

struct eng_task *eng_task_find(struct engine *e, int64_t id)
{
	size_t lo = 0, hi = e->n_tasks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e->tasks[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < e->n_tasks && e->tasks[lo]->id == id ? e->tasks[lo] : NULL;
}

/* Makes room for one more pointer in *v. 0 or -ENOMEM. */
static int grow(void *pv, size_t n, size_t *cap)
{
	void ***v = pv;
	size_t c = *cap ? *cap * 2 : 16;
	void **nv;

	if (n < *cap)
		return 0;
	nv = realloc(*v, c * sizeof(**v));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

void eng_mark(struct engine *e, struct eng_task *t, unsigned what)
{
	t->dirty |= what;
	if (t->in_dirty)
		return;
	if (grow(&e->dirty, e->n_dirty, &e->cap_dirty) < 0) {
		/* Cannot list it: the next flush fails and rebuilds from the database. */
		e->broken = true;
		return;
	}
	e->dirty[e->n_dirty++] = t;
	t->in_dirty = true;
}

static void mark_change(struct engine *e, struct eng_change *c)
{
	if (c->dirty)
		return;
	if (grow(&e->dirty_chg, e->n_dirty_chg, &e->cap_dirty_chg) < 0) {
		e->broken = true;
		return;
	}
	e->dirty_chg[e->n_dirty_chg++] = c;
	c->dirty = true;
}

bool eng_change_all_ready(const struct eng_change *c)
{
	for (size_t i = 0; i < c->n_tasks; i++)
		if (!engine_status_ready(c->tasks[i]->status))
			return false;
	return c->n_tasks > 0;
}

enum engine_status eng_change_status(const struct eng_change *c)
{
	bool seen[ENGINE_ERROR + 1] = {false};

	for (size_t i = 0; i < c->n_tasks; i++)
		seen[c->tasks[i]->status] = true;
	return pick(seen);
}

/*
 * Moves t to s (A17, A18): stamps the task's ready time when it moves from
 * an unready to a ready status, and the change's when its last unready task becomes
 * ready. -EINVAL when that would make a ready change unready (a bug in
 * the caller; nothing changes).
 */
int eng_set_status(struct engine *e, struct eng_task *t, enum engine_status s)
{
	struct eng_change *c = t->chg;
	enum engine_status old = t->status;

	if (s == ENGINE_DEFAULT)
		s = ENGINE_DO;
	if (s == old)
		return 0;
	if (c->ready && !engine_status_ready(s))
		return -EINVAL;
	t->status = s;
	if (!engine_status_ready(old) && engine_status_ready(s))
		t->ready_ms = eng_now(e);
	eng_mark(e, t, DIRTY_STATUS);
	if (!c->ready && eng_change_all_ready(c)) {
		c->ready = true;
		c->ready_ms = eng_now(e);
		e->n_unready--;
		mark_change(e, c);
	}
	return 0;
}

/* Copies at most ENGINE_LOG_MSG_MAX bytes of msg, cut on a UTF-8 boundary, newlines as spaces. */
static char *clean_msg(const char *msg)
{
	size_t n = strnlen(msg, ENGINE_LOG_MSG_MAX + 1);
	char *s;

	if (n > ENGINE_LOG_MSG_MAX) {
		n = ENGINE_LOG_MSG_MAX;
		while (n > 0 && ((unsigned char)msg[n] & 0xc0) == 0x80)
			n--;
	}
	s = malloc(n + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i] = msg[i] == '\n' || msg[i] == '\r' ? ' ' : msg[i];
	s[n] = '\0';
	return s;
}

int eng_format_line(int64_t now_ms, bool error, const char *msg, char **ret)
{
	_cleanup_free_ char *m = clean_msg(msg ? msg : "");
	char when[32];
	struct buf b;

	if (!m)
		return -ENOMEM;
	format_rfc3339(now_ms / 1000, when);
	buf_init(&b, ENGINE_LOG_MSG_MAX + 64);
	if (buf_addf(&b, "%s %s %s", when, error ? "ERROR" : "INFO", m) < 0) {
		buf_free(&b);
		return -ENOMEM;
	}
	*ret = buf_steal(&b, NULL);
	return 0;
}

/* Appends a formatted line (owned) to t's log, dropping the oldest past ENGINE_LOG_MAX. */
void eng_log_push(struct eng_task *t, char *line)
{
	if (t->n_log == ENGINE_LOG_MAX) {
		free(t->log[0]);
		memmove(t->log, t->log + 1, (ENGINE_LOG_MAX - 1) * sizeof(t->log[0]));
		t->n_log--;
	}
	t->log[t->n_log++] = line;
}

int eng_log(struct engine *e, struct eng_task *t, bool error, const char *msg)
{
	char *line;
	int r = eng_format_line(eng_now(e), error, msg, &line);

	if (r < 0)
		return r;
	eng_log_push(t, line);
	eng_mark(e, t, DIRTY_LOG);
	return 0;
}

/* ---- abort (snapd's Change.Abort / AbortLanes, A33) --------------------------- */

/* The lanes of t: its own, or lane 0. */
const int *eng_lanes_of(const struct eng_task *t, size_t *ret_n)
{
	static const int lane0 = 0;

	if (t->n_lanes == 0) {
		*ret_n = 1;
		return &lane0;
	}
	*ret_n = t->n_lanes;
	return t->lanes;
}

/* A set of lanes or of task indexes: a small sorted-free list (changes are small). */
struct intset {
	int64_t *v;
	size_t n, cap;
};

static bool intset_has(const struct intset *s, int64_t x)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == x)
			return true;
	return false;
}

static void intset_add(struct intset *s, int64_t x)
{
	int64_t *nv;

	if (intset_has(s, x))
		return;
	if (s->n == s->cap) {
		size_t c = s->cap ? s->cap * 2 : 8;
		nv = realloc(s->v, c * sizeof(*nv));
		if (!nv)
			return; /* best effort: a lane not remembered is only visited again */
		s->v = nv;
		s->cap = c;
	}
	s->v[s->n++] = x;
}

struct abort_walk {
	struct engine *e;
	struct eng_change *c;
	struct intset aborted_lanes;
	struct intset seen; /* task ids */
};

static void abort_lanes(struct abort_walk *w, const int *lanes, size_t n);

static bool is_live(enum engine_status s)
{
	return s == ENGINE_DO || s == ENGINE_DOING || s == ENGINE_DONE;
}

/* Aborts v[0..n) and, transitively, their dependents and lanes. */
static void abort_tasks(struct abort_walk *w, struct eng_task **v0, size_t n0)
{
	struct eng_task **v = NULL;
	size_t n = 0, cap = 0;
	int *lanes = NULL;
	size_t n_lanes = 0, cap_lanes = 0;

	for (size_t i = 0; i < n0; i++) {
		if (grow(&v, n, &cap) < 0)
			goto out;
		v[n++] = v0[i];
	}
	for (size_t i = 0; i < n; i++) {
		struct eng_task *t = v[i];
		const int *tl;
		size_t ntl;
		bool fresh = false;

		if (intset_has(&w->seen, t->id))
			continue;
		intset_add(&w->seen, t->id);
		switch (t->status) {
		case ENGINE_DO:
			(void)eng_set_status(w->e, t, ENGINE_HOLD);
			break;
		case ENGINE_DOING:
			(void)eng_set_status(w->e, t, ENGINE_ABORT);
			break;
		case ENGINE_DONE:
			(void)eng_set_status(w->e, t, ENGINE_UNDO);
			break;
		default:
			break;
		}
		tl = eng_lanes_of(t, &ntl);
		for (size_t k = 0; k < ntl; k++)
			if (!intset_has(&w->aborted_lanes, tl[k]))
				fresh = true;
		/* As snapd: a task with a lane not yet aborted brings all its lanes. */
		for (size_t k = 0; fresh && k < ntl; k++) {
			if (n_lanes == cap_lanes) {
				size_t c = cap_lanes ? cap_lanes * 2 : 8;
				int *nl = realloc(lanes, c * sizeof(*nl));
				if (!nl)
					goto out;
				lanes = nl;
				cap_lanes = c;
			}
			lanes[n_lanes++] = tl[k];
		}
		for (size_t k = 0; k < t->n_halt; k++) {
			if (intset_has(&w->seen, t->halt[k]->id))
				continue;
			if (grow(&v, n, &cap) < 0)
				goto out;
			v[n++] = t->halt[k];
		}
	}
	if (n_lanes > 0)
		abort_lanes(w, lanes, n_lanes);
out:
	free(lanes);
	free(v);
}

static bool in_lanes(const int *tl, size_t ntl, const int *lanes, size_t n)
{
	for (size_t i = 0; i < ntl; i++)
		for (size_t k = 0; k < n; k++)
			if (tl[i] == lanes[k])
				return true;
	return false;
}

static void abort_lanes(struct abort_walk *w, const int *lanes, size_t n)
{
	struct intset live = {0}, dead = {0};
	struct eng_change *c = w->c;
	struct eng_task **v = NULL;
	size_t nv = 0, cap = 0, m = 0;

	for (size_t i = 0; i < c->n_tasks; i++) {
		struct eng_task *t = c->tasks[i];
		size_t ntl;
		const int *tl = eng_lanes_of(t, &ntl);

		if (in_lanes(tl, ntl, lanes, n)) {
			if (grow(&v, nv, &cap) < 0)
				goto out;
			v[nv++] = t;
			continue;
		}
		for (size_t k = 0; k < ntl; k++)
			intset_add(is_live(t->status) ? &live : &dead, tl[k]);
	}
	/* Spare a task that also sits in a lane whose other tasks are all live. */
	for (size_t i = 0; i < nv; i++) {
		size_t ntl;
		const int *tl = eng_lanes_of(v[i], &ntl);
		bool spare = false;

		for (size_t k = 0; k < ntl; k++)
			if (intset_has(&live, tl[k]) && !intset_has(&dead, tl[k]))
				spare = true;
		if (!spare)
			v[m++] = v[i];
	}
	nv = m;
	for (size_t k = 0; k < n; k++)
		intset_add(&w->aborted_lanes, lanes[k]);
	if (nv > 0)
		abort_tasks(w, v, nv);
out:
	free(v);
	free(live.v);
	free(dead.v);
}

void eng_abort_lanes(struct engine *e, struct eng_change *c, const int *lanes, size_t n)
{
	struct abort_walk w = {.e = e, .c = c};

	abort_lanes(&w, lanes, n);
	free(w.aborted_lanes.v);
	free(w.seen.v);
}

/* Aborts every task of c and, transitively, their dependents and lanes (engine_abort()). */
void eng_abort_change(struct engine *e, struct eng_change *c)
{
	struct abort_walk w = {.e = e, .c = c};

	abort_tasks(&w, c->tasks, c->n_tasks);
	free(w.aborted_lanes.v);
	free(w.seen.v);
}

/* ---- building and freeing ---------------------------------------------------- */

void eng_task_free(struct eng_task *t)
{
	if (!t)
		return;
	free(t->kind);
	free(t->summary);
	free(t->data);
	free(t->wait);
	free(t->waitp);
	free(t->halt);
	free(t->lanes);
	for (size_t i = 0; i < t->n_log; i++)
		free(t->log[i]);
	free(t->plabel);
	free(t);
}

void eng_change_free(struct eng_change *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_tasks; i++)
		eng_task_free(c->tasks[i]);
	free(c->tasks);
	free(c->kind);
	free(c->summary);
	free(c);
}

/*
 * Resolves each task's wait ids to tasks of its change and fills the halt
 * lists (the reverse edges). A wait id naming no task of the change does
 * not gate. 0 or -ENOMEM.
 */
int eng_link(struct eng_change *c)
{
	size_t *nh = calloc(c->n_tasks ? c->n_tasks : 1, sizeof(*nh));
	int r = 0;

	if (!nh)
		return -ENOMEM;
	for (size_t pass = 0; pass < 2 && r == 0; pass++) {
		for (size_t i = 0; i < c->n_tasks; i++) {
			struct eng_task *t = c->tasks[i];
			if (pass == 1) {
				t->waitp = calloc(t->n_wait ? t->n_wait : 1, sizeof(*t->waitp));
				t->halt = calloc(nh[i] ? nh[i] : 1, sizeof(*t->halt));
				if (!t->waitp || !t->halt) {
					r = -ENOMEM;
					break;
				}
			}
		}
		for (size_t i = 0; r == 0 && i < c->n_tasks; i++) {
			struct eng_task *t = c->tasks[i];
			for (size_t k = 0; k < t->n_wait; k++) {
				for (size_t j = 0; j < c->n_tasks; j++) {
					struct eng_task *u = c->tasks[j];
					if (u->id != t->wait[k] || u == t)
						continue;
					if (pass == 0) {
						nh[j]++;
					} else {
						t->waitp[t->n_waitp++] = u;
						u->halt[u->n_halt++] = t;
					}
				}
			}
		}
	}
	free(nh);
	return r;
}

/* Adds a loaded change (and its tasks) to the engine; takes c. 0 or -ENOMEM (c freed). */
int eng_change_insert(struct engine *e, struct eng_change *c)
{
	size_t need = e->n_tasks + c->n_tasks;

	if (grow(&e->chg, e->n_chg, &e->cap_chg) < 0)
		goto nomem;
	if (need > e->cap_tasks) {
		size_t cap = e->cap_tasks ? e->cap_tasks : 64;
		struct eng_task **v;
		while (cap < need)
			cap *= 2;
		v = realloc(e->tasks, cap * sizeof(*v));
		if (!v)
			goto nomem;
		e->tasks = v;
		e->cap_tasks = cap;
	}
	if (e->n_chg > 0 && e->chg[e->n_chg - 1]->id >= c->id) {
		eng_change_free(c); /* cannot happen: loads go by ascending id */
		return -EIO;
	}
	for (size_t i = 0; i < c->n_tasks; i++) {
		struct eng_task *t = c->tasks[i];
		size_t at = e->n_tasks;
		while (at > 0 && e->tasks[at - 1]->id > t->id)
			at--;
		memmove(e->tasks + at + 1, e->tasks + at, (e->n_tasks - at) * sizeof(*e->tasks));
		e->tasks[at] = t;
		e->n_tasks++;
		t->h = eng_handler_find(e, t->kind);
	}
	e->chg[e->n_chg++] = c;
	c->ready = eng_change_all_ready(c);
	if (!c->ready)
		e->n_unready++;
	if (c->id > e->max_change_id)
		e->max_change_id = c->id;
	return 0;
nomem:
	eng_change_free(c);
	return -ENOMEM;
}

/* Drops every change from memory (not from the database), keeping the runs. */
void eng_forget(struct engine *e)
{
	for (size_t i = 0; i < e->n_chg; i++)
		eng_change_free(e->chg[i]);
	e->n_chg = e->n_tasks = e->n_unready = 0;
	e->n_dirty = e->n_dirty_chg = 0;
	e->max_change_id = 0;
}

const struct eng_handler *eng_handler_find(const struct engine *e, const char *kind)
{
	for (size_t i = 0; i < e->n_handlers; i++)
		if (strcmp(e->handlers[i].kind, kind) == 0)
			return &e->handlers[i];
	return NULL;
}

/* ---- checking specs ------------------------------------------------------------ */

static bool text_ok(const char *s, size_t max, bool empty_ok)
{
	size_t n;

	if (!s)
		return false;
	n = strnlen(s, max + 1);
	return n <= max && (empty_ok || n > 0) && utf8_valid(s, n);
}

/* Kahn's sort over the wait-for indexes: true when there is no cycle. */
static bool acyclic(const struct engine_task_spec *v, size_t n)
{
	_cleanup_free_ size_t *indeg = calloc(n, sizeof(size_t));
	_cleanup_free_ size_t *queue = calloc(n, sizeof(size_t));
	size_t head = 0, tail = 0;

	if (!indeg || !queue)
		return false;
	for (size_t i = 0; i < n; i++)
		indeg[i] = v[i].n_wait;
	for (size_t i = 0; i < n; i++)
		if (indeg[i] == 0)
			queue[tail++] = i;
	while (head < tail) {
		size_t u = queue[head++];
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < v[i].n_wait; k++)
				if (v[i].wait_for[k] == u && --indeg[i] == 0)
					queue[tail++] = i;
	}
	return tail == n;
}

int eng_spec_check(const struct engine_task_spec *v, size_t n, bool record)
{
	if (!v || n == 0 || n > ENGINE_TASKS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct engine_task_spec *t = &v[i];
		if (!text_ok(t->kind, ENGINE_KIND_MAX, false) ||
		    !text_ok(t->summary, ENGINE_SUMMARY_MAX, true))
			return -EINVAL;
		if ((unsigned)t->status > ENGINE_ERROR)
			return -EINVAL;
		if (record && !engine_status_ready(t->status) && t->status != ENGINE_DEFAULT &&
		    t->status != ENGINE_DO)
			return -EINVAL;
		if (t->n_wait && !t->wait_for)
			return -EINVAL;
		if (t->n_lanes && !t->lanes)
			return -EINVAL;
		for (size_t k = 0; k < t->n_wait; k++) {
			if (t->wait_for[k] >= n || t->wait_for[k] == i)
				return -EINVAL;
		}
		for (size_t k = 0; k < t->n_lanes; k++)
			if (t->lanes[k] < 0)
				return -EINVAL;
		if (t->data && strnlen(t->data, ENGINE_DATA_MAX + 1) > ENGINE_DATA_MAX)
			return -EFBIG;
	}
	return acyclic(v, n) ? 0 : -EINVAL;
}
