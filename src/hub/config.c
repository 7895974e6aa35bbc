/* SPDX-License-Identifier: MIT */
/* config.c -- the hub's --config FILE: read into key/value items, then
   turned into the "--key=value" arguments getopt_long() reads, so a file
   and the command line go through the same option parser. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"

/* "PATH:LINE: ..." (LINE 0: "PATH: ..."); always -1. */
__attribute__((format(printf, 5, 6)))
static int fail(char *why, size_t cap, const char *path, unsigned line,
		const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!cap)
		return -1;
	if (line)
		n = snprintf(why, cap, "%s:%u: ", path, line);
	else
		n = snprintf(why, cap, "%s: ", path);
	if (n >= 0 && (size_t)n < cap) {
		va_start(ap, fmt);
		vsnprintf(why + n, cap - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* The file in a NUL-terminated buffer the caller frees; NULL with errno
   set (EFBIG past HUB_CONF_MAX_FILE). */
static char *slurp(const char *path, size_t *len)
{
	size_t cap = HUB_CONF_MAX_FILE + 1, n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	ssize_t r = 0;
	int err;

	if (fd < 0)
		return NULL;
	buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	/* one byte over the limit tells a file that is too big */
	while (n < cap) {
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	err = r < 0 ? errno : n == cap ? EFBIG : 0;
	close(fd);
	if (err) {
		free(buf);
		errno = err;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool key_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Unquote the value at @v (starting with '"') in place: \" and \\ are
   escapes, any other backslash is kept. Only the closing quote may end
   the line (comments stand on their own lines). Returns NULL on success,
   else why not. */
static const char *unquote(char *v)
{
	char *in = v + 1, *out = v;

	for (; *in && *in != '"'; in++) {
		if (*in == '\\' && (in[1] == '"' || in[1] == '\\'))
			in++;
		*out++ = *in;
	}
	if (!*in)
		return "unterminated quote";
	if (in[1])
		return "text after the closing quote";
	*out = '\0';
	return NULL;
}

static int add_item(struct hub_conf *c, const char *key, size_t klen,
		    const char *value, unsigned line)
{
	struct hub_conf_item *items, *it;
	size_t i;

	items = realloc(c->items, (c->n + 1) * sizeof(*items));
	if (!items)
		return -1;
	c->items = items;
	it = &items[c->n];
	it->key = strndup(key, klen);
	it->value = value ? strdup(value) : NULL;
	it->line = line;
	if (!it->key || (value && !it->value)) {
		free(it->key);
		free(it->value);
		return -1;
	}
	for (i = 0; i < klen; i++)
		if (it->key[i] == '_')
			it->key[i] = '-';
	c->n++;
	return 0;
}

/* One line, without its line end, NUL-terminated at @p[@n] (so it may be
   changed in place). */
static int parse_line(struct hub_conf *c, char *p, size_t n, unsigned line,
		      const char *path, char *why, size_t cap)
{
	char *key, *value = NULL, *e = p + n;
	const char *bad;
	size_t klen;

	if (n > HUB_CONF_MAX_LINE)
		return fail(why, cap, path, line, "line longer than %d bytes",
			    HUB_CONF_MAX_LINE);
	if (strlen(p) != n)
		return fail(why, cap, path, line, "NUL byte");
	while (blank(*p))
		p++;
	while (e > p && blank(e[-1]))
		*--e = '\0';
	if (!*p || *p == '#' || *p == ';')
		return 0;
	key = p;
	while (key_byte(*p))
		p++;
	klen = (size_t)(p - key);
	while (blank(*p))
		p++;
	if (!klen || (*p && *p != '='))
		return fail(why, cap, path, line,
			    "expected 'key = value' or 'key'");
	if (*p == '=') {
		key[klen] = '\0';	/* for the messages below */
		value = p + 1;
		while (blank(*value))
			value++;
		if (!*value)
			return fail(why, cap, path, line,
				    "'%s': missing value after '='", key);
		if (*value == '"' && (bad = unquote(value)))
			return fail(why, cap, path, line, "%s", bad);
	}
	if (add_item(c, key, klen, value, line))
		return fail(why, cap, path, line, "%s", strerror(ENOMEM));
	return 0;
}

void hub_conf_free(struct hub_conf *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->items[i].key);
		free(c->items[i].value);
	}
	free(c->items);
	c->items = NULL;
	c->n = 0;
}

int hub_conf_read(const char *path, struct hub_conf *out, char *why,
		  size_t cap)
{
	struct hub_conf c = { 0 };
	size_t len, n;
	unsigned line = 0;
	char *buf, *p, *nl;
	int ret = 0;

	*out = c;
	buf = slurp(path, &len);
	if (!buf) {
		if (errno == EFBIG)
			return fail(why, cap, path, 0, "larger than 1 MiB");
		return fail(why, cap, path, 0, "%s", strerror(errno));
	}
	p = buf;
	if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;
	while (!ret && p < buf + len) {
		line++;
		nl = memchr(p, '\n', (size_t)(buf + len - p));
		n = nl ? (size_t)(nl - p) : (size_t)(buf + len - p);
		if (n && p[n - 1] == '\r')
			n--;
		p[n] = '\0';
		ret = parse_line(&c, p, n, line, path, why, cap);
		p = nl ? nl + 1 : buf + len;
	}
	free(buf);
	if (ret) {
		hub_conf_free(&c);
		return -1;
	}
	*out = c;
	return 0;
}

static const struct option *find_opt(const struct option *opts,
				     const char *name)
{
	for (; opts->name; opts++)
		if (!strcmp(opts->name, name))
			return opts;
	return NULL;
}

static bool refused_key(const char *const *refused, const char *key)
{
	for (; refused && *refused; refused++)
		if (!strcmp(*refused, key))
			return true;
	return false;
}

/* A no_argument option's value: 1 on, 0 off, -1 neither. */
static int flag_value(const char *v)
{
	static const char *const on[] = { "true", "yes", "1", "on" };
	static const char *const off[] = { "false", "no", "0", "off" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (!strcasecmp(v, on[i]))
			return 1;
		if (!strcasecmp(v, off[i]))
			return 0;
	}
	return -1;
}

/* The argument for @it, in *@arg (NULL: left out); 0, or -1 with why. */
static int make_arg(const struct hub_conf_item *it, const char *path,
		    const struct option *opts, const char *const *refused,
		    char **arg, char *why, size_t cap)
{
	const struct option *o;
	int on;

	*arg = NULL;
	if (refused_key(refused, it->key))
		return fail(why, cap, path, it->line,
			    "'%s' is not allowed in a config file", it->key);
	o = find_opt(opts, it->key);
	if (!o)
		return fail(why, cap, path, it->line, "unknown key '%s'",
			    it->key);
	if (o->has_arg == no_argument && it->value) {
		on = flag_value(it->value);
		if (on < 0)
			return fail(why, cap, path, it->line,
				    "'%s' takes no value (or true/false)",
				    it->key);
		if (!on)
			return 0;
	}
	if (o->has_arg == required_argument && !it->value)
		return fail(why, cap, path, it->line, "'%s' needs a value",
			    it->key);
	if (o->has_arg != no_argument && it->value) {
		if (asprintf(arg, "--%s=%s", it->key, it->value) < 0)
			*arg = NULL;
	} else {
		if (asprintf(arg, "--%s", it->key) < 0)
			*arg = NULL;
	}
	if (!*arg)
		return fail(why, cap, path, it->line, "%s", strerror(ENOMEM));
	return 0;
}

void hub_conf_argv_free(int argc, char **argv, unsigned *lines)
{
	int i;

	for (i = 0; argv && i < argc; i++)
		free(argv[i]);
	free(argv);
	free(lines);
}

int hub_conf_argv(const struct hub_conf *c, const char *path,
		  const struct option *opts, const char *const *refused,
		  int *argc, char ***argv, unsigned **lines, char *why,
		  size_t cap)
{
	char **av = calloc(c->n + 2, sizeof(*av));
	unsigned *ln = calloc(c->n + 1, sizeof(*ln));
	int ac = 1;
	size_t i;

	if (!av || !ln || !(av[0] = strdup("ringcast"))) {
		hub_conf_argv_free(1, av, ln);
		return fail(why, cap, path, 0, "%s", strerror(ENOMEM));
	}
	for (i = 0; i < c->n; i++) {
		if (make_arg(&c->items[i], path, opts, refused, &av[ac], why,
			     cap)) {
			hub_conf_argv_free(ac, av, ln);
			return -1;
		}
		if (av[ac])
			ln[ac++] = c->items[i].line;
	}
	*argc = ac;
	*argv = av;
	*lines = ln;
	return 0;
}
