/*
 * Event hooks (evhook.h): the folders under STOREDIR/hooks, the in-memory
 * answer to "has this event a hook" (recomputed after evhook_touch()),
 * the change an event records, and the plan its task runs.
 *
 * The answer is cached per event with the touch generation it was
 * computed at; a stale one costs two directory scans, a fresh one a
 * mutex. The task's data carries everything the run needs that may not
 * be known later (the event's JSON and facts); which hooks run is read
 * when it runs, so a hook copied in after the event but before its run
 * runs too, as it would if the run had been a moment later.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "engine.h"
#include "evhook.h"
#include "banned.h"

const char *const evhook_events[] = {
	"charm-published", "charm-publish-error", "charm-deleted",   "lock-expired",
	"package-changed", "package-error",	  "upgrade-available", "upgrade-applied",
	"upgrade-failed",  NULL,
};
#define N_EVENTS (sizeof(evhook_events) / sizeof(evhook_events[0]) - 1)

struct evhooks {
	char *dir;
	struct db *db;
	pthread_mutex_t lock;
	uint64_t gen;		    /* evhook_touch() count */
	uint64_t known[N_EVENTS + 1]; /* gen + 1 at which has[] was computed; 0: never */
	bool has[N_EVENTS + 1];	    /* [N_EVENTS]: any/ */
};

static int event_index(const char *name, bool with_any)
{
	for (size_t i = 0; i < N_EVENTS; i++)
		if (strcmp(name, evhook_events[i]) == 0)
			return (int)i;
	return with_any && strcmp(name, EVHOOK_ANY) == 0 ? (int)N_EVENTS : -1;
}

bool evhook_event_valid(const char *name, bool with_any)
{
	return event_index(name, with_any) >= 0;
}

int evhooks_new(const struct evhook_env *env, struct evhooks **ret)
{
	struct evhooks *h = calloc(1, sizeof(*h));

	if (!h || !(h->dir = strdup(env->dir))) {
		free(h);
		return -ENOMEM;
	}
	h->db = env->db;
	pthread_mutex_init(&h->lock, NULL);
	*ret = h;
	return 0;
}

void evhooks_free(struct evhooks *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h->dir);
	free(h);
}

static int folder(const struct evhooks *h, const char *event, char *out, size_t len)
{
	return (size_t)snprintf(out, len, "%s/hooks/%s", h->dir, event) < len ? 0 : -ENAMETOOLONG;
}

int evhook_dir_at(struct evhooks *h, const char *event, int *ret_dirfd)
{
	char path[PATH_MAX];
	int r;

	if (!evhook_event_valid(event, true))
		return -ENOENT;
	r = folder(h, event, path, sizeof(path));
	/* Every request under hooks/ comes here: the folder is made only when it is missing. */
	return r < 0 ? r : dir_open_or_make(path, NULL, NULL, ret_dirfd);
}

void evhook_touch(struct evhooks *h)
{
	pthread_mutex_lock(&h->lock);
	h->gen++;
	pthread_mutex_unlock(&h->lock);
}

int evhook_snapshot(struct evhooks *h, const char *dir)
{
	static const char *const trees[] = { "hooks", "hookstate" };
	char src[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	int r = 0;

	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(trees); i++) {
		if ((size_t)snprintf(src, sizeof(src), "%s/%s", h->dir, trees[i]) >= sizeof(src) ||
		    (size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, trees[i]) >= sizeof(dst))
			return -ENAMETOOLONG;
		if (stat(src, &st) == 0)
			r = copy_tree(src, dst);
	}
	return r;
}

/* Whether a directory entry is a hook: a regular file not named ".*". */
static bool is_hook(int dirfd, const char *name)
{
	struct stat st;

	return name[0] != '.' && fstatat(dirfd, name, &st, 0) == 0 && S_ISREG(st.st_mode);
}

/* The hook names of hooks/EVENT, sorted, into ret (appended); a missing folder has none. */
static int list_hooks(const struct evhooks *h, const char *event, struct strv *ret)
{
	struct dirent **v = NULL;
	char path[PATH_MAX];
	int n, r = folder(h, event, path, sizeof(path)), dirfd;

	if (r < 0)
		return r;
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = scandirat(dirfd, ".", &v, NULL, alphasort);
	if (n < 0)
		r = -errno;
	for (int i = 0; i < n; i++) {
		if (r == 0 && is_hook(dirfd, v[i]->d_name))
			r = strv_push(ret, v[i]->d_name);
		free(v[i]);
	}
	free(v);
	close(dirfd);
	return r;
}

/* Whether event's folder (index i) has a hook, from the cache when it is fresh. */
static bool has_hooks(struct evhooks *h, size_t i)
{
	struct strv names = { 0 };
	uint64_t gen;
	bool has;

	pthread_mutex_lock(&h->lock);
	gen = h->gen;
	if (h->known[i] == gen + 1) {
		has = h->has[i];
		pthread_mutex_unlock(&h->lock);
		return has;
	}
	pthread_mutex_unlock(&h->lock);
	/* An error counts as "has": the run then says what is wrong. */
	has = list_hooks(h, i == N_EVENTS ? EVHOOK_ANY : evhook_events[i], &names) < 0 ||
	      names.n > 0;
	strv_clear(&names);
	pthread_mutex_lock(&h->lock);
	if (h->gen == gen) {
		h->known[i] = gen + 1;
		h->has[i] = has;
	}
	pthread_mutex_unlock(&h->lock);
	return has;
}

bool evhook_wanted(struct evhooks *h, const char *event)
{
	int i = event_index(event, false);

	return i >= 0 && (has_hooks(h, (size_t)i) || has_hooks(h, N_EVENTS));
}

/* "url" -> "CHARMFS_URL=value" */
static int fact_var(const struct evhook_fact *f, struct buf *out)
{
	int r = buf_addf(out, "CHARMFS_");

	for (const char *p = f->key; r == 0 && *p; p++) {
		char c = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
		r = buf_add(out, &c, 1);
	}
	return r ? r : buf_addf(out, "=%s", f->value);
}

static char *task_data(const char *event, const char *json, const struct evhook_fact *facts,
		       size_t n)
{
	json_t *o = json_object(), *vars = json_array();
	char *text = NULL;
	struct buf b;
	int r = o && vars ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < n; i++) {
		buf_init(&b, 64 * 1024);
		r = fact_var(&facts[i], &b);
		if (r == 0 && json_array_append_new(vars, json_text(b.data, b.len)) < 0)
			r = -ENOMEM;
		buf_free(&b);
	}
	if (r == 0 && (json_object_set_new(o, "event", json_string(event)) < 0 ||
		       json_object_set_new(o, "input", json_text(json, strlen(json))) < 0 ||
		       json_object_set(o, "vars", vars) < 0))
		r = -ENOMEM;
	if (r == 0)
		text = json_dumps(o, JSON_COMPACT);
	json_decref(vars);
	json_decref(o);
	return text;
}

/* Records (e NULL: in the caller's transaction) or adds the change of event's hooks. */
static int record(struct evhooks *h, struct engine *e, const char *event, const char *json,
		  const struct evhook_fact *facts, size_t n, bool *ret_recorded)
{
	int i = event_index(event, false), r;
	char summary[128], *data;

	*ret_recorded = false;
	if (i < 0)
		return -EINVAL;
	if (!evhook_wanted(h, event))
		return 0;
	data = task_data(event, json, facts, n);
	if (!data)
		return -ENOMEM;
	snprintf(summary, sizeof(summary), "Run the %s hooks", event);
	const struct engine_task_spec t = { .kind = EVHOOK_TASK, .summary = summary, .data = data };
	r = e ? engine_change_add(e, EVHOOK_CHANGE, summary, &t, 1, NULL)
	      : engine_record_tx(h->db, EVHOOK_CHANGE, summary, engine_now_ms(), &t, 1, NULL);
	free(data);
	if (r == 0)
		*ret_recorded = true;
	return r;
}

int evhook_record_tx(struct evhooks *h, const char *event, const char *json,
		     const struct evhook_fact *facts, size_t n, bool *ret_recorded)
{
	return record(h, NULL, event, json, facts, n, ret_recorded);
}

int evhook_fire(struct evhooks *h, struct engine *e, const char *event, const char *json,
		const struct evhook_fact *facts, size_t n)
{
	bool recorded;

	return e ? record(h, e, event, json, facts, n, &recorded) : 0;
}

/* Adds the hooks of folder ev to p, with their state directories. */
static int plan_folder(struct evhooks *h, const char *ev, struct evhook_plan *p)
{
	struct strv names = { 0 };
	char path[PATH_MAX];
	int r = list_hooks(h, ev, &names);
	struct evhook_step *nv;

	if (r < 0 || !names.n)
		goto out;
	nv = realloc(p->steps, (p->n + names.n) * sizeof(*nv));
	if (!nv) {
		r = -ENOMEM;
		goto out;
	}
	p->steps = nv;
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		struct evhook_step *s = &p->steps[p->n];
		memset(s, 0, sizeof(*s));
		p->n++;
		if (asprintf(&s->name, "%s/%s", ev, names.v[i]) < 0 ||
		    asprintf(&s->path, "%s/hooks/%s/%s", h->dir, ev, names.v[i]) < 0 ||
		    asprintf(&s->state_dir, "%s/hookstate/%s/%s", h->dir, ev, names.v[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		snprintf(path, sizeof(path), "%s", s->state_dir);
		r = mkdir_p(path);
	}
out:
	strv_clear(&names);
	return r;
}

int evhook_plan(struct evhooks *h, const char *data, struct evhook_plan *ret)
{
	struct evhook_plan p = { 0 };
	json_t *o = data ? json_loads(data, 0, NULL) : NULL, *vars, *v;
	const char *ev, *input;
	size_t i;
	int r = 0;

	ev = json_string_value(json_object_get(o, "event"));
	input = json_string_value(json_object_get(o, "input"));
	vars = json_object_get(o, "vars");
	if (!ev || !input || !json_is_array(vars) || !evhook_event_valid(ev, false)) {
		json_decref(o);
		return -EINVAL;
	}
	if (!(p.event = strdup(ev)) || asprintf(&p.input, "%s\n", input) < 0) {
		p.input = NULL;
		r = -ENOMEM;
	}
	r = r ? r : strv_pushf(&p.vars, "CHARMFS_EVENT=%s", ev);
	json_array_foreach(vars, i, v) {
		if (r == 0 && json_is_string(v) && strchr(json_string_value(v), '='))
			r = strv_push(&p.vars, json_string_value(v));
	}
	if (r == 0)
		r = plan_folder(h, ev, &p);
	if (r == 0)
		r = plan_folder(h, EVHOOK_ANY, &p);
	json_decref(o);
	if (r < 0) {
		evhook_plan_free(&p);
		return r;
	}
	*ret = p;
	return 0;
}

void evhook_plan_free(struct evhook_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->steps[i].name);
		free(p->steps[i].path);
		free(p->steps[i].state_dir);
	}
	free(p->steps);
	free(p->event);
	free(p->input);
	strv_clear(&p->vars);
	memset(p, 0, sizeof(*p));
}
