/* SPDX-License-Identifier: MIT */
/* stats.c -- what a run counts: events, errors by kind, HTTP statuses and close codes. */
#include "stats.h"

const char *const rl_ctr_name[RL_C_MAX] = {
	[RL_C_OPENED] = "opened",
	[RL_C_CLOSED] = "closed",
	[RL_C_SENT] = "sent",
	[RL_C_BYTES_OUT] = "bytes_out",
	[RL_C_RECV] = "received",
	[RL_C_BYTES_IN] = "bytes_in",
	[RL_C_MSGS] = "measured",
	[RL_C_HANDSHAKES] = "handshakes",
	[RL_C_GAPS] = "gaps",
	[RL_C_TAIL_LOST] = "tail_lost",
	[RL_C_OUT_OF_ORDER] = "out_of_order",
	[RL_C_TLS_HANDSHAKES] = "tls_handshakes",
	[RL_C_TLS_RESUMED] = "tls_resumed",
	[RL_C_WIRE_OUT] = "wire_bytes_out",
	[RL_C_WIRE_IN] = "wire_bytes_in",
	[RL_C_PMD_OPENED] = "deflate_conns",
	[RL_C_PMD_CONTEXT] = "deflate_context_conns",
	[RL_C_Z_OUT] = "compressed_out",
	[RL_C_Z_IN] = "compressed_in",
	[RL_C_Z_CACHED] = "inflate_cached",
	[RL_C_OFFSET_BAD] = "offset_errors",
	[RL_C_V1_OTHER] = "v1_other_lines",
	[RL_C_RECOVERED] = "recovered",
	[RL_C_RECOVER_FAILED] = "recover_failed",
	[RL_C_RECOVER_NS] = "recover_ns",
	[RL_C_RECOVER_CPU_NS] = "recover_server_cpu_ns",
	[RL_C_RECOVER_OPEN_NS] = "recover_open_ns",
	[RL_E_SOCKET] = "socket",
	[RL_E_CONNECT_REFUSED] = "connect_refused",
	[RL_E_CONNECT] = "connect_failed",
	[RL_E_HANDSHAKE_REJECTED] = "handshake_rejected",
	[RL_E_HANDSHAKE_INVALID] = "handshake_invalid",
	[RL_E_TLS_HANDSHAKE] = "tls_handshake",
	[RL_E_PROTOCOL] = "protocol",
	[RL_E_TLS] = "tls",
	[RL_E_PAYLOAD] = "unexpected_message",
	[RL_E_UNEXPECTED_CLOSE] = "unexpected_close",
	[RL_E_TIMEOUT_HANDSHAKE] = "timeout_handshake",
	[RL_E_TIMEOUT_RESPONSE] = "timeout_response",
	[RL_E_TIMEOUT_CLOSE] = "timeout_close",
	[RL_E_IO] = "io",
};

void rl_stats_add(struct rl_stats *dst, const struct rl_stats *src)
{
	for (unsigned i = 0; i < RL_C_MAX; i++)
		dst->c[i] += src->c[i];
	for (unsigned i = 0; i < RL_STATUS_MAX; i++)
		dst->status[i] += src->status[i];
	for (unsigned i = 0; i < RL_CLOSE_MAX; i++)
		dst->close[i] += src->close[i];
	for (unsigned i = 0; i < RL_ERRNO_MAX; i++)
		dst->err_no[i] += src->err_no[i];
}

uint64_t rl_stats_errors(const uint64_t c[RL_C_MAX])
{
	uint64_t n = 0;

	for (unsigned i = RL_E_FIRST; i < RL_C_MAX; i++)
		n += c[i];
	return n;
}

void rl_stats_rejected(struct rl_stats *s, int status)
{
	s->c[RL_E_HANDSHAKE_REJECTED]++;
	if (status > 0 && status < RL_STATUS_MAX)
		s->status[status]++;
}

void rl_stats_errno(struct rl_stats *s, enum rl_ctr kind, int err)
{
	s->c[kind]++;
	if (err < 0 && -err < RL_ERRNO_MAX)
		s->err_no[-err]++;
}

void rl_stats_closed_by_peer(struct rl_stats *s, unsigned code)
{
	s->c[RL_E_UNEXPECTED_CLOSE]++;
	s->close[code < RL_CLOSE_MAX ? code : 0]++;
}
