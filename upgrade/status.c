/*
 * The upgrade agent's status line (upgrader.h), apart from upgrader.c and
 * apply.c so that both may set it without depending on each other.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upgrader_int.h"
#include "banned.h"

void upg_set_status(struct upgrader *u, const char *prefix, const char *text)
{
	pthread_mutex_lock(&u->lock);
	snprintf(u->status, sizeof(u->status), "%s%s", prefix, text);
	pthread_mutex_unlock(&u->lock);
}

int upgrader_status(struct upgrader *u, char **ret)
{
	pthread_mutex_lock(&u->lock);
	*ret = strdup(u->status);
	pthread_mutex_unlock(&u->lock);
	return *ret ? 0 : -ENOMEM;
}
