/*
 * Tests of the hook tools end to end: a real server (hooks/toolsrv.c) on a
 * temporary path socket and on an abstract one, over a test ops table of
 * in-memory data (settings JSON, a status, a log, a port set), and the REAL
 * built binary (HOOK_TOOL_BIN) run through symlinks named after each tool,
 * with the environment a hook gets. One table of invocations, run in order
 * (later rows see the state earlier ones made), checks stdout, stderr, exit
 * code and the log line written, against what Juju's tools print. Then:
 * a bad and a removed context, missing environment, no daemon, an oversize
 * and a malformed request on a raw socket (the server keeps serving), a
 * caller of another uid refused (when run as root), 20 concurrent calls,
 * stale-socket replacement and unlinking on close, and the decoder's
 * limits.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "toolsrv.h"
#include "util.h"
#include "banned.h"

#ifndef HOOK_TOOL_BIN
#error "HOOK_TOOL_BIN must name the built charmfs-hook-tool"
#endif

static const char *const tool_names[] = { "config-get", "status-set", "status-get",
					  "juju-log", "open-port", "close-port",
					  "opened-ports", "unit-get", "is-leader" };

/* ---- the test ops: in-memory data behind a mutex ---------------------------- */

struct port_range {
	char proto[8];
	int from, to;
};

static struct {
	pthread_mutex_t mu;
	char state[64], message[256];
	bool application;
	struct strv log; /* "LEVEL message" */
	struct port_range ports[64];
	size_t nports;
	char last_unit[128];
} data = { .mu = PTHREAD_MUTEX_INITIALIZER };

static const char settings_json[] = "{\"title\":\"My Blog\",\"port\":8080,\"ratio\":0.5,"
				    "\"debug\":false,\"empty\":\"\",\"missing\":null,"
				    "\"flag-like\":\"yes\",\"big\":45.0,"
				    "\"html\":\"<b>&\",\"oct\":\"0o17\"}";

static void note_unit(const char *unit)
{
	snprintf(data.last_unit, sizeof(data.last_unit), "%s", unit);
}

static int op_config_get(void *ud, const char *unit, char **ret_json, char *err, size_t errlen)
{
	(void)ud;
	(void)err;
	(void)errlen;
	pthread_mutex_lock(&data.mu);
	note_unit(unit);
	pthread_mutex_unlock(&data.mu);
	*ret_json = strdup(settings_json);
	return *ret_json ? 0 : -ENOMEM;
}

static int op_status_set(void *ud, const char *unit, bool application, const char *state,
			 const char *message, char *err, size_t errlen)
{
	(void)ud;
	if (strcmp(message, "fail-me") == 0)
		return errf(err, errlen, -EIO, "cannot store status");
	pthread_mutex_lock(&data.mu);
	note_unit(unit);
	snprintf(data.state, sizeof(data.state), "%s", state);
	snprintf(data.message, sizeof(data.message), "%s", message);
	data.application = application;
	pthread_mutex_unlock(&data.mu);
	return 0;
}

static int op_status_get(void *ud, const char *unit, char **ret_state, char **ret_message,
			 char *err, size_t errlen)
{
	(void)ud;
	(void)err;
	(void)errlen;
	pthread_mutex_lock(&data.mu);
	note_unit(unit);
	*ret_state = strdup(data.state[0] ? data.state : "unknown");
	*ret_message = strdup(data.message);
	pthread_mutex_unlock(&data.mu);
	return 0;
}

static int op_log(void *ud, const char *unit, const char *level, const char *message, char *err,
		  size_t errlen)
{
	int r;

	(void)ud;
	(void)err;
	(void)errlen;
	pthread_mutex_lock(&data.mu);
	note_unit(unit);
	r = strv_pushf(&data.log, "%s %s", level, message);
	pthread_mutex_unlock(&data.mu);
	return r;
}

static bool port_less(const struct port_range *a, const struct port_range *b)
{
	int c = strcmp(a->proto, b->proto);

	if (c)
		return c < 0;
	return a->from != b->from ? a->from < b->from : a->to < b->to;
}

static int op_port(void *ud, const char *unit, bool open, int from, int to, const char *proto,
		   char *err, size_t errlen)
{
	size_t i;

	(void)ud;
	if (from == 4444)
		return errf(err, errlen, -EEXIST, "port 4444 is taken");
	pthread_mutex_lock(&data.mu);
	note_unit(unit);
	for (i = 0; i < data.nports; i++)
		if (strcmp(data.ports[i].proto, proto) == 0 && data.ports[i].from == from &&
		    data.ports[i].to == to)
			break;
	if (open && i == data.nports && data.nports < ARRAY_SIZE(data.ports)) {
		struct port_range p = { .from = from, .to = to };
		snprintf(p.proto, sizeof(p.proto), "%s", proto);
		size_t at = 0;
		while (at < data.nports && port_less(&data.ports[at], &p))
			at++;
		memmove(&data.ports[at + 1], &data.ports[at], (data.nports - at) * sizeof(p));
		data.ports[at] = p;
		data.nports++;
	} else if (!open && i < data.nports) {
		memmove(&data.ports[i], &data.ports[i + 1], (data.nports - i - 1) * sizeof(data.ports[0]));
		data.nports--;
	}
	pthread_mutex_unlock(&data.mu);
	return 0;
}

static int op_ports(void *ud, const char *unit, struct strv *ret, char *err, size_t errlen)
{
	struct strv v = { 0 };
	int r = 0;

	(void)ud;
	(void)err;
	(void)errlen;
	pthread_mutex_lock(&data.mu);
	note_unit(unit);
	for (size_t i = 0; i < data.nports && r == 0; i++) {
		const struct port_range *p = &data.ports[i];
		if (strcmp(p->proto, "icmp") == 0)
			r = strv_push(&v, "icmp");
		else if (p->from == p->to)
			r = strv_pushf(&v, "%d/%s", p->from, p->proto);
		else
			r = strv_pushf(&v, "%d-%d/%s", p->from, p->to, p->proto);
	}
	pthread_mutex_unlock(&data.mu);
	if (r < 0) {
		strv_clear(&v);
		return r;
	}
	*ret = v;
	return 0;
}

static int op_address(void *ud, const char *unit, bool public_address, char **ret, char *err,
		      size_t errlen)
{
	(void)ud;
	(void)unit;
	(void)err;
	(void)errlen;
	*ret = strdup(public_address ? "203.0.113.7" : "10.1.2.3");
	return *ret ? 0 : -ENOMEM;
}

static const struct hook_tool_ops test_ops = {
	.config_get = op_config_get,
	.status_set = op_status_set,
	.status_get = op_status_get,
	.log = op_log,
	.port = op_port,
	.ports = op_ports,
	.address = op_address,
};

/* ---- running the real binary -------------------------------------------------- */

struct fixture {
	char dir[64];
	char tools[128];
	char path[128];
	char abstract[64];
	struct hook_toolsrv *srv, *asrv;
	char id[HOOK_CONTEXT_ID_SIZE], aid[HOOK_CONTEXT_ID_SIZE];
};

struct result {
	int code;
	char *out, *err;
};

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

/* Which environment variables the child gets: NULL leaves one unset. */
struct env {
	const char *context;
	const char *address;
};

static pid_t spawn(const struct fixture *f, const struct env *env, const char *const *argv,
		   int *ret_out, int *ret_err)
{
	int po[2], pe[2];
	pid_t pid;

	assert_int_equal(pipe2(po, O_CLOEXEC), 0);
	assert_int_equal(pipe2(pe, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char prog[256];
		dup2(po[1], 1);
		dup2(pe[1], 2);
		unsetenv("JUJU_CONTEXT_ID");
		unsetenv("JUJU_AGENT_SOCKET_ADDRESS");
		if (env->context)
			setenv("JUJU_CONTEXT_ID", env->context, 1);
		if (env->address)
			setenv("JUJU_AGENT_SOCKET_ADDRESS", env->address, 1);
		snprintf(prog, sizeof(prog), "%s/%s", f->tools, argv[0]);
		if (chdir(f->dir) < 0)
			_exit(126);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	*ret_out = po[0];
	*ret_err = pe[0];
	return pid;
}

static char *drain_pair(int fo, int fe, char **ret_err)
{
	struct buf out, err;
	struct pollfd p[2] = { { .fd = fo, .events = POLLIN }, { .fd = fe, .events = POLLIN } };
	int open = 2;

	buf_init(&out, 1 << 20);
	buf_init(&err, 1 << 20);
	while (open) {
		assert_true(poll(p, 2, 20000) > 0);
		for (int i = 0; i < 2; i++) {
			char chunk[4096];
			ssize_t n;
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			n = read(p[i].fd, chunk, sizeof(chunk));
			if (n <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				open--;
				continue;
			}
			assert_int_equal(buf_add(i ? &err : &out, chunk, (size_t)n), 0);
		}
	}
	assert_int_equal(buf_add(&out, "", 0), 0);
	assert_int_equal(buf_add(&err, "", 0), 0);
	*ret_err = buf_steal(&err, NULL);
	return buf_steal(&out, NULL);
}

static int wait_code(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status))
		fail_msg("tool killed by signal %d", WTERMSIG(status));
	return WEXITSTATUS(status);
}

static struct result run(const struct fixture *f, const struct env *env, const char *const *argv)
{
	struct result r;
	int fo, fe;
	pid_t pid = spawn(f, env, argv, &fo, &fe);

	r.out = drain_pair(fo, fe, &r.err);
	r.code = wait_code(pid);
	return r;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_hooktool.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->tools, sizeof(f->tools), "%s/tools", f->dir);
	assert_int_equal(mkdir_p(f->tools), 0);
	for (size_t i = 0; i < ARRAY_SIZE(tool_names); i++) {
		char link[256];
		snprintf(link, sizeof(link), "%s/%s", f->tools, tool_names[i]);
		assert_int_equal(symlink(HOOK_TOOL_BIN, link), 0);
	}
	snprintf(f->path, sizeof(f->path), "%s/agent.socket", f->dir);
	snprintf(f->abstract, sizeof(f->abstract), "@charmfs-test-hooktool-%ld", (long)getpid());
	assert_int_equal(hook_toolsrv_open(f->path, &test_ops, NULL, &f->srv), 0);
	assert_int_equal(hook_toolsrv_open(f->abstract, &test_ops, NULL, &f->asrv), 0);
	assert_string_equal(hook_toolsrv_address(f->srv), f->path);
	assert_int_equal(hook_toolsrv_context_add(f->srv, "wordpress", "install", f->id), 0);
	assert_int_equal(hook_toolsrv_context_add(f->asrv, "mysql", "start", f->aid), 0);
	assert_int_equal(strlen(f->id), HOOK_CONTEXT_ID_SIZE - 1);
	assert_string_not_equal(f->id, f->aid);
	pthread_mutex_lock(&data.mu);
	strv_clear(&data.log);
	data.nports = 0;
	data.state[0] = data.message[0] = '\0';
	pthread_mutex_unlock(&data.mu);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	hook_toolsrv_close(f->srv);
	hook_toolsrv_close(f->asrv);
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(rm_rf(f->dir), 0);
	strv_clear(&data.log);
	free(f);
	return 0;
}

/* ---- the table ------------------------------------------------------------------ */

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define PREFIX 1 /* stdout only has to start with .out */

struct row {
	const char *const *argv;
	int code;
	const char *out;
	const char *err;
	const char *log; /* the newest log line after the call, or NULL: not checked */
	int flags;
};

static const struct row rows[] = {
	/* config-get */
	{ ARGS("config-get"), 0,
	  "big: 45\ndebug: false\nempty: \"\"\nflag-like: \"yes\"\nhtml: <b>&\noct: \"0o17\"\n"
	  "port: 8080\nratio: 0.5\ntitle: My Blog\n", "", NULL, 0 },
	{ ARGS("config-get", "--format", "json"), 0,
	  "{\"big\":45,\"debug\":false,\"empty\":\"\",\"flag-like\":\"yes\","
	  "\"html\":\"\\u003cb\\u003e\\u0026\",\"oct\":\"0o17\",\"port\":8080,"
	  "\"ratio\":0.5,\"title\":\"My Blog\"}\n", "", NULL, 0 },
	{ ARGS("config-get", "-a", "--format=json"), 0,
	  "{\"big\":45,\"debug\":false,\"empty\":\"\",\"flag-like\":\"yes\","
	  "\"html\":\"\\u003cb\\u003e\\u0026\",\"missing\":null,\"oct\":\"0o17\","
	  "\"port\":8080,\"ratio\":0.5,\"title\":\"My Blog\"}\n", "", NULL, 0 },
	{ ARGS("config-get", "--all", "--format", "yaml"), 0,
	  "big: 45\ndebug: false\nempty: \"\"\nflag-like: \"yes\"\nhtml: <b>&\nmissing: null\n"
	  "oct: \"0o17\"\nport: 8080\nratio: 0.5\ntitle: My Blog\n", "", NULL, 0 },
	{ ARGS("config-get", "title"), 0, "My Blog\n", "", NULL, 0 },
	{ ARGS("config-get", "port"), 0, "8080\n", "", NULL, 0 },
	{ ARGS("config-get", "ratio"), 0, "0.5\n", "", NULL, 0 },
	{ ARGS("config-get", "big"), 0, "45\n", "", NULL, 0 },
	{ ARGS("config-get", "debug"), 0, "False\n", "", NULL, 0 },
	{ ARGS("config-get", "empty"), 0, "", "", NULL, 0 },
	{ ARGS("config-get", "--format", "json", "title"), 0, "\"My Blog\"\n", "", NULL, 0 },
	{ ARGS("config-get", "--format", "json", "--", "port"), 0, "8080\n", "", NULL, 0 },
	{ ARGS("config-get", "title", "--format", "yaml"), 0, "My Blog\n", "", NULL, 0 },
	{ ARGS("config-get", "flag-like", "--format", "yaml"), 0, "\"yes\"\n", "", NULL, 0 },
	{ ARGS("config-get", "nosuch"), 0, "", "", NULL, 0 },
	{ ARGS("config-get", "missing"), 0, "", "", NULL, 0 },
	{ ARGS("config-get", "nosuch", "--format", "json"), 0, "null\n", "", NULL, 0 },
	{ ARGS("config-get", "title", "--all"), 2, "",
	  "ERROR cannot use argument --all together with key \"title\"\n", NULL, 0 },
	{ ARGS("config-get", "title", "port"), 2, "", "ERROR unrecognized args: [\"port\"]\n",
	  NULL, 0 },
	{ ARGS("config-get", "--format", "xml"), 2, "",
	  "ERROR invalid value \"xml\" for flag --format: unknown format \"xml\"\n", NULL, 0 },
	{ ARGS("config-get", "--format"), 2, "", "ERROR flag needs an argument: --format\n", NULL,
	  0 },
	{ ARGS("config-get", "--bogus"), 2, "", "ERROR flag provided but not defined: --bogus\n",
	  NULL, 0 },
	{ ARGS("config-get", "-x"), 2, "", "ERROR flag provided but not defined: -x\n", NULL, 0 },
	{ ARGS("config-get", "-h"), 0, "Usage: config-get [options] [<key>]\n", "", NULL, PREFIX },
	{ ARGS("config-get", "--help"), 0, "Usage: config-get [options] [<key>]\n", "", NULL,
	  PREFIX },

	/* status-set and status-get */
	{ ARGS("status-get"), 0, "unknown\n", "", NULL, 0 },
	{ ARGS("status-set", "maintenance", "installing"), 0, "", "", NULL, 0 },
	{ ARGS("status-get"), 0, "maintenance\n", "", NULL, 0 },
	{ ARGS("status-get", "--format", "json"), 0, "{\"status\":\"maintenance\"}\n", "", NULL, 0 },
	{ ARGS("status-get", "--include-data", "--format", "json"), 0,
	  "{\"message\":\"installing\",\"status\":\"maintenance\",\"status-data\":{}}\n", "", NULL, 0 },
	{ ARGS("status-get", "--include-data"), 0,
	  "message: installing\nstatus: maintenance\nstatus-data: {}\n", "", NULL, 0 },
	{ ARGS("status-get", "--format", "yaml"), 0, "status: maintenance\n", "", NULL, 0 },
	{ ARGS("status-set", "active"), 0, "", "", NULL, 0 },
	{ ARGS("status-get", "--include-data", "--format=json"), 0,
	  "{\"message\":\"\",\"status\":\"active\",\"status-data\":{}}\n", "", NULL, 0 },
	{ ARGS("status-set", "--application", "blocked", "need a database"), 0, "", "", NULL, 0 },
	{ ARGS("status-get", "--application"), 0, "blocked\n", "", NULL, 0 },
	{ ARGS("status-get", "--application", "--format", "json"), 0,
	  "{\"application-status\":{\"status\":\"blocked\",\"units\":{\"wordpress/0\":"
	  "{\"status\":\"blocked\"}}}}\n", "", NULL, 0 },
	{ ARGS("status-set", "bogus"), 2, "",
	  "ERROR invalid status \"bogus\", expected one of [maintenance blocked waiting active]\n",
	  NULL, 0 },
	{ ARGS("status-set", "error", "x"), 2, "",
	  "ERROR invalid status \"error\", expected one of [maintenance blocked waiting active]\n",
	  NULL, 0 },
	{ ARGS("status-set"), 2, "", "ERROR invalid args, require <status> [message] [data]\n", NULL,
	  0 },
	{ ARGS("status-set", "active", "ok", "extra"), 2, "",
	  "ERROR unrecognized args: [\"extra\"]\n", NULL, 0 },
	{ ARGS("status-set", "waiting", "fail-me"), 1, "", "ERROR cannot store status\n", NULL, 0 },
	{ ARGS("status-get", "extra"), 2, "", "ERROR unrecognized args: [\"extra\"]\n", NULL, 0 },
	{ ARGS("status-get", "--format", "toml"), 2, "",
	  "ERROR invalid value \"toml\" for flag --format: unknown format \"toml\"\n", NULL, 0 },
	{ ARGS("status-set", "-h"), 0,
	  "Usage: status-set [options] <maintenance | blocked | waiting | active> [message]\n", "",
	  NULL, PREFIX },
	{ ARGS("status-get", "-h"), 0, "Usage: status-get [options]", "", NULL, PREFIX },

	/* juju-log */
	{ ARGS("juju-log", "hello", "world"), 0, "", "", "INFO hello world", 0 },
	{ ARGS("juju-log", "-l", "warning", "disk", "low"), 0, "", "", "WARNING disk low", 0 },
	{ ARGS("juju-log", "--log-level=error", "broken"), 0, "", "", "ERROR broken", 0 },
	{ ARGS("juju-log", "--log-level", "Trace", "t"), 0, "", "", "TRACE t", 0 },
	{ ARGS("juju-log", "-lDEBUG", "d"), 0, "", "", "DEBUG d", 0 },
	{ ARGS("juju-log", "--debug", "dbg"), 0, "", "", "DEBUG dbg", 0 },
	{ ARGS("juju-log", "m", "-l", "ERROR"), 0, "", "", "ERROR m", 0 },
	{ ARGS("juju-log", "--", "-l", "x"), 0, "", "", "INFO -l x", 0 },
	{ ARGS("juju-log", "-l", "loud", "m2"), 0, "", "", "INFO m2", 0 },
	{ ARGS("juju-log", "--format", "json", "hi"), 0, "",
	  "--format flag deprecated for command \"juju-log\"", "INFO hi", 0 },
	{ ARGS("juju-log"), 2, "", "ERROR no message specified\n", NULL, 0 },
	{ ARGS("juju-log", "-l"), 2, "", "ERROR flag needs an argument: -l\n", NULL, 0 },
	{ ARGS("juju-log", "--help"), 0, "Usage: juju-log [options] <message>\n", "", NULL, PREFIX },

	/* open-port, close-port, opened-ports */
	{ ARGS("opened-ports"), 0, "", "", NULL, 0 },
	{ ARGS("opened-ports", "--format", "yaml"), 0, "[]\n", "", NULL, 0 },
	{ ARGS("open-port", "80"), 0, "", "", NULL, 0 },
	{ ARGS("open-port", "99/TCP"), 0, "", "", NULL, 0 },
	{ ARGS("open-port", "1000-2000/udp"), 0, "", "", NULL, 0 },
	{ ARGS("open-port", "ICMP"), 0, "", "", NULL, 0 },
	{ ARGS("open-port", "53/udp"), 0, "", "", NULL, 0 },
	{ ARGS("opened-ports"), 0, "icmp\n80/tcp\n99/tcp\n53/udp\n1000-2000/udp\n", "", NULL, 0 },
	{ ARGS("opened-ports", "--format", "json"), 0,
	  "[\"icmp\",\"80/tcp\",\"99/tcp\",\"53/udp\",\"1000-2000/udp\"]\n", "", NULL, 0 },
	{ ARGS("opened-ports", "--format", "yaml"), 0,
	  "- icmp\n- 80/tcp\n- 99/tcp\n- 53/udp\n- 1000-2000/udp\n", "", NULL, 0 },
	{ ARGS("opened-ports", "--endpoints"), 0,
	  "icmp (*)\n80/tcp (*)\n99/tcp (*)\n53/udp (*)\n1000-2000/udp (*)\n", "", NULL, 0 },
	{ ARGS("close-port", "99/tcp"), 0, "", "", NULL, 0 },
	{ ARGS("close-port", "icmp"), 0, "", "", NULL, 0 },
	{ ARGS("close-port", "1000-2000/UDP"), 0, "", "", NULL, 0 },
	{ ARGS("close-port", "53"), 0, "", "", NULL, 0 },
	{ ARGS("opened-ports"), 0, "80/tcp\n53/udp\n", "", NULL, 0 },
	{ ARGS("open-port", "--format", "json", "8080"), 0, "",
	  "--format flag deprecated for command \"open-port\"", NULL, 0 },
	{ ARGS("open-port", "4444"), 1, "", "ERROR port 4444 is taken\n", NULL, 0 },
	{ ARGS("open-port"), 2, "", "ERROR no port or range specified\n", NULL, 0 },
	{ ARGS("close-port"), 2, "", "ERROR no port or range specified\n", NULL, 0 },
	{ ARGS("open-port", "0"), 2, "", "ERROR port must be in the range [1, 65535]; got \"0\"\n",
	  NULL, 0 },
	{ ARGS("open-port", "70000/udp"), 2, "",
	  "ERROR port must be in the range [1, 65535]; got \"70000\"\n", NULL, 0 },
	{ ARGS("open-port", "0-10"), 2, "",
	  "ERROR fromPort must be in the range [1, 65535]; got \"0\"\n", NULL, 0 },
	{ ARGS("open-port", "10-70000"), 2, "",
	  "ERROR toPort must be in the range [1, 65535]; got \"70000\"\n", NULL, 0 },
	{ ARGS("open-port", "90-80"), 2, "",
	  "ERROR invalid port range 90-80/tcp; expected fromPort <= toPort\n", NULL, 0 },
	{ ARGS("open-port", "80/sctp"), 2, "",
	  "ERROR protocol must be \"tcp\", \"udp\", or \"icmp\"; got \"sctp\"\n", NULL, 0 },
	{ ARGS("close-port", "80/icmp"), 2, "",
	  "ERROR protocol \"icmp\" doesn't support any ports; got \"80\"\n", NULL, 0 },
	{ ARGS("open-port", "http"), 2, "",
	  "ERROR expected <port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp; got \"http\"\n",
	  NULL, 0 },
	{ ARGS("open-port", "80/"), 2, "",
	  "ERROR expected <port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp; got \"80/\"\n",
	  NULL, 0 },
	{ ARGS("open-port", "80-"), 2, "",
	  "ERROR expected <port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp; got \"80-\"\n",
	  NULL, 0 },
	{ ARGS("open-port", "80", "81"), 2, "", "ERROR unrecognized args: [\"81\"]\n", NULL, 0 },
	{ ARGS("opened-ports", "x"), 2, "", "ERROR unrecognized args: [\"x\"]\n", NULL, 0 },
	{ ARGS("open-port", "-h"), 0,
	  "Usage: open-port [options] <port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp\n",
	  "", NULL, PREFIX },
	{ ARGS("close-port", "--help"), 0, "Usage: close-port [options] <port>", "", NULL, PREFIX },
	{ ARGS("opened-ports", "-h"), 0, "Usage: opened-ports [options]\n", "", NULL, PREFIX },

	/* unit-get, is-leader */
	{ ARGS("unit-get", "private-address"), 0, "10.1.2.3\n", "", NULL, 0 },
	{ ARGS("unit-get", "public-address"), 0, "203.0.113.7\n", "", NULL, 0 },
	{ ARGS("unit-get", "--format", "json", "public-address"), 0, "\"203.0.113.7\"\n", "", NULL,
	  0 },
	{ ARGS("unit-get"), 2, "", "ERROR no setting specified\n", NULL, 0 },
	{ ARGS("unit-get", "address"), 2, "", "ERROR unknown setting \"address\"\n", NULL, 0 },
	{ ARGS("unit-get", "private-address", "x"), 2, "", "ERROR unrecognized args: [\"x\"]\n",
	  NULL, 0 },
	{ ARGS("unit-get", "-h"), 0, "Usage: unit-get [options] <setting>\n", "", NULL, PREFIX },
	{ ARGS("is-leader"), 0, "True\n", "", NULL, 0 },
	{ ARGS("is-leader", "--format", "json"), 0, "true\n", "", NULL, 0 },
	{ ARGS("is-leader", "--format=yaml"), 0, "true\n", "", NULL, 0 },
	{ ARGS("is-leader", "x"), 2, "", "ERROR unrecognized args: [\"x\"]\n", NULL, 0 },
	{ ARGS("is-leader", "-h"), 0, "Usage: is-leader [options]\n", "", NULL, PREFIX },
};

static void describe(const struct row *w, char *out, size_t n)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; w->argv[i] && len + 1 < n; i++)
		len += (size_t)snprintf(out + len, n - len, "%s%s", i ? " " : "", w->argv[i]);
}

static void check_row(const struct row *w, const struct result *r)
{
	char what[512];

	describe(w, what, sizeof(what));
	if (r->code != w->code || strcmp(r->err, w->err) != 0 ||
	    ((w->flags & PREFIX) ? strncmp(r->out, w->out, strlen(w->out)) != 0
				 : strcmp(r->out, w->out) != 0))
		fail_msg("%s: code %d (want %d)\nstdout: [%s]\nwant:   [%s]\nstderr: [%s]\nwant:   [%s]",
			 what, r->code, w->code, r->out, w->out, r->err, w->err);
	if (w->log) {
		pthread_mutex_lock(&data.mu);
		const char *last = data.log.n ? data.log.v[data.log.n - 1] : "";
		if (strcmp(last, w->log) != 0) {
			pthread_mutex_unlock(&data.mu);
			fail_msg("%s: log [%s], want [%s]", what, last, w->log);
		}
		pthread_mutex_unlock(&data.mu);
	}
}

static void test_table(void **state)
{
	struct fixture *f = *state;
	struct env env = { f->id, f->path };

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct result r = run(f, &env, rows[i].argv);
		check_row(&rows[i], &r);
		result_free(&r);
	}
	/* An invalid level is reported at WARNING before the message goes out at INFO. */
	pthread_mutex_lock(&data.mu);
	bool found = false;
	for (size_t i = 0; i < data.log.n; i++)
		found = found ||
			strcmp(data.log.v[i], "WARNING Specified log level of \"loud\" is not valid") == 0;
	assert_string_equal(data.last_unit, "wordpress");
	pthread_mutex_unlock(&data.mu);
	assert_true(found);
}

/* The abstract socket serves the same tools, for its own context's unit. */
static void test_abstract(void **state)
{
	struct fixture *f = *state;
	struct env env = { f->aid, f->abstract };
	struct result r = run(f, &env, ARGS("config-get", "title"));

	assert_int_equal(r.code, 0);
	assert_string_equal(r.out, "My Blog\n");
	result_free(&r);
	r = run(f, &env, ARGS("juju-log", "from", "mysql"));
	assert_int_equal(r.code, 0);
	assert_string_equal(r.err, "");
	result_free(&r);
	pthread_mutex_lock(&data.mu);
	assert_string_equal(data.last_unit, "mysql");
	assert_string_equal(data.log.v[data.log.n - 1], "INFO from mysql");
	pthread_mutex_unlock(&data.mu);
	/* A context belongs to its server: the path server does not know it. */
	env.address = f->path;
	r = run(f, &env, ARGS("is-leader"));
	assert_int_equal(r.code, 1);
	assert_non_null(strstr(r.err, "invalid context id"));
	result_free(&r);
}

static void test_contexts(void **state)
{
	struct fixture *f = *state;
	char id[HOOK_CONTEXT_ID_SIZE], want[256];
	struct env env = { "deadbeef", f->path };
	struct result r = run(f, &env, ARGS("is-leader"));

	assert_int_equal(r.code, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "error: bad request: invalid context id \"deadbeef\"\n");
	result_free(&r);

	assert_int_equal(hook_toolsrv_context_add(f->srv, "haproxy", "config-changed", id), 0);
	env.context = id;
	r = run(f, &env, ARGS("is-leader"));
	assert_int_equal(r.code, 0);
	assert_string_equal(r.out, "True\n");
	result_free(&r);
	hook_toolsrv_context_remove(f->srv, id);
	hook_toolsrv_context_remove(f->srv, id); /* twice is harmless */
	r = run(f, &env, ARGS("is-leader"));
	assert_int_equal(r.code, 1);
	snprintf(want, sizeof(want), "error: bad request: invalid context id \"%s\"\n", id);
	assert_string_equal(r.err, want);
	result_free(&r);
	/* The first context is untouched. */
	env.context = f->id;
	r = run(f, &env, ARGS("is-leader"));
	assert_int_equal(r.code, 0);
	result_free(&r);
	assert_int_equal(hook_toolsrv_context_add(f->srv, "", "x", id), -EINVAL);
}

static void test_environment(void **state)
{
	struct fixture *f = *state;
	struct env env = { NULL, f->path };
	char gone[256];
	struct result r = run(f, &env, ARGS("config-get"));

	assert_int_equal(r.code, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "error: JUJU_CONTEXT_ID not set\n");
	result_free(&r);
	env = (struct env){ f->id, NULL };
	r = run(f, &env, ARGS("status-get"));
	assert_int_equal(r.code, 1);
	assert_string_equal(r.err, "error: JUJU_AGENT_SOCKET_ADDRESS not set\n");
	result_free(&r);
	/* Nobody listening: a path without a socket, and an unused abstract name. */
	snprintf(gone, sizeof(gone), "%s/nobody.socket", f->dir);
	env.address = gone;
	r = run(f, &env, ARGS("status-get"));
	assert_int_equal(r.code, 1);
	assert_string_equal(r.out, "");
	assert_non_null(strstr(r.err, "error: cannot reach the charmfs daemon at "));
	assert_non_null(strstr(r.err, "No such file or directory"));
	result_free(&r);
	env.address = "@charmfs-test-nobody-here";
	r = run(f, &env, ARGS("unit-get", "private-address"));
	assert_int_equal(r.code, 1);
	assert_non_null(strstr(r.err, "Connection refused"));
	result_free(&r);
	/* Called by its own name with the tool as first argument. */
	env.address = f->path;
	{
		int fo, fe;
		char *out, *err;
		pid_t pid;
		const char *const argv[] = { "charmfs-hook-tool", "unit-get", "public-address", NULL };
		char link[256];
		snprintf(link, sizeof(link), "%s/charmfs-hook-tool", f->tools);
		assert_int_equal(symlink(HOOK_TOOL_BIN, link), 0);
		pid = spawn(f, &env, argv, &fo, &fe);
		out = drain_pair(fo, fe, &err);
		assert_int_equal(wait_code(pid), 0);
		assert_string_equal(out, "203.0.113.7\n");
		free(out);
		free(err);
	}
}

/* A raw client: sends the bytes, returns the reply's JSON text (caller frees) or NULL. */
static char *raw_call(const char *address, const void *msg, size_t n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned char hdr[4];
	size_t alen = strlen(address), got = 0;
	socklen_t len;
	uint32_t rlen;
	char *body;
	int fd;

	if (address[0] == '@') {
		memcpy(sa.sun_path + 1, address + 1, alen - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen);
	} else {
		memcpy(sa.sun_path, address, alen);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen + 1);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(write_all(fd, msg, n), 0);
	(void)shutdown(fd, SHUT_WR);
	while (got < 4) {
		ssize_t k = read(fd, hdr + got, 4 - got);
		if (k <= 0) {
			close(fd);
			return NULL;
		}
		got += (size_t)k;
	}
	rlen = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	assert_true(rlen <= HOOK_TOOL_MSG_MAX);
	body = calloc(1, rlen + 1);
	assert_non_null(body);
	for (got = 0; got < rlen;) {
		ssize_t k = read(fd, body + got, rlen - got);
		assert_true(k > 0);
		got += (size_t)k;
	}
	close(fd);
	return body;
}

static void framed(struct buf *b, const char *json, uint32_t claimed)
{
	unsigned char hdr[4] = { (unsigned char)(claimed >> 24), (unsigned char)(claimed >> 16),
				 (unsigned char)(claimed >> 8), (unsigned char)claimed };

	buf_init(b, 4 * 1024 * 1024);
	assert_int_equal(buf_add(b, hdr, 4), 0);
	assert_int_equal(buf_add(b, json, strlen(json)), 0);
}

static void test_raw_requests(void **state)
{
	struct fixture *f = *state;
	struct buf b;
	char *reply, json[512];
	struct env env = { f->id, f->path };
	struct result r;

	/* Oversize: refused from the length alone, before any body byte is read. */
	framed(&b, "{\"context\":", HOOK_TOOL_MSG_MAX + 1);
	reply = raw_call(f->path, b.data, b.len);
	buf_free(&b);
	assert_non_null(reply);
	assert_non_null(strstr(reply, "\"code\":1"));
	assert_non_null(strstr(reply, "error: bad request: request too large"));
	free(reply);
	framed(&b, "", 0xffffffffu);
	reply = raw_call(f->path, b.data, b.len);
	buf_free(&b);
	assert_non_null(strstr(reply, "request too large"));
	free(reply);
	/* Malformed bodies. */
	static const char *const bad[] = {
		"not json", "[1,2]", "{\"context\":\"x\"}",
		"{\"context\":\"x\",\"command\":\"is-leader\",\"cwd\":\"relative\",\"args\":[]}",
		"{\"context\":\"x\",\"command\":\"is-leader\",\"cwd\":\"/\",\"args\":[1]}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		framed(&b, bad[i], (uint32_t)strlen(bad[i]));
		reply = raw_call(f->path, b.data, b.len);
		buf_free(&b);
		assert_non_null(reply);
		assert_non_null(strstr(reply, "error: bad request: "));
		free(reply);
	}
	/* An unknown command, with a valid context. */
	snprintf(json, sizeof(json),
		 "{\"context\":\"%s\",\"command\":\"relation-get\",\"cwd\":\"/\",\"args\":[]}", f->id);
	framed(&b, json, (uint32_t)strlen(json));
	reply = raw_call(f->path, b.data, b.len);
	buf_free(&b);
	assert_non_null(strstr(reply, "error: bad request: unknown command: relation-get"));
	free(reply);
	/* A caller that sends half a request and hangs up. */
	framed(&b, "{\"context\":", 100);
	assert_null(raw_call(f->path, b.data, 8));
	buf_free(&b);
	/* The server still answers. */
	r = run(f, &env, ARGS("config-get", "title"));
	assert_int_equal(r.code, 0);
	assert_string_equal(r.out, "My Blog\n");
	result_free(&r);
}

/* Another uid is refused by SO_PEERCRED, whatever it sends (needs root to switch uid). */
static void test_peer_uid(void **state)
{
	struct fixture *f = *state;
	pid_t pid;
	int status;

	if (geteuid() != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char json[512];
		struct buf b;
		char *reply;
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		snprintf(json, sizeof(json),
			 "{\"context\":\"%s\",\"command\":\"is-leader\",\"cwd\":\"/\",\"args\":[]}",
			 f->aid);
		framed(&b, json, (uint32_t)strlen(json));
		reply = raw_call(f->abstract, b.data, b.len);
		_exit(reply && strstr(reply, "permission denied") && strstr(reply, "\"code\":1") &&
				      !strstr(reply, "True")
			      ? 0
			      : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* 20 tool processes at once, all answered. */
static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct env env = { f->id, f->path };
	pid_t pids[20];
	int fo[20], fe[20];
	char words[20][16];

	for (int i = 0; i < 20; i++) {
		snprintf(words[i], sizeof(words[i]), "call-%02d", i);
		const char *const argv[] = { "juju-log", "concurrent", words[i], NULL };
		pids[i] = spawn(f, &env, argv, &fo[i], &fe[i]);
	}
	for (int i = 0; i < 20; i++) {
		char *err, *out = drain_pair(fo[i], fe[i], &err);
		assert_string_equal(out, "");
		assert_string_equal(err, "");
		free(out);
		free(err);
		assert_int_equal(wait_code(pids[i]), 0);
	}
	pthread_mutex_lock(&data.mu);
	assert_int_equal(data.log.n, 20);
	for (int i = 0; i < 20; i++) {
		char want[64];
		bool seen = false;
		snprintf(want, sizeof(want), "INFO concurrent %s", words[i]);
		for (size_t j = 0; j < data.log.n; j++)
			seen = seen || strcmp(data.log.v[j], want) == 0;
		assert_true(seen);
	}
	pthread_mutex_unlock(&data.mu);
}

/* A socket left behind by a dead daemon is replaced; a live one or another file is not. */
static void test_socket_files(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct hook_toolsrv *srv;
	char stale[128], plain[128], longpath[200];
	int fd;

	snprintf(stale, sizeof(stale), "%s/stale.socket", f->dir);
	assert_true(strlen(stale) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, stale, strlen(stale) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(hook_toolsrv_open(stale, &test_ops, NULL, &srv), 0);
	assert_int_equal(hook_toolsrv_open(stale, &test_ops, NULL, &(struct hook_toolsrv *){ 0 }),
			 -EADDRINUSE);
	hook_toolsrv_close(srv);
	assert_int_equal(access(stale, F_OK), -1);
	assert_int_equal(hook_toolsrv_open(f->abstract, &test_ops, NULL,
					   &(struct hook_toolsrv *){ 0 }),
			 -EADDRINUSE);

	snprintf(plain, sizeof(plain), "%s/plain", f->dir);
	fd = open(plain, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(hook_toolsrv_open(plain, &test_ops, NULL, &srv), -EADDRINUSE);
	assert_int_equal(access(plain, F_OK), 0);
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(hook_toolsrv_open(longpath, &test_ops, NULL, &srv), -ENAMETOOLONG);
	assert_int_equal(hook_toolsrv_open("", &test_ops, NULL, &srv), -EINVAL);
	assert_int_equal(hook_toolsrv_open("@", &test_ops, NULL, &srv), -EINVAL);
	hook_toolsrv_close(NULL);
}

static void test_parse_limits(void **state)
{
	struct hook_tool_request *req = NULL;
	char err[256], big[200];
	struct buf b;

	(void)state;
	static const char ok[] = "{\"context\":\"c\",\"command\":\"juju-log\",\"cwd\":\"/tmp\","
				 "\"args\":[\"a\",\"b c\"],\"extra\":1}";
	assert_int_equal(hook_tool_request_parse(ok, strlen(ok), &req, err, sizeof(err)), 0);
	assert_string_equal(req->context, "c");
	assert_string_equal(req->command, "juju-log");
	assert_string_equal(req->cwd, "/tmp");
	assert_int_equal(req->args.n, 2);
	assert_string_equal(req->args.v[1], "b c");
	hook_tool_request_free(req);
	hook_tool_request_free(NULL);

	static const char *const bad[] = {
		"", "{", "null", "{\"context\":\"c\",\"command\":\"x\",\"cwd\":\"/\"}",
		"{\"context\":\"\",\"command\":\"x\",\"cwd\":\"/\",\"args\":[]}",
		"{\"context\":\"c\",\"command\":\"\",\"cwd\":\"/\",\"args\":[]}",
		"{\"context\":\"c\",\"command\":\"x\",\"cwd\":\"\",\"args\":[]}",
		"{\"context\":\"c\",\"command\":\"x\",\"cwd\":\"/\",\"args\":[\"a\\u0000b\"]}",
		"{\"context\":\"c\",\"context\":\"d\",\"command\":\"x\",\"cwd\":\"/\",\"args\":[]}",
		"{\"context\":7,\"command\":\"x\",\"cwd\":\"/\",\"args\":[]}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		req = NULL;
		assert_int_equal(hook_tool_request_parse(bad[i], strlen(bad[i]), &req, err, sizeof(err)),
				 -EBADMSG);
		assert_null(req);
		assert_true(err[0] != '\0');
	}
	memset(big, 'c', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_addf(&b, "{\"context\":\"%s\",\"command\":\"x\",\"cwd\":\"/\",\"args\":[]}",
				  big), 0);
	assert_int_equal(hook_tool_request_parse(b.data, b.len, &req, err, sizeof(err)), -EBADMSG);
	buf_free(&b);
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_addf(&b, "{\"context\":\"c\",\"command\":\"x\",\"cwd\":\"/\",\"args\":["), 0);
	for (int i = 0; i <= HOOK_TOOL_ARGS_MAX; i++)
		assert_int_equal(buf_addf(&b, "%s\"a\"", i ? "," : ""), 0);
	assert_int_equal(buf_addf(&b, "]}"), 0);
	assert_int_equal(hook_tool_request_parse(b.data, b.len, &req, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "args"));
	buf_free(&b);
}

static void test_host_address(void **state)
{
	char addr[INET_ADDRSTRLEN], tiny[4];
	struct in_addr in;

	(void)state;
	assert_int_equal(hook_tool_host_address(addr, sizeof(addr)), 0);
	assert_int_equal(inet_pton(AF_INET, addr, &in), 1);
	assert_int_equal(hook_tool_host_address(tiny, sizeof(tiny)), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abstract, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contexts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_files, setup, teardown),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_host_address),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
