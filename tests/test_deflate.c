/* SPDX-License-Identifier: MIT */
/*
 * test_deflate.c -- the permessage-deflate codec (src/deflate/) against
 * zlib, the reference every peer uses: what we compress inflates with zlib
 * the way RFC 7692 says (the tail put back), what zlib compresses with a
 * sync flush we inflate; bounds, corrupt data, the budget, and the
 * dedicated mode's windows across messages.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "deflate/deflate.h"
#include "ref/testutil.h"
#include "ringcast.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	return rng_next(&rng);
}

/* Chat-like JSON text of @n bytes. */
static void chat_text(uint8_t *out, size_t n)
{
	static const char *words[] = { "hello", "room", "message", "the",
				       "ringcast", "user", "typing", "ok",
				       "\"from\":", "{\"text\":", "}," };
	size_t i = 0;

	while (i < n) {
		const char *w = words[next() % 11];
		size_t k = strlen(w);

		if (k > n - i)
			k = n - i;
		memcpy(out + i, w, k);
		i += k;
		if (i < n)
			out[i++] = ' ';
	}
}

/* Inflate a message as a peer does: zlib raw inflate, the 4-byte tail put
   back; with @s a stream kept across messages (NULL: a fresh one).
   Returns the length, or -1. */
static long zlib_inflate(z_stream *s, const uint8_t *in, size_t n,
			 uint8_t *out, size_t cap)
{
	static const uint8_t tail[] = { 0, 0, 0xff, 0xff };
	z_stream fresh = { 0 };
	size_t got = 0;
	int r = Z_OK;

	if (!s) {
		s = &fresh;
		assert_int_equal(inflateInit2(s, -15), Z_OK);
	}
	for (int part = 0; part < 2 && r != Z_STREAM_END; part++) {
		s->next_in = (Bytef *)(uintptr_t)(part ? tail : in);
		s->avail_in = part ? 4 : (uInt)n;
		s->next_out = out + got;
		s->avail_out = (uInt)(cap - got);
		r = inflate(s, Z_SYNC_FLUSH);
		got = cap - s->avail_out;
		if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
			got = (size_t)-1;
		if (got == (size_t)-1)
			break;
	}
	if (r == Z_STREAM_END && s != &fresh)
		inflateReset(s);
	if (s == &fresh)
		inflateEnd(s);
	return got == (size_t)-1 ? -1 : (long)got;
}

/* zlib compressing as a client does: raw deflate, sync flush, tail cut. */
static size_t zlib_deflate(z_stream *s, const uint8_t *in, size_t n,
			   uint8_t *out, size_t cap)
{
	z_stream fresh = { 0 };
	size_t got;

	if (!s) {
		s = &fresh;
		assert_int_equal(deflateInit2(s, 6, Z_DEFLATED, -15, 8,
					      Z_DEFAULT_STRATEGY), Z_OK);
	}
	s->next_in = (Bytef *)(uintptr_t)in;
	s->avail_in = (uInt)n;
	s->next_out = out;
	s->avail_out = (uInt)cap;
	assert_int_equal(deflate(s, Z_SYNC_FLUSH), Z_OK);
	assert_int_equal(s->avail_in, 0);
	got = cap - s->avail_out;
	assert_true(got >= 4);
	assert_memory_equal(out + got - 4, "\x00\x00\xff\xff", 4);
	if (s == &fresh)
		deflateEnd(s);
	return got - 4;
}

static _Atomic size_t budget;

/* Shared mode: ours inflates with zlib to the same bytes, for sizes
   around the block and buffer boundaries, text and random bytes. */
static void test_deflate_roundtrip_zlib(void **state)
{
	static const size_t sizes[] = { 1,    2,     64,    127,   300,
					4095, 65535, 65536, 70000, 300000 };
	struct rc_zctx *z = rc__z_thread(6);
	size_t cap = 400000;
	uint8_t *in = malloc(cap), *out = malloc(cap + 64);

	(void)state;
	assert_non_null(z);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int kind = 0; kind < 2; kind++) {
			const uint8_t *zp;
			size_t n = sizes[i], zl;

			if (kind)
				for (size_t k = 0; k < n; k++)
					in[k] = (uint8_t)next();
			else
				chat_text(in, n);
			zl = rc__z_deflate(z, in, n, &zp);
			if (kind) {
				/* Random bytes never get smaller. */
				assert_int_equal(zl, 0);
				continue;
			}
			if (n < 64) {
				/* Too short to win: 0, or smaller. */
				assert_true(zl < n);
				if (!zl)
					continue;
			}
			assert_true(zl > 0 && zl < n);
			assert_int_equal(zlib_inflate(NULL, zp, zl, out,
						      cap + 64), (long)n);
			assert_memory_equal(out, in, n);
		}
	}
	free(in);
	free(out);
}

/* Shared mode: what zlib compresses (sync flush, tail cut) we inflate,
   in pieces of any size; and our own output too. */
static void test_inflate_zlib_and_ours(void **state)
{
	struct rc_zctx *z = rc__z_thread(6);
	size_t n = 200000, zl;
	uint8_t *in = malloc(n), *zb = malloc(n + 1024), *out;
	const uint8_t *zp;
	size_t olen;

	(void)state;
	chat_text(in, n);
	zl = zlib_deflate(NULL, in, n, zb, n + 1024);
	assert_int_equal(rc__z_inflate(z, zb, zl, n, &budget,
				       RC_UNLIMITED_SIZE, &out, &olen), 0);
	assert_int_equal(olen, n);
	assert_memory_equal(out, in, n);
	rc__z_release(z);
	/* One byte less room than it needs: too big. */
	assert_int_equal(rc__z_inflate(z, zb, zl, n - 1, &budget,
				       RC_UNLIMITED_SIZE, &out, &olen),
			 -EMSGSIZE);
	rc__z_release(z);
	/* Ours, read back by ours. */
	zl = rc__z_deflate(z, in, 5000, &zp);
	assert_true(zl > 0);
	memcpy(zb, zp, zl);
	assert_int_equal(rc__z_inflate(z, zb, zl, 5000, &budget,
				       RC_UNLIMITED_SIZE, &out, &olen), 0);
	assert_int_equal(olen, 5000);
	assert_memory_equal(out, in, 5000);
	rc__z_release(z);
	/* An empty message: zlib's sync flush of nothing. */
	zl = zlib_deflate(NULL, in, 0, zb, 64);
	assert_int_equal(rc__z_inflate(z, zb, zl, 10, &budget,
				       RC_UNLIMITED_SIZE, &out, &olen), 0);
	assert_int_equal(olen, 0);
	rc__z_release(z);
	free(in);
	free(zb);
}

/* A bomb: 8 MiB of zeros in a few KiB inflates to at most max + a pass,
   fails with -EMSGSIZE, and gives back what it took of the budget. */
static void test_bomb(void **state)
{
	struct rc_zctx *z = rc__z_thread(6);
	size_t n = 8u << 20, zl;
	uint8_t *in = calloc(1, n), *zb = malloc(64 << 10), *out;
	size_t olen;

	(void)state;
	zl = zlib_deflate(NULL, in, n, zb, 64 << 10);
	assert_true(zl < 16 << 10);
	assert_int_equal(rc__z_inflate(z, zb, zl, 1u << 20, &budget,
				       64u << 20, &out, &olen), -EMSGSIZE);
	rc__z_release(z);
	assert_int_equal(atomic_load(&budget), 0);
	/* Within the limit but over the budget: -EBUSY, nothing kept. */
	assert_int_equal(rc__z_inflate(z, zb, zl, 16u << 20, &budget,
				       1u << 20, &out, &olen), -EBUSY);
	rc__z_release(z);
	assert_int_equal(atomic_load(&budget), 0);
	/* And with room for it all, the whole 8 MiB. */
	assert_int_equal(rc__z_inflate(z, zb, zl, 16u << 20, &budget,
				       64u << 20, &out, &olen), 0);
	assert_int_equal(olen, n);
	assert_true(atomic_load(&budget) > 0);
	rc__z_release(z);
	assert_int_equal(atomic_load(&budget), 0);
	free(in);
	free(zb);
}

/* Not deflate data: -EILSEQ, never a crash, for garbage of any length. */
static void test_corrupt(void **state)
{
	struct rc_zctx *z = rc__z_thread(6);
	uint8_t junk[512], *out;
	size_t olen;
	int bad = 0;

	(void)state;
	/* A reserved block type (BTYPE 11) is always an error. */
	junk[0] = 0x07;
	assert_int_equal(rc__z_inflate(z, junk, 1, 1 << 20, &budget,
				       RC_UNLIMITED_SIZE, &out, &olen),
			 -EILSEQ);
	for (int i = 0; i < 2000; i++) {
		size_t n = 1 + next() % sizeof(junk);
		int r;

		for (size_t k = 0; k < n; k++)
			junk[k] = (uint8_t)next();
		r = rc__z_inflate(z, junk, n, 1 << 16, &budget,
				  RC_UNLIMITED_SIZE, &out, &olen);
		assert_true(r == 0 || r == -EILSEQ || r == -EMSGSIZE);
		bad += r == -EILSEQ;
		rc__z_release(z);
	}
	assert_true(bad > 1000);
}

/* Dedicated mode: windows kept across messages both ways. The second of
   two equal messages compresses to almost nothing (it refers to the
   first), and a client stream with context inflates message by message. */
static void test_dedicated_context(void **state)
{
	struct rc_zctx *z = rc__z_thread(6);
	struct rc_zconn *zc = rc__zc_new(15, 15, true, true);
	z_stream peer_in = { 0 }, peer_out = { 0 };
	uint8_t msg[2000], out[4096], zb[4096], *o;
	const uint8_t *zp;
	size_t zl1, zl2, olen;

	(void)state;
	assert_non_null(zc);
	assert_int_equal(inflateInit2(&peer_in, -15), Z_OK);
	assert_int_equal(deflateInit2(&peer_out, 6, Z_DEFLATED, -15, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	chat_text(msg, sizeof(msg));
	/* Server to client. */
	zl1 = rc__zc_deflate(zc, z, 6, msg, sizeof(msg), &zp);
	assert_true(zl1 > 0);
	assert_int_equal(zlib_inflate(&peer_in, zp, zl1, out, sizeof(out)),
			 sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	zl2 = rc__zc_deflate(zc, z, 6, msg, sizeof(msg), &zp);
	assert_true(zl2 > 0 && zl2 < 40 && zl2 < zl1 / 4);
	assert_int_equal(zlib_inflate(&peer_in, zp, zl2, out, sizeof(out)),
			 sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	/* Client to server, with context: the second message alone does
	   not inflate without the first. */
	for (int i = 0; i < 3; i++) {
		size_t n = zlib_deflate(&peer_out, msg, sizeof(msg), zb,
					sizeof(zb));

		assert_int_equal(rc__zc_inflate(zc, z, zb, n, sizeof(msg),
						&budget, RC_UNLIMITED_SIZE,
						&o, &olen), 0);
		assert_int_equal(olen, sizeof(msg));
		assert_memory_equal(o, msg, sizeof(msg));
		rc__z_release(z);
		if (i == 1)
			assert_int_not_equal(rc__z_inflate(z, zb, n,
							   sizeof(msg),
							   &budget,
							   RC_UNLIMITED_SIZE,
							   &o, &olen) == 0 &&
					     olen == sizeof(msg), 1);
		rc__z_release(z);
	}
	/* Over max in dedicated mode: stops at max + 1. */
	{
		size_t n = zlib_deflate(&peer_out, msg, sizeof(msg), zb,
					sizeof(zb));

		assert_int_equal(rc__zc_inflate(zc, z, zb, n, 100, &budget,
						RC_UNLIMITED_SIZE, &o, &olen),
				 -EMSGSIZE);
		rc__z_release(z);
	}
	inflateEnd(&peer_in);
	deflateEnd(&peer_out);
	rc__zc_free(zc);
}

/* What a dedicated connection holds, by window: reported for the docs,
   and small windows really cost less. */
static void test_dedicated_size(void **state)
{
	struct rc_zctx *z = rc__z_thread(6);
	size_t size[16] = { 0 };
	uint8_t msg[600], zb[1024], *o;
	const uint8_t *zp;
	size_t olen;

	(void)state;
	chat_text(msg, sizeof(msg));
	for (int bits = 9; bits <= 15; bits++) {
		struct rc_zconn *zc = rc__zc_new((uint8_t)bits, (uint8_t)bits,
						 true, true);
		z_stream peer = { 0 };
		size_t n;

		assert_int_equal(rc__zc_size(zc) < 128, 1);	/* idle */
		assert_true(rc__zc_deflate(zc, z, 6, msg, sizeof(msg), &zp));
		assert_int_equal(deflateInit2(&peer, 6, Z_DEFLATED, -bits, 8,
					      Z_DEFAULT_STRATEGY), Z_OK);
		n = zlib_deflate(&peer, msg, sizeof(msg), zb, sizeof(zb));
		assert_int_equal(rc__zc_inflate(zc, z, zb, n, sizeof(msg),
						&budget, RC_UNLIMITED_SIZE,
						&o, &olen), 0);
		assert_int_equal(olen, sizeof(msg));
		rc__z_release(z);
		size[bits] = rc__zc_size(zc);
		printf("dedicated window %d bits: %zu bytes per connection\n",
		       bits, size[bits]);
		deflateEnd(&peer);
		rc__zc_free(zc);
	}
	assert_true(size[9] < 32 << 10);
	assert_true(size[15] > 4 * size[9]);
}

/* ---- through the API: a server, raw clients ---- */

static _Atomic int opened;
static _Atomic uint64_t last_id;

static void api_open(struct rc_conn *c)
{
	assert_int_equal(rc_subscribe(c, "t", 1), 0);
	atomic_store(&last_id, rc_conn_id(c));
	atomic_fetch_add(&opened, 1);
}

static const struct rc_handlers api_handlers = { .on_open = api_open };

static struct rc_server *api_start(int window_bits)
{
	struct rc_config cfg = rc_config_default();
	struct rc_server *s;

	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.threads = 2;
	cfg.pin_threads = false;
	cfg.deflate_window_bits = window_bits;
	s = rc_server_new(&cfg, &api_handlers, NULL);
	assert_non_null(s);
	assert_int_equal(rc_server_start(s), 0);
	return s;
}

/* Connect and upgrade, offering @ext (NULL: nothing); the answer's
   extension line into @answer. Waits for on_open. */
static int api_client(struct rc_server *s, const char *ext, char *answer,
		      size_t cap)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), want = atomic_load(&opened) + 1;
	char req[512], head[1024], *e;
	size_t n = 0;

	sa.sin_port = htons(rc_server_port(s));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(req, sizeof(req),
		 "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		 "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
		 ext ? "Sec-WebSocket-Extensions: " : "", ext ? ext : "",
		 ext ? "\r\n" : "");
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (n < sizeof(head) - 1 &&
	       (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4))) {
		read_full(fd, head + n, 1);
		n++;
	}
	head[n] = 0;
	assert_true(!strncmp(head, "HTTP/1.1 101", 12));
	e = strstr(head, "Sec-WebSocket-Extensions: ");
	answer[0] = 0;
	if (e)
		snprintf(answer, cap, "%.*s", (int)strcspn(e + 26, "\r"),
			 e + 26);
	for (int i = 0; i < 500 && atomic_load(&opened) < want; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&opened), want);
	return fd;
}

/* Read one server frame: its first byte, payload into @p (cap @cap). */
static size_t api_frame(int fd, uint8_t *b0, uint8_t *p, size_t cap)
{
	uint8_t h[10];
	size_t len, hl = 2;

	read_full(fd, h, 2);
	len = h[1] & 0x7f;
	if (len == 126)
		hl = 4;
	else if (len == 127)
		hl = 10;
	if (hl > 2)
		read_full(fd, h + 2, hl - 2);
	if (hl == 4)
		len = (size_t)h[2] << 8 | h[3];
	else if (hl == 10)
		for (int i = 0, k = 2; i < 8; i++, k++)
			len = i ? len << 8 | h[k] : h[k];
	assert_true(len <= cap);
	read_full(fd, p, len);
	*b0 = h[0];
	return len;
}

/* Shared mode through the API: the answer; a published message reaches a
   deflate member compressed (RSV1, inflating to it) and a plain member
   plain, compressed once for both deflate members on two workers;
   RC_OP_NO_DEFLATE, short messages and rc_send_to. */
static void test_api_shared(void **state)
{
	struct rc_server *s = api_start(0);
	uint8_t msg[1000], buf[4096], out[4096], b0;
	struct rc_stats st;
	char ans[256];
	int z1, z2, plain;
	uint64_t z1_id;
	size_t n;

	(void)state;
	z1 = api_client(s, "permessage-deflate; client_max_window_bits", ans,
			sizeof(ans));
	assert_string_equal(ans, "permessage-deflate; "
			    "server_no_context_takeover; "
			    "client_no_context_takeover");
	z1_id = atomic_load(&last_id);
	z2 = api_client(s, "x-webkit-deflate-frame, permessage-deflate", ans,
			sizeof(ans));
	assert_true(strstr(ans, "permessage-deflate") == ans);
	plain = api_client(s, NULL, ans, sizeof(ans));
	assert_string_equal(ans, "");
	chat_text(msg, sizeof(msg));
	assert_int_equal(rc_publish(s, "t", 1, msg, sizeof(msg), RC_OP_TEXT),
			 0);
	for (int i = 0; i < 2; i++) {
		n = api_frame(i ? z2 : z1, &b0, buf, sizeof(buf));
		assert_int_equal(b0, 0xC1);	/* FIN, RSV1, TEXT */
		assert_true(n < sizeof(msg) / 2);
		assert_int_equal(zlib_inflate(NULL, buf, n, out, sizeof(out)),
				 sizeof(msg));
		assert_memory_equal(out, msg, sizeof(msg));
	}
	n = api_frame(plain, &b0, buf, sizeof(buf));
	assert_int_equal(b0, 0x81);
	assert_int_equal(n, sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));
	assert_int_equal(rc_server_stats(s, &st), 0);
	/* Once, whatever the number of members taking it. */
	assert_int_equal(st.deflate_in_bytes, sizeof(msg));
	assert_true(st.deflate_out_bytes > 0 &&
		    st.deflate_out_bytes < sizeof(msg) / 2);
	assert_int_equal(st.deflate_connections, 2);

	/* Opted out, and too short: plain to everyone. */
	assert_int_equal(rc_publish(s, "t", 1, msg, sizeof(msg),
				    RC_OP_TEXT | RC_OP_NO_DEFLATE), 0);
	assert_int_equal(rc_publish(s, "t", 1, msg, 100, RC_OP_BINARY), 0);
	for (int i = 0; i < 2; i++) {
		n = api_frame(i ? z2 : z1, &b0, buf, sizeof(buf));
		assert_int_equal(b0, 0x81);
		assert_int_equal(n, sizeof(msg));
		n = api_frame(i ? z2 : z1, &b0, buf, sizeof(buf));
		assert_int_equal(b0, 0x82);
		assert_int_equal(n, 100);
		assert_memory_equal(buf, msg, 100);
	}
	/* To one connection: compressed for it. */
	assert_int_equal(rc_send_to(s, z1_id, msg, sizeof(msg), RC_OP_BINARY),
			 0);
	n = api_frame(z1, &b0, buf, sizeof(buf));
	assert_int_equal(b0, 0xC2);
	assert_int_equal(zlib_inflate(NULL, buf, n, out, sizeof(out)),
			 sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	assert_int_equal(rc_server_stats(s, &st), 0);
	assert_int_equal(st.deflate_in_bytes, 2 * sizeof(msg));
	assert_true(st.deflate_skipped >= 2);
	close(z1);
	close(z2);
	close(plain);
	rc_server_stop(s);
	rc_server_free(s);
}

/* Nobody took compressed frames: a publish compresses nothing. And with
   deflate off, the offer is not answered. */
static void test_api_no_waste(void **state)
{
	struct rc_server *s = api_start(0);
	uint8_t msg[1000], buf[2048], b0;
	struct rc_stats st;
	char ans[256];
	int fd;

	(void)state;
	fd = api_client(s, NULL, ans, sizeof(ans));
	chat_text(msg, sizeof(msg));
	assert_int_equal(rc_publish(s, "t", 1, msg, sizeof(msg), RC_OP_TEXT),
			 0);
	assert_int_equal(api_frame(fd, &b0, buf, sizeof(buf)), sizeof(msg));
	assert_int_equal(rc_server_stats(s, &st), 0);
	assert_int_equal(st.deflate_in_bytes, 0);
	assert_int_equal(st.deflate_skipped, 0);
	close(fd);
	rc_server_stop(s);
	rc_server_free(s);

	s = api_start(RC_DEFLATE_OFF);
	fd = api_client(s, "permessage-deflate", ans, sizeof(ans));
	assert_string_equal(ans, "");
	close(fd);
	rc_server_stop(s);
	rc_server_free(s);
	/* A window outside 9..15 is refused. */
	{
		struct rc_config cfg = rc_config_default();

		cfg.port = 0;
		cfg.deflate_window_bits = 8;
		assert_null(rc_server_new(&cfg, &api_handlers, NULL));
		assert_int_equal(errno, EINVAL);
	}
}

/* Dedicated mode: windows kept, so the second of two equal published
   messages is tiny, and each member inflates with its own stream. */
static void test_api_dedicated(void **state)
{
	struct rc_server *s = api_start(12);
	uint8_t msg[1000], buf[2048], out[2048], b0;
	z_stream peer = { 0 };
	size_t n1, n2;
	char ans[256];
	int fd;

	(void)state;
	fd = api_client(s, "permessage-deflate; client_max_window_bits", ans,
			sizeof(ans));
	assert_string_equal(ans, "permessage-deflate; "
			    "server_max_window_bits=12; "
			    "client_max_window_bits=12");
	assert_int_equal(inflateInit2(&peer, -12), Z_OK);
	chat_text(msg, sizeof(msg));
	for (int i = 0; i < 2; i++)
		assert_int_equal(rc_publish(s, "t", 1, msg, sizeof(msg),
					    RC_OP_TEXT), 0);
	n1 = api_frame(fd, &b0, buf, sizeof(buf));
	assert_int_equal(b0, 0xC1);
	assert_int_equal(zlib_inflate(&peer, buf, n1, out, sizeof(out)),
			 sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	n2 = api_frame(fd, &b0, buf, sizeof(buf));
	assert_int_equal(b0, 0xC1);
	assert_true(n2 < 32 && n2 < n1 / 4);
	assert_int_equal(zlib_inflate(&peer, buf, n2, out, sizeof(out)),
			 sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	inflateEnd(&peer);
	close(fd);
	rc_server_stop(s);
	rc_server_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deflate_roundtrip_zlib),
		cmocka_unit_test(test_inflate_zlib_and_ours),
		cmocka_unit_test(test_bomb),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_dedicated_context),
		cmocka_unit_test(test_dedicated_size),
		cmocka_unit_test(test_api_shared),
		cmocka_unit_test(test_api_no_waste),
		cmocka_unit_test(test_api_dedicated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
