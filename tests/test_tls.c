/* SPDX-License-Identifier: MIT */
/*
 * test_tls.c -- the TLS parts of the public API, with an OpenSSL client on
 * a blocking socket: rc_server_tls_port(), rc_conn_is_tls() and
 * rc_conn_tls_subject() (plain, TLS, mTLS), rc_server_tls_reload(),
 * rc_tls_check(), a stop while handshakes are in flight, and the batching
 * of a TLS connection's output.
 *
 * Certificates are made by the openssl command (system()) in a mkdtemp()
 * directory, removed at the end; without openssl the test is skipped (77).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ringcast.h"

/* Every test gives up after this (a hang fails instead of blocking ctest). */
#define ALARM_S 120
#define IO_TIMEOUT_S 10
#define CLIENT_SUBJECT "CN=alice,OU=tests,O=ringcast"

static char dir[64];
static char ca_pem[128], srv_pem[128], srv_key[128];
static char srv2_pem[128], srv2_key[128];
static char cca_pem[128], cli_pem[128], cli_key[128];
static char other_key[128], garbage[128];

/* ---- certificates ---- */

static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void path_of(char *out, const char *name)
{
	snprintf(out, 128, "%s/%s", dir, name);
}

#define EC "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
#define QUIET ">/dev/null 2>&1"

static int make_ca(const char *name, const char *subj)
{
	return sh("cd %s && openssl req -x509 " EC " -keyout %s.key -out %s.pem "
		  "-days 2 -subj '%s' -addext basicConstraints=critical,CA:TRUE "
		  "-addext keyUsage=critical,keyCertSign,cRLSign " QUIET,
		  dir, name, name, subj);
}

static int make_leaf(const char *name, const char *subj, const char *ca,
		     const char *ext)
{
	if (sh("cd %s && printf '%%s\\n' '%s' > %s.ext", dir, ext, name))
		return -1;
	return sh("cd %s && openssl req -new " EC " -keyout %s.key -out %s.csr "
		  "-subj '%s' " QUIET " && openssl x509 -req -in %s.csr -CA "
		  "%s.pem -CAkey %s.key -set_serial 0x%lx -days 2 -extfile "
		  "%s.ext -out %s.pem " QUIET " && rm -f %s.csr %s.ext",
		  dir, name, name, subj, name, ca, ca,
		  (unsigned long)random(), name, name, name, name);
}

/* 0, or -1 if the openssl command is missing or failed. */
static int make_certs(void)
{
	FILE *f;

	if (sh("openssl version " QUIET))
		return -1;
	strcpy(dir, "/tmp/ringcast-test-tls-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if (make_ca("ca", "/CN=ringcast test CA") ||
	    make_leaf("server", "/CN=localhost", "ca",
		      "subjectAltName=DNS:localhost,IP:127.0.0.1") ||
	    make_leaf("server2", "/CN=localhost", "ca",
		      "subjectAltName=DNS:localhost,IP:127.0.0.1") ||
	    make_ca("clientca", "/CN=ringcast client CA") ||
	    make_leaf("client", "/O=ringcast/OU=tests/CN=alice", "clientca",
		      "extendedKeyUsage=clientAuth") ||
	    sh("cd %s && openssl genpkey -algorithm EC -pkeyopt "
	       "ec_paramgen_curve:P-256 -out other.key " QUIET, dir))
		return -1;
	path_of(ca_pem, "ca.pem");
	path_of(srv_pem, "server.pem");
	path_of(srv_key, "server.key");
	path_of(srv2_pem, "server2.pem");
	path_of(srv2_key, "server2.key");
	path_of(cca_pem, "clientca.pem");
	path_of(cli_pem, "client.pem");
	path_of(cli_key, "client.key");
	path_of(other_key, "other.key");
	path_of(garbage, "garbage.pem");
	f = fopen(garbage, "w");
	if (!f)
		return -1;
	fputs("-----BEGIN CERTIFICATE-----\nnot base64 !!\n"
	      "-----END CERTIFICATE-----\n", f);
	fclose(f);
	return 0;
}

static void copy_file(const char *from, const char *to)
{
	char tmp[300];

	snprintf(tmp, sizeof(tmp), "%s.new", to);
	assert_int_equal(sh("cp '%s' '%s' && mv '%s' '%s'", from, tmp, tmp,
			    to), 0);
}

/* ---- what the handlers saw ---- */

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static int seen_upgrades;
static bool seen_tls;
static bool seen_subject_null;
static char seen_subject[1024];
static bool seen_open_tls;
static char seen_open_subject[1024];
static _Atomic int closes;

static void reset_seen(void)
{
	pthread_mutex_lock(&seen_lock);
	seen_upgrades = 0;
	seen_tls = seen_subject_null = seen_open_tls = false;
	seen_subject[0] = seen_open_subject[0] = 0;
	pthread_mutex_unlock(&seen_lock);
	closes = 0;
}

static int h_upgrade(struct rc_conn *c, const struct rc_request *req)
{
	const char *subj = rc_conn_tls_subject(c);

	(void)req;
	pthread_mutex_lock(&seen_lock);
	seen_upgrades++;
	seen_tls = rc_conn_is_tls(c);
	seen_subject_null = !subj;
	snprintf(seen_subject, sizeof(seen_subject), "%s", subj ? subj : "");
	pthread_mutex_unlock(&seen_lock);
	return 0;
}

static void h_open(struct rc_conn *c)
{
	const char *subj = rc_conn_tls_subject(c);

	pthread_mutex_lock(&seen_lock);
	seen_open_tls = rc_conn_is_tls(c);
	snprintf(seen_open_subject, sizeof(seen_open_subject), "%s",
		 subj ? subj : "");
	pthread_mutex_unlock(&seen_lock);
}

#define BURST 1000

static void h_message(struct rc_conn *c, const void *data, size_t len,
		      enum rc_opcode op)
{
	if (len == 5 && !memcmp(data, "burst", 5)) {
		/* Many small messages from one handler call: over TLS they
		   must go out intact, in order, and batched into records. */
		for (int i = 0; i < BURST; i++) {
			char m[16];
			int n = snprintf(m, sizeof(m), "m%04d", i);

			if (rc_send(c, m, (size_t)n, RC_OP_TEXT))
				break;
		}
		return;
	}
	rc_send(c, data, len, op);
}

static void h_close(struct rc_conn *c, uint16_t code)
{
	(void)c;
	(void)code;
	closes++;
}

static void h_http(struct rc_conn *c, const struct rc_request *req,
		   struct rc_response *res)
{
	(void)c;
	(void)req;
	res->status = 200;
	res->body = "ok";
	res->body_len = 2;
}

static const struct rc_handlers handlers = {
	.on_upgrade = h_upgrade,
	.on_http = h_http,
	.on_open = h_open,
	.on_message = h_message,
	.on_close = h_close,
};

/* A server on 127.0.0.1, free ports; @ncerts 0 = no TLS. */
static struct rc_server *start_server(size_t ncerts, int tls_port,
				      const char *client_ca,
				      const char *cert, const char *key)
{
	static struct rc_tls_cert pair;
	struct rc_config cfg = rc_config_default();
	struct rc_server *s;

	pair.cert_file = cert ? cert : srv_pem;
	pair.key_file = key ? key : srv_key;
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.threads = 2;
	cfg.pin_threads = false;
	cfg.tls_certs = ncerts ? &pair : NULL;
	cfg.ntls_certs = ncerts;
	cfg.tls_port = tls_port;
	cfg.tls_client_ca = client_ca;
	reset_seen();
	s = rc_server_new(&cfg, &handlers, NULL);
	assert_non_null(s);
	assert_int_equal(rc_server_start(s), 0);
	return s;
}

/* ---- a client: a blocking socket, with or without OpenSSL ---- */

struct cli {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	unsigned app_records;	/* application_data records received */
	uint8_t buf[1 << 16];
	size_t len, off;
};

static void on_msg(int write_p, int version, int content_type,
		   const void *buf, size_t len, SSL *ssl, void *arg)
{
	struct cli *c = arg;

	(void)version;
	(void)ssl;
	if (!write_p && content_type == SSL3_RT_HEADER && len >= 1 &&
	    ((const uint8_t *)buf)[0] == SSL3_RT_APPLICATION_DATA)
		c->app_records++;
}

static int tcp_dial(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static SSL_CTX *client_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca_pem, NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (cert) {
		assert_int_equal(SSL_CTX_use_certificate_file(ctx, cert,
							      SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key,
							     SSL_FILETYPE_PEM), 1);
	}
	return ctx;
}

/* Connect; with @tls a full handshake (0, or -1 if it failed). */
static int cli_open(struct cli *c, uint16_t port, bool tls, const char *cert,
		    const char *key)
{
	time_t deadline = time(NULL) + IO_TIMEOUT_S;

	memset(c, 0, sizeof(*c));
	c->fd = tcp_dial(port);
	if (!tls)
		return 0;
	c->ctx = client_ctx(cert, key);
	c->ssl = SSL_new(c->ctx);
	assert_non_null(c->ssl);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	SSL_set1_host(c->ssl, "localhost");
	SSL_set_msg_callback(c->ssl, on_msg);
	SSL_set_msg_callback_arg(c->ssl, c);
	for (;;) {
		int r = SSL_connect(c->ssl);

		if (r == 1)
			return 0;
		r = SSL_get_error(c->ssl, r);
		if ((r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE) &&
		    errno == EINTR && time(NULL) < deadline)
			continue;
		ERR_clear_error();
		return -1;
	}
}

static void cli_close(struct cli *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void cli_put(struct cli *c, const void *p, size_t n)
{
	if (!c->ssl) {
		assert_int_equal(write(c->fd, p, n), (ssize_t)n);
		return;
	}
	assert_int_equal(SSL_write(c->ssl, p, (int)n), (int)n);
}

/* Up to @cap bytes, at least one; -1 at EOF or on an error. EINTR (the
   kernel's io_uring task work can interrupt a read with a timeout) is
   retried; a timeout is an error. */
static ssize_t cli_read(struct cli *c, void *p, size_t cap)
{
	time_t deadline = time(NULL) + IO_TIMEOUT_S;

	for (;;) {
		ssize_t r;

		errno = 0;
		if (!c->ssl) {
			r = read(c->fd, p, cap);
			if (r < 0 && errno == EINTR && time(NULL) < deadline)
				continue;
			return r > 0 ? r : -1;
		}
		r = SSL_read(c->ssl, p, (int)cap);
		if (r > 0)
			return r;
		r = SSL_get_error(c->ssl, (int)r);
		if ((r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE) &&
		    errno == EINTR && time(NULL) < deadline)
			continue;
		ERR_clear_error();
		return -1;
	}
}

/* Exactly @n bytes (buffered); false at EOF. */
static bool cli_get(struct cli *c, void *p, size_t n)
{
	uint8_t *out = p;

	while (n) {
		size_t k;

		if (c->off == c->len) {
			ssize_t r = cli_read(c, c->buf, sizeof(c->buf));

			if (r <= 0)
				return false;
			c->off = 0;
			c->len = (size_t)r;
		}
		k = c->len - c->off < n ? c->len - c->off : n;
		memcpy(out, c->buf + c->off, k);
		c->off += k;
		out += k;
		n -= k;
	}
	return true;
}

static int cli_head(struct cli *c)
{
	char buf[2048];
	size_t n = 0;

	while (n < sizeof(buf) - 1) {
		if (!cli_get(c, buf + n, 1))
			return -1;
		n++;
		if (n >= 4 && !memcmp(buf + n - 4, "\r\n\r\n", 4))
			break;
	}
	buf[n] = 0;
	return atoi(buf + 9);
}

static int cli_upgrade(struct cli *c, const char *path)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n", path);

	cli_put(c, req, (size_t)n);
	return cli_head(c);
}

static void cli_send(struct cli *c, uint8_t op, const void *p, size_t n)
{
	uint8_t f[2 + 4 + 125];
	const uint8_t key[4] = { 9, 8, 7, 6 };

	assert_true(n < 126);
	f[0] = 0x80 | op;
	f[1] = 0x80 | (uint8_t)n;
	memcpy(f + 2, key, 4);
	for (size_t i = 0; i < n; i++)
		f[6 + i] = ((const uint8_t *)p)[i] ^ key[i & 3];
	cli_put(c, f, 6 + n);
}

/* One server frame (payload < 126): its length, or -1 at EOF. */
static int cli_frame(struct cli *c, uint8_t *op, uint8_t *p)
{
	uint8_t h[2];

	if (!cli_get(c, h, 2))
		return -1;
	*op = h[0] & 0x0f;
	assert_true(h[0] & 0x80);
	assert_int_equal(h[1] & 0x80, 0);
	assert_true((h[1] & 0x7f) < 126);
	if (!cli_get(c, p, h[1] & 0x7f))
		return -1;
	return h[1] & 0x7f;
}

static void cli_echo(struct cli *c, const char *msg)
{
	uint8_t op, buf[128];
	int n;

	cli_send(c, RC_OP_TEXT, msg, strlen(msg));
	n = cli_frame(c, &op, buf);
	assert_int_equal(n, (int)strlen(msg));
	assert_int_equal(op, RC_OP_TEXT);
	assert_memory_equal(buf, msg, (size_t)n);
}

/* ---- tests ---- */

static void test_tls_port(void **state)
{
	struct rc_server *s;
	struct cli c;

	(void)state;
	alarm(ALARM_S);
	/* No TLS: no TLS port. */
	s = start_server(0, 0, NULL, NULL, NULL);
	assert_int_equal(rc_server_tls_port(s), 0);
	rc_server_free(s);
	/* TLS on the main listener: no separate port either. */
	s = start_server(1, 0, NULL, NULL, NULL);
	assert_int_equal(rc_server_tls_port(s), 0);
	assert_int_equal(cli_open(&c, rc_server_port(s), true, NULL, NULL), 0);
	assert_int_equal(cli_upgrade(&c, "/x"), 101);
	cli_echo(&c, "main listener");
	cli_close(&c);
	rc_server_free(s);
	/* tls_port -1: a free port beside the plain one. */
	s = start_server(1, -1, NULL, NULL, NULL);
	assert_int_not_equal(rc_server_tls_port(s), 0);
	assert_int_not_equal(rc_server_tls_port(s), rc_server_port(s));
	assert_int_equal(cli_open(&c, rc_server_tls_port(s), true, NULL, NULL),
			 0);
	assert_int_equal(cli_upgrade(&c, "/x"), 101);
	cli_echo(&c, "tls port");
	cli_close(&c);
	assert_int_equal(cli_open(&c, rc_server_port(s), false, NULL, NULL),
			 0);
	assert_int_equal(cli_upgrade(&c, "/x"), 101);
	cli_echo(&c, "plain port");
	cli_close(&c);
	assert_int_equal(rc_server_tls_port(NULL), 0);
	rc_server_free(s);
	alarm(0);
}

static void expect_seen(bool tls, const char *subject)
{
	pthread_mutex_lock(&seen_lock);
	assert_int_equal(seen_upgrades, 1);
	assert_int_equal(seen_tls, tls);
	assert_int_equal(seen_open_tls, tls);
	if (subject) {
		assert_false(seen_subject_null);
		assert_string_equal(seen_subject, subject);
		assert_string_equal(seen_open_subject, subject);
	} else {
		assert_true(seen_subject_null);
		assert_string_equal(seen_open_subject, "");
	}
	pthread_mutex_unlock(&seen_lock);
}

static void test_is_tls_and_subject(void **state)
{
	struct rc_server *s;
	struct cli c;

	(void)state;
	alarm(ALARM_S);
	assert_false(rc_conn_is_tls(NULL));
	assert_null(rc_conn_tls_subject(NULL));

	/* Without mTLS: a plain connection, then a TLS one. */
	s = start_server(1, -1, NULL, NULL, NULL);
	assert_int_equal(cli_open(&c, rc_server_port(s), false, NULL, NULL),
			 0);
	assert_int_equal(cli_upgrade(&c, "/plain"), 101);
	cli_echo(&c, "x");
	expect_seen(false, NULL);
	cli_close(&c);
	reset_seen();
	assert_int_equal(cli_open(&c, rc_server_tls_port(s), true, NULL, NULL),
			 0);
	assert_int_equal(cli_upgrade(&c, "/tls"), 101);
	cli_echo(&c, "x");
	expect_seen(true, NULL);
	cli_close(&c);
	/* A client certificate sent unasked is not verified: no subject. */
	reset_seen();
	assert_int_equal(cli_open(&c, rc_server_tls_port(s), true, cli_pem,
				  cli_key), 0);
	assert_int_equal(cli_upgrade(&c, "/tls"), 101);
	cli_echo(&c, "x");
	expect_seen(true, NULL);
	cli_close(&c);
	rc_server_free(s);

	/* mTLS: the verified client certificate's subject, RFC 2253. */
	s = start_server(1, -1, cca_pem, NULL, NULL);
	assert_int_equal(cli_open(&c, rc_server_tls_port(s), true, cli_pem,
				  cli_key), 0);
	assert_int_equal(cli_upgrade(&c, "/mtls"), 101);
	cli_echo(&c, "x");
	expect_seen(true, CLIENT_SUBJECT);
	cli_close(&c);
	/* the plain port of an mTLS server: still no subject */
	reset_seen();
	assert_int_equal(cli_open(&c, rc_server_port(s), false, NULL, NULL),
			 0);
	assert_int_equal(cli_upgrade(&c, "/plain"), 101);
	cli_echo(&c, "x");
	expect_seen(false, NULL);
	cli_close(&c);
	/* no client certificate: refused (the upgrade never arrives) */
	reset_seen();
	if (!cli_open(&c, rc_server_tls_port(s), true, NULL, NULL))
		assert_int_equal(cli_upgrade(&c, "/mtls"), -1);
	cli_close(&c);
	pthread_mutex_lock(&seen_lock);
	assert_int_equal(seen_upgrades, 0);
	pthread_mutex_unlock(&seen_lock);
	rc_server_free(s);
	alarm(0);
}

/* The DER of the certificate the server presents now. */
static size_t served_cert(uint16_t port, unsigned char *out, size_t cap)
{
	struct cli c;
	X509 *x;
	unsigned char *p = out;
	int n;

	assert_int_equal(cli_open(&c, port, true, NULL, NULL), 0);
	x = SSL_get1_peer_certificate(c.ssl);
	assert_non_null(x);
	n = i2d_X509(x, NULL);
	assert_true(n > 0 && (size_t)n <= cap);
	i2d_X509(x, &p);
	X509_free(x);
	cli_close(&c);
	return (size_t)n;
}

static size_t file_cert(const char *pem, unsigned char *out, size_t cap)
{
	FILE *f = fopen(pem, "r");
	X509 *x;
	unsigned char *p = out;
	int n;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	n = i2d_X509(x, NULL);
	assert_true(n > 0 && (size_t)n <= cap);
	i2d_X509(x, &p);
	X509_free(x);
	return (size_t)n;
}

static void expect_served(struct rc_server *s, const char *pem)
{
	unsigned char a[4096], b[4096];
	size_t na = served_cert(rc_server_tls_port(s), a, sizeof(a));
	size_t nb = file_cert(pem, b, sizeof(b));

	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
}

static void test_reload(void **state)
{
	char cert[160], key[160], why[512];
	struct rc_server *s;
	struct rc_stats st;
	struct cli c;

	(void)state;
	alarm(ALARM_S);
	snprintf(cert, sizeof(cert), "%s/live.pem", dir);
	snprintf(key, sizeof(key), "%s/live.key", dir);
	copy_file(srv_pem, cert);
	copy_file(srv_key, key);

	/* No TLS: -ENOTSUP. */
	s = start_server(0, 0, NULL, NULL, NULL);
	why[0] = 0;
	assert_int_equal(rc_server_tls_reload(s, why, sizeof(why)), -ENOTSUP);
	assert_int_equal(rc_server_tls_reload(s, NULL, 0), -ENOTSUP);
	rc_server_free(s);

	s = start_server(1, -1, NULL, cert, key);
	expect_served(s, srv_pem);
	/* an open connection across the reloads */
	assert_int_equal(cli_open(&c, rc_server_tls_port(s), true, NULL, NULL),
			 0);
	assert_int_equal(cli_upgrade(&c, "/x"), 101);
	cli_echo(&c, "before");

	copy_file(srv2_pem, cert);
	copy_file(srv2_key, key);
	assert_int_equal(rc_server_tls_reload(s, why, sizeof(why)), 0);
	expect_served(s, srv2_pem);
	cli_echo(&c, "after a reload");

	/* a broken certificate: -EINVAL naming it; the second pair stays */
	copy_file(garbage, cert);
	why[0] = 0;
	assert_int_equal(rc_server_tls_reload(s, why, sizeof(why)), -EINVAL);
	print_message("     why: %s\n", why);
	assert_non_null(strstr(why, cert));
	expect_served(s, srv2_pem);
	/* a key that does not match: -EINVAL naming a file */
	copy_file(srv_pem, cert);
	copy_file(other_key, key);
	why[0] = 0;
	assert_int_equal(rc_server_tls_reload(s, why, sizeof(why)), -EINVAL);
	print_message("     why: %s\n", why);
	assert_true(strstr(why, cert) || strstr(why, key));
	assert_int_equal(rc_server_tls_reload(s, NULL, 0), -EINVAL);
	expect_served(s, srv2_pem);
	/* a missing file */
	assert_int_equal(unlink(key), 0);
	why[0] = 0;
	assert_int_equal(rc_server_tls_reload(s, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, key));
	expect_served(s, srv2_pem);
	cli_echo(&c, "after failed reloads");

	copy_file(srv_key, key);
	assert_int_equal(rc_server_tls_reload(s, why, sizeof(why)), 0);
	expect_served(s, srv_pem);
	cli_echo(&c, "after the restore");
	cli_close(&c);

	assert_int_equal(rc_server_stats(s, &st), 0);
	assert_int_equal(st.tls_reloads, 2);
	assert_int_equal(st.tls_reload_failures, 4);
	rc_server_free(s);
	alarm(0);
}

static void expect_tls_check(const char *cert, const char *key, const char *ca,
			 int want, const char *named)
{
	struct rc_tls_cert pair = { cert, key };
	struct rc_config cfg = rc_config_default();
	char why[512] = "";

	cfg.tls_certs = &pair;
	cfg.ntls_certs = 1;
	cfg.tls_client_ca = ca;
	assert_int_equal(rc_tls_check(&cfg, why, sizeof(why)), want);
	if (named) {
		print_message("     rc_tls_check: %s\n", why);
		assert_non_null(strstr(why, named));
	}
}

static void test_check(void **state)
{
	char missing[160];
	struct rc_config cfg = rc_config_default();
	char why[256];

	(void)state;
	snprintf(missing, sizeof(missing), "%s/no-such-file.pem", dir);
	assert_int_equal(rc_tls_check(NULL, why, sizeof(why)), -EINVAL);
	assert_int_equal(rc_tls_check(&cfg, why, sizeof(why)), 0);
	expect_tls_check(srv_pem, srv_key, NULL, 0, NULL);
	expect_tls_check(srv_pem, srv_key, cca_pem, 0, NULL);
	expect_tls_check(missing, srv_key, NULL, -EINVAL, missing);
	expect_tls_check(srv_pem, missing, NULL, -EINVAL, missing);
	expect_tls_check(srv_pem, other_key, NULL, -EINVAL, other_key);
	expect_tls_check(garbage, srv_key, NULL, -EINVAL, garbage);
	expect_tls_check(srv_pem, srv_key, missing, -EINVAL, missing);
	expect_tls_check(NULL, srv_key, NULL, -EINVAL, "missing");
	expect_tls_check(srv_pem, NULL, NULL, -EINVAL, "missing");
	/* rc_server_new() refuses the same */
	{
		struct rc_tls_cert pair = { srv_pem, other_key };

		cfg.host = "127.0.0.1";
		cfg.port = 0;
		cfg.tls_certs = &pair;
		cfg.ntls_certs = 1;
		errno = 0;
		assert_null(rc_server_new(&cfg, &handlers, NULL));
		assert_int_equal(errno, EINVAL);
	}
}

/*
 * A missing file is named and explained: the first entry of OpenSSL's error
 * queue (ERR_LIB_SYS, ENOENT) says "No such file or directory"; the last
 * one only "system lib" (which is all it used to say).
 */
static void test_check_explains_missing_file(void **state)
{
	char missing[160], why[512] = "";
	struct rc_tls_cert pair = { NULL, NULL };
	struct rc_config cfg = rc_config_default();

	(void)state;
	snprintf(missing, sizeof(missing), "%s/no-such-file.pem", dir);
	cfg.tls_certs = &pair;
	cfg.ntls_certs = 1;
	for (int i = 0; i < 2; i++) {
		pair.cert_file = i ? srv_pem : missing;
		pair.key_file = i ? missing : srv_key;
		assert_int_equal(rc_tls_check(&cfg, why, sizeof(why)), -EINVAL);
		print_message("     rc_tls_check: %s\n", why);
		assert_non_null(strstr(why, missing));
		assert_non_null(strstr(why, strerror(ENOENT)));
	}
}

/* A ClientHello, made on memory BIOs. */
static size_t client_hello(uint8_t *out, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(ctx);
	BIO *in = BIO_new(BIO_s_mem()), *wr = BIO_new(BIO_s_mem());
	int n;

	SSL_set_bio(ssl, in, wr);
	SSL_set_tlsext_host_name(ssl, "localhost");
	SSL_connect(ssl);
	n = BIO_read(wr, out, (int)cap);
	assert_true(n > 100);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return (size_t)n;
}

/*
 * rc_server_stop() while handshakes are in flight: silent connections,
 * half ClientHellos, a burst of whole ClientHellos (more than a turn's
 * budget, so some wait for their turn), handshakes done but no request,
 * and established wss clients (which get close 1001). The stop must end
 * cleanly: rc_server_run() returns 0, everything is freed (ASan).
 */
#define STOP_EACH 60

static void test_stop_in_flight(void **state)
{
	static int fds[4 * STOP_EACH];
	struct cli est[4], idle[4];
	uint8_t hello[2048], op, buf[128];
	size_t hn = client_hello(hello, sizeof(hello));
	struct rc_server *s;
	struct timespec t0, t1;
	double took;
	int nfd = 0, n;

	(void)state;
	alarm(ALARM_S);
	s = start_server(1, -1, NULL, NULL, NULL);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(cli_open(&est[i], rc_server_tls_port(s), true,
					  NULL, NULL), 0);
		assert_int_equal(cli_upgrade(&est[i], "/x"), 101);
		cli_echo(&est[i], "established");
		assert_int_equal(cli_open(&idle[i], rc_server_tls_port(s), true,
					  NULL, NULL), 0);
	}
	for (int i = 0; i < STOP_EACH; i++) {
		fds[nfd++] = tcp_dial(rc_server_tls_port(s));	/* silent */
		fds[nfd] = tcp_dial(rc_server_tls_port(s));
		assert_int_equal(write(fds[nfd++], hello, hn / 2),
				 (ssize_t)(hn / 2));
	}
	for (int i = 0; i < 2 * STOP_EACH; i++)
		fds[nfd++] = tcp_dial(rc_server_tls_port(s));
	for (int i = 2 * STOP_EACH; i < nfd; i++)
		assert_int_equal(write(fds[i], hello, hn), (ssize_t)hn);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc_server_stop(s);
	assert_int_equal(rc_server_run(s), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	took = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("     stop with %d connections in flight: %.2f s\n",
		      nfd + 8, took);
	/* connections that never answer wait out the close timeout (5 s) */
	assert_true(took < 5.0 + 5.0);
	for (int i = 0; i < 4; i++) {
		n = cli_frame(&est[i], &op, buf);
		assert_int_equal(n, 2);
		assert_int_equal(op, RC_OP_CLOSE);
		assert_int_equal(buf[0] << 8 | buf[1], RC_CLOSE_GOING_AWAY);
		cli_close(&est[i]);
		cli_close(&idle[i]);
	}
	rc_server_free(s);
	for (int i = 0; i < nfd; i++)
		close(fds[i]);
	assert_int_equal(closes, 4);
	alarm(0);
}

/* 1000 small rc_send() from one handler call over TLS: all arrive, in
   order, in far fewer records than messages. */
static void test_batched(void **state)
{
	struct rc_server *s;
	struct cli c;
	uint8_t op, buf[128];
	unsigned records;

	(void)state;
	alarm(ALARM_S);
	s = start_server(1, 0, NULL, NULL, NULL);
	assert_int_equal(cli_open(&c, rc_server_port(s), true, NULL, NULL), 0);
	assert_int_equal(cli_upgrade(&c, "/x"), 101);
	cli_echo(&c, "warm-up");	/* the session ticket is read by now */
	c.app_records = 0;
	cli_send(&c, RC_OP_TEXT, "burst", 5);
	for (int i = 0; i < BURST; i++) {
		char want[16];
		int n = cli_frame(&c, &op, buf);

		snprintf(want, sizeof(want), "m%04d", i);
		assert_int_equal(n, 5);
		assert_int_equal(op, RC_OP_TEXT);
		assert_memory_equal(buf, want, 5);
	}
	records = c.app_records;
	print_message("     %d messages of 5 bytes came in %u TLS records\n",
		      BURST, records);
	assert_true(records >= 1);
	assert_true(records <= BURST / 20);
	cli_echo(&c, "after the burst");
	cli_close(&c);
	rc_server_free(s);
	alarm(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_port),
		cmocka_unit_test(test_is_tls_and_subject),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_check_explains_missing_file),
		cmocka_unit_test(test_stop_in_flight),
		cmocka_unit_test(test_batched),
	};
	char why[256];
	int ret;

	if (rc_kernel_check(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	if (make_certs()) {
		printf("SKIP: the openssl command is missing or failed\n");
		if (dir[0])
			sh("rm -rf '%s'", dir);
		return 77;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	sh("rm -rf '%s'", dir);
	return ret;
}
