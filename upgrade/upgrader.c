/*
 * The upgrade agent (upgrader.h). A check is one client (made per check,
 * so that options and connections never outlive it), two documents and one
 * write of the store's upgrade state; its status is memory only, as SPEC
 * §4.9 describes a state of the running daemon.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "release.h"
#include "upgrader.h"
#include "upgstate.h"
#include "banned.h"

struct upgrader {
	struct store *store;
	char *url, *ca_file;
	struct release_key *key;
	pthread_mutex_t check_lock; /* one check at a time */
	pthread_mutex_t lock;	    /* guards status */
	char status[600];
};

/* The status: prefix then text ("error: " and a message, or "" and a state). */
static void set_status(struct upgrader *u, const char *prefix, const char *text)
{
	pthread_mutex_lock(&u->lock);
	snprintf(u->status, sizeof(u->status), "%s%s", prefix, text);
	pthread_mutex_unlock(&u->lock);
}

int upgrader_new(struct store *s, const struct upgrader_opts *o, struct upgrader **ret,
		 bool *ret_unverified, char *err, size_t errlen)
{
	struct upgrader *u = calloc(1, sizeof(*u));
	int r = 0;

	if (!u)
		return errf(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	u->store = s;
	pthread_mutex_init(&u->check_lock, NULL);
	pthread_mutex_init(&u->lock, NULL);
	snprintf(u->status, sizeof(u->status), "idle");
	if ((o->url && !(u->url = strdup(o->url))) || (o->ca_file && !(u->ca_file = strdup(o->ca_file))))
		r = errf(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	if (r == 0 && o->key_file)
		r = release_key_load(o->key_file, &u->key, err, errlen);
	if (r < 0) {
		upgrader_free(u);
		return r;
	}
	*ret_unverified = u->url && !u->key;
	*ret = u;
	return 0;
}

void upgrader_free(struct upgrader *u)
{
	if (!u)
		return;
	release_key_free(u->key);
	pthread_mutex_destroy(&u->check_lock);
	pthread_mutex_destroy(&u->lock);
	free(u->url);
	free(u->ca_file);
	free(u);
}

static int check(struct upgrader *u, char **ret_latest, char *err, size_t errlen)
{
	struct release_client_opts co = { .base = u->url, .ca_file = u->ca_file, .stop_fd = -1 };
	struct release_client *c = NULL;
	struct strv versions = { 0 };
	struct buf doc = { 0 };
	char *latest = NULL;
	int r = release_client_new(&co, &c, err, errlen);

	if (r == 0)
		r = release_client_get(c, "versions", &doc, err, errlen);
	if (r == 0)
		r = release_parse_versions(doc.data, doc.len, &versions, err, errlen);
	buf_free(&doc);
	if (r == 0)
		r = release_client_get(c, "latest", &doc, err, errlen);
	if (r == 0)
		r = release_parse_latest(doc.data, doc.len, &latest, err, errlen);
	buf_free(&doc);
	if (r == 0) {
		r = upg_state_checked(u->store, latest, (const char *const *)versions.v, versions.n);
		if (r < 0)
			errf(err, errlen, r, "cannot record the check: %s", strerror(-r));
	}
	release_client_free(c);
	strv_clear(&versions);
	if (r < 0) {
		free(latest);
		return r;
	}
	*ret_latest = latest;
	return 0;
}

int upgrader_check(struct upgrader *u, char **ret_latest, char *err, size_t errlen)
{
	int r;

	if (!u->url)
		return errf(err, errlen, -ENOENT, "no upgrade_url: charmfs follows no publisher");
	pthread_mutex_lock(&u->check_lock);
	set_status(u, "", "checking");
	r = check(u, ret_latest, err, errlen);
	if (r < 0)
		set_status(u, "error: ", err);
	else
		set_status(u, "", "idle");
	pthread_mutex_unlock(&u->check_lock);
	return r;
}

int upgrader_status(struct upgrader *u, char **ret)
{
	pthread_mutex_lock(&u->lock);
	*ret = strdup(u->status);
	pthread_mutex_unlock(&u->lock);
	return *ret ? 0 : -ENOMEM;
}
