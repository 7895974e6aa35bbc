/* SPDX-License-Identifier: MIT */
/* log.c -- the hub's event log: each line built on the caller's stack and
   written with one write(2); a lock-free token bucket in front. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define NS_PER_SEC 1000000000LL
#define CUT "..."

static const char *const level_names[] = {
	[HUB_LOG_ERROR] = "error",
	[HUB_LOG_WARN] = "warn",
	[HUB_LOG_INFO] = "info",
	[HUB_LOG_DEBUG] = "debug",
};

/* Settings: read with relaxed loads on every line; nothing else is
   published through them. */
static atomic_int log_level = HUB_LOG_INFO;
static atomic_bool log_json;
static atomic_uint log_rate = 100;
static atomic_int log_fd = 2;

static _Atomic uint64_t lines_written, lines_dropped;
/* Dropped since the last log_suppressed line, and the (monotonic) second
   the first of them was dropped in: the report waits for a later one. */
static _Atomic uint64_t pending;
static _Atomic int64_t pending_sec;

/*
 * The token bucket, as GCRA keeps it: one timestamp, the time at which
 * every token taken so far has been paid back. Each line pushes it one
 * interval (a second / rate) on; a line may go while it stays within a
 * second of now, i.e. while at most rate tokens are out. One CAS per line,
 * no lock; 0 (long past) is a full bucket.
 */
static _Atomic int64_t bucket_due;

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static bool take_token(int64_t now)
{
	unsigned rate = atomic_load_explicit(&log_rate, memory_order_relaxed);
	int64_t step, due, next;

	if (!rate)
		return true;
	step = NS_PER_SEC / rate;
	due = atomic_load_explicit(&bucket_due, memory_order_relaxed);
	do {
		next = (due > now ? due : now) + step;
		if (next - now > NS_PER_SEC)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&bucket_due, &due, next,
			memory_order_relaxed, memory_order_relaxed));
	return true;
}

/* ---- building a line ---- */

struct line {
	char buf[HUB_LOG_LINE_MAX];
	size_t len;
	size_t end;	/* where the closing bytes ("}\n" or "\n") go */
	bool json;
	bool full;	/* a value was cut: no more fields */
};

static bool put(struct line *l, const char *s, size_t n)
{
	if (l->full || l->len + n > l->end) {
		l->full = true;
		return false;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return true;
}

static bool puts_(struct line *l, const char *s)
{
	return put(l, s, strlen(s));
}

/* The length of the valid UTF-8 sequence at @s (NUL-terminated), or 0 if
   the byte there does not start one (RFC 3629: no overlongs, no
   surrogates, nothing past U+10FFFF). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Bytes a text value may hold unquoted. */
static bool bare_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("_.:/@+,[]-", c);
}

/*
 * The next character of @s as a quoted value holds it: its bytes in @out
 * (up to 8), their count in *@outn; returns the input bytes it took.
 * Control bytes are escaped, C1 controls (U+0080..U+009F, which some
 * terminals obey) too, so a peer's bytes cannot drive the terminal
 * reading the log; invalid UTF-8 is escaped byte by byte.
 */
static size_t escape(const unsigned char *s, bool json, char *out,
		     size_t *outn)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c = s[0];
	size_t k, i;

	switch (c) {
	case '"': case '\\':
		out[0] = '\\', out[1] = (char)c, *outn = 2;
		return 1;
	case '\n':
		memcpy(out, "\\n", 2), *outn = 2;
		return 1;
	case '\r':
		memcpy(out, "\\r", 2), *outn = 2;
		return 1;
	case '\t':
		memcpy(out, "\\t", 2), *outn = 2;
		return 1;
	}
	k = utf8_len(s);
	if (k > 1 && !(c == 0xc2 && s[1] < 0xa0)) {
		memcpy(out, s, k), *outn = k;
		return k;
	}
	if (k == 1 && c >= 0x20 && c != 0x7f) {
		out[0] = (char)c, *outn = 1;
		return 1;
	}
	if (!json) {
		/* a control byte, or each byte of an invalid sequence or a
		   C1 control */
		k = k ? k : 1;
		for (i = 0; i < k; i++) {
			out[4 * i] = '\\', out[4 * i + 1] = 'x';
			out[4 * i + 2] = hex[s[i] >> 4];
			out[4 * i + 3] = hex[s[i] & 15];
		}
		*outn = 4 * k;
		return k;
	}
	if (!k) {
		memcpy(out, "\\ufffd", 6), *outn = 6;
		return 1;
	}
	/* a control character: U+0000..U+001F, U+007F, U+0080..U+009F */
	c = k == 2 ? s[1] : c;
	memcpy(out, "\\u00", 4);
	out[4] = hex[c >> 4], out[5] = hex[c & 15], *outn = 6;
	return k;
}

/* A string value, cut with "..." where the line runs out. Room for the
   cut and a closing quote is always kept (begin_field() reserves it). */
static void put_str(struct line *l, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	bool quote = true;
	char unit[16];
	size_t n, took;

	if (l->json && !str) {
		puts_(l, "null");
		return;
	}
	if (!l->json && *s) {
		for (n = 0; s[n] && bare_byte(s[n]); n++)
			;
		quote = s[n] != '\0';
	}
	if (quote)
		put(l, "\"", 1);
	while (*s) {
		if (quote) {
			took = escape(s, l->json, unit, &n);
		} else {
			unit[0] = (char)*s;
			took = n = 1;
		}
		if (l->len + n + sizeof(CUT) > l->end) {
			put(l, CUT, 3);
			l->full = true;
			break;
		}
		put(l, unit, n);
		s += took;
	}
	if (quote) {
		/* the closing quote may go even on a full line */
		l->buf[l->len++] = '"';
	}
}

/* Room enough after a field's name for any number, or a cut string with
   its quotes. */
#define FIELD_ROOM 24

/* ' key=' or ',"key":'; false (and nothing written) if the line has no
   room left for it and FIELD_ROOM more. */
static bool begin_field(struct line *l, const char *key)
{
	size_t at = l->len, i;
	char c;

	if (l->full)
		return false;
	key = key && *key ? key : "_";
	if (l->json) {
		put(l, ",", 1);
		put_str(l, key);
		put(l, ":", 1);
	} else {
		put(l, " ", 1);
		for (i = 0; key[i] && !l->full; i++) {
			c = key[i];
			c = bare_byte((unsigned char)c) && !strchr(":/@+,[]", c) ?
			    c : '_';
			put(l, &c, 1);
		}
		put(l, "=", 1);
	}
	if (l->full || l->len + FIELD_ROOM > l->end) {
		l->len = at;
		l->full = true;
		return false;
	}
	return true;
}

static void put_field(struct line *l, const struct hub_kv *kv)
{
	char num[24];

	if (!begin_field(l, kv->key))
		return;
	switch (kv->kind) {
	case HUB_KV_STR:
		put_str(l, kv->str);
		break;
	case HUB_KV_INT:
		snprintf(num, sizeof(num), "%lld", kv->num);
		puts_(l, num);
		break;
	case HUB_KV_BOOL:
		puts_(l, kv->num ? "true" : "false");
		break;
	}
}

/* Wall clock, UTC, milliseconds: 2026-12-06T05:30:00.123Z */
static void put_time(struct line *l)
{
	struct timespec ts;
	struct tm tm;
	char t[48];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
	puts_(l, t);
}

/* The whole line in one write(2): a line never mixes with another
   thread's on a pipe (under PIPE_BUF) or an O_APPEND file. A partial
   write (a signal, a full disk) is finished; an error drops the rest. */
static void write_all(const char *p, size_t n)
{
	int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void emit(enum hub_log_level lv, const char *event,
		 const struct hub_kv *kv, size_t n)
{
	struct line l;
	size_t i;

	l.json = atomic_load_explicit(&log_json, memory_order_relaxed);
	l.len = 0;
	l.end = sizeof(l.buf) - (l.json ? 2 : 1);
	l.full = false;
	puts_(&l, l.json ? "{\"time\":\"" : "time=");
	put_time(&l);
	puts_(&l, l.json ? "\",\"level\":\"" : " level=");
	puts_(&l, (unsigned)lv <= HUB_LOG_DEBUG ? level_names[lv] : "error");
	puts_(&l, l.json ? "\",\"event\":" : " event=");
	put_str(&l, event);
	for (i = 0; i < n && !l.full; i++)
		put_field(&l, &kv[i]);
	if (l.json)
		l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';
	write_all(l.buf, l.len);
	atomic_fetch_add_explicit(&lines_written, 1, memory_order_relaxed);
}

/* ---- the rate limit's report ---- */

static void report(uint64_t count)
{
	struct hub_kv kv = KV_I("count", count);

	/* Not filtered by level: it stands for lines that passed it. */
	emit(HUB_LOG_WARN, "log_suppressed", &kv, 1);
}

static void drop(int64_t now)
{
	atomic_fetch_add_explicit(&lines_dropped, 1, memory_order_relaxed);
	if (!atomic_fetch_add_explicit(&pending, 1, memory_order_relaxed))
		atomic_store_explicit(&pending_sec, now / NS_PER_SEC,
				      memory_order_relaxed);
}

/* Before a line: the count of those dropped, once a new second has
   begun since the first of them. The thread that moves pending_sec on
   reports; a drop racing with it may be reported a second early. */
static void report_due(int64_t now)
{
	int64_t sec = now / NS_PER_SEC, was;
	uint64_t count;

	if (!atomic_load_explicit(&pending, memory_order_relaxed))
		return;
	was = atomic_load_explicit(&pending_sec, memory_order_relaxed);
	if (was == sec ||
	    !atomic_compare_exchange_strong_explicit(&pending_sec, &was, sec,
			memory_order_relaxed, memory_order_relaxed))
		return;
	count = atomic_exchange_explicit(&pending, 0, memory_order_relaxed);
	if (count)
		report(count);
}

static void log_line(enum hub_log_level lv, const char *event,
		     const struct hub_kv *kv, size_t n, bool limited)
{
	int64_t now;
	int err;

	if (!hub_log_enabled(lv))
		return;
	err = errno;
	now = mono_ns();
	if (limited && !take_token(now)) {
		drop(now);
	} else {
		report_due(now);
		emit(lv, event, kv, n);
	}
	errno = err;
}

/* ---- the API ---- */

bool hub_log_level_set(const char *name)
{
	int i;

	for (i = HUB_LOG_ERROR; i <= HUB_LOG_DEBUG; i++) {
		if (name && !strcmp(name, level_names[i])) {
			atomic_store_explicit(&log_level, i,
					      memory_order_relaxed);
			return true;
		}
	}
	return false;
}

const char *hub_log_level_name(void)
{
	return level_names[atomic_load_explicit(&log_level,
						memory_order_relaxed)];
}

bool hub_log_format_set(const char *name)
{
	if (!name || (strcmp(name, "text") && strcmp(name, "json")))
		return false;
	atomic_store_explicit(&log_json, !strcmp(name, "json"),
			      memory_order_relaxed);
	return true;
}

void hub_log_rate_set(unsigned per_sec)
{
	/* A new rate starts with a full bucket; the same one (a SIGHUP that
	   left it alone) keeps what is spent. */
	if (atomic_exchange_explicit(&log_rate, per_sec,
				     memory_order_relaxed) != per_sec)
		atomic_store_explicit(&bucket_due, 0, memory_order_relaxed);
}

bool hub_log_enabled(enum hub_log_level lv)
{
	return (int)lv <= atomic_load_explicit(&log_level,
					       memory_order_relaxed);
}

void hub_logv(enum hub_log_level lv, const char *event,
	      const struct hub_kv *kv, size_t n)
{
	log_line(lv, event, kv, n, true);
}

void hub_log_always(enum hub_log_level lv, const char *event,
		    const struct hub_kv *kv, size_t n)
{
	log_line(lv, event, kv, n, false);
}

void hub_log_flush(void)
{
	uint64_t count = atomic_exchange_explicit(&pending, 0,
						  memory_order_relaxed);
	int err = errno;

	if (count)
		report(count);
	errno = err;
}

uint64_t hub_log_lines(void)
{
	return atomic_load_explicit(&lines_written, memory_order_relaxed);
}

uint64_t hub_log_suppressed(void)
{
	return atomic_load_explicit(&lines_dropped, memory_order_relaxed);
}

void hub_log_set_fd(int fd)
{
	atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
}
