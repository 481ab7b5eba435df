/*
 * The backup component (backup.c) as the store core sees it: the store
 * creates one per store with a narrow interface to itself (struct
 * backup_source) and frees it after the store's one stop (worker_stop()).
 * backup.h is what fs/ sees.
 */
#ifndef CHARMFS_BACKUP_INT_H
#define CHARMFS_BACKUP_INT_H

/* What backup snapshots need from the store; outlives the component. */
struct backup_source {
	const char *dir; /* STOREDIR: snapshots live in STOREDIR/snapshots/ */
	/*
	 * Writes a consistent copy of the store (charmfs.db and blobs/) into
	 * the existing empty directory dir: 0 or -errno. The store core's
	 * snapshot path, which waits for what a copy must not race and counts
	 * as background work; called with the component's lock held.
	 */
	int (*snapshot)(void *ctx, const char *dir);
	void *ctx;
};

struct backup_state;

/* A new component; src is copied. NULL when out of memory. Any thread. */
struct backup_state *backup_state_new(const struct backup_source *src);
/* Frees b (NULL is fine); no backup_*() call may run or follow. */
void backup_state_free(struct backup_state *b);

#endif
