/*
 * upgrade-publish (apply.c): the release's charms through the store's
 * publish path, each recorded in the task's data as it goes, so that the
 * undo (and a failure of the task itself) deletes exactly what it published.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply_int.h"
#include "engine.h"
#include "banned.h"

/* ---- upgrade-publish ------------------------------------------------------------ */

/* The revision of u whose archive has sha256, or -1. */
static int find_rev(struct store *s, const struct url *u, const char *sha256)
{
	int *revs = NULL, found = -1;
	size_t n = 0;

	if (store_list_revisions(s, u, &revs, &n) < 0)
		return -1;
	for (size_t i = n; found < 0 && i-- > 0;) {
		struct store_rev rev;
		if (store_get_rev(s, u, revs[i], &rev) == 0 && !strcmp(rev.sha256, sha256))
			found = revs[i];
	}
	free(revs);
	return found;
}

/* Publishes charm i of the manifest unless it is done; records it in data.published. */
static int publish_one(struct upg_step *st, json_t *charm, json_t *published)
{
	const char *text = json_string_value(json_object_get(charm, "url"));
	const char *path = json_string_value(json_object_get(charm, "path"));
	json_t *pending = json_object_get(st->data, "pending");
	struct store_publish_req req = { .path = path, .n_urls = 1 };
	struct strv errors = { 0 };
	struct url u;
	char sha[65], err[256], canon[URL_STR_MAX];
	bool ours;
	int rev, r;

	if (!text || !path || url_parse(text, &u, err, sizeof(err)) < 0)
		return upg_step_fail(st, -EINVAL, "a bad charm in the manifest");
	r = sha256_file(path, sha, NULL);
	if (r < 0)
		return upg_step_fail(st, r, "cannot read a charm of the release");
	url_format(&u, canon, sizeof(canon));
	rev = find_rev(st->u->store, &u, sha);
	/* Published by an earlier attempt of this task (it said so first), or there before. */
	ours = json_is_object(pending) &&
	       !strcmp(json_string_value(json_object_get(pending, "url")) ?: "", canon) &&
	       !strcmp(json_string_value(json_object_get(pending, "sha256")) ?: "", sha);
	if (rev < 0) {
		if (json_object_set_new(st->data, "pending",
					json_pack("{s:s, s:s}", "url", canon, "sha256", sha)) < 0)
			return upg_step_fail(st, -ENOMEM, strerror(ENOMEM));
		r = upg_step_save(st);
		if (r < 0)
			return r;
		req.urls = &u;
		r = store_publish(st->u->store, &req, &rev, &errors);
		if (r == -EEXIST)
			r = (rev = find_rev(st->u->store, &u, sha)) >= 0 ? 0 : -EEXIST;
		if (r < 0) {
			char *all = strv_join(&errors, "; "), msg[600];
			snprintf(msg, sizeof(msg), "cannot publish %s: %s", canon,
				 all && *all ? all : strerror(-r));
			free(all);
			strv_clear(&errors);
			return upg_step_fail(st, r, msg);
		}
		ours = true;
		(void)engine_run_logf(st->run, false, "published %s-%d", canon, rev);
	} else {
		(void)engine_run_logf(st->run, false, "%s-%d has this archive already", canon, rev);
	}
	strv_clear(&errors);
	if (json_array_append_new(published, json_pack("{s:s, s:i, s:b}", "url", canon, "revision",
						       rev, "ours", ours)) < 0)
		return upg_step_fail(st, -ENOMEM, strerror(ENOMEM));
	if (json_object_get(st->data, "pending"))
		json_object_del(st->data, "pending");
	return upg_step_save(st);
}

/* Deletes the revisions data.published says the task published, newest first. */
static int publish_rollback(struct upg_step *st)
{
	json_t *published = json_object_get(st->data, "published");

	for (size_t i = json_array_size(published); i-- > 0;) {
		json_t *p = json_array_get(published, i);
		const char *text = json_string_value(json_object_get(p, "url"));
		int rev = (int)json_integer_value(json_object_get(p, "revision")), r;
		char err[256];
		struct url u;

		if (!json_is_true(json_object_get(p, "ours")) || !text ||
		    url_parse(text, &u, err, sizeof(err)) < 0)
			continue;
		r = store_delete(st->u->store, &u, rev, 0);
		if (r < 0 && r != -ENOENT)
			return engine_run_fail(st->run, r, "cannot remove %s-%d: %s", text, rev,
					       strerror(-r));
		(void)engine_run_logf(st->run, false, "removed %s-%d", text, rev);
	}
	return 0;
}

int upg_publish_do(struct engine_run *run, void *ud)
{
	struct upg_step st;
	json_t *m = NULL, *charms, *published;
	int r = upg_step_open(&st, run, ud);

	if (r == 0)
		r = upg_manifest_read(&st, &m);
	if (r < 0)
		goto out;
	upg_step_applying(&st);
	charms = json_object_get(m, "charms");
	published = json_object_get(st.data, "published");
	if (!json_is_array(published)) {
		published = json_array();
		if (json_object_set_new(st.data, "published", published) < 0) {
			r = upg_step_fail(&st, -ENOMEM, strerror(ENOMEM));
			goto out;
		}
	}
	for (size_t i = json_array_size(published); r == 0 && i < json_array_size(charms); i++) {
		if (engine_run_stopping(run)) {
			r = engine_run_retry(run, 0);
			break;
		}
		r = publish_one(&st, json_array_get(charms, i), published);
	}
	/* A task in Error is not undone: what it published itself goes now. */
	if (r < 0 && !engine_run_stopping(run))
		(void)publish_rollback(&st);
out:
	json_decref(m);
	upg_step_close(&st);
	return r;
}

int upg_publish_undo(struct engine_run *run, void *ud)
{
	return upg_step_run(run, ud, publish_rollback);
}

