/*
 * The hook runner's view of processes through /proc (run_int.h): the
 * registry of running groups, the reaping of zombies that escaped their
 * group, the subreaper switch and the crash-recovery tokens.
 *
 * The registry holds the id of every group a run is responsible for, from
 * just before its spawn (a reserved slot, so registering cannot fail) until
 * every member is reaped. spawn_lock is held shared from before a
 * posix_spawn() until its group is registered, and exclusively by the
 * reaper of escaped zombies, which therefore never meets a leader not yet
 * registered and never takes a zombie a run is about to reap. The reaper
 * only looks at our children in another session than ours, so what the
 * daemon forks itself (libfuse's fusermount3) is never touched.
 *
 * A token names a group by "PGID BOOT_ID START_TIME": a pid reused by
 * another process has another start time, and a group's id cannot be
 * taken by a new process while any member of the group lives, so a token
 * whose leader is gone still names only its own group's survivors.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"
#include "run_int.h"
#include "banned.h"

int hook_proc_stat(const char *dir, struct proc_stat *ret)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/stat", dir) >= (int)sizeof(path))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? -ENOENT : -EIO;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n == 0 || errno == ESRCH ? -ENOENT : -EIO;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p)
		return -EIO;
	/* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice num_threads itrealvalue starttime */
	if (sscanf(
		p + 1,
		" %c %*d %ld %ld %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		&ret->state, &ret->pgrp, &ret->session, &ret->starttime) != 4)
		return -EIO;
	return 0;
}

static char boot_id[40];
static pthread_once_t boot_id_once = PTHREAD_ONCE_INIT;

static void boot_id_read(void)
{
	char *s = NULL;
	size_t n = 0;

	if (read_file("/proc/sys/kernel/random/boot_id", 64, &s, &n) == 0) {
		while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
			n--;
		if (n > 0 && n < sizeof(boot_id) && !memchr(s, ' ', n))
			memcpy(boot_id, s, n);
	}
	free(s);
	if (!boot_id[0])
		memcpy(boot_id, "unknown", 8);
}

const char *hook_boot_id(void)
{
	(void)pthread_once(&boot_id_once, boot_id_read);
	return boot_id;
}

/* ---- the registry of running groups ------------------------------------------- */

/*
 * groups_lock guards the array; spawn_lock is held shared from before a
 * posix_spawn() until its group is in the array, and exclusively by
 * hook_reap_escaped(), which therefore never sees an unregistered leader.
 * A slot is reserved (pid 0) before the spawn, so registering cannot fail.
 */
static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t spawn_lock = PTHREAD_RWLOCK_INITIALIZER;
static pid_t *groups;
static size_t n_groups, cap_groups;

static int group_reserve(void)
{
	int r = 0;

	pthread_mutex_lock(&groups_lock);
	if (n_groups == cap_groups) {
		size_t cap = cap_groups ? 2 * cap_groups : 16;
		pid_t *g = realloc(groups, cap * sizeof(*g));
		if (g) {
			groups = g;
			cap_groups = cap;
		} else {
			r = -ENOMEM;
		}
	}
	if (r == 0)
		groups[n_groups++] = 0;
	pthread_mutex_unlock(&groups_lock);
	return r;
}

/* Replaces the slot of from (a pid, or 0 for a reserved one) by to (0: removes it). */
static void group_set(pid_t from, pid_t to)
{
	pthread_mutex_lock(&groups_lock);
	for (size_t i = 0; i < n_groups; i++)
		if (groups[i] == from) {
			if (to)
				groups[i] = to;
			else
				groups[i] = groups[--n_groups];
			break;
		}
	pthread_mutex_unlock(&groups_lock);
}

static bool groups_has(long id)
{
	bool found = false;

	pthread_mutex_lock(&groups_lock);
	for (size_t i = 0; i < n_groups && !found; i++)
		found = groups[i] == id;
	pthread_mutex_unlock(&groups_lock);
	return found;
}

int hook_runner_init(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* Reaps the zombie child pid (a directory name) if no run owns it. 1 when reaped. */
static int reap_if_escaped(const char *name, long my_sid)
{
	char dir[300];
	struct proc_stat st;
	uint64_t pid;
	int r = 0;

	if (parse_u64(name, &pid) < 0 || pid == 0 || pid > INT32_MAX)
		return 0;
	snprintf(dir, sizeof(dir), "/proc/%s", name);
	if (hook_proc_stat(dir, &st) == 0 && st.state == 'Z' && st.session != my_sid &&
	    !groups_has(st.pgrp) && !groups_has(st.session) &&
	    waitpid((pid_t)pid, NULL, WNOHANG) == (pid_t)pid)
		r = 1;
	return r;
}

/* With spawn_lock held exclusively. */
static int reap_escaped(void)
{
	long my_sid = (long)getsid(0);
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");
	int reaped = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char path[96], *list = NULL, *save = NULL;
		size_t len = 0;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "/proc/self/task/%s/children", de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (read_file(path, 1 << 20, &list, &len) < 0)
			continue; /* the thread ended meanwhile */
		for (char *w = strtok_r(list, " \n", &save); w; w = strtok_r(NULL, " \n", &save))
			reaped += reap_if_escaped(w, my_sid);
		free(list);
	}
	closedir(d);
	return reaped;
}

int hook_reap_escaped(void)
{
	int r;

	pthread_rwlock_wrlock(&spawn_lock);
	r = reap_escaped();
	pthread_rwlock_unlock(&spawn_lock);
	return r;
}

void hook_reap_escaped_try(void)
{
	if (pthread_rwlock_trywrlock(&spawn_lock) != 0)
		return;
	(void)reap_escaped();
	pthread_rwlock_unlock(&spawn_lock);
}

int hook_spawn_begin(void)
{
	int r = group_reserve();

	if (r == 0)
		pthread_rwlock_rdlock(&spawn_lock);
	return r;
}

void hook_spawn_end(pid_t pgid)
{
	group_set(0, pgid);
	pthread_rwlock_unlock(&spawn_lock);
}

void hook_group_done(pid_t pgid)
{
	group_set(pgid, 0);
}

int hook_token_format(pid_t pgid, char out[HOOK_TOKEN_MAX])
{
	char dir[32];
	struct proc_stat st;
	int r;

	snprintf(dir, sizeof(dir), "/proc/%ld", (long)pgid);
	if ((r = hook_proc_stat(dir, &st)) < 0)
		return r;
	snprintf(out, HOOK_TOKEN_MAX, "%ld %s %llu", (long)pgid, hook_boot_id(), st.starttime);
	return 0;
}

/* ---- crash recovery ------------------------------------------------------------- */

/* SIGKILL to pid if it is still in group or session id (checked through a pidfd,
 * so a reused pid is never hit). 1 when signalled. */
static int kill_member(long pid, long id)
{
	char dir[32];
	struct proc_stat st;
	int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0), r = 0;

	if (pfd < 0 && (errno == ENOSYS || errno == EPERM)) {
		/* No pidfds: a plain kill() after the check, racy only against a
		 * pid reused within these few system calls. */
		snprintf(dir, sizeof(dir), "/proc/%ld", pid);
		return hook_proc_stat(dir, &st) == 0 && st.state != 'Z' &&
		       (st.pgrp == id || st.session == id) && kill((pid_t)pid, SIGKILL) == 0;
	}
	if (pfd < 0)
		return 0;
	snprintf(dir, sizeof(dir), "/proc/%ld", pid);
	if (hook_proc_stat(dir, &st) == 0 && st.state != 'Z' &&
	    (st.pgrp == id || st.session == id) &&
	    syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) == 0)
		r = 1;
	close(pfd);
	return r;
}

int hook_kill_token(const char *token)
{
	char boot[40], dir[300], tail;
	unsigned long long start;
	struct proc_stat st;
	struct dirent *de;
	long id;
	DIR *d;
	int killed = 0, r;

	if (!token || sscanf(token, "%ld %39s %llu%c", &id, boot, &start, &tail) != 3 || id <= 1 ||
	    id > INT32_MAX || !isdigit((unsigned char)token[0]))
		return -EINVAL;
	if (strcmp(boot, hook_boot_id()) != 0)
		return 0;
	snprintf(dir, sizeof(dir), "/proc/%ld", id);
	r = hook_proc_stat(dir, &st);
	if (r == 0 && st.starttime != start)
		return 0; /* the id is another process's now: the group is long gone */
	if (r < 0 && r != -ENOENT)
		return r;
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		uint64_t pid;
		if (parse_u64(de->d_name, &pid) < 0 || pid > INT32_MAX)
			continue;
		snprintf(dir, sizeof(dir), "/proc/%s", de->d_name);
		if ((pid_t)pid != getpid() && hook_proc_stat(dir, &st) == 0 &&
		    (st.pgrp == id || st.session == id) && st.state != 'Z')
			killed |= kill_member((long)pid, id);
	}
	closedir(d);
	return killed;
}
