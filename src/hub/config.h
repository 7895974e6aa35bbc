/* SPDX-License-Identifier: MIT */
/* config.h -- the hub's --config FILE: `key = value` lines, handed to
   getopt_long() as the long options they stand for. */
#ifndef RC_HUB_CONFIG_H
#define RC_HUB_CONFIG_H

#include <getopt.h>
#include <stddef.h>

#define HUB_CONF_MAX_LINE 4096		/* bytes, the line end not counted */
#define HUB_CONF_MAX_FILE (1 << 20)

/* One line's setting: @key with '_' turned into '-'; @value unquoted,
   NULL for a bare key; @line counts from 1. */
struct hub_conf_item {
	char *key;
	char *value;
	unsigned line;
};

/* The settings in file order (a key may repeat); owned, freed by
   hub_conf_free(). */
struct hub_conf {
	struct hub_conf_item *items;
	size_t n;
};

/*
 * Read @path: comments (lines whose first non-blank is # or ;), blank
 * lines, `key`, `key = value`, `key = "quoted \" value"`; a UTF-8 BOM and
 * CRLF are accepted. Allocates. Returns 0, or -1 with "PATH:LINE: why"
 * (or "PATH: why" for the file as a whole) in @why (@cap bytes,
 * NUL-terminated) and @out empty.
 */
int hub_conf_read(const char *path, struct hub_conf *out, char *why,
		  size_t cap);
void hub_conf_free(struct hub_conf *c);

/*
 * The items as getopt_long() arguments, checked against @opts (a
 * {0}-terminated getopt table): argv[0] = "ringcast", then "--key=value"
 * or "--key" per item, in file order, and a NULL; lines[i] is argv[i]'s
 * line (0 for argv[0]), so lines[optind - 1] names the option getopt
 * just returned. A no_argument option's value may be true/yes/1/on
 * ("--key") or false/no/0/off (left out). Unknown keys, any other value
 * on a no_argument option, no value for a required_argument one, and the
 * keys in @refused (NULL-terminated, may be NULL) are errors: -1 and
 * "PATH:LINE: why" in @why. Allocates: the caller frees with
 * hub_conf_argv_free(); @c may be freed first.
 */
int hub_conf_argv(const struct hub_conf *c, const char *path,
		  const struct option *opts, const char *const *refused,
		  int *argc, char ***argv, unsigned **lines, char *why,
		  size_t cap);
void hub_conf_argv_free(int argc, char **argv, unsigned *lines);

#endif /* RC_HUB_CONFIG_H */
