/* SPDX-License-Identifier: MIT */
/*
 * test_hub_log_conf.c -- src/hub/log.c and src/hub/config.c, built in.
 * The log: exact text and JSON lines for fixed fields (the time checked
 * apart), escaping in both formats with jansson as the JSON oracle, the
 * 2048-byte cut, levels, the rate limit and its log_suppressed report,
 * whole lines from four threads through a pipe. The config file: every
 * form of line, each error with its exact message, and the argv it makes
 * run through getopt_long().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

#include "hub/config.h"
#include "hub/log.h"

/* ---- capturing the log ---- */

static int cap_fd = -1;		/* a memfd the log writes to */

/* What the log wrote since the last call (caller frees); empties it. */
static char *take(void)
{
	struct stat st;
	char *s;

	assert_int_equal(fstat(cap_fd, &st), 0);
	s = malloc((size_t)st.st_size + 1);
	assert_non_null(s);
	assert_int_equal(pread(cap_fd, s, (size_t)st.st_size, 0),
			 st.st_size);
	s[st.st_size] = '\0';
	assert_int_equal(ftruncate(cap_fd, 0), 0);
	assert_int_equal(lseek(cap_fd, 0, SEEK_SET), 0);
	return s;
}

/* Each test starts from the defaults, text, no limit, nothing pending. */
static int reset(void **state)
{
	(void)state;
	hub_log_set_fd(cap_fd);
	hub_log_level_set("info");
	hub_log_format_set("text");
	hub_log_rate_set(0);
	hub_log_flush();
	free(take());
	return 0;
}

/* Splits @s (changed in place) at '\n'; the lines keep no newline. */
static size_t split(char *s, char **lines, size_t max)
{
	size_t n = 0;
	char *nl;

	while (*s) {
		nl = strchr(s, '\n');
		assert_non_null(nl);	/* every line ends with one */
		*nl = '\0';
		assert_true(n < max);
		lines[n++] = s;
		s = nl + 1;
	}
	return n;
}

/* @ts is a UTC time with milliseconds, within a minute of now. */
static void check_time(const char *ts)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	struct tm tm = { 0 };
	size_t i;

	for (i = 0; pat[i]; i++) {
		if (pat[i] == 'd')
			assert_true(ts[i] >= '0' && ts[i] <= '9');
		else
			assert_int_equal(ts[i], pat[i]);
	}
	assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm));
	assert_true(llabs((long long)(timegm(&tm) - time(NULL))) < 60);
}

/* The line less its time field: what follows "time=TS" or
   {"time":"TS. */
static const char *untimed(const char *line)
{
	const char *p = line;

	if (!strncmp(line, "time=", 5))
		p = line + 5;
	else if (!strncmp(line, "{\"time\":\"", 9))
		p = line + 9;
	else
		fail_msg("no time field: %s", line);
	check_time(p);
	return p + 24;
}

/* One line is written, and it reads @want after its time. */
static void expect_one(const char *want)
{
	char *s = take();

	assert_string_equal(untimed(s), want);
	free(s);
}

/* ---- formats ---- */

static void log_fixed(void)
{
	hub_log(HUB_LOG_INFO, "refused", KV_S("peer", "127.0.0.1"),
		KV_I("status", 429), KV_S("reason", "connections per address"),
		KV_B("ok", 5), KV_I("neg", INT64_MIN), KV_S("none", NULL),
		KV_S("empty", ""));
}

static void text_format(void **state)
{
	(void)state;
	log_fixed();
	expect_one(" level=info event=refused peer=127.0.0.1 status=429 "
		   "reason=\"connections per address\" ok=true "
		   "neg=-9223372036854775808 none=\"\" empty=\"\"\n");
	hub_log(HUB_LOG_WARN, "stop");
	expect_one(" level=warn event=stop\n");
	/* keys are not quoted: bytes that would break a pair become '_' */
	hub_log(HUB_LOG_ERROR, NULL, KV_I("bad key=\"", 1), KV_B(NULL, 0),
		KV_S("a.b-c_d", "x"));
	expect_one(" level=error event=\"\" bad_key__=1 _=false a.b-c_d=x\n");
}

static void json_format(void **state)
{
	json_error_t err;
	json_t *j;
	char *s;

	(void)state;
	assert_true(hub_log_format_set("json"));
	log_fixed();
	s = take();
	assert_string_equal(untimed(s),
		"\",\"level\":\"info\",\"event\":\"refused\","
		"\"peer\":\"127.0.0.1\",\"status\":429,"
		"\"reason\":\"connections per address\",\"ok\":true,"
		"\"neg\":-9223372036854775808,\"none\":null,\"empty\":\"\"}\n");
	j = json_loads(s, 0, &err);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 429);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_true(json_is_null(json_object_get(j, "none")));
	assert_int_equal(json_integer_value(json_object_get(j, "neg")),
			 INT64_MIN);
	assert_int_equal(json_object_size(j), 10);
	json_decref(j);
	free(s);
	hub_log(HUB_LOG_DEBUG, "hidden");
	hub_log(HUB_LOG_WARN, "stop");
	expect_one("\",\"level\":\"warn\",\"event\":\"stop\"}\n");
	hub_log(HUB_LOG_ERROR, NULL, KV_I("k\"ey", 1));
	expect_one("\",\"level\":\"error\",\"event\":null,\"k\\\"ey\":1}\n");
}

/* Quotes, backslashes, control bytes, C1 controls, valid UTF-8 up to 4
   bytes, and invalid UTF-8: a lone continuation, a truncated sequence,
   an overlong, a surrogate, past U+10FFFF. */
static const char nasty[] =
	"a \"b\" \\c\n\r\t\x01\x1b\x7f \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 "
	"\xff\xc3(\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80\xc2\x9b end";

static void escape_text(void **state)
{
	(void)state;
	hub_log(HUB_LOG_INFO, "e", KV_S("v", nasty));
	expect_one(" level=info event=e v=\"a \\\"b\\\" \\\\c\\n\\r\\t\\x01"
		   "\\x1b\\x7f \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \\xff\\xc3("
		   "\\xc0\\x80\\xed\\xa0\\x80\\xf4\\x90\\x80\\x80\\xc2\\x9b "
		   "end\"\n");
	/* bare only when non-empty and all of [A-Za-z0-9_.:/@+,[]-] */
	hub_log(HUB_LOG_INFO, "e", KV_S("a", "azAZ09_.:/@+,[]-"),
		KV_S("b", "a=b"), KV_S("c", "a b"), KV_S("d", "\xc3\xa9"),
		KV_S("e", "#x"), KV_S("f", "x\""));
	expect_one(" level=info event=e a=azAZ09_.:/@+,[]- b=\"a=b\" "
		   "c=\"a b\" d=\"\xc3\xa9\" e=\"#x\" f=\"x\\\"\"\n");
}

static void escape_json(void **state)
{
	/* what the escaped value decodes to: U+FFFD per invalid byte */
	static const char decoded[] =
		"a \"b\" \\c\n\r\t\x01\x1b\x7f \xc3\xa9\xe2\x82\xac"
		"\xf0\x9f\x98\x80 "
		"\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd"
		"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
		"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
		"\xc2\x9b end";
	json_error_t err;
	json_t *j;
	char *s;

	(void)state;
	hub_log_format_set("json");
	hub_log(HUB_LOG_INFO, "e", KV_S("v", nasty));
	s = take();
	assert_string_equal(untimed(s),
		"\",\"level\":\"info\",\"event\":\"e\",\"v\":\"a \\\"b\\\" "
		"\\\\c\\n\\r\\t\\u0001\\u001b\\u007f \xc3\xa9\xe2\x82\xac"
		"\xf0\x9f\x98\x80 \\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\\ufffd"
		"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\u009b end\"}\n");
	/* jansson refuses raw control bytes and invalid UTF-8 */
	j = json_loads(s, 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "v")),
			    decoded);
	json_decref(j);
	free(s);
}

/* ---- the 2048-byte cut ---- */

static char *repeat(const char *unit, size_t times, const char *tail)
{
	size_t n = strlen(unit), i;
	char *s = malloc(n * times + strlen(tail) + 1);

	assert_non_null(s);
	for (i = 0; i < times; i++)
		memcpy(s + i * n, unit, n);
	strcpy(s + n * times, tail);
	return s;
}

/* Logs @v (then a field that no longer fits); returns the line, checked
   to be cut near the limit, with "..." before @end. */
static char *cut_line(const char *v, const char *end)
{
	char *s;
	size_t len;

	hub_log(HUB_LOG_INFO, "cut", KV_S("v", v), KV_I("after", 1));
	s = take();
	len = strlen(s);
	assert_true(len <= HUB_LOG_LINE_MAX);
	assert_true(len >= HUB_LOG_LINE_MAX - 12);
	assert_int_equal(strchr(s, '\n') - s, len - 1);	/* one line */
	assert_null(strstr(s, "after"));
	assert_string_equal(s + len - strlen(end), end);
	return s;
}

static void truncation_text(void **state)
{
	char *v, *s, *q;
	size_t n;

	(void)state;
	/* bare */
	v = repeat("a", 5000, "");
	s = cut_line(v, "aaa...\n");
	free(s);
	free(v);
	/* quoted, two-byte characters: never cut inside one */
	v = repeat("\xc3\xa9", 1500, " ");
	s = cut_line(v, "\xc3\xa9...\"\n");
	q = strstr(s, "v=\"") + 3;
	n = (size_t)(strstr(q, "...") - q);
	assert_int_equal(n % 2, 0);
	free(s);
	free(v);
	/* escapes: never cut inside one */
	v = repeat("\x01", 1000, "");
	s = cut_line(v, "\\x01...\"\n");
	q = strstr(s, "v=\"") + 3;
	n = (size_t)(strstr(q, "...") - q);
	assert_int_equal(n % 4, 0);
	free(s);
	free(v);
	/* a long event is cut the same way, and no field follows */
	v = repeat("e", 3000, "");
	hub_log(HUB_LOG_INFO, v, KV_I("after", 1));
	s = take();
	assert_true(strlen(s) <= HUB_LOG_LINE_MAX);
	assert_non_null(strstr(s, "eee...\n"));
	free(s);
	free(v);
}

static void truncation_json(void **state)
{
	static const char *const units[] = { "\xc3\xa9", "\x01", "\"", "\xff",
					     "a" };
	json_error_t err;
	const char *got;
	json_t *j;
	size_t i, k;
	char *v, *s;

	(void)state;
	hub_log_format_set("json");
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		v = repeat(units[i], 3000, "");
		s = cut_line(v, "...\"}\n");
		j = json_loads(s, 0, &err);
		assert_non_null(j);
		got = json_string_value(json_object_get(j, "v"));
		assert_non_null(got);
		assert_true(strlen(got) > 300);
		assert_string_equal(got + strlen(got) - 3, "...");
		json_decref(j);
		free(s);
		free(v);
	}
	/* many fields: those that fit, whole, and still one JSON object */
	{
		struct hub_kv kv[200];

		for (k = 0; k < 200; k++)
			kv[k] = KV_S("field", "twenty bytes of text");
		hub_logv(HUB_LOG_INFO, "many", kv, 200);
		s = take();
		assert_true(strlen(s) <= HUB_LOG_LINE_MAX);
		assert_true(strlen(s) > HUB_LOG_LINE_MAX - 60);
		j = json_loads(s, 0, &err);
		assert_non_null(j);	/* duplicate keys: the last wins */
		assert_string_equal(json_string_value(json_object_get(j,
				    "field")), "twenty bytes of text");
		json_decref(j);
		free(s);
	}
}

/* ---- levels ---- */

static void levels(void **state)
{
	static const char *const names[] = { "error", "warn", "info",
					     "debug" };
	char *s, *lines[8];
	uint64_t before;
	int evaluated = 0;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		assert_true(hub_log_level_set(names[i]));
		assert_string_equal(hub_log_level_name(), names[i]);
	}
	assert_false(hub_log_level_set("verbose"));
	assert_false(hub_log_level_set("INFO"));
	assert_false(hub_log_level_set(""));
	assert_false(hub_log_level_set(NULL));
	assert_string_equal(hub_log_level_name(), "debug");
	assert_false(hub_log_format_set("xml"));
	assert_false(hub_log_format_set(NULL));

	assert_true(hub_log_level_set("warn"));
	assert_true(hub_log_enabled(HUB_LOG_ERROR));
	assert_true(hub_log_enabled(HUB_LOG_WARN));
	assert_false(hub_log_enabled(HUB_LOG_INFO));
	assert_false(hub_log_enabled(HUB_LOG_DEBUG));
	before = hub_log_lines();
	hub_log(HUB_LOG_INFO, "no");
	hub_log(HUB_LOG_DEBUG, "no", KV_I("n", ++evaluated));
	hub_log_force(HUB_LOG_INFO, "no");
	hub_logv(HUB_LOG_INFO, "no", NULL, 0);
	hub_log(HUB_LOG_WARN, "yes1");
	hub_log(HUB_LOG_ERROR, "yes2");
	hub_log_force(HUB_LOG_WARN, "yes3", KV_I("n", ++evaluated));
	assert_int_equal(evaluated, 1);	/* fields built only when enabled */
	assert_int_equal(hub_log_lines() - before, 3);
	s = take();
	assert_int_equal(split(s, lines, 8), 3);
	assert_string_equal(untimed(lines[0]), " level=warn event=yes1");
	assert_string_equal(untimed(lines[1]), " level=error event=yes2");
	assert_string_equal(untimed(lines[2]), " level=warn event=yes3 n=1");
	free(s);

	assert_true(hub_log_level_set("debug"));
	hub_log(HUB_LOG_DEBUG, "d");
	expect_one(" level=debug event=d\n");
}

/* ---- the rate limit ---- */

/* Counts the lines of event @event in @s, and adds the counts of the
   log_suppressed lines to *@reported (if not NULL). */
static size_t count_event(const char *s, const char *event,
			  uint64_t *reported)
{
	static const char report[] = " event=log_suppressed count=";
	static char *lines[16384];
	char *copy = strdup(s), want[64];
	const char *p, *r;
	size_t n, i, hits = 0;

	assert_non_null(copy);
	n = split(copy, lines, 16384);
	snprintf(want, sizeof(want), " event=%s ", event);
	for (i = 0; i < n; i++) {
		p = untimed(lines[i]);
		if (strstr(p, want))
			hits++;
		if (reported && (r = strstr(p, report)))
			*reported += strtoull(r + strlen(report), NULL, 10);
	}
	free(copy);
	return hits;
}

static void rate_limit(void **state)
{
	uint64_t l0 = hub_log_lines(), s0 = hub_log_suppressed();
	uint64_t reported = 0, dropped;
	size_t written, last, i;
	char *s, *lines[4];

	(void)state;
	hub_log_rate_set(10);
	for (i = 0; i < 1000; i++)
		hub_log(HUB_LOG_INFO, "flood", KV_I("i", i));
	/* never dropped, and no tokens taken */
	for (i = 0; i < 50; i++)
		hub_log_force(HUB_LOG_INFO, "kept", KV_I("i", i));
	s = take();
	written = count_event(s, "flood", &reported);
	assert_int_equal(count_event(s, "kept", NULL), 50);
	free(s);
	dropped = hub_log_suppressed() - s0;
	assert_int_equal(written + dropped, 1000);
	assert_true(written >= 10);
	assert_true(written <= 20);
	/* the report comes now, with what no earlier report counted */
	hub_log_flush();
	s = take();
	assert_int_equal(split(s, lines, 4), 1);
	assert_true(sscanf(untimed(lines[0]),
			   " level=warn event=log_suppressed count=%zu",
			   &last) == 1);
	reported += last;
	free(s);
	assert_int_equal(reported, dropped);
	hub_log_flush();		/* nothing left to report */
	s = take();
	assert_string_equal(s, "");
	free(s);
	/* flood + kept + one or more reports */
	assert_true(hub_log_lines() - l0 >= written + 50 + 1);
	assert_true(hub_log_lines() - l0 <= written + 50 + 3);

	/* 0: no limit */
	hub_log_rate_set(0);
	s0 = hub_log_suppressed();
	for (i = 0; i < 1000; i++)
		hub_log(HUB_LOG_INFO, "free", KV_I("i", i));
	assert_int_equal(hub_log_suppressed(), s0);
	s = take();
	reported = 0;
	assert_int_equal(count_event(s, "free", &reported), 1000);
	free(s);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep into the next monotonic second, @ms into it. */
static void next_second(int ms)
{
	int64_t now = mono_ms();
	int64_t wait = 1000 - now % 1000 + ms;
	struct timespec ts = { wait / 1000, (wait % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* The report waits for a new second, then precedes the next line. */
static void rate_report_next_second(void **state)
{
	char *s, *lines[64];
	size_t i, n;

	(void)state;
	next_second(10);
	hub_log_rate_set(10);
	for (i = 0; i < 30; i++)
		hub_log(HUB_LOG_INFO, "burst");
	hub_log_force(HUB_LOG_INFO, "same");
	if (mono_ms() % 1000 > 900)
		skip();		/* too slow to stay within one second */
	s = take();
	n = split(s, lines, 64);
	assert_int_equal(n, 11);
	for (i = 0; i < 10; i++)
		assert_string_equal(untimed(lines[i]), " level=info event=burst");
	assert_string_equal(untimed(lines[10]), " level=info event=same");
	free(s);
	next_second(10);
	hub_log(HUB_LOG_INFO, "next");
	s = take();
	assert_int_equal(split(s, lines, 64), 2);
	assert_string_equal(untimed(lines[0]),
			    " level=warn event=log_suppressed count=20");
	assert_string_equal(untimed(lines[1]), " level=info event=next");
	free(s);

	/* the report is written even where the level hides warn lines:
	   the lines it counts passed the level */
	hub_log_level_set("error");
	hub_log_rate_set(1);
	for (i = 0; i < 5; i++)
		hub_log(HUB_LOG_ERROR, "err");
	hub_log_flush();
	s = take();
	assert_int_equal(split(s, lines, 64), 2);
	assert_string_equal(untimed(lines[0]), " level=error event=err");
	assert_string_equal(untimed(lines[1]),
			    " level=warn event=log_suppressed count=4");
	free(s);
}

/* ---- threads ---- */

#define NTHREADS 4
#define PER_THREAD 500

struct reader {
	int fd;
	char *buf;
	size_t len, cap;
};

static void *read_all(void *arg)
{
	struct reader *r = arg;
	ssize_t got;

	for (;;) {
		if (r->cap - r->len < 65536) {
			r->cap = r->cap * 2 + 65536;
			r->buf = realloc(r->buf, r->cap + 1);
			if (!r->buf)
				abort();
		}
		got = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		r->len += (size_t)got;
	}
	r->buf[r->len] = '\0';
	return NULL;
}

static char pad[1500];
static unsigned rounds = PER_THREAD;

static void *writer(void *arg)
{
	long t = (long)arg;
	unsigned i;

	for (i = 0; i < rounds; i++)
		hub_log(HUB_LOG_INFO, "t", KV_I("thread", t), KV_I("seq", i),
			KV_S("pad", pad), KV_B("odd", i & 1));
	return NULL;
}

/* Runs the writers into a pipe; returns what came out. */
static char *run_writers(void)
{
	struct reader r = { 0 };
	pthread_t rd, w[NTHREADS];
	int fds[2];
	long t;

	assert_int_equal(pipe(fds), 0);
	r.fd = fds[0];
	hub_log_set_fd(fds[1]);
	assert_int_equal(pthread_create(&rd, NULL, read_all, &r), 0);
	for (t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&w[t], NULL, writer,
						(void *)t), 0);
	for (t = 0; t < NTHREADS; t++)
		pthread_join(w[t], NULL);
	hub_log_flush();
	close(fds[1]);
	pthread_join(rd, NULL);
	close(fds[0]);
	hub_log_set_fd(cap_fd);
	return r.buf;
}

static void threads(void **state)
{
	static bool seen[NTHREADS][PER_THREAD];
	static char *lines[NTHREADS * PER_THREAD + 8];
	json_error_t err;
	json_t *j;
	long long t, i;
	const char *end;
	size_t n, k;
	char *s;
	int json;

	(void)state;
	memset(pad, 'x', sizeof(pad) - 1);
	pad[100] = '"';			/* escaped: quoted in text too */
	for (json = 0; json < 2; json++) {
		hub_log_format_set(json ? "json" : "text");
		memset(seen, 0, sizeof(seen));
		s = run_writers();
		n = split(s, lines, NTHREADS * PER_THREAD + 8);
		assert_int_equal(n, NTHREADS * PER_THREAD);
		for (k = 0; k < n; k++) {
			if (json) {
				j = json_loads(lines[k], 0, &err);
				assert_non_null(j);
				t = json_integer_value(json_object_get(j,
						       "thread"));
				i = json_integer_value(json_object_get(j,
						       "seq"));
				assert_int_equal(strlen(json_string_value(
					json_object_get(j, "pad"))),
					sizeof(pad) - 1);
				json_decref(j);
			} else {
				assert_int_equal(sscanf(untimed(lines[k]),
					" level=info event=t thread=%lld seq=%lld",
					&t, &i), 2);
				end = (i & 1) ? "x\" odd=true" :
						"x\" odd=false";
				assert_string_equal(lines[k] + strlen(lines[k]) -
						    strlen(end), end);
			}
			assert_true(t >= 0 && t < NTHREADS);
			assert_true(i >= 0 && i < PER_THREAD);
			assert_false(seen[t][i]);
			seen[t][i] = true;
		}
		free(s);
	}
}

/* Four threads against one bucket: written + dropped adds up, and no
   more than a second's worth and the refill got through. */
static void threads_rate(void **state)
{
	uint64_t s0 = hub_log_suppressed(), reported = 0;
	int64_t t0, ms;
	size_t written;
	char *s;

	(void)state;
	hub_log_format_set("text");
	memset(pad, 'y', 10);
	pad[10] = '\0';
	rounds = 2000;
	t0 = mono_ms();
	hub_log_rate_set(50);
	s = run_writers();
	ms = mono_ms() - t0;
	rounds = PER_THREAD;
	written = count_event(s, "t", &reported);
	free(s);
	assert_int_equal(written + (hub_log_suppressed() - s0),
			 NTHREADS * 2000);
	assert_true(written >= 50);
	assert_true(written <= 50 + (size_t)(ms * 50 / 1000) + 1);
	assert_int_equal(reported, hub_log_suppressed() - s0);
}

/* A failed write is not the caller's error. */
static void keeps_errno(void **state)
{
	uint64_t before = hub_log_lines();

	(void)state;
	hub_log_set_fd(-1);
	errno = EDOM;
	hub_log(HUB_LOG_INFO, "lost");
	assert_int_equal(errno, EDOM);
	hub_log_set_fd(cap_fd);
	assert_int_equal(hub_log_lines() - before, 1);
}

/* ---- the config file ---- */

static char dir[64];

static const char *file(const char *name, const char *text, size_t len)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
	return path;
}

/* A slice of main.c's table, with each kind of argument. */
static const struct option opts[] = {
	{ "host", required_argument, NULL, 'H' },
	{ "port", required_argument, NULL, 'p' },
	{ "listen", required_argument, NULL, 'L' },
	{ "no-pin", no_argument, NULL, 'N' },
	{ "no-echo-self", no_argument, NULL, 'E' },
	{ "no-deflate", no_argument, NULL, 'D' },
	{ "allow-origin", required_argument, NULL, 'O' },
	{ "auth-secret", required_argument, NULL, 'S' },
	{ "ws-route", required_argument, NULL, 'R' },
	{ "log-level", optional_argument, NULL, 'l' },
	{ "config", required_argument, NULL, 'c' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};
static const char *const refused[] = { "config", "help", "version",
				       "check", NULL };

static const char good[] =
	"\xef\xbb\xbf# ringcast.conf\r\n"			/* 1 */
	"\r\n"							/* 2 */
	"  ; another comment\r\n"				/* 3 */
	"port = 8080\r\n"					/* 4 */
	"listen = [::1]:8080          # not a comment\r\n"	/* 5 */
	"allow_origin = https://a.example\n"			/* 6 */
	"\tallow-origin=https://b.example  \n"			/* 7 */
	"no-pin\n"						/* 8 */
	"no_echo_self = TRUE\n"					/* 9 */
	"no-deflate = false\n"					/* 10 */
	"auth-secret = \"  sp \\\"q\\\" back\\\\slash \\n kept  \"\n"	/* 11 */
	"ws-route = /=echo\n"					/* 12 */
	"   \t  \n"						/* 13 */
	"log-level\n"						/* 14 */
	"log_level = debug\n"					/* 15 */
	"host = ::1";						/* 16 */

static const char secret[] = "  sp \"q\" back\\slash \\n kept  ";

static void conf_items(void **state)
{
	static const struct { const char *key, *value; unsigned line; }
	want[] = {
		{ "port", "8080", 4 },
		{ "listen", "[::1]:8080          # not a comment", 5 },
		{ "allow-origin", "https://a.example", 6 },
		{ "allow-origin", "https://b.example", 7 },
		{ "no-pin", NULL, 8 },
		{ "no-echo-self", "TRUE", 9 },
		{ "no-deflate", "false", 10 },
		{ "auth-secret", secret, 11 },
		{ "ws-route", "/=echo", 12 },
		{ "log-level", NULL, 14 },
		{ "log-level", "debug", 15 },
		{ "host", "::1", 16 },
	};
	struct hub_conf c;
	char why[256] = "";
	size_t i;

	(void)state;
	assert_int_equal(hub_conf_read(file("good.conf", good,
					    sizeof(good) - 1), &c, why,
				       sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(c.n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < c.n; i++) {
		assert_string_equal(c.items[i].key, want[i].key);
		if (want[i].value)
			assert_string_equal(c.items[i].value, want[i].value);
		else
			assert_null(c.items[i].value);
		assert_int_equal(c.items[i].line, want[i].line);
	}
	hub_conf_free(&c);
	assert_int_equal(c.n, 0);
	hub_conf_free(&c);	/* twice is harmless */
}

static void conf_argv_getopt(void **state)
{
	static const char *const want_argv[] = {
		"ringcast", "--port=8080",
		"--listen=[::1]:8080          # not a comment",
		"--allow-origin=https://a.example",
		"--allow-origin=https://b.example", "--no-pin",
		"--no-echo-self", NULL /* secret */, "--ws-route=/=echo",
		"--log-level", "--log-level=debug", "--host=::1",
	};
	static const unsigned want_lines[] = { 0, 4, 5, 6, 7, 8, 9, 11, 12,
					       14, 15, 16 };
	static const struct { int opt; const char *arg; unsigned line; }
	want_opts[] = {
		{ 'p', "8080", 4 },
		{ 'L', "[::1]:8080          # not a comment", 5 },
		{ 'O', "https://a.example", 6 },
		{ 'O', "https://b.example", 7 },
		{ 'N', NULL, 8 }, { 'E', NULL, 9 },
		{ 'S', secret, 11 },
		{ 'R', "/=echo", 12 },
		{ 'l', NULL, 14 }, { 'l', "debug", 15 },
		{ 'H', "::1", 16 },
	};
	const char *path = file("good.conf", good, sizeof(good) - 1);
	char why[256], **argv, expect[128];
	unsigned *lines;
	struct hub_conf c;
	int argc, opt, i;

	(void)state;
	assert_int_equal(hub_conf_read(path, &c, why, sizeof(why)), 0);
	assert_int_equal(hub_conf_argv(&c, path, opts, refused, &argc, &argv,
				       &lines, why, sizeof(why)), 0);
	hub_conf_free(&c);		/* argv owns its strings */
	assert_int_equal(argc, 12);
	assert_null(argv[argc]);
	snprintf(expect, sizeof(expect), "--auth-secret=%s", secret);
	for (i = 0; i < argc; i++) {
		assert_string_equal(argv[i], want_argv[i] ? want_argv[i] :
					     expect);
		assert_int_equal(lines[i], want_lines[i]);
	}
	optind = 0;		/* glibc: start over, state and all */
	opterr = 0;
	for (i = 0; (opt = getopt_long(argc, argv, "H:p:", opts, NULL)) != -1;
	     i++) {
		assert_true(i < 11);
		assert_int_equal(opt, want_opts[i].opt);
		if (want_opts[i].arg)
			assert_string_equal(optarg, want_opts[i].arg);
		else
			assert_null(optarg);
		assert_int_equal(lines[optind - 1], want_opts[i].line);
	}
	assert_int_equal(i, 11);
	assert_int_equal(optind, argc);
	hub_conf_argv_free(argc, argv, lines);
}

static void conf_empty(void **state)
{
	char why[64], **argv;
	unsigned *lines;
	struct hub_conf c;
	const char *path;
	int argc;

	(void)state;
	path = file("empty.conf", "# nothing\n\n", 11);
	assert_int_equal(hub_conf_read(path, &c, why, sizeof(why)), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(hub_conf_argv(&c, path, opts, NULL, &argc, &argv,
				       &lines, why, sizeof(why)), 0);
	assert_int_equal(argc, 1);
	assert_string_equal(argv[0], "ringcast");
	assert_null(argv[1]);
	assert_int_equal(lines[0], 0);
	hub_conf_argv_free(argc, argv, lines);
	hub_conf_free(&c);
	/* no-deflate = off: left out altogether */
	path = file("off.conf", "no-deflate = off\nno-pin = No\n", 28);
	assert_int_equal(hub_conf_read(path, &c, why, sizeof(why)), 0);
	assert_int_equal(hub_conf_argv(&c, path, opts, refused, &argc, &argv,
				       &lines, why, sizeof(why)), 0);
	assert_int_equal(argc, 1);
	hub_conf_argv_free(argc, argv, lines);
	hub_conf_free(&c);
}

/* @text (@len bytes) fails, in hub_conf_read() or else hub_conf_argv(),
   with "PATH@suffix". */
static void expect_error(const char *text, size_t len, const char *suffix)
{
	const char *path = file("bad.conf", text, len);
	char why[256], want[256], **argv = NULL;
	unsigned *lines = NULL;
	struct hub_conf c;
	int argc = -7;

	snprintf(want, sizeof(want), "%s%s", path, suffix);
	memset(why, 'z', sizeof(why));
	if (hub_conf_read(path, &c, why, sizeof(why))) {
		assert_int_equal(c.n, 0);
		assert_null(c.items);
	} else {
		assert_int_equal(hub_conf_argv(&c, path, opts, refused, &argc,
					       &argv, &lines, why,
					       sizeof(why)), -1);
		assert_int_equal(argc, -7);	/* untouched */
		assert_null(argv);
		hub_conf_free(&c);
	}
	assert_string_equal(why, want);
}

#define BAD(text, suffix) expect_error(text, sizeof(text) - 1, suffix)

static void conf_errors(void **state)
{
	char *big;

	(void)state;
	BAD("port = 1\nfrobnicate = 1\n", ":2: unknown key 'frobnicate'");
	BAD("port = 1\nno-pin = maybe\n",
	    ":2: 'no-pin' takes no value (or true/false)");
	BAD("no_pin = \"\"\n", ":1: 'no-pin' takes no value (or true/false)");
	BAD("# c\nport\n", ":2: 'port' needs a value");
	BAD("# c\nport =   \r\n", ":2: 'port': missing value after '='");
	BAD("config = /etc/ringcast.conf\n",
	    ":1: 'config' is not allowed in a config file");
	BAD("\nhelp\n", ":2: 'help' is not allowed in a config file");
	BAD("check = true\n", ":1: 'check' is not allowed in a config file");
	BAD("version\n", ":1: 'version' is not allowed in a config file");
	BAD("\n\nauth-secret = \"abc\n", ":3: unterminated quote");
	BAD("auth-secret = \"abc\\\"\n", ":1: unterminated quote");
	BAD("auth-secret = \"abc\" # c\n", ":1: text after the closing quote");
	BAD("port 8080\n", ":1: expected 'key = value' or 'key'");
	BAD("= 5\n", ":1: expected 'key = value' or 'key'");
	BAD("po.rt = 5\n", ":1: expected 'key = value' or 'key'");
	BAD("--port = 5\n", ":1: unknown key '--port'");
	BAD("port = 1\nhost = a\0b\n", ":2: NUL byte");
	/* a line of 4096 bytes is fine (CRLF not counted); 4097 is not */
	big = repeat("x", 4096, "\r\nport\n");
	memcpy(big, "auth-secret = ", 14);
	expect_error(big, strlen(big), ":2: 'port' needs a value");
	free(big);
	big = repeat("x", 9 + 4097, "\n");
	memcpy(big, "port = 1\nauth-secret = ", 23);
	expect_error(big, strlen(big), ":2: line longer than 4096 bytes");
	free(big);
}

static void conf_file_errors(void **state)
{
	char why[256], want[256], *text;
	struct hub_conf c;
	const char *path;

	(void)state;
	snprintf(want, sizeof(want), "%s/nope.conf", dir);
	assert_int_equal(hub_conf_read(want, &c, why, sizeof(why)), -1);
	strcat(want, ": No such file or directory");
	assert_string_equal(why, want);
	assert_int_equal(hub_conf_read(dir, &c, why, sizeof(why)), -1);
	snprintf(want, sizeof(want), "%s: Is a directory", dir);
	assert_string_equal(why, want);
	/* the cut message is still a C string */
	assert_int_equal(hub_conf_read(dir, &c, why, 8), -1);
	assert_int_equal(strlen(why), 7);
	assert_memory_equal(why, dir, 7);

	/* 1 MiB of comments reads; one byte more does not */
	text = repeat("#234567890123456789012345678901\n", 32768, "");
	path = file("big.conf", text, 1 << 20);
	assert_int_equal(hub_conf_read(path, &c, why, sizeof(why)), 0);
	assert_int_equal(c.n, 0);
	free(text);
	text = repeat("#234567890123456789012345678901\n", 32768, "\n");
	path = file("big.conf", text, (1 << 20) + 1);
	free(text);
	assert_int_equal(hub_conf_read(path, &c, why, sizeof(why)), -1);
	snprintf(want, sizeof(want), "%s: larger than 1 MiB", path);
	assert_string_equal(why, want);
}

static int setup(void **state)
{
	(void)state;
	cap_fd = memfd_create("log", MFD_CLOEXEC);
	if (cap_fd < 0)
		return -1;
	strcpy(dir, "/tmp/rc_conf_XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	static const char *const names[] = { "good.conf", "empty.conf",
		"off.conf", "bad.conf", "big.conf" };
	char path[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	close(cap_fd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(text_format, reset),
		cmocka_unit_test_setup(json_format, reset),
		cmocka_unit_test_setup(escape_text, reset),
		cmocka_unit_test_setup(escape_json, reset),
		cmocka_unit_test_setup(truncation_text, reset),
		cmocka_unit_test_setup(truncation_json, reset),
		cmocka_unit_test_setup(levels, reset),
		cmocka_unit_test_setup(rate_limit, reset),
		cmocka_unit_test_setup(rate_report_next_second, reset),
		cmocka_unit_test_setup(threads, reset),
		cmocka_unit_test_setup(threads_rate, reset),
		cmocka_unit_test_setup(keeps_errno, reset),
		cmocka_unit_test(conf_items),
		cmocka_unit_test(conf_argv_getopt),
		cmocka_unit_test(conf_empty),
		cmocka_unit_test(conf_errors),
		cmocka_unit_test(conf_file_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
