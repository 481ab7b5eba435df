/*
 * charmfs: command line, store opening, mounting and the FUSE session.
 *
 *   charmfs [options] STOREDIR MOUNTPOINT
 *   charmfs --check [--repair] STOREDIR
 *   charmfs --version | --help
 *
 * charmfs options are -o NAME=VALUE; every other option goes to libfuse
 * unchanged. The session is always multi-threaded (-s is refused) with a
 * thread limit high enough that long waits never starve other requests.
 * Exit status: 0 success (in the background: mounted and ready), 1 failure
 * (store, mount, HTTP address, --check problems), 2 usage errors; start-up
 * errors are reported before the daemon goes to the background (see
 * go_background()).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "cli.h"
#include "client.h"
#include "fs.h"
#include "fsfile.h"
#include "enginetest.h"
#include "http.h"
#include "release.h"
#include "run.h"
#include "store.h"
#include "upgrader.h"
#include "banned.h"

#define MAX_THREADS 256

struct cmdline {
	char *storedir, *mountpoint;
	char *lock_timeout, *stats, *hook_timeout, *upgrade_interval, *upgrade_auto;
	char *prune_age, *sync, *max_archive, *max_expanded, *max_ratio, *max_entries;
	char *upgrade_url, *upgrade_key, *upgrade_ca, *http, *group, *logfile;
	int nonopts;
	int test_tasks; /* -o test_tasks: for charmfs's own tests */
};

#define OPT(t, f) { t, offsetof(struct cmdline, f), 0 }

static const struct fuse_opt charmfs_opts[] = {
	OPT("lock_timeout=%s", lock_timeout),
	OPT("stats=%s", stats),
	OPT("hook_timeout=%s", hook_timeout),
	OPT("upgrade_url=%s", upgrade_url),
	OPT("upgrade_key=%s", upgrade_key),
	OPT("upgrade_ca=%s", upgrade_ca),
	OPT("upgrade_interval=%s", upgrade_interval),
	OPT("upgrade_auto=%s", upgrade_auto),
	OPT("http=%s", http),
	OPT("group=%s", group),
	OPT("logfile=%s", logfile),
	OPT("prune_age=%s", prune_age),
	OPT("sync=%s", sync),
	OPT("max_archive=%s", max_archive),
	OPT("max_expanded=%s", max_expanded),
	OPT("max_ratio=%s", max_ratio),
	OPT("max_entries=%s", max_entries),
	{ "test_tasks", offsetof(struct cmdline, test_tasks), 1 },
	FUSE_OPT_END,
};

static void cmdline_free(struct cmdline *c)
{
	char **fields[] = {
		&c->storedir, &c->mountpoint, &c->lock_timeout, &c->stats, &c->hook_timeout, &c->upgrade_interval,
		&c->upgrade_auto, &c->prune_age, &c->sync, &c->max_archive, &c->max_expanded,
		&c->max_ratio, &c->max_entries, &c->upgrade_url, &c->upgrade_key, &c->upgrade_ca, &c->http,
		&c->group, &c->logfile,
	};

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		free(*fields[i]);
		*fields[i] = NULL;
	}
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: charmfs [options] STOREDIR MOUNTPOINT\n"
		"       charmfs --check [--repair] STOREDIR\n"
		"       charmfs --keygen KEYBASE      (KEYBASE.pem and KEYBASE.pub.pem, Ed25519)\n"
		"       charmfs --sign-release KEY.pem ARCHIVE [VERSION]\n"
		"       charmfs --version | --help\n"
		"\n"
		"charmfs options (-o NAME=VALUE):\n"
		"    lock_timeout=SECONDS    update lock lifetime (600)\n"
		"    stats=0|1               count downloads (1)\n"
		"    hook_timeout=SECONDS    hook time limit (300)\n"
		"    upgrade_url=URL         release publisher base URL\n"
		"    upgrade_key=PEMFILE     Ed25519 public key for release signatures\n"
		"    upgrade_ca=PEMFILE      the CA certificates to trust for the publisher\n"
		"    upgrade_interval=SECONDS  release check interval (600)\n"
		"    upgrade_auto=0|1        apply new releases automatically (0)\n"
		"    http=ADDR:PORT          serve the charm store HTTP API (off)\n"
		"    group=NAME              the group that may publish, lock and count\n"
		"    logfile=PATH            log to PATH instead of syslog\n"
		"    prune_age=SECONDS       age of ready changes to prune (86400)\n"
		"    sync=normal|full        durability against process crash or power loss (normal)\n"
		"    max_archive=BYTES       largest archive (1 GiB)\n"
		"    max_expanded=BYTES      largest expanded archive (1 GiB)\n"
		"    max_ratio=N             largest expansion ratio above 1 MiB (100)\n"
		"    max_entries=N           most archive entries (10000)\n"
		"    test_tasks              the test task kind, for charmfs's own tests\n"
		"\n"
		"FUSE options: -f (foreground), -d (debug), -o OPT[,OPT...]; see mount.fuse3(8).\n");
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cmdline *c = data;

	if (key == FUSE_OPT_KEY_NONOPT) {
		c->nonopts++;
		if (!c->storedir) {
			c->storedir = strdup(arg);
			return 0;
		}
		if (!c->mountpoint)
			c->mountpoint = strdup(arg);
	}
	return 1;
}

static int parse_uint(const char *name, const char *v, uint64_t def, uint64_t max,
		      uint64_t *ret)
{
	uint64_t x;

	if (!v) {
		*ret = def;
		return 0;
	}
	if (parse_u64(v, &x) < 0 || x > max) {
		fprintf(stderr, "charmfs: invalid value for -o %s: %s\n", name, v);
		return -EINVAL;
	}
	*ret = x;
	return 0;
}

static int parse_bool(const char *name, const char *v, bool def, bool *ret)
{
	if (!v) {
		*ret = def;
		return 0;
	}
	if (strcmp(v, "0") && strcmp(v, "1")) {
		fprintf(stderr, "charmfs: -o %s takes 0 or 1, not %s\n", name, v);
		return -EINVAL;
	}
	*ret = v[0] == '1';
	return 0;
}

static int build_config(const struct cmdline *c, struct fs_config *cfg)
{
	uint64_t v[8];
	int r = 0;

	memset(cfg, 0, sizeof(*cfg));
	r |= parse_uint("lock_timeout", c->lock_timeout, 600, UINT32_MAX, &v[0]);
	r |= parse_uint("hook_timeout", c->hook_timeout, 300, UINT32_MAX, &v[1]);
	r |= parse_uint("upgrade_interval", c->upgrade_interval, 600, UINT32_MAX, &v[2]);
	r |= parse_uint("prune_age", c->prune_age, 86400, UINT32_MAX, &v[3]);
	r |= parse_uint("max_archive", c->max_archive, 1ULL << 30, UINT64_MAX, &v[4]);
	r |= parse_uint("max_expanded", c->max_expanded, 1ULL << 30, UINT64_MAX, &v[5]);
	r |= parse_uint("max_ratio", c->max_ratio, 100, UINT64_MAX, &v[6]);
	r |= parse_uint("max_entries", c->max_entries, 10000, UINT64_MAX, &v[7]);
	r |= parse_bool("stats", c->stats, true, &cfg->stats);
	r |= parse_bool("upgrade_auto", c->upgrade_auto, false, &cfg->upgrade_auto);
	if (c->sync && strcmp(c->sync, "normal") && strcmp(c->sync, "full")) {
		fprintf(stderr, "charmfs: -o sync takes normal or full, not %s\n", c->sync);
		r = -EINVAL;
	}
	if (r)
		return -EINVAL;
	cfg->sync_full = c->sync && strcmp(c->sync, "full") == 0;
	cfg->lock_timeout = (unsigned)v[0];
	cfg->hook_timeout = (unsigned)v[1];
	cfg->upgrade_interval = (unsigned)v[2];
	cfg->prune_age = (unsigned)v[3];
	cfg->limits.max_archive = v[4];
	cfg->limits.max_expanded = v[5];
	cfg->limits.max_ratio = v[6];
	cfg->limits.max_entries = v[7];
	cfg->upgrade_url = c->upgrade_url;
	cfg->upgrade_key = c->upgrade_key;
	cfg->upgrade_ca = c->upgrade_ca;
	cfg->http = c->http;
	cfg->group = c->group;
	cfg->logfile = c->logfile;
	return 0;
}


/*
 * Always default_permissions (the kernel enforces the modes, SPEC §2 Access);
 * the store's absolute path is the mount's source (findmnt SOURCE), type
 * fuse.charmfs. Commas and backslashes in the path are escaped for fuse_opt.
 */
static int add_escaped(struct buf *b, const char *s)
{
	int r = 0;

	for (; r == 0 && *s; s++)
		r = buf_addf(b, "%s%c", *s == ',' || *s == '\\' ? "\\" : "", *s);
	return r;
}

static int add_mount_args(struct fuse_args *args, const char *storedir)
{
	struct buf b;
	char cwd[PATH_MAX];
	int r;

	buf_init(&b, 4 * PATH_MAX);
	r = buf_addf(&b, "-odefault_permissions,subtype=charmfs,fsname=");
	if (r == 0 && storedir[0] != '/') {
		r = getcwd(cwd, sizeof(cwd)) ? add_escaped(&b, cwd) : -errno;
		if (r == 0)
			r = buf_addf(&b, "/");
	}
	if (r == 0)
		r = add_escaped(&b, storedir);
	if (r == 0 && fuse_opt_add_arg(args, b.data) != 0)
		r = -ENOMEM;
	buf_free(&b);
	return r;
}

/* Descriptors are cheap; the HTTP server and many open archives need them. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The HTTP server's own messages (libmicrohttpd's, rate-limited there) go to the log. */
static void http_log(void *ud, const char *msg)
{
	(void)ud;
	fs_log(LOG_WARNING, "http: %s", msg);
}

/*
 * Going to the background (SPEC §2, Start-up errors). The parent forks
 * before it opens anything, and the child does all the work: it opens the
 * log file, binds the HTTP address, opens the store (so the lock file
 * names the daemon itself, and no thread or database connection crosses a
 * fork), mounts and starts its threads. Until it is ready, the child's
 * stderr is a pipe that the parent copies to its own, so that every
 * start-up message (ours, libfuse's, fusermount3's) reaches the user; a
 * second pipe carries one byte when the daemon is ready. The parent exits 0
 * on that byte, or with the child's status when the child exits instead.
 */
struct bg {
	int ready_fd; /* the child's end of the readiness pipe, or -1 (foreground) */
};

/* Copies what fd holds to stderr: the bytes read, 0 at end of file, -errno. */
static ssize_t relay(int fd)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return -errno;
	if (n > 0 && write_all(STDERR_FILENO, buf, (size_t)n) < 0)
		return -EIO;
	return n;
}

static _Noreturn void parent_wait(pid_t child, int text_fd, int ready_fd)
{
	struct pollfd p[2] = { { .fd = text_fd, .events = POLLIN },
			       { .fd = ready_fd, .events = POLLIN } };
	int status = 0;
	char b;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents && relay(text_fd) <= 0)
			p[0].fd = -1; /* the child has let go of stderr (ready, or gone) */
		if (p[1].revents) {
			ssize_t n = read(ready_fd, &b, 1);
			if (n == 1) {
				/* Ready: what it wrote before is all in the pipe already. */
				if (fcntl(text_fd, F_SETFL, O_NONBLOCK) == 0)
					while (relay(text_fd) > 0)
						;
				_exit(0);
			}
			if (n == 0 || errno != EINTR)
				break;
		}
	}
	/* The child failed: copy the rest of what it says, then take its status. */
	while (relay(text_fd) > 0)
		;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

/* Forks; returns in the child only (-errno when there is no child). */
static int go_background(struct bg *bg)
{
	int text[2], ready[2];
	pid_t pid;

	if (pipe2(text, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(ready, O_CLOEXEC) < 0) {
		int e = errno;
		close(text[0]);
		close(text[1]);
		return -e;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(text[0]);
		close(text[1]);
		close(ready[0]);
		close(ready[1]);
		return -e;
	}
	if (pid > 0) {
		close(text[1]);
		close(ready[1]);
		parent_wait(pid, text[0], ready[0]);
	}
	close(text[0]);
	close(ready[0]);
	/* dup2() leaves fd 2 open across exec: fusermount3's messages come too. */
	if (dup2(text[1], STDERR_FILENO) < 0)
		_exit(1);
	close(text[1]);
	(void)setsid();
	bg->ready_fd = ready[1];
	return 0;
}

/*
 * The daemon is ready: stdin from /dev/null, stdout and stderr to the log
 * file (or /dev/null), out of the caller's directory, and the parent told.
 */
static int daemon_ready(struct bg *bg, int logfd)
{
	const char ok = 0;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), out, r = 0;

	if (null < 0)
		return -errno;
	out = logfd >= 0 ? logfd : null;
	if (dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
	    dup2(out, STDERR_FILENO) < 0 || chdir("/") < 0)
		r = -errno;
	close(null);
	if (r == 0)
		r = write_all(bg->ready_fd, &ok, 1);
	close(bg->ready_fd);
	bg->ready_fd = -1;
	return r;
}

/* The upgrade watcher's messages (upgrader_opts.log). */
static void upgrade_log(int prio, const char *msg)
{
	fs_log(prio, "%s", msg);
}

static int mount_and_run(struct fuse_args *args, struct cmdline *c)
{
	struct fuse_cmdline_opts opts = { 0 };
	struct fuse_loop_config *loop = NULL;
	struct http_server *http = NULL;
	struct hook_agent *agent = NULL;
	char mnt_abs[PATH_MAX];
	struct store_opts so;
	struct fs fs = { 0 };
	struct stat st = { 0 };
	struct bg bg = { .ready_fd = -1 };
	char err[512] = "";
	int r, ret = 1, logfd = -1, http_fd = -1;

	/* A missing or non-directory mountpoint is a failure (1), not a usage error. */
	if (c->mountpoint) {
		const char *why = stat(c->mountpoint, &st) < 0 ? strerror(errno)
				  : !S_ISDIR(st.st_mode)	  ? "not a directory"
								  : NULL;
		if (why) {
			fprintf(stderr, "charmfs: mountpoint %s: %s\n", c->mountpoint, why);
			return 1;
		}
	}
	if (fuse_parse_cmdline(args, &opts) != 0)
		return 2;
	if (opts.show_help) {
		usage(stdout);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (opts.show_version) {
		printf("charmfs %s\n", CHARMFS_VERSION);
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	if (!c->storedir || !opts.mountpoint || c->nonopts != 2) {
		usage(stderr);
		ret = 2;
		goto out;
	}
	if (opts.singlethread) {
		fprintf(stderr, "charmfs: -s (single-threaded) is not supported: long operations "
				"would block the whole filesystem\n");
		ret = 2;
		goto out;
	}
	if (build_config(c, &fs.cfg) < 0) {
		ret = 2;
		goto out;
	}
	if (fs.cfg.group) {
		struct group *g = getgrnam(fs.cfg.group);
		if (!g) {
			fprintf(stderr, "charmfs: -o group: no such group: %s\n", fs.cfg.group);
			ret = 2;
			goto out;
		}
		fs.ctx.has_group = true;
		fs.ctx.group = g->gr_gid;
	}
	if (add_mount_args(args, c->storedir) < 0) {
		fprintf(stderr, "charmfs: %s\n", strerror(ENOMEM));
		goto out;
	}
	/* Before the store: a bad FUSE option must create nothing (status 2). */
	fs.se = fuse_session_new(args, &fs_ops, sizeof(fs_ops), &fs);
	if (!fs.se) {
		ret = 2;
		goto out;
	}
	/* Nothing is open yet, no thread runs: from here on the child does the work. */
	if (!opts.foreground) {
		r = go_background(&bg);
		if (r < 0) {
			fprintf(stderr, "charmfs: cannot go to the background: %s\n", strerror(-r));
			goto out_session;
		}
	}
	if (fs.cfg.logfile) {
		logfd = open(fs.cfg.logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (logfd < 0) {
			fprintf(stderr, "charmfs: -o logfile: %s: %s\n", fs.cfg.logfile,
				strerror(errno));
			goto out_session;
		}
	}
	fs_log_init(opts.foreground || logfd >= 0);
	/* Before the store: a busy or bad address must create nothing either. */
	if (fs.cfg.http && http_listen(fs.cfg.http, &http_fd, err, sizeof(err)) < 0) {
		fprintf(stderr, "charmfs: %s\n", err);
		goto out_session;
	}
	/* A bad upgrade_key must create nothing either. */
	if (fs.cfg.upgrade_key) {
		struct release_key *k = NULL;
		if (release_key_load(fs.cfg.upgrade_key, &k, err, sizeof(err)) < 0) {
			fprintf(stderr, "charmfs: -o upgrade_key: %s\n", err);
			goto out_session;
		}
		release_key_free(k);
	}
	store_opts_default(&so);
	so.limits = fs.cfg.limits;
	so.sync_full = fs.cfg.sync_full;
	so.lock_timeout = fs.cfg.lock_timeout;
	so.prune_age = fs.cfg.prune_age;
	r = store_open(c->storedir, &so, &fs.ctx.store, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "charmfs: %s\n", err[0] ? err : strerror(-r));
		goto out_session;
	}
	r = scratch_open(store_scratch_dir(fs.ctx.store), &fs.ctx.scratch);
	fs.ctx.test_tasks = c->test_tasks != 0;
	if (r == 0 && fs.ctx.test_tasks)
		r = engine_test_register(store_engine(fs.ctx.store));
	if (r == 0) {
		struct hook_agent_opts ao = {
			.mountpoint = realpath(opts.mountpoint, mnt_abs) ? mnt_abs : opts.mountpoint,
			.hook_timeout_ms = (int64_t)fs.cfg.hook_timeout * 1000,
		};
		r = hook_agent_open(fs.ctx.store, &ao, &agent, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "charmfs: %s\n", err);
			goto out_session;
		}
	}
	if (r == 0)
		r = release_client_global_init();
	if (r == 0) {
		struct upgrader_opts uo = { .url = fs.cfg.upgrade_url, .ca_file = fs.cfg.upgrade_ca,
					    .key_file = fs.cfg.upgrade_key, .agent = agent,
					    .limits = &fs.cfg.limits, .interval = fs.cfg.upgrade_interval,
					    .autoapply = fs.cfg.upgrade_auto, .log = upgrade_log };
		bool unverified = false;
		r = upgrader_new(fs.ctx.store, &uo, &fs.ctx.upgrader, &unverified, err, sizeof(err));
		if (r < 0) {
			/* The key was checked before the store: this is something else. */
			fprintf(stderr, "charmfs: the upgrade agent: %s\n", err);
			goto out_session;
		}
		if (unverified)
			fs_log(LOG_WARNING, "upgrade_url without upgrade_key: releases from %s "
			       "would not be verified", fs.cfg.upgrade_url);
	}
	/* What a hook leaves behind becomes ours, to be reaped (hooks/run.h). */
	if (r == 0)
		r = hook_runner_init();
	/* Every task kind is registered by now: resume what a previous daemon left. */
	if (r == 0)
		r = store_start(fs.ctx.store);
	if (r == 0)
		r = upgrader_start(fs.ctx.upgrader);
	fs.inodes = inode_table_new();
	if (r < 0 || !fs.inodes) {
		fprintf(stderr, "charmfs: cannot set up: %s\n", strerror(r < 0 ? -r : ENOMEM));
		goto out_session;
	}
	fs.ctx.lock_timeout = fs.cfg.lock_timeout;
	fs.ctx.stats = fs.cfg.stats;
	fs.ctx.uid = getuid();
	fs.ctx.gid = getgid();
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	if (fuse_session_mount(fs.se, opts.mountpoint) != 0)
		goto out_signals;
	if (notify_start(fs.se, fs.inodes, &fs.notifier) < 0)
		goto out_unmount;
	if (fs.cfg.http) {
		struct http_opts ho;
		http_opts_default(&ho);
		ho.stats = fs.cfg.stats;
		ho.log = http_log;
		ho.listen_fd = http_fd;
		http_fd = -1; /* http_start() has it now */
		r = http_start(fs.ctx.store, fs.cfg.http, &ho, &http, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "charmfs: %s\n", err);
			goto out_notify;
		}
	}
	if (bg.ready_fd >= 0) {
		r = daemon_ready(&bg, logfd);
		if (r < 0) {
			fs_log(LOG_ERR, "cannot detach: %s", strerror(-r));
			goto out_notify;
		}
	} else if (logfd >= 0) {
		(void)dup2(logfd, STDERR_FILENO);
		(void)dup2(logfd, STDOUT_FILENO);
	}
	if (http)
		fs_log(LOG_INFO, "charm store HTTP API on port %d", http_port(http));
	fs_log(LOG_INFO, "serving %s on %s", c->storedir, opts.mountpoint);
	loop = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(loop, opts.clone_fd);
	if (opts.max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(loop, opts.max_idle_threads);
	fuse_loop_cfg_set_max_threads(loop, MAX_THREADS);
	r = fuse_session_loop_mt(fs.se, loop);
	/* libfuse reports the signal that ended the loop: SIGTERM/SIGINT/SIGHUP are a clean stop. */
	ret = r == 0 || r == SIGTERM || r == SIGINT || r == SIGHUP ? 0 : 1;
	fuse_loop_cfg_destroy(loop);
	fs_log(LOG_INFO, "unmounted %s", opts.mountpoint);
out_notify:
	http_stop(http);
out_unmount:
	fuse_session_unmount(fs.se);
	/* After the unmount: no invalidation can wait on a kernel lock any more. */
	notify_stop(fs.notifier);
	fs_handles_cleanup();
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out:
	if (http_fd >= 0)
		close(http_fd);
	scratch_close(fs.ctx.scratch);
	/* The tools first (they answer from the store), the handlers with the store's engine. */
	hook_agent_stop(agent);
	store_close(fs.ctx.store);
	upgrader_free(fs.ctx.upgrader);
	hook_agent_free(agent);
	inode_table_free(fs.inodes);
	if (logfd >= 0)
		close(logfd);
	if (bg.ready_fd >= 0)
		close(bg.ready_fd);
	free(opts.mountpoint);
	return ret;
}

/*
 * libarchive converts every zip entry's DOS time with mktime(), and glibc
 * re-reads the time zone file on each call unless TZ is set: name the same
 * zone explicitly so that it is read once (a publish read ~20 headers).
 */
static void pin_time_zone(void)
{
	if (!getenv("TZ") && setenv("TZ", ":/etc/localtime", 0) == 0)
		tzset();
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct cmdline c = { 0 };
	int ret;

	pin_time_zone();
	raise_nofile();

	for (int i = 1; i < argc; i++) {
		int (*cmd)(int, char **) = strcmp(argv[i], "--check") == 0	 ? cli_check
					   : strcmp(argv[i], "--keygen") == 0	 ? cli_keygen
					   : strcmp(argv[i], "--sign-release") == 0 ? cli_sign_release
										   : NULL;
		if (cmd) {
			ret = cmd(argc, argv);
			if (ret == CLI_USAGE)
				usage(stderr);
			return ret;
		}
		if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			printf("charmfs %s\n", CHARMFS_VERSION);
			return 0;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
	}
	if (fuse_opt_parse(&args, &c, charmfs_opts, opt_proc) != 0)
		return 2;
	ret = mount_and_run(&args, &c);
	fuse_opt_free_args(&args);
	cmdline_free(&c);
	return ret;
}
