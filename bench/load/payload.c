/* SPDX-License-Identifier: MIT */
/* payload.c -- what the broadcast publishers send: binary filler, --text or --json chat messages, as masked frames ready to copy (plain, and compressed for --deflate), each with the place of its per-message stamp. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringcast.h"
#include "payload.h"
#include "pmd.h"
#include "ws.h"

/* --json text: words of everyday English, drawn with a seeded PRNG, so
   that the messages compress as chat does (not as random bytes, not as
   one phrase repeated). */
static const char *const words[] = {
	"the", "be", "to", "of", "and", "a", "in", "that", "have", "I",
	"it", "for", "not", "on", "with", "he", "as", "you", "do", "at",
	"this", "but", "his", "by", "from", "they", "we", "say", "her",
	"she", "or", "an", "will", "my", "one", "all", "would", "there",
	"their", "what", "so", "up", "out", "if", "about", "who", "get",
	"which", "go", "me", "when", "make", "can", "like", "time", "no",
	"just", "him", "know", "take", "people", "into", "year", "your",
	"good", "some", "could", "them", "see", "other", "than", "then",
	"now", "look", "only", "come", "its", "over", "think", "also",
	"back", "after", "use", "two", "how", "our", "work", "first",
	"well", "way", "even", "new", "want", "because", "any", "these",
	"give", "day", "most", "us", "meeting", "tomorrow", "tonight",
	"release", "build", "review", "deploy", "server", "message",
	"channel", "lunch", "coffee", "weekend", "thanks", "sure", "maybe",
	"sounds", "great", "problem", "issue", "fixed", "broken", "test",
	"tests", "green", "later", "soon", "already", "still", "again",
	"please", "check", "link", "doc", "draft", "notes", "call", "room",
	"team", "plan", "idea", "question", "answer", "really", "pretty",
	"quick", "slow", "late", "early", "morning", "afternoon", "office",
	"home", "remote", "laptop", "phone", "update", "version", "branch",
	"merge", "ticket", "customer", "dashboard", "metrics", "latency",
	"memory", "logs", "config", "yesterday", "monday", "friday",
	"anyone", "everyone", "someone", "nothing", "something", "here",
	"where", "why", "was", "were", "been", "has", "had", "did", "does",
	"done", "going", "gonna", "let's", "don't", "can't", "I'm", "it's",
	"that's", "okay", "yes", "yeah", "nice", "cool", "awesome", "agree",
};

#define NWORDS (sizeof(words) / sizeof(words[0]))

/* splitmix64: deterministic, the same in every worker and process. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static const char hex[] = "0123456789abcdef";

static void put_hex(uint8_t *p, uint32_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 4)
		p[i] = (uint8_t)hex[v & 15];
}

static bool get_hex(const uint8_t *p, uint32_t *v)
{
	uint32_t x = 0;

	for (int i = 0; i < 8; i++) {
		uint8_t c = p[i];

		if (c >= '0' && c <= '9')
			x = x << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			x = x << 4 | (uint32_t)(c - 'a' + 10);
		else
			return false;
	}
	*v = x;
	return true;
}

/* The fixed parts of the --json stamp, and where its fields go. */
static const char stamp_a[] = "{\"id\":\"";		/* then 8 hex */
#define ID_PUB		7
#define ID_SEQ		16				/* after '-' */
static const char stamp_b[] = "\",\"ts\":";		/* at 24 */
#define TS_AT		31				/* 19 digits */
#define TS_BASE		1000000000000000000ull

_Static_assert(TS_AT + 19 + 1 == RL_STAMP_JSON, "the --json stamp");
_Static_assert(RL_STAMP_JSON <= RL_WS_HEAD, "the head holds the stamp");

/* ts: 10^18 + @t, 19 digits, so the field has a fixed width. */
static void put_ts(uint8_t *p, uint64_t t)
{
	uint64_t ts = TS_BASE + t % TS_BASE;

	for (int i = 18; i >= 0; i--, ts /= 10)
		p[i] = (uint8_t)('0' + ts % 10);
}

static bool get_ts(const uint8_t *p, uint64_t *t)
{
	uint64_t ts = 0;

	for (int i = 0; i < 19; i++) {
		uint8_t c = p[i];

		if (c < '0' || c > '9')
			return false;
		ts = ts * 10 + (uint64_t)(c - '0');
	}
	if (ts < TS_BASE)
		return false;
	*t = ts - TS_BASE;
	return true;
}

static void json_stamp(uint8_t *p, uint64_t t, uint32_t pub, uint32_t seq)
{
	memcpy(p, stamp_a, sizeof(stamp_a) - 1);
	put_hex(p + ID_PUB, pub);
	p[ID_PUB + 8] = '-';
	put_hex(p + ID_SEQ, seq);
	memcpy(p + ID_SEQ + 8, stamp_b, sizeof(stamp_b) - 1);
	put_ts(p + TS_AT, t);
	p[TS_AT + 19] = ',';
}

/* --text: PPPPPPPP-SSSSSSSS-1TTTTTTTTTTTTTTTTTT */
#define TX_SEQ		9
#define TX_TS		18
_Static_assert(TX_TS + 19 == RL_STAMP_TEXT, "the --text stamp");

static void text_stamp(uint8_t *p, uint64_t t, uint32_t pub, uint32_t seq)
{
	put_hex(p, pub);
	p[TX_SEQ - 1] = '-';
	put_hex(p + TX_SEQ, seq);
	p[TX_TS - 1] = '-';
	put_ts(p + TX_TS, t);
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static size_t append(uint8_t *out, size_t n, const char *s)
{
	size_t l = strlen(s);

	memcpy(out + n, s, l);
	return n + l;
}

size_t rl_payload_json(uint8_t *out, size_t size, unsigned v)
{
	uint64_t s = 0x636861742d6a736full + v * 0x100000001b3ull;
	/* 75% to 125% of --size: chat lines are not all alike. */
	size_t target = size * (75 + rnd(&s) % 51) / 100;
	size_t n = RL_STAMP_JSON, text0, words_in = 0, sentence = 0;
	char from[32];

	json_stamp(out, 0, 0, 0);
	n = append(out, n, "\"type\":\"message\",\"room\":\"lobby\",\"from\":\"user-");
	snprintf(from, sizeof(from), "%04u", (unsigned)(rnd(&s) % 10000));
	n = append(out, n, from);
	n = append(out, n, "\",\"text\":\"");
	text0 = n;
	for (;;) {
		const char *w = words[rnd(&s) % NWORDS];
		size_t wl = strlen(w);

		/* Room for the word, its space, a full stop and "}. */
		if (words_in && n + 1 + wl + 3 > target)
			break;
		if (n > text0)
			out[n++] = ' ';
		memcpy(out + n, w, wl);
		/* Sentences of 3 to 12 words, capitalised. */
		if (!sentence && out[n] >= 'a' && out[n] <= 'z')
			out[n] = (uint8_t)(out[n] - 'a' + 'A');
		n += wl;
		words_in++;
		if (++sentence >= 3 && rnd(&s) % 10 < 2) {
			uint64_t r = rnd(&s) % 10;

			out[n++] = r < 7 ? '.' : r < 9 ? '?' : '!';
			sentence = 0;
		} else if (sentence > 1 && rnd(&s) % 12 == 0) {
			out[n++] = ',';
		}
	}
	if (sentence)
		out[n++] = '.';
	return append(out, n, "\"}");
}

/* A frame of @payload[0..len) into @f, compressed (--deflate) or not;
   the stamp at @stamp_at of the payload. */
static int make_frame(struct rl_frame_tpl *f, unsigned opcode,
		      const uint8_t *payload, size_t len, size_t stamp_at,
		      bool z, uint32_t key)
{
	f->frame = malloc(rl_ws_frame_len(len));
	if (!f->frame)
		return -ENOMEM;
	f->len = (uint32_t)rl_ws_encode_z(f->frame, opcode, payload, len, key,
					  z);
	f->stamp_off = (uint32_t)(f->len - len + stamp_at);
	f->key_off = (uint32_t)(stamp_at & 3);
	return 0;
}

int rl_payload_init(struct rl_payload *pl, const struct rl_cfg *cfg,
		    uint32_t key)
{
	size_t cap = cfg->size * 5 / 4 + 64;
	uint8_t *buf;
	int ret = 0;

	memset(pl, 0, sizeof(*pl));
	pl->json = cfg->json;
	pl->text = cfg->text && !cfg->json;
	pl->opcode = cfg->json || pl->text ? RC_OP_TEXT : RC_OP_BINARY;
	pl->stamp_len = cfg->json ? RL_STAMP_JSON :
			pl->text ? RL_STAMP_TEXT : RL_STAMP_BIN;
	pl->n = cfg->json ? RL_JSON_VARIANTS : 1;
	pl->v = calloc(pl->n, sizeof(*pl->v));
	buf = calloc(1, cap);
	if (!pl->v || !buf) {
		free(buf);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < pl->n && !ret; i++) {
		struct rl_variant *v = &pl->v[i];
		size_t len = cfg->size, zlen, zoff;
		uint8_t *z;

		if (cfg->json) {
			len = rl_payload_json(buf, cfg->size, i);
		} else if (pl->text) {
			/* The stamp, then a space and letters. */
			text_stamp(buf, 0, 0, 0);
			for (size_t j = RL_STAMP_TEXT; j < len; j++)
				buf[j] = j == RL_STAMP_TEXT ? ' ' :
					 (uint8_t)('a' + j % 26);
		} else {
			/* The stamp, zero until sent, then letters. */
			memset(buf, 0, RL_STAMP_BIN);
			for (size_t j = RL_STAMP_BIN; j < len; j++)
				buf[j] = (uint8_t)('a' + j % 26);
		}
		v->len = (uint32_t)len;
		ret = make_frame(&v->f[0], pl->opcode, buf, len, 0, false, key);
		if (ret || !cfg->deflate)
			continue;
		/* Compressed once here, the stamp in a stored block of its
		   own: rewritten per message like the plain frame's. */
		z = rl_pmd_compress(buf, pl->stamp_len, buf + pl->stamp_len,
				    len - pl->stamp_len, &zlen, &zoff);
		if (!z) {
			ret = -ENOMEM;
			continue;
		}
		ret = make_frame(&v->f[1], pl->opcode, z, zlen, zoff, true,
				 key);
		free(z);
	}
	free(buf);
	if (ret)
		return ret;
	for (unsigned i = 0; i < pl->n; i++)
		for (unsigned k = 0; k < 2; k++)
			if (pl->v[i].f[k].len > pl->max_frame)
				pl->max_frame = pl->v[i].f[k].len;
	return 0;
}

void rl_payload_free(struct rl_payload *pl)
{
	for (unsigned i = 0; pl->v && i < pl->n; i++) {
		free(pl->v[i].f[0].frame);
		free(pl->v[i].f[1].frame);
	}
	free(pl->v);
	memset(pl, 0, sizeof(*pl));
}

void rl_payload_stamp(const struct rl_payload *pl,
		      const struct rl_frame_tpl *f, uint8_t *frame,
		      uint32_t key, uint64_t t, uint32_t pub, uint32_t seq)
{
	uint8_t *p = frame + f->stamp_off;

	if (pl->json) {
		json_stamp(p, t, pub, seq);
	} else if (pl->text) {
		text_stamp(p, t, pub, seq);
	} else {
		put_le(p, t, 8);
		put_le(p + 8, pub, 4);
		put_le(p + 12, seq, 4);
	}
	rl_ws_mask(p, pl->stamp_len, key, f->key_off);
}

bool rl_payload_unstamp(const struct rl_payload *pl, const uint8_t *head,
			size_t n, uint64_t *t, uint32_t *pub, uint32_t *seq)
{
	if (n < pl->stamp_len)
		return false;
	if (pl->text)
		return head[TX_SEQ - 1] == '-' && head[TX_TS - 1] == '-' &&
		       get_hex(head, pub) && get_hex(head + TX_SEQ, seq) &&
		       get_ts(head + TX_TS, t);
	if (!pl->json) {
		*t = get_le(head, 8);
		*pub = (uint32_t)get_le(head + 8, 4);
		*seq = (uint32_t)get_le(head + 12, 4);
		return true;
	}
	if (memcmp(head, stamp_a, sizeof(stamp_a) - 1) ||
	    head[ID_PUB + 8] != '-' ||
	    memcmp(head + ID_SEQ + 8, stamp_b, sizeof(stamp_b) - 1) ||
	    head[TS_AT + 19] != ',' || !get_hex(head + ID_PUB, pub) ||
	    !get_hex(head + ID_SEQ, seq))
		return false;
	return get_ts(head + TS_AT, t);
}
