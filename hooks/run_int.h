/*
 * Between the hook runner's two files: run.c (a run) and runproc.c (the
 * processes seen through /proc: the registry of running groups, escaped
 * zombies, tokens). Not for other modules.
 */
#ifndef CHARMFS_HOOK_RUN_INT_H
#define CHARMFS_HOOK_RUN_INT_H

#include <sys/types.h>

#include "run.h"

struct proc_stat {
	char state; /* 'R', 'S', 'Z', ... */
	long pgrp;
	long session;
	unsigned long long starttime; /* clock ticks after boot */
};

/* Reads DIR/stat (DIR is "/proc/PID"). 0, -ENOENT (no such process), -EINVAL, -EIO. */
int hook_proc_stat(const char *dir, struct proc_stat *ret) WUR;

/* This boot's id (/proc/sys/kernel/random/boot_id), read once; "unknown" if unreadable. */
const char *hook_boot_id(void);

/*
 * Calling sequence of a spawn: hook_spawn_begin() (reserves a registry slot
 * and holds the spawn lock shared; -ENOMEM), posix_spawn(), then always
 * hook_spawn_end(pgid) with the new group's id, or 0 when the spawn failed.
 * Once every member of the group is reaped: hook_group_done(pgid).
 */
int hook_spawn_begin(void) WUR;
void hook_spawn_end(pid_t pgid);
void hook_group_done(pid_t pgid);

/* hook_reap_escaped() unless a spawn is under way (then the next run's end does it). */
void hook_reap_escaped_try(void);

/* The token of the group led by our child pgid into out. 0 or -errno (from /proc). */
int hook_token_format(pid_t pgid, char out[HOOK_TOKEN_MAX]) WUR;

#endif
