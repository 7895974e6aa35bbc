/* SPDX-License-Identifier: MIT */
/*
 * ringcast.h -- WebSocket server and pub/sub hub on io_uring: the public API.
 *
 * One worker thread per core, each with its own io_uring. A connection lives
 * on the worker that accepted it; every handler for it runs on that worker.
 * An rc_conn pointer is valid only inside a handler call on its own worker.
 *
 * Errors are negative errno values (-EINVAL, -ENOMEM, ...), as in liburing.
 */
#ifndef RINGCAST_H
#define RINGCAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGCAST_VERSION "0.1.0"

/* Marks what libringcast exports; the library is built with
   -fvisibility=hidden, so everything else stays inside it. */
#define RC_API __attribute__((visibility("default")))

/* WebSocket opcodes (RFC 6455 §5.2). Data messages are TEXT or BINARY. */
enum rc_opcode {
	RC_OP_CONT = 0x0,
	RC_OP_TEXT = 0x1,
	RC_OP_BINARY = 0x2,
	RC_OP_CLOSE = 0x8,
	RC_OP_PING = 0x9,
	RC_OP_PONG = 0xA,
	/* A flag, or'ed into TEXT or BINARY for rc_send(), rc_send_to(),
	   rc_publish() and rc_conn_publish(): send this message uncompressed
	   even to peers that negotiated permessage-deflate (say, data that
	   is compressed already). */
	RC_OP_NO_DEFLATE = 0x100,
};

/* Close status codes used by the server (RFC 6455 §7.4.1). */
enum rc_close_code {
	RC_CLOSE_NORMAL = 1000,
	RC_CLOSE_GOING_AWAY = 1001,
	RC_CLOSE_PROTOCOL = 1002,
	RC_CLOSE_UNSUPPORTED = 1003,
	RC_CLOSE_NO_STATUS = 1005,	/* never sent: "peer sent no code" */
	RC_CLOSE_ABNORMAL = 1006,	/* never sent: "no close frame at all" */
	RC_CLOSE_INVALID_DATA = 1007,
	RC_CLOSE_POLICY = 1008,
	RC_CLOSE_TOO_BIG = 1009,
	RC_CLOSE_INTERNAL = 1011,
	RC_CLOSE_RESTART = 1012,	/* service restart (IANA registry) */
	RC_CLOSE_TRY_AGAIN = 1013,	/* try again later (IANA registry) */
	RC_CLOSE_BAD_GATEWAY = 1014,	/* bad gateway (IANA registry) */
};

/* rc_config.log's levels, most severe first. */
enum rc_log_level {
	RC_LOG_ERROR = 0,
	RC_LOG_WARN,
	RC_LOG_INFO,
	RC_LOG_DEBUG,
};
/* What happens to a subscriber whose queued output would pass
   max_backpressure with a published message that arrives for it (a message
   that finds the queue empty always goes, however large). */
enum rc_slow_policy {
	RC_SLOW_CLOSE = 0,	/* close it with 1008 (counted) */
	RC_SLOW_DROP,		/* drop its oldest queued published messages
				   (counted) until the new one fits */
};

/* Longest topic name, in bytes. */
#define RC_TOPIC_MAX 1024

/* Largest max_message (4 GiB - 64 KiB): message lengths are kept in 32
   bits. A larger configured value is clamped to it. */
#define RC_MAX_MESSAGE_LIMIT ((size_t)0xffff0000u)

/* A limit set to this (unsigned fields) or RC_UNLIMITED_SIZE (size_t
   fields) is off; 0 still means "the default". */
#define RC_UNLIMITED ((unsigned)-1)
#define RC_UNLIMITED_SIZE ((size_t)-1)

struct rc_server;
struct rc_conn;

/* A certificate chain and its private key, PEM files. */
struct rc_tls_cert {
	const char *cert_file;
	const char *key_file;
};

/* Where a topic's stream is (history_size): its epoch, and an offset in
   it (0: before the first message). */
struct rc_stream_pos {
	uint64_t epoch;
	uint64_t offset;
};

/* A message as rc_config.stamp sees it; every pointer borrowed for the
   call. */
struct rc_stamp_in {
	const void *topic;
	size_t topic_len;
	struct rc_stream_pos pos;	/* 0, 0 with history off */
	const void *data;
	size_t len;
	enum rc_opcode op;		/* RC_OP_TEXT or RC_OP_BINARY */
	const void *meta;		/* what the publisher attached */
	size_t meta_len;
};

/*
 * Server configuration. Get one from rc_config_default() and change what you
 * need; a zero in a numeric field means "the default".
 */
struct rc_config {
	const char *host;		/* listen address, default "0.0.0.0" */
	uint16_t port;			/* default 8080; 0 picks a free port */
	unsigned threads;		/* workers, default: online CPUs */
	bool pin_threads;		/* pin worker i to CPU i (default true) */
	unsigned max_connections;	/* per server, default 100000 (also
					   bounded by RLIMIT_NOFILE per worker) */
	size_t max_message;		/* default 16 MiB; larger -> close 1009;
					   at most RC_MAX_MESSAGE_LIMIT */
	size_t max_head;		/* HTTP request head, default 8 KiB -> 431 */
	unsigned max_headers;		/* default 128 -> 431 */
	size_t max_backpressure;	/* queued output per connection, default
					   1 MiB, counting what the queue holds
					   (bytes and bookkeeping, see
					   rc_conn_buffered()): past it,
					   reading from the connection pauses
					   (pipelined HTTP requests wait
					   unparsed), and published messages
					   to it follow slow_policy */
	enum rc_slow_policy slow_policy;	/* default RC_SLOW_CLOSE */
	unsigned max_topics;		/* distinct topics with subscribers the
					   server tracks precisely (default
					   65536); beyond, publishing to such
					   topics wakes every worker */
	unsigned handshake_timeout_ms;	/* head + upgrade, default 10000 */
	unsigned close_timeout_ms;	/* wait for the peer's close, 5000 */
	unsigned idle_timeout_ms;	/* default 60000, at most 7200000.
					   HTTP: keep-alive idle limit.
					   WebSocket: a peer that sent
					   nothing (not even a pong) for 1/2
					   to 1 of it gets a ping, and if it
					   stays silent another half, close
					   1001 "idle timeout" */
	/* Receive pool per worker, allocated and paged in at start (a fixed
	   cost, not per connection). 0 = automatic: where the kernel
	   consumes provided buffers incrementally (6.12+), 64 x 64 KiB
	   shared by every connection's reads; before that, 512 x 16 KiB. */
	unsigned recv_buffers;		/* provided buffers per worker */
	unsigned recv_buffer_size;	/* bytes each */
	/*
	 * TLS (wss://, https://). With certificates the server speaks TLS
	 * 1.2 and 1.3 (OpenSSL's default ciphers, no renegotiation, session
	 * tickets, ALPN http/1.1): on the main listener when tls_port is 0,
	 * else on an extra listener at tls_port (-1: any free one, see
	 * rc_server_tls_port()) while the main one stays plain. The first
	 * pair is the default; the others are chosen by SNI (a server name
	 * no certificate covers is refused). The file names are copied; the
	 * files are read by rc_server_new() and by every
	 * rc_server_tls_reload().
	 */
	const struct rc_tls_cert *tls_certs;
	size_t ntls_certs;
	int tls_port;
	/* PEM file of CAs: clients must present a certificate they sign
	   (mTLS); rc_conn_tls_subject() reads it in on_upgrade. */
	const char *tls_client_ca;
	/* Subprotocols the server speaks, in order of preference (at most
	   127 tokens; copied by rc_server_new(), which fails with EINVAL on
	   a name that is not an RFC 9110 token). The server picks the first
	   of these that the client offered, or none. */
	const char *const *subprotocols;
	size_t nsubprotocols;
	/*
	 * Who may connect, and how much each may spend. Every refusal is
	 * counted (struct rc_stats).
	 *
	 * Origin (RFC 6454), against Cross-Site WebSocket Hijacking: an
	 * upgrade carrying an Origin header is accepted only from the
	 * server's own origin -- the scheme it was reached by (http, or
	 * https over TLS or from a trusted proxy saying X-Forwarded-Proto:
	 * https) and the Host header, default ports elided -- or from one
	 * listed here ("https://chat.example.com", "*" for any, "null" to
	 * admit the opaque origin). Otherwise 403, before on_upgrade. An
	 * upgrade without Origin (not from a browser) is not checked. The
	 * strings are copied.
	 */
	const char *const *allow_origins;
	size_t nallow_origins;
	/* Per peer address: connections open at once (default 1024) and new
	   connections per second (default 256, a burst of as many). Over
	   either: HTTP 429 and close (TLS: closed before its handshake),
	   before any request is read. */
	unsigned max_conns_per_ip;
	unsigned conn_rate_per_ip;
	/* Peers whose X-Forwarded-For (and -Proto) is believed, as CIDRs
	   ("10.0.0.0/8", "::1/128"; copied). From them the peer is the
	   rightmost X-Forwarded-For address that is not itself trusted, and
	   the per-address limits apply to it when the head arrives. */
	const char *const *trusted_proxies;
	size_t ntrusted_proxies;
	/* Per WebSocket, received data messages per second (default 1000;
	   at most 32767, a larger value counts as that) and their payload
	   bytes per second (default 8 MiB): token buckets holding a
	   second's worth; a message arriving at an empty one closes the
	   connection with 1008 "rate limit". */
	unsigned msg_rate;
	size_t byte_rate;
	/* Topics one connection may be subscribed to (default 128):
	   rc_subscribe() fails with -ENOSPC past it. */
	unsigned max_subscriptions;
	/* Bytes of messages held partly received (spanning reads), all
	   connections together (default 256 MiB): a message that would take
	   it past closes its connection with 1013 "server busy". */
	size_t max_partial_total;
	/*
	 * permessage-deflate (RFC 7692), offered by every browser.
	 * deflate_window_bits 0 (default), "shared": the server answers with
	 * server_no_context_takeover and client_no_context_takeover, so no
	 * connection keeps compression state (one compressor and one
	 * decompressor per thread), and a published message is compressed
	 * once, its compressed frame shared by every subscriber that
	 * negotiated the extension. 9..15, "dedicated": each connection
	 * keeps a window of 2^bits bytes each way, for a better ratio on
	 * small messages, at a cost in memory per connection (see
	 * docs/DEFLATE.md) and one compression per subscriber.
	 * RC_DEFLATE_OFF: not negotiated.
	 * Messages shorter than deflate_min_size (default 128) are sent
	 * uncompressed, and in shared mode those that do not get smaller
	 * (dedicated mode cannot take one back: the window holds it). deflate_level:
	 * 1..12 (shared: libdeflate's levels; dedicated: zlib's 1..9, a
	 * higher one counting as 9), default 4 (docs/DEFLATE.md has the
	 * measured trade-off). A received message is
	 * inflated within max_message (close 1009 as soon as it passes)
	 * and max_partial_total.
	 */
	int deflate_window_bits;
	int deflate_level;
	size_t deflate_min_size;
	/*
	 * Rooms that span servers, over NATS (docs/SCALEOUT.md). nats_urls:
	 * "nats://host:port[,nats://host:port...]" (NULL: rooms stay on
	 * this server); servers of one cluster, tried in turn, reconnected
	 * to forever. The server subscribes to a topic's subject while it
	 * has subscribers of it, and sends every message published here
	 * there once; its own subscribers get it from the local fan-out,
	 * never back through NATS, so each gets each message once, and in
	 * order per publisher on every server (numbered per topic and
	 * publishing thread; what was lost between servers is counted:
	 * rc_stats.nats_*). Servers with the same nats_prefix (NULL:
	 * "ringcast"; letters, digits, '_', '-' and single dots) share
	 * topics. rc_server_new() copies both, fails with EINVAL on a bad
	 * URL or prefix, and does not wait for NATS: a server that is down
	 * is retried in the background while local topics work.
	 */
	const char *nats_urls;
	const char *nats_prefix;
	/*
	 * Where to listen, beyond host and port. listen: "HOST:PORT",
	 * "[IPV6]:PORT" or "HOST" (with port), at most RC_LISTEN_MAX; when
	 * set, host is not used. A HOST may be a name: every address it
	 * resolves to is bound ("localhost": 127.0.0.1 and ::1). "::" is
	 * dual-stack (IPv4 too), "0.0.0.0" IPv4 only. A TLS listener
	 * (tls_port) sits beside each address. Copied.
	 */
	const char *const *listen;
	size_t nlisten;
	/* Share the port with another process of the same user that
	   listens on it (SO_REUSEPORT, on purpose): a new server binds while
	   the old one drains (rc_server_drain()), and the kernel sends new
	   connections to whichever listens. Without it a taken port fails
	   rc_server_new() with EADDRINUSE. */
	bool reuse_port;
	/* Listening sockets handed over by a supervisor (systemd socket
	   activation): the main listener accepts on these instead of
	   binding (host, port and listen are not used; tls_port cannot be
	   combined: EINVAL). rc_server_new() takes them: each worker gets
	   a copy, and the given descriptors are closed before it returns,
	   also when it fails. Drains leave them listening (the
	   supervisor's copy stays), so that connections wait in them for
	   the next process. */
	const int *listen_fds;
	size_t nlisten_fds;
	/* Events worth a line in a log (listening, kernel features, accept
	   and ring errors, NATS connection state, drains), one line each
	   without a newline, from any thread, never per message; the
	   callback must be thread-safe. NULL (default): nothing is
	   logged anywhere. */
	void (*log)(void *user, enum rc_log_level level, const char *msg);
	void *log_user;
	/*
	 * Topics that remember (0, the default: none). Each topic keeps its
	 * last history_size messages, at most history_ttl_ms old (0: no
	 * age limit), all topics together within history_memory bytes
	 * (frames and bookkeeping; default 64 MiB), the least recently
	 * published topics' history dropped whole first (counted). Each
	 * message published gets an offset, strictly increasing per topic,
	 * in its topic's epoch (random, new whenever the history is lost:
	 * a restart, an eviction). rc_subscribe_from() resumes from a
	 * position; rc_history() reads one; rc_publish_pos() says where a
	 * message went. The frames remembered are the ones sent, shared.
	 */
	unsigned history_size;
	unsigned history_ttl_ms;
	size_t history_memory;
	/*
	 * A second form of every published message, for the connections
	 * marked with rc_conn_stamped() (a subprotocol that wraps messages
	 * with their topic, position and sender, say): write it into @out
	 * (@cap bytes) and return its length (more than @cap: called again
	 * with that much room; 0: such connections get the plain message).
	 * It goes out as TEXT, so it must be UTF-8. Called once per message,
	 * by its publisher, when a worker it goes to has stamped
	 * subscribers (with history on, under the topic's lock: it must not
	 * call into ringcast), and again for one connection when a message
	 * reaches it unstamped (history resent, a subscriber that came
	 * after the publish). Any thread.
	 */
	size_t (*stamp)(void *user, const struct rc_stamp_in *in, char *out,
			size_t cap);
	void *stamp_user;
	/*
	 * Presence (false, the default: none): who subscribes to each
	 * topic, server-wide, for rc_presence(). Each subscription is
	 * listed with its connection's id and a label that
	 * presence_label (may be NULL: none) writes into @out (@cap bytes,
	 * RC_META_MAX) and returns the length of; a negative return
	 * counts the subscriber without listing it. Called on the
	 * connection's worker as it subscribes; it must not call into
	 * ringcast. Costs a lock per subscribe and unsubscribe, nothing
	 * per message.
	 */
	bool presence;
	int (*presence_label)(void *user, struct rc_conn *c, char *out,
			      size_t cap);
	void *presence_user;
};
/* Largest rc_config.history_size. */
#define RC_HISTORY_MAX 65536
/* Most rc_publish.meta bytes. */
#define RC_META_MAX 255
/* Most rc_config.listen addresses. */
#define RC_LISTEN_MAX 8

/* deflate_window_bits: permessage-deflate is not negotiated. */
#define RC_DEFLATE_OFF (-1)

/*
 * A request as the parser saw it. Borrowed: every pointer points into the
 * received bytes and is valid only during the handler call it is given to.
 */
struct rc_request;

/* Slices of the request line; not NUL-terminated. The path is the request
   target up to any '?', as sent (not percent-decoded). */
RC_API const char *rc_request_method(const struct rc_request *req, size_t *len);
RC_API const char *rc_request_path(const struct rc_request *req, size_t *len);
/* The first header named @name (case-insensitive), or NULL. */
RC_API const char *rc_request_header(const struct rc_request *req,
				     const char *name, size_t *len);
/* The request target's query, after '?' (not decoded), or NULL if none. */
RC_API const char *rc_request_query(const struct rc_request *req,
				    size_t *len);
/*
 * Find parameter @name in @query (as rc_request_query() gives it) and
 * percent-decode its value ('+' is a space) into @out, NUL-terminated.
 * Returns the value's length, -ENOENT (absent), -ENOSPC (longer than
 * @cap - 1) or -EINVAL (a bad %-escape, or a decoded NUL).
 */
RC_API int rc_query_param(const char *query, size_t qlen, const char *name,
			  char *out, size_t cap);

/*
 * A plain (non-upgrade) HTTP response, filled by on_http. The body is
 * borrowed: the server copies it before on_http returns to the loop. A
 * status outside 100..599 or a content type with a control character
 * (CR, LF, ...) is answered 500 instead.
 */
struct rc_response {
	int status;			/* e.g. 200; 0 means 404 */
	const char *content_type;	/* default "text/plain; charset=utf-8" */
	const void *body;
	size_t body_len;
};

/* Handlers; all optional, all called on the connection's worker. */
struct rc_handlers {
	/* A valid WebSocket upgrade arrived (and passed the Origin policy).
	   Return 0 to accept, an HTTP status (400..599) to refuse with it,
	   or RC_UPGRADE_LATER to decide from any thread later with
	   rc_upgrade_accept()/rc_upgrade_refuse(). Auth checks go here;
	   rc_upgrade_header() adds headers to the answer. Default: accept. */
	int (*on_upgrade)(struct rc_conn *c, const struct rc_request *req);
	/* A plain HTTP request. Fill @res; the connection stays open
	   (keep-alive) unless the client asked to close. Default: 404. */
	void (*on_http)(struct rc_conn *c, const struct rc_request *req,
			struct rc_response *res);
	/* The 101 response has been queued; the connection is open. */
	void (*on_open)(struct rc_conn *c);
	/* A complete message. @data is borrowed: valid until return. */
	void (*on_message)(struct rc_conn *c, const void *data, size_t len,
			   enum rc_opcode op);
	/* Queued output went from over max_backpressure to empty: a good
	   time to send more (rc_conn_buffered() is 0). */
	void (*on_drain)(struct rc_conn *c);
	/* The connection is gone: @code is the close code the peer sent (or
	   1005 when it sent none, 1006 when the TCP connection just ended),
	   or the code the server failed it with. Called once for every
	   connection whose upgrade was accepted (on_upgrade returned 0), so
	   what on_upgrade allocated can be freed here. */
	void (*on_close)(struct rc_conn *c, uint16_t code);
	/* The server refused @c, or closed it, for a limit of its own (no
	   other handler decided it): @code is the HTTP status (403 Origin,
	   429 per-address limits, 503 max_connections) or the close code
	   (1008 "rate limit", 1013 "server busy"), @what names the limit
	   ("origin", "connections per address", "new connections per
	   address", "connections", "rate limit", "partial messages").
	   For logs: rc_conn_peer_str() works here. */
	void (*on_refuse)(struct rc_conn *c, int code, const char *what);
};

/* Counters, summed over workers by rc_server_stats(). */
struct rc_stats {
	uint64_t connections_accepted;
	uint64_t connections_open;	/* TCP connections open now */
	uint64_t websockets_open;	/* upgraded connections open now */
	uint64_t connections_refused;	/* over max_connections (503) */
	uint64_t http_requests;		/* plain requests answered */
	uint64_t http_errors;		/* 400/404/405/426/431/501/503 sent */
	uint64_t handshakes;		/* 101 sent */
	uint64_t messages_in, bytes_in;	/* data messages, payload bytes */
	uint64_t messages_out, bytes_out;
	uint64_t protocol_errors;	/* closes with 1002 */
	uint64_t invalid_utf8;		/* closes with 1007 */
	uint64_t too_big;		/* closes with 1009 */
	uint64_t timeouts;		/* handshake, close or idle timeouts */
	uint64_t backpressure_pauses;	/* reads paused for a slow reader */
	uint64_t published;		/* rc_publish calls that framed a message */
	uint64_t deliveries;		/* published messages queued to
					   subscribers (one per subscriber) */
	uint64_t dropped;		/* published messages dropped for slow
					   subscribers (RC_SLOW_DROP) */
	uint64_t slow_closes;		/* subscribers closed with 1008 */
	uint64_t recv_waits;		/* reads that found the receive pool
					   empty and waited a turn (ENOBUFS) */
	uint64_t pings_sent;		/* server pings to idle WebSockets */
	uint64_t alloc_failures;	/* allocations that failed; the
					   connection affected closes (1011) */
	uint64_t pubsub_misses;		/* published messages a worker was
					   handed but had no subscriber for */
	uint64_t accept_errors;		/* accepts that failed (then retried
					   after a back-off) */
	uint64_t ring_retries;		/* io_uring submits retried after the
					   kernel could take no more */
	uint64_t tls_handshakes;	/* TLS handshakes completed */
	/* TLS connections failed, by reason (each ends that connection): */
	uint64_t tls_fail_version;	/* TLS < 1.2, or not TLS at all */
	uint64_t tls_fail_protocol;	/* malformed or unexpected records,
					   renegotiation, plain HTTP */
	uint64_t tls_fail_sni;		/* a server name we have no
					   certificate for */
	uint64_t tls_fail_alpn;		/* ALPN without http/1.1 */
	uint64_t tls_fail_cert;		/* client certificate missing or not
					   verified (tls_client_ca) */
	uint64_t tls_fail_timeout;	/* handshake not done within
					   handshake_timeout */
	uint64_t tls_fail_eof;		/* the peer left mid-handshake */
	uint64_t tls_fail_other;
	uint64_t origin_refused;	/* upgrades refused by Origin (403) */
	uint64_t ip_refused;		/* connections over a per-address
					   limit (429) */
	uint64_t rate_limited;		/* closes with 1008 "rate limit" */
	uint64_t subscriptions_refused;	/* rc_subscribe() over
					   max_subscriptions */
	uint64_t partial_refused;	/* closes with 1013 "server busy":
					   max_partial_total */
	uint64_t deadline_closes;	/* closes by rc_conn_close_at() */
	uint64_t tls_reloads;		/* certificate reloads (server-wide) */
	uint64_t tls_reload_failures;	/* reloads refused; the certificates
					   in force stayed */
	/* permessage-deflate (rc_config.deflate_window_bits): */
	uint64_t deflate_connections;	/* WebSockets open with it now */
	uint64_t deflate_in_bytes;	/* payload bytes compressed (shared
					   mode: a published message once;
					   dedicated: once per member) */
	uint64_t deflate_out_bytes;	/* what they compressed to */
	uint64_t deflate_skipped;	/* messages sent uncompressed to
					   such peers: opted out, shorter
					   than deflate_min_size, or not
					   smaller compressed */
	uint64_t inflate_in_bytes;	/* compressed bytes received */
	uint64_t inflate_out_bytes;	/* what they inflated to */
	uint64_t inflate_errors;	/* closes with 1007 for data that
					   does not inflate */
	/* Rooms across servers (rc_config.nats_urls), server-wide: */
	uint64_t nats_connected;	/* 1 while connected to NATS */
	uint64_t nats_subscriptions;	/* topics subscribed on NATS now */
	uint64_t nats_reconnects;	/* connections NATS gave back */
	uint64_t nats_out;		/* messages sent to NATS */
	uint64_t nats_out_bytes;	/* their payload bytes */
	uint64_t nats_out_errors;	/* messages NATS could not take (down
					   longer than its 8 MiB buffer) */
	uint64_t nats_in;		/* messages from NATS fanned out */
	uint64_t nats_in_bytes;		/* their payload bytes */
	uint64_t nats_in_dropped;	/* from NATS, not delivered:
					   malformed, or inboxes stayed full */
	uint64_t nats_in_gaps;		/* messages missing from a
					   publisher's numbers: lost between
					   servers */
	uint64_t nats_in_dups;		/* repeated or out of order: dropped */
	uint64_t nats_slow_consumer;	/* times NATS said we fell behind */
	uint64_t nats_forwarded;	/* with history: publishes sent to
					   their room's owning server */
	uint64_t nats_hub_changes;	/* ... changes seen in the set of
					   servers that own rooms */
	/* Topics' history (rc_config.history_size), server-wide: */
	uint64_t history_topics;	/* topics with a history now */
	uint64_t history_bytes;		/* memory it holds now */
	uint64_t history_evicted;	/* histories dropped whole for
					   history_memory */
	uint64_t history_expired;	/* messages dropped for their age */
	uint64_t recoveries;		/* rc_subscribe_from() recovered */
	uint64_t recoveries_failed;	/* ... could not (told so) */
};

RC_API struct rc_config rc_config_default(void);

/*
 * Check that the kernel has the io_uring features ringcast needs. Returns
 * 0, or -ENOTSUP / -ENOSYS / -EPERM with one line in @why naming what is
 * missing and the kernel version that has it. rc_server_new() runs it too.
 */
RC_API int rc_kernel_check(char *why, size_t cap);

/*
 * Create a server: copies @cfg and @h, binds the listening sockets (so a
 * bind error shows here). @user is returned by rc_server_user().
 * Returns NULL with errno set on failure.
 */
RC_API struct rc_server *rc_server_new(const struct rc_config *cfg,
				       const struct rc_handlers *h, void *user);
/* The port actually bound (useful with port 0). */
RC_API uint16_t rc_server_port(const struct rc_server *s);
/* The separate TLS listener's port, or 0 if there is none. */
RC_API uint16_t rc_server_tls_port(const struct rc_server *s);
/*
 * Read the configured certificates, keys (and client CA) again. If all
 * load, new handshakes use them; open connections are not touched. If one
 * fails, the ones in force stay. Any thread. 0, -ENOTSUP (no TLS), or
 * -EINVAL with one line in @why (may be NULL) naming the file and error.
 */
RC_API int rc_server_tls_reload(struct rc_server *s, char *why, size_t cap);
/* Load @cfg's certificates as rc_server_new() would, and say why they do
   not load: 0, or -EINVAL with one line in @why. */
RC_API int rc_tls_check(const struct rc_config *cfg, char *why, size_t cap);
RC_API void *rc_server_user(const struct rc_server *s);
/* Start the workers in the background. 0 or -errno. */
RC_API int rc_server_start(struct rc_server *s);
/* Start if needed, then block until the server has stopped; once it
   returns, rc_publish() and rc_send_to() fail with -ESHUTDOWN. 0, or
   -errno (a worker could not start, or its ring failed for good). */
RC_API int rc_server_run(struct rc_server *s);
/*
 * Ask the server to stop: every WebSocket gets close 1001, output is
 * flushed, connections close, workers exit. Any thread; async-signal-safe;
 * any time after rc_server_new() (a stop before rc_server_run() makes it
 * return at once).
 */
RC_API void rc_server_stop(struct rc_server *s);
/*
 * Drain: stop listening at once (new connections are refused by the
 * kernel, or go to another process sharing the port), send every
 * WebSocket close 1001 with @reason (NULL: "going away"; at most 123
 * bytes, copied), and keep serving the HTTP connections still open, each
 * answer with Connection: close, until no WebSocket is left; then the
 * rest close and the workers exit (rc_server_run() returns). A WebSocket
 * upgraded during the drain gets the same 1001 at once. After
 * @timeout_ms, whatever is left is closed. Calling it again can shorten
 * the time left (0: close everything now). Any thread. 0 or -EINVAL (a
 * reason over 123 bytes or not UTF-8).
 * (A connection closes gracefully: after its last answer or close frame
 * the server waits for the peer's end, at most close_timeout_ms, so a
 * client that keeps its socket open holds the drain that long. An idle
 * HTTP keep-alive connection is closed at once when the workers stop.)
 */
RC_API int rc_server_drain(struct rc_server *s, unsigned timeout_ms,
			   const char *reason);
/* True once rc_server_drain() or rc_server_stop() was called. */
RC_API bool rc_server_draining(const struct rc_server *s);
/* Every worker went round its loop within the last @within_ms (an idle
   worker does at least once a second): 0, -ETIMEDOUT (one is stuck, say
   in a handler), -ESHUTDOWN (stopped). For watchdogs; any thread. */
RC_API int rc_server_alive(const struct rc_server *s, unsigned within_ms);
/* Replace allow_origins (as in rc_config, copied) for upgrades from now
   on. Any thread. 0, -EINVAL, -ENOMEM (the old list stays). */
RC_API int rc_server_set_origins(struct rc_server *s,
				 const char *const *origins, size_t n);
/* The address of listener @i (0..), as "127.0.0.1:8080" or "[::1]:8080",
   into @buf; NULL past the last. Plain listeners first, then the TLS
   ones (tls_port). */
RC_API const char *rc_server_listener(const struct rc_server *s, unsigned i,
				      char *buf, size_t cap);
/* Stop, wait for the workers, free everything. */
RC_API void rc_server_free(struct rc_server *s);
/* Counters summed over workers, or of worker @i alone. 0 or -EINVAL. */
RC_API int rc_server_stats(const struct rc_server *s, struct rc_stats *out);
RC_API int rc_server_worker_stats(const struct rc_server *s, unsigned i,
				  struct rc_stats *out);
RC_API unsigned rc_server_workers(const struct rc_server *s);

/*
 * Publish a message to every connection subscribed to @topic, on every
 * worker. Any thread may call it, also threads ringcast does not own. The
 * frame is built once (one allocation) and shared by all subscribers; the
 * call returns once each interested worker has a reference in its inbox.
 * Messages from one publishing thread on one topic reach every subscriber
 * in order. Called from on_message, a publish that takes a worker's inbox
 * past 8 MiB pauses reading from that connection until the inboxes drain
 * (a publisher cannot outrun fan-out); other threads must pace themselves.
 * Returns 0 (also when nobody is subscribed), -EINVAL (bad opcode, empty
 * or > RC_TOPIC_MAX topic, TEXT not UTF-8), -EMSGSIZE (over max_message),
 * -ENOMEM, -ESHUTDOWN (server stopped).
 */
RC_API int rc_publish(struct rc_server *s, const void *topic, size_t topic_len,
		      const void *data, size_t len, enum rc_opcode op);

/*
 * Send a message to connection @conn_id (from rc_conn_id()) from any thread.
 * Returns 0 once queued for its worker; if the connection is gone by then,
 * the message is dropped. Errors as rc_publish, and -ENOENT for an id no
 * worker of this server can own.
 */
RC_API int rc_send_to(struct rc_server *s, uint64_t conn_id, const void *data,
		      size_t len, enum rc_opcode op);

/*
 * Queue a message on @c (TEXT, BINARY, PING or PONG). The data is copied;
 * it goes out with the next send of the loop turn. Returns 0, -EINVAL (bad
 * opcode, TEXT that is not UTF-8, control payload > 125), -EMSGSIZE (over
 * max_message), -EPIPE (connection closing), -ENOMEM (out of memory: the
 * message is lost, so the connection is failed with close 1011).
 */
RC_API int rc_send(struct rc_conn *c, const void *data, size_t len,
		   enum rc_opcode op);
/* Like rc_publish(); with history on, *@pos (may be NULL) gets the
   message's epoch and offset (0, 0 with history off). */
RC_API int rc_publish_pos(struct rc_server *s, const void *topic,
			  size_t topic_len, const void *data, size_t len,
			  enum rc_opcode op, struct rc_stream_pos *pos);

/* A publish with everything said: rc_publish_ex(). */
struct rc_publish {
	const void *topic;
	size_t topic_len;
	const void *data;
	size_t len;
	enum rc_opcode op;
	const void *meta;		/* for rc_config.stamp (e.g. the
					   sender's id), at most RC_META_MAX
					   bytes, kept with the message */
	size_t meta_len;
	uint64_t skip;			/* a connection id not to deliver to
					   (rc_conn_publish()'s sender), 0 */
	unsigned flags;			/* RC_PUB_* */
};
/* rc_publish.flags: a control message of the stamped protocol (a
   presence event, say): only connections marked with rc_conn_stamped()
   get it, as it is (TEXT or BINARY, never compressed); it takes no
   offset, is not remembered, is not sent to other servers, and meta is
   ignored. */
#define RC_PUB_CONTROL 1u

/* rc_publish() with meta and skip; *@pos (may be NULL) as
   rc_publish_pos(). Errors as rc_publish(), and -EINVAL for meta over
   RC_META_MAX. */
RC_API int rc_publish_ex(struct rc_server *s, const struct rc_publish *p,
			 struct rc_stream_pos *pos);

/* From now on, published messages reach @c in their stamped form
   (rc_config.stamp). Call it before @c subscribes (in on_open). */
RC_API void rc_conn_stamped(struct rc_conn *c);

/*
 * Subscribe @c to @topic as rc_subscribe() does, first sending it, from
 * the topic's history, either what it missed since @since (its epoch and
 * the last offset it got) or, for a newcomer (@since NULL), the last
 * @last messages; then live ones. No message is missing or sent twice at
 * the seam. Returns 1: recovered (@since's epoch is the topic's and every
 * message after its offset was still held: all were sent); 0: not
 * recovered, or nothing asked (a different epoch or an offset out of the
 * window: nothing of the history was sent unless @last asked for the
 * latest, and @c must reload); -errno as rc_subscribe(). *@now (may be
 * NULL): the stream's position the live messages continue from (0, 0:
 * nothing remembered). With history off: rc_subscribe(), and 0.
 */
RC_API int rc_subscribe_from(struct rc_conn *c, const void *topic,
			     size_t len, const struct rc_stream_pos *since,
			     unsigned last, struct rc_stream_pos *now);

/*
 * Read @topic's history from any thread: @fn (may be NULL) gets each
 * message held after offset @after, oldest first (from the oldest held
 * when @after is older), until it returns non-zero; @data is borrowed for
 * the call. *@now: the stream's position. Returns the number of messages
 * passed to @fn, -ENOENT (nothing remembered), -ENOTSUP (history off),
 * -EINVAL, -ENOMEM.
 */
RC_API int rc_history(struct rc_server *s, const void *topic, size_t len,
		      uint64_t after, struct rc_stream_pos *now,
		      int (*fn)(void *arg, uint64_t offset, const void *data,
				size_t len, enum rc_opcode op),
		      void *arg);

/* A topic's member, as rc_presence() lists it. */
struct rc_member {
	uint64_t id;			/* rc_conn_id() */
	const char *label;		/* rc_config.presence_label's; not
					   NUL-terminated, borrowed */
	size_t label_len;
};

/*
 * Who subscribes to @topic, server-wide (rc_config.presence), from any
 * thread: @fn (may be NULL) gets each listed member until it returns
 * non-zero, under the topic's lock (it must not call into ringcast).
 * Returns the number of subscribers (listed or not; 0 for a topic
 * nobody subscribes to), -ENOTSUP (presence off), -EINVAL.
 */
RC_API long rc_presence(struct rc_server *s, const void *topic, size_t len,
			int (*fn)(void *arg, const struct rc_member *m),
			void *arg);

/* Start the close handshake with @code (1000-1003, 1007-1014, 3000-4999)
   and an optional UTF-8 @reason (<= 123 bytes). 0 or -EINVAL / -EPIPE
   (already closing). */
RC_API int rc_close(struct rc_conn *c, uint16_t code, const char *reason);

/*
 * Subscribe @c to @topic (any bytes, 1..RC_TOPIC_MAX). Subscribing twice is
 * a no-op. 0, -EINVAL, -EPIPE (closing), -ENOMEM. Subscriptions end with
 * the connection.
 */
RC_API int rc_subscribe(struct rc_conn *c, const void *topic, size_t len);
/* 0, or -ENOENT if @c was not subscribed to @topic. */
RC_API int rc_unsubscribe(struct rc_conn *c, const void *topic, size_t len);
/* Like rc_publish(), but not delivered to @from itself. */
RC_API int rc_conn_publish(struct rc_conn *from, const void *topic,
			   size_t topic_len, const void *data, size_t len,
			   enum rc_opcode op);
/* What @c's queued output holds: the bytes not yet sent plus their
   bookkeeping (a queued published message also pays for its share of
   the shared message). 0 exactly when nothing is queued. */
RC_API size_t rc_conn_buffered(const struct rc_conn *c);

/* 64-bit id, never 0, unique for the life of the server. Its top 6 bits
   are the index of the connection's worker (rc_server_workers()). */
RC_API uint64_t rc_conn_id(const struct rc_conn *c);
RC_API struct rc_server *rc_conn_server(const struct rc_conn *c);
/* Did @c come in over TLS? */
RC_API bool rc_conn_is_tls(const struct rc_conn *c);
/* The subject (RFC 2253) of the client certificate @c presented and the
   server verified (tls_client_ca), or NULL. Borrowed: valid until the
   handler it is called in returns. */
RC_API const char *rc_conn_tls_subject(const struct rc_conn *c);
/*
 * The peer's address: the client's, through a trusted proxy (see
 * trusted_proxies). 0 or -ENOTCONN. The text form is "203.0.113.7" or
 * "2001:db8::1" (no port), written to @buf, which is returned.
 */
RC_API int rc_conn_peer(const struct rc_conn *c, struct sockaddr_storage *out);
RC_API const char *rc_conn_peer_str(const struct rc_conn *c, char *buf,
				    size_t cap);
/*
 * Add a header to the answer of @c's upgrade: the 101, or the refusal
 * (e.g. WWW-Authenticate with a 401). In on_upgrade only (headers added
 * there before it returns RC_UPGRADE_LATER go with the later answer).
 * @name must be a token, @value free of control characters; all of them
 * together at most 1 KiB. 0, -EINVAL, -ENOSPC, -EPIPE (not in on_upgrade).
 */
RC_API int rc_upgrade_header(struct rc_conn *c, const char *name,
			     const char *value);

/* on_upgrade's "decide later": reading from the connection pauses (the
   handshake timeout still runs) until one of these, from any thread: */
#define RC_UPGRADE_LATER 1
/*
 * Accept (with @data for rc_conn_data()) or refuse (with an HTTP status
 * 400..599, and @headers: NULL or "Name: value\r\n" lines, copied) the
 * deferred upgrade of @conn_id. The decision is carried out on the
 * connection's worker: on_open follows an accept as usual; if the
 * connection is gone by then (timed out, reset), nothing happens, and
 * on_close is not called for it. 0 once queued; -EINVAL (bad status or
 * header), -ENOENT (an id no worker of this server can own), -ENOMEM,
 * -ESHUTDOWN.
 */
RC_API int rc_upgrade_accept(struct rc_server *s, uint64_t conn_id,
			     void *data);
RC_API int rc_upgrade_refuse(struct rc_server *s, uint64_t conn_id,
			     int status, const char *headers);
/*
 * At wall-clock time @unix_ms, close @c with @code (as rc_close()) and
 * @reason, which must stay valid until then (a string literal): e.g. when
 * the token it came with expires. Several: the earliest wins. 0, -EINVAL,
 * -EPIPE (closing), -ENOMEM.
 */
RC_API int rc_conn_close_at(struct rc_conn *c, int64_t unix_ms, uint16_t code,
			    const char *reason);
/* The negotiated subprotocol, or NULL. Borrowed from the config. */
RC_API const char *rc_conn_protocol(const struct rc_conn *c);
RC_API void *rc_conn_data(const struct rc_conn *c);
RC_API void rc_conn_set_data(struct rc_conn *c, void *data);

/* Name of the SIMD kernels in use ("scalar", "avx2", "avx512"). */
RC_API const char *rc_simd_name(void);
/* What the library was built with, one line: the kernels compiled in and
   the libraries' versions ("simd kernels: scalar avx2 avx512; liburing
   2.3, OpenSSL 3.0.15 ..."). Static storage. */
RC_API const char *rc_build_info(void);

#ifdef __cplusplus
}
#endif
#endif /* RINGCAST_H */
