/*
 * Juju's --format smart|json|yaml for the hook tools (toolfmt.c says how
 * each looks). Thread-safe.
 */
#ifndef CHARMFS_HOOKS_TOOLFMT_H
#define CHARMFS_HOOKS_TOOLFMT_H

#include "util.h"

struct json_t;

enum hook_tool_format { HOOK_TOOL_FMT_SMART, HOOK_TOOL_FMT_JSON, HOOK_TOOL_FMT_YAML };

/*
 * Appends v (NULL: null) to b in format fmt, newline-terminated when
 * anything was written (cmd.Output.Write). 0, or -EFBIG / -ENOMEM (b then
 * holds part of it).
 */
int hook_tool_format(struct buf *b, enum hook_tool_format fmt, const struct json_t *v) WUR;
/* "smart", "json" or "yaml" into *ret: 0, or -EINVAL. */
int hook_tool_format_parse(const char *s, enum hook_tool_format *ret) WUR;

#endif
