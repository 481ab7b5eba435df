/*
 * The hook agent (agent.h): the PKG_TASK_HOOK handler and the hook tool
 * server's ops over the package core.
 *
 * One hook run: pkg_hook_begin() says what to run (or to wait: another
 * change of the package is still running), a tool context is made for it,
 * what a previous daemon left of the same task is killed (the "pgroup"
 * token in the task's data), the hook runs with the Juju environment, its
 * output goes line by line into the package's log and its last lines into
 * the task's log, and pkg_hook_end() records the outcome. A hook stopped
 * because its change was aborted (a newer version, an rmdir) or because
 * the daemon closes is neither a success nor a failure: the handler asks
 * to be run again, which the engine turns into Hold after an abort and
 * into a resumed Doing after a restart.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "engine.h"
#include "evhook.h"
#include "pkg.h"
#include "run.h"
#include "toolsrv.h"
#include "banned.h"

/* Output lines of a hook copied into its task's log at the end. */
#define TASK_LOG_TAIL 5

static const char *const tool_names[] = {
	"close-port", "config-get", "is-leader",  "juju-log", "open-port",
	"opened-ports", "status-get", "status-set", "unit-get",
};

struct hook_agent {
	struct store *store;
	char *mountpoint;
	int64_t hook_timeout_ms;
	char tools_dir[PATH_MAX];
	pthread_mutex_t lock; /* guards srv */
	struct hook_toolsrv *srv;
	char address[64];
};

/* ---- the tool server's ops: one core call each ------------------------------------ */

static int ops_err(int r, char *err, size_t errlen)
{
	if (r == -ENOENT)
		return errf(err, errlen, r, "the package is gone");
	return errf(err, errlen, r, "%s", strerror(-r));
}

static int op_config_get(void *ud, const char *unit, char **ret_json, char *err, size_t errlen)
{
	struct hook_agent *a = ud;
	int r = pkg_settings_json(a->store, unit, ret_json);

	return r < 0 ? ops_err(r, err, errlen) : 0;
}

static int op_status_set(void *ud, const char *unit, bool application, const char *state,
			 const char *message, char *err, size_t errlen)
{
	struct hook_agent *a = ud;
	int r = pkg_status_set(a->store, unit, state, message);

	return r < 0 ? ops_err(r, err, errlen) : 0;
}

static int op_status_get(void *ud, const char *unit, char **ret_state, char **ret_message,
			 char *err, size_t errlen)
{
	struct hook_agent *a = ud;
	int r = pkg_status_get(a->store, unit, ret_state, ret_message);

	return r < 0 ? ops_err(r, err, errlen) : 0;
}

static int op_log(void *ud, const char *unit, const char *level, const char *message, char *err,
		  size_t errlen)
{
	struct hook_agent *a = ud;
	int r = pkg_log_append(a->store, unit, level, message, strlen(message));

	return r < 0 ? ops_err(r, err, errlen) : 0;
}

static int op_port(void *ud, const char *unit, bool open, int from, int to, const char *proto,
		   char *err, size_t errlen)
{
	struct hook_agent *a = ud;
	bool icmp = strcmp(proto, "icmp") == 0;
	int r = pkg_port(a->store, unit, open, icmp ? 0 : from, icmp ? 0 : to, proto);

	if (r == -EEXIST)
		return errf(err, errlen, r, "cannot open %d-%d/%s (unit \"%s/0\"): conflicts with "
			    "a port range already open", from, to, proto, unit);
	return r < 0 ? ops_err(r, err, errlen) : 0;
}

static int op_ports(void *ud, const char *unit, struct strv *ret, char *err, size_t errlen)
{
	struct hook_agent *a = ud;
	int r = pkg_ports(a->store, unit, ret);

	return r < 0 ? ops_err(r, err, errlen) : 0;
}

static int op_address(void *ud, const char *unit, bool public_address, char **ret, char *err,
		      size_t errlen)
{
	char addr[64];
	int r = hook_tool_host_address(addr, sizeof(addr));

	if (r < 0)
		return ops_err(r, err, errlen);
	*ret = strdup(addr);
	return *ret ? 0 : ops_err(-ENOMEM, err, errlen);
}

static const struct hook_tool_ops tool_ops = {
	.config_get = op_config_get,
	.status_set = op_status_set,
	.status_get = op_status_get,
	.log = op_log,
	.port = op_port,
	.ports = op_ports,
	.address = op_address,
};

/* ---- one hook run ----------------------------------------------------------------- */

struct run_ctx {
	struct hook_agent *a;
	struct engine_run *run;
	const char *package;
	char *tail[TASK_LOG_TAIL]; /* the last output lines, a ring */
	size_t n_lines;
	size_t unlogged; /* lines the package's log refused */
};

/* The task data's "pgroup" token of a previous run, or NULL; the data's object in *ret_obj. */
static const char *saved_token(struct engine_run *run, json_t **ret_obj)
{
	const char *data = engine_run_data(run);
	json_t *o = data ? json_loads(data, 0, NULL) : NULL;

	if (o && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	*ret_obj = o;
	return o ? json_string_value(json_object_get(o, "pgroup")) : NULL;
}

/* What a previous daemon left of this task's run is killed. */
static void kill_leftover(struct engine_run *run)
{
	json_t *data;
	const char *token = saved_token(run, &data);

	if (token && hook_kill_token(token) > 0)
		(void)engine_run_logf(run, false, "killed what was left of the previous run");
	json_decref(data);
}

/* on_start: the group exists; remember it in the task before anything else happens. */
static void save_token(const char *token, void *ud)
{
	struct run_ctx *c = ud;
	json_t *o;
	char *text;

	(void)saved_token(c->run, &o);
	if (!o)
		o = json_object();
	if (!o || json_object_set_new(o, "pgroup", json_string(token)) < 0) {
		json_decref(o);
		return;
	}
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text || engine_run_set_data(c->run, text) < 0)
		(void)engine_run_logf(c->run, true, "cannot record the hook's process group %s",
				      token);
	free(text);
	json_decref(o);
}

static void on_line(const char *line, size_t len, void *ud)
{
	struct run_ctx *c = ud;
	size_t slot = c->n_lines++ % TASK_LOG_TAIL;
	char *copy = malloc(len + 2);

	if (copy) {
		memcpy(copy, line, len);
		copy[len] = '\n';
		copy[len + 1] = '\0';
		if (c->package && pkg_log_append(c->a->store, c->package, NULL, copy, len + 1) < 0)
			c->unlogged++;
		copy[len] = '\0';
	}
	free(c->tail[slot]);
	c->tail[slot] = copy;
}

/* The hook's last output lines into the task's log, oldest first. */
static void log_tail(struct run_ctx *c)
{
	size_t n = c->n_lines < TASK_LOG_TAIL ? c->n_lines : TASK_LOG_TAIL;

	if (c->unlogged)
		(void)engine_run_logf(c->run, true, "%zu output lines could not be logged",
				      c->unlogged);
	if (c->n_lines > n)
		(void)engine_run_logf(c->run, false, "(%zu earlier lines in the package's log)",
				      c->n_lines - n);
	for (size_t i = c->n_lines - n; i < c->n_lines; i++) {
		char **line = &c->tail[i % TASK_LOG_TAIL];
		if (*line)
			(void)engine_run_logf(c->run, false, "%s", *line);
		free(*line);
		*line = NULL;
	}
}

/* The Juju environment of the hook (SPEC §4.6). */
static int hook_environment(struct hook_agent *a, const struct pkg_hook *h, const char *ctx_id,
			    struct strv *ret)
{
	struct strv vars = { 0 };
	struct hook_env he = { .tools_dir = a->tools_dir, .home = h->state_dir };
	int r = 0;

	r |= strv_pushf(&vars, "JUJU_UNIT_NAME=%s", h->unit);
	r |= strv_pushf(&vars, "JUJU_APPLICATION=%s", h->package);
	r |= strv_pushf(&vars, "CHARM_DIR=%s", h->charm_dir);
	r |= strv_pushf(&vars, "JUJU_CHARM_DIR=%s", h->charm_dir);
	r |= strv_pushf(&vars, "JUJU_HOOK_NAME=%s", h->hook);
	r |= strv_pushf(&vars, "JUJU_MODEL_UUID=%s", h->model_uuid);
	r |= strv_pushf(&vars, "JUJU_MODEL_NAME=charmfs");
	r |= strv_pushf(&vars, "JUJU_CONTEXT_ID=%s", ctx_id);
	r |= strv_pushf(&vars, "JUJU_AGENT_SOCKET_ADDRESS=%s", a->address);
	r |= strv_pushf(&vars, "JUJU_AGENT_SOCKET_NETWORK=unix");
	r |= strv_pushf(&vars, "JUJU_VERSION=%s", CHARMFS_VERSION);
	r |= strv_pushf(&vars, "CHARMFS_MOUNT=%s", a->mountpoint);
	r |= strv_pushf(&vars, "CHARMFS_STATE_DIR=%s", h->state_dir);
	r |= strv_pushf(&vars, "CHARMFS_PACKAGE=%s", h->package);
	if (r == 0) {
		he.vars = (const char *const *)vars.v;
		r = hook_env_build(&he, ret);
	}
	strv_clear(&vars);
	return r < 0 ? r : 0;
}

/* A context for the tools of this run, unless the server was stopped (the daemon closes). */
static int context_add(struct hook_agent *a, const struct pkg_hook *h, char id[HOOK_CONTEXT_ID_SIZE])
{
	int r = -ESHUTDOWN;

	pthread_mutex_lock(&a->lock);
	if (a->srv)
		r = hook_toolsrv_context_add(a->srv, h->package, h->hook, id);
	pthread_mutex_unlock(&a->lock);
	return r;
}

static void context_remove(struct hook_agent *a, const char *id)
{
	pthread_mutex_lock(&a->lock);
	if (a->srv)
		hook_toolsrv_context_remove(a->srv, id);
	pthread_mutex_unlock(&a->lock);
}

/* Runs path with env in cwd (input: its standard input, or NULL) for the run of c. */
static int spawn(struct run_ctx *c, const char *path, char **env, const char *cwd,
		 const char *input, struct hook_result *res)
{
	struct hook_spec spec = {
		.path = path,
		.env = (const char *const *)env,
		.cwd = cwd,
		.input = input,
		.input_len = input ? strlen(input) : 0,
		.timeout_ms = c->a->hook_timeout_ms,
		.stop_fd = engine_run_stop_fd(c->run),
		.on_start = save_token,
		.on_line = on_line,
		.ud = c,
	};

	return spec.stop_fd < 0 ? spec.stop_fd : hook_run(&spec, res);
}

enum ended { ENDED_OK, ENDED_STOPPED, ENDED_FAILED };

/*
 * How the run of hook name ended (res is freed): its last lines go to the
 * task's log, how into how[len], and for a failure its exit code (128 +
 * signal when killed) into *ret_code. A stop that was no timeout is an
 * abort or the daemon closing: neither success nor failure.
 */
static enum ended ended(struct run_ctx *c, struct hook_result *res, const char *name, char *how,
			size_t len, int *ret_code)
{
	bool ok = hook_result_ok(res), stopped = res->stopped && !res->timed_out;

	log_tail(c);
	hook_result_describe(res, how, len);
	*ret_code = res->signal ? 128 + res->signal : res->exit_code ? res->exit_code : 1;
	hook_result_free(res);
	if (stopped) {
		(void)engine_run_logf(c->run, false, "hook %s stopped: %s", name, how);
		return ENDED_STOPPED;
	}
	return ok ? ENDED_OK : ENDED_FAILED;
}

/* Records a failed hook (exit code code, described by how) with the package. */
static void end_failed(struct hook_agent *a, struct engine_run *run, const struct pkg_hook *h,
		       int code, const char *how)
{
	int r = pkg_hook_end(a->store, h, code, how);

	if (r < 0 && r != -ENOENT)
		(void)engine_run_logf(run, true, "cannot record the failure: %s", strerror(-r));
}

/* Runs the hook h; its outcome as the handler's return. */
static int run_hook(struct hook_agent *a, struct engine_run *run, struct pkg_hook *h)
{
	struct run_ctx c = { .a = a, .run = run, .package = h->package };
	struct hook_result res;
	struct strv env = { 0 };
	char ctx_id[HOOK_CONTEXT_ID_SIZE], how[256];
	int r, code;

	kill_leftover(run);
	r = context_add(a, h, ctx_id);
	if (r < 0)
		return r == -ESHUTDOWN ? engine_run_retry(run, 0) : r;
	r = hook_environment(a, h, ctx_id, &env);
	if (r == 0)
		r = spawn(&c, h->hook_path, env.v, h->charm_dir, NULL, &res);
	context_remove(a, ctx_id);
	strv_clear(&env);
	if (r < 0) {
		end_failed(a, run, h, 127, strerror(-r));
		return engine_run_fail(run, r, "cannot run hook %s: %s", h->hook, strerror(-r));
	}
	switch (ended(&c, &res, h->hook, how, sizeof(how), &code)) {
	case ENDED_STOPPED:
		return engine_run_retry(run, 0);
	case ENDED_OK:
		r = pkg_hook_end(a->store, h, 0, NULL);
		return r == -ENOENT ? 0 : r;
	case ENDED_FAILED:
		break;
	}
	end_failed(a, run, h, code, how);
	return engine_run_fail(run, -EIO, "hook %s failed: %s", h->hook, how);
}

static int hook_task(struct engine_run *run, void *ud)
{
	struct hook_agent *a = ud;
	struct pkg_hook h = { 0 };
	int r = pkg_hook_begin(a->store, run, &h);

	if (r == -EAGAIN)
		return engine_run_retry(run, PKG_RETRY_MS);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return engine_run_fail(run, r, "cannot begin the hook: %s", strerror(-r));
	if (!h.hook_path) {
		(void)engine_run_logf(run, false, "the charm has no %s hook", h.hook);
		r = pkg_hook_end(a->store, &h, 0, NULL);
		r = r == -ENOENT ? 0 : r;
	} else {
		r = run_hook(a, run, &h);
	}
	pkg_hook_free(&h);
	return r;
}

/* ---- event hooks ------------------------------------------------------------------ */

/*
 * Runs path in cwd with vars (and CHARMFS_MOUNT) and input on its standard
 * input (NULL: none) for run, as name; its outcome as the handler's return.
 */
static int run_script(struct hook_agent *a, struct engine_run *run, const char *name,
		      const char *path, const char *const *vars, const char *cwd, const char *input)
{
	struct run_ctx c = { .a = a, .run = run };
	struct strv all = { 0 }, env = { 0 };
	struct hook_result res;
	char how[256];
	int r = 0;

	for (size_t i = 0; r == 0 && vars && vars[i]; i++)
		r = strv_push(&all, vars[i]);
	r = r ? r : strv_pushf(&all, "CHARMFS_MOUNT=%s", a->mountpoint);
	if (r == 0)
		r = hook_env_build(&(struct hook_env){ .tools_dir = NULL, .home = cwd,
						       .vars = (const char *const *)all.v },
				   &env);
	if (r == 0)
		r = spawn(&c, path, env.v, cwd, input, &res);
	strv_clear(&env);
	strv_clear(&all);
	if (r < 0)
		return engine_run_fail(run, r, "cannot run %s: %s", name, strerror(-r));
	switch (ended(&c, &res, name, how, sizeof(how), &r)) {
	case ENDED_STOPPED:
		return engine_run_retry(run, 0);
	case ENDED_FAILED:
		return engine_run_fail(run, -EIO, "%s failed: %s", name, how);
	case ENDED_OK:
		break;
	}
	(void)engine_run_logf(run, false, "%s ran", name);
	return 0;
}

int hook_agent_run_script(struct hook_agent *a, struct engine_run *run, const char *name,
			  const char *path, const char *const *vars, const char *cwd)
{
	kill_leftover(run);
	return run_script(a, run, name, path, vars, cwd, NULL);
}

/* Runs one event hook of plan p; its outcome as the handler's return. */
static int run_event_hook(struct hook_agent *a, struct engine_run *run, const struct evhook_plan *p,
			  const struct evhook_step *step)
{
	struct strv vars = { 0 };
	char hook[600];
	int r = 0;

	for (size_t i = 0; r == 0 && i < p->vars.n; i++)
		r = strv_push(&vars, p->vars.v[i]);
	r = r ? r : strv_pushf(&vars, "CHARMFS_HOOK=%s", step->name);
	r = r ? r : strv_pushf(&vars, "CHARMFS_STATE_DIR=%s", step->state_dir);
	if (r < 0) {
		strv_clear(&vars);
		return engine_run_fail(run, r, "cannot run hook %s: %s", step->name, strerror(-r));
	}
	snprintf(hook, sizeof(hook), "hook %s", step->name);
	r = run_script(a, run, hook, step->path, (const char *const *)vars.v, step->state_dir,
		       p->input);
	strv_clear(&vars);
	return r;
}

/* EVHOOK_TASK: the event's hooks in order; the first failure ends the run (B4). */
static int event_task(struct engine_run *run, void *ud)
{
	struct hook_agent *a = ud;
	struct evhook_plan p;
	int r;

	kill_leftover(run);
	r = evhook_plan(store_evhooks(a->store), engine_run_data(run), &p);
	if (r < 0)
		return engine_run_fail(run, r, "cannot read the event: %s", strerror(-r));
	if (p.n == 0)
		(void)engine_run_logf(run, false, "no %s hook is registered any more", p.event);
	for (size_t i = 0; r == 0 && i < p.n; i++)
		r = run_event_hook(a, run, &p, &p.steps[i]);
	evhook_plan_free(&p);
	return r;
}

/* ---- set-up ----------------------------------------------------------------------- */

static bool is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Makes dir hold links named after the tools to the binary tool. */
static int make_links(const char *dir, const char *tool)
{
	char link[PATH_MAX + 32];
	int r = mkdir_p(dir);

	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(tool_names); i++) {
		snprintf(link, sizeof(link), "%s/%s", dir, tool_names[i]);
		(void)unlink(link);
		if (symlink(tool, link) < 0)
			r = -errno;
	}
	return r;
}

int hook_agent_tools_dir(struct store *s, char *out, size_t len)
{
	char exe[PATH_MAX], tool[PATH_MAX + 32], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(tool, sizeof(tool), "%s/hooks/charmfs-hook-tool", exe);
		if (is_file(tool)) {
			if ((size_t)snprintf(out, len, "%s/run/tools", store_dir(s)) >= len)
				return -ENAMETOOLONG;
			return make_links(out, tool);
		}
	}
	snprintf(tool, sizeof(tool), "%s/charmfs-hook-tool", PKGLIBEXECDIR);
	if (!is_file(tool))
		return -ENOENT;
	return (size_t)snprintf(out, len, "%s", PKGLIBEXECDIR) >= len ? -ENAMETOOLONG : 0;
}

int hook_agent_open(struct store *s, const struct hook_agent_opts *o, struct hook_agent **ret,
		    char *err, size_t errlen)
{
	struct hook_agent *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return errf(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	a->store = s;
	a->hook_timeout_ms = o->hook_timeout_ms;
	a->mountpoint = strdup(o->mountpoint ? o->mountpoint : "");
	pthread_mutex_init(&a->lock, NULL);
	if (!a->mountpoint) {
		r = errf(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
		goto fail;
	}
	if (o->tools_dir)
		r = snprintf(a->tools_dir, sizeof(a->tools_dir), "%s", o->tools_dir) <
				    (int)sizeof(a->tools_dir)
			    ? 0
			    : -ENAMETOOLONG;
	else
		r = hook_agent_tools_dir(s, a->tools_dir, sizeof(a->tools_dir));
	if (r < 0) {
		r = errf(err, errlen, r, "cannot find the hook tools (charmfs-hook-tool in %s): %s",
			 PKGLIBEXECDIR, strerror(-r));
		goto fail;
	}
	snprintf(a->address, sizeof(a->address), "@charmfs-%ld-hooks", (long)getpid());
	r = hook_toolsrv_open(a->address, &tool_ops, a, &a->srv);
	if (r < 0) {
		r = errf(err, errlen, r, "cannot open the hook tool socket %s: %s", a->address,
			 strerror(-r));
		goto fail;
	}
	r = engine_add_handler(store_engine(s), PKG_TASK_HOOK, hook_task, NULL, a);
	if (r == 0)
		r = engine_add_handler(store_engine(s), EVHOOK_TASK, event_task, NULL, a);
	if (r < 0) {
		r = errf(err, errlen, r, "cannot register the hook handler: %s", strerror(-r));
		goto fail;
	}
	*ret = a;
	return 0;
fail:
	hook_agent_stop(a);
	hook_agent_free(a);
	return r;
}

void hook_agent_stop(struct hook_agent *a)
{
	struct hook_toolsrv *srv;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	srv = a->srv;
	a->srv = NULL;
	pthread_mutex_unlock(&a->lock);
	hook_toolsrv_close(srv);
}

void hook_agent_free(struct hook_agent *a)
{
	if (!a)
		return;
	hook_agent_stop(a);
	pthread_mutex_destroy(&a->lock);
	free(a->mountpoint);
	free(a);
}
