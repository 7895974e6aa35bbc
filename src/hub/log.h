/* SPDX-License-Identifier: MIT */
/* log.h -- the hub's event log: one line per event, text (logfmt) or JSON,
   filtered by level and rate-limited, from any thread. */
#ifndef RC_HUB_LOG_H
#define RC_HUB_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest line, newline included: well under PIPE_BUF (4096), so a
   line written to a pipe (journald, docker) never mixes with another.
   Longer values are cut and end with "...". */
#define HUB_LOG_LINE_MAX 2048

enum hub_log_level { HUB_LOG_ERROR, HUB_LOG_WARN, HUB_LOG_INFO, HUB_LOG_DEBUG };

enum hub_kv_kind { HUB_KV_STR, HUB_KV_INT, HUB_KV_BOOL };

/* One field of a line. @key: a literal of [A-Za-z0-9_.-] (other bytes are
   written as '_' in text); @str: borrowed for the call, NULL allowed. */
struct hub_kv {
	const char *key;
	const char *str;
	long long num;
	enum hub_kv_kind kind;
};

#define KV_S(k, v) ((struct hub_kv){ .key = (k), .str = (v), .kind = HUB_KV_STR })
#define KV_I(k, v) ((struct hub_kv){ .key = (k), .num = (long long)(v), .kind = HUB_KV_INT })
#define KV_B(k, v) ((struct hub_kv){ .key = (k), .num = !!(v), .kind = HUB_KV_BOOL })

/* "error", "warn", "info" or "debug"; any thread (atomic). False, and the
   level unchanged, if @name is none of them. */
bool hub_log_level_set(const char *name);
const char *hub_log_level_name(void);
/* "text" (the default) or "json"; meant for start-up, before threads log.
   False if @name is neither. */
bool hub_log_format_set(const char *name);
/* Lines a second, over all threads (0: unlimited; default 100); any
   thread. A changed rate starts with a full bucket. */
void hub_log_rate_set(unsigned per_sec);
/* Whether a line at @lv would be written: one relaxed load. */
bool hub_log_enabled(enum hub_log_level lv);

/*
 * One event line: time, level, event, then @kv's @n fields in order (a
 * NULL str is written as "" in text, null in JSON). Past the rate limit
 * the line is dropped and counted; the next line written in a later
 * second is preceded by a log_suppressed line with the count. errno is
 * left as it was. Nothing is kept: @event and @kv are borrowed.
 */
void hub_logv(enum hub_log_level lv, const char *event,
	      const struct hub_kv *kv, size_t n);
/* The same, never rate-limited (start, stop, reload, drain); still
   filtered by level. */
void hub_log_always(enum hub_log_level lv, const char *event,
		    const struct hub_kv *kv, size_t n);
/* Write the log_suppressed line now, if lines were dropped since the
   last one (at exit, or from a timer). */
void hub_log_flush(void);
/* Lines written (log_suppressed ones included), and lines dropped by the
   rate limit, since the start. */
uint64_t hub_log_lines(void);
uint64_t hub_log_suppressed(void);
/* Write to @fd instead of 2 (tests). */
void hub_log_set_fd(int fd);

/*
 * hub_log(HUB_LOG_INFO, "refused", KV_S("peer", p), KV_I("status", 429));
 * The fields are built only when the level is enabled. The leading { 0 }
 * lets the list be empty without a zero-length array; @lv is evaluated
 * twice.
 */
#define hub_log(lv, event, ...)						\
	do {								\
		if (hub_log_enabled(lv)) {				\
			const struct hub_kv hub_kv_[] = { { 0 }, __VA_ARGS__ }; \
			hub_logv((lv), (event), hub_kv_ + 1,		\
				 sizeof(hub_kv_) / sizeof(hub_kv_[0]) - 1); \
		}							\
	} while (0)

/* The same through hub_log_always(): never rate-limited. */
#define hub_log_force(lv, event, ...)					\
	do {								\
		if (hub_log_enabled(lv)) {				\
			const struct hub_kv hub_kv_[] = { { 0 }, __VA_ARGS__ }; \
			hub_log_always((lv), (event), hub_kv_ + 1,	\
				       sizeof(hub_kv_) / sizeof(hub_kv_[0]) - 1); \
		}							\
	} while (0)

#endif /* RC_HUB_LOG_H */
