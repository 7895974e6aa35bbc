/* SPDX-License-Identifier: MIT */
/* report.c -- the end of a run: a key=value line, a human summary, one JSON line. */
#define _GNU_SOURCE		/* strerrorname_np() */
#include <string.h>

#include "ringcast.h"
#include "report.h"
#include "scenario.h"

static const uint64_t *ctr(const struct rl_summary *s)
{
	return s->res->stats.c;
}

uint64_t rl_report_errors(const struct rl_summary *s)
{
	return rl_stats_errors(ctr(s)) + s->workers_lost +
	       (s->res->err ? 1 : 0);
}

uint64_t rl_report_lost(const struct rl_summary *s)
{
	return ctr(s)[RL_C_GAPS] + ctr(s)[RL_C_TAIL_LOST] +
	       ctr(s)[RL_C_OUT_OF_ORDER] + ctr(s)[RL_C_OFFSET_BAD] +
	       ctr(s)[RL_C_RECOVER_FAILED];
}

static double per_s(const struct rl_summary *s, uint64_t n)
{
	return s->run_s > 0 ? (double)n / s->run_s : 0.0;
}

/* The scenario's own figure, measured inside the window. */
static uint64_t measured(const struct rl_summary *s)
{
	switch (s->cfg->scenario) {
	case RL_SC_HANDSHAKE:
		return ctr(s)[RL_C_HANDSHAKES];
	case RL_SC_IDLE:
		return s->open_at_end;
	default:
		return ctr(s)[RL_C_MSGS];
	}
}

static const char *measured_name(const struct rl_cfg *cfg)
{
	switch (cfg->scenario) {
	case RL_SC_ECHO:
		return "round_trips";
	case RL_SC_BROADCAST:
		return "deliveries";
	case RL_SC_HANDSHAKE:
		return "handshakes";
	case RL_SC_RECOVER:
		return "deliveries";
	default:
		return "open";
	}
}

static uint64_t target(const struct rl_cfg *cfg)
{
	if (cfg->scenario == RL_SC_BROADCAST)
		return (uint64_t)cfg->subscribers + cfg->publishers;
	if (cfg->scenario == RL_SC_RECOVER)
		return (uint64_t)cfg->conns + 1;
	return cfg->conns;
}

/* recover: key=value figures of the phase that is measured. */
static void recover_fields(FILE *f, const struct rl_summary *s)
{
	const uint64_t *c = ctr(s);
	double secs = (double)c[RL_C_RECOVER_NS] / 1e9;
	uint64_t n = (uint64_t)s->cfg->conns * s->cfg->messages;

	fprintf(f, " recovered=%llu recover_failed=%llu",
		(unsigned long long)c[RL_C_RECOVERED],
		(unsigned long long)c[RL_C_RECOVER_FAILED]);
	if (!c[RL_C_RECOVER_NS])
		return;
	fprintf(f, " recover_ms=%.3f", secs * 1e3);
	if (c[RL_C_RECOVER_OPEN_NS])
		fprintf(f, " reopen_ms=%.3f",
			(double)c[RL_C_RECOVER_OPEN_NS] / 1e6);
	if (c[RL_C_RECOVER_CPU_NS])
		fprintf(f, " server_cpu_ms=%.3f",
			(double)c[RL_C_RECOVER_CPU_NS] / 1e6);
	/* Rates only where every client recovered everything. */
	if (c[RL_C_RECOVER_FAILED] || c[RL_C_RECOVERED] != s->cfg->conns)
		return;
	fprintf(f, " recovered_deliveries=%llu recovered_per_s=%.0f",
		(unsigned long long)n, (double)n / secs);
	if (c[RL_C_RECOVER_CPU_NS])
		fprintf(f, " server_cpu_ns_per_recovered=%.1f",
			(double)c[RL_C_RECOVER_CPU_NS] / (double)n);
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* Server RSS was read before and after, with connections open. */
static bool rss_known(const struct rl_summary *s)
{
	return s->rss_before_kb >= 0 && s->rss_after_kb >= 0 && s->open_at_end;
}

/* Growth per connection; negative when the server gave back more (pools
   trimmed, pages purged) than the connections took: reported as is. */
static long rss_per_conn(const struct rl_summary *s)
{
	return (s->rss_after_kb - s->rss_before_kb) * 1024 /
	       (long)s->open_at_end;
}

static void print_rate(FILE *f, double r)
{
	if (r > 0)
		fprintf(f, "%.0f", r);
	else
		fprintf(f, "max");
}

/* "EADDRNOTAVAIL", or the number for one glibc has no name for. */
static const char *errno_name(unsigned e)
{
	static char buf[16];
	const char *n = strerrorname_np((int)e);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "errno %u", e);
	return buf;
}

void rl_report_text(FILE *f, const struct rl_summary *s)
{
	const struct rl_cfg *cfg = s->cfg;
	const struct rl_hist *h = &s->res->hist;
	const char *what = measured_name(cfg);
	uint64_t errors = rl_report_errors(s);
	bool any = false;

	/* The key=value line first, as the other bench tools print. */
	fprintf(f, "bench=load-%s impl=%s",
		rl_scenario_get(cfg->scenario)->name, cfg->name);
	switch (cfg->scenario) {
	case RL_SC_ECHO:
		fprintf(f, " conns=%u bytes=%zu inflight=%u rate=", cfg->conns,
			cfg->size, cfg->inflight);
		print_rate(f, cfg->rate);
		break;
	case RL_SC_BROADCAST:
		fprintf(f, " subscribers=%u publishers=%u bytes=%zu rate=",
			cfg->subscribers, cfg->publishers, cfg->size);
		print_rate(f, cfg->rate);
		break;
	case RL_SC_RECOVER:
		fprintf(f, " clients=%u messages=%u bytes=%zu", cfg->conns,
			cfg->messages, cfg->size);
		break;
	default:
		fprintf(f, " conns=%u", cfg->conns);
		break;
	}
	if (cfg->json)
		fprintf(f, " payload=json");
	else if (cfg->text && cfg->scenario != RL_SC_ECHO)
		fprintf(f, " payload=text");
	if (cfg->subprotocol)
		fprintf(f, " subprotocol=%s", cfg->subprotocol);
	if (cfg->tls)
		fprintf(f, " tls=1");
	if (cfg->deflate)
		fprintf(f, " deflate=1 deflate_conns=%llu",
			(unsigned long long)ctr(s)[RL_C_PMD_OPENED]);
	fprintf(f, " procs=%u threads=%u seconds=%.2f %s=%llu", cfg->procs,
		cfg->threads, s->run_s, what, (unsigned long long)measured(s));
	if (cfg->scenario != RL_SC_IDLE)
		fprintf(f, " %s_per_s=%.0f", what, per_s(s, measured(s)));
	if (cfg->scenario == RL_SC_BROADCAST)
		fprintf(f, " lost=%llu out_of_order=%llu",
			(unsigned long long)(ctr(s)[RL_C_GAPS] +
					     ctr(s)[RL_C_TAIL_LOST]),
			(unsigned long long)ctr(s)[RL_C_OUT_OF_ORDER]);
	if (cfg->v1)
		fprintf(f, " offset_errors=%llu v1_other_lines=%llu",
			(unsigned long long)ctr(s)[RL_C_OFFSET_BAD],
			(unsigned long long)ctr(s)[RL_C_V1_OTHER]);
	if (cfg->scenario == RL_SC_RECOVER)
		recover_fields(f, s);
	/* Over the whole run, like the received count of the summary. */
	if (cfg->scenario == RL_SC_ECHO || cfg->scenario == RL_SC_BROADCAST ||
	    cfg->scenario == RL_SC_RECOVER)
		fprintf(f, " received=%llu wire_bytes_in=%llu payload_bytes_in=%llu",
			(unsigned long long)ctr(s)[RL_C_RECV],
			(unsigned long long)ctr(s)[RL_C_WIRE_IN],
			(unsigned long long)ctr(s)[RL_C_BYTES_IN]);
	if (cfg->deflate && (cfg->scenario == RL_SC_ECHO ||
			     cfg->scenario == RL_SC_BROADCAST))
		fprintf(f, " compressed_in=%llu compressed_out=%llu",
			(unsigned long long)ctr(s)[RL_C_Z_IN],
			(unsigned long long)ctr(s)[RL_C_Z_OUT]);
	if (cfg->scenario == RL_SC_IDLE && rss_known(s))
		fprintf(f, " rss_before_kb=%ld rss_after_kb=%ld rss_per_conn_b=%ld",
			s->rss_before_kb, s->rss_after_kb, rss_per_conn(s));
	if (h->count)
		fprintf(f, " p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f",
			us(rl_hist_percentile(h, 50)),
			us(rl_hist_percentile(h, 90)),
			us(rl_hist_percentile(h, 99)),
			us(rl_hist_percentile(h, 99.9)), us(h->max));
	/* Over several servers (--ports): near and far apart. */
	for (int k = 0; k < 2; k++) {
		const struct rl_hist *x = k ? &s->res->hist_far :
					      &s->res->hist_near;

		if (x->count)
			fprintf(f, " %s_n=%llu %s_p50_us=%.1f %s_p99_us=%.1f",
				k ? "far" : "near",
				(unsigned long long)x->count,
				k ? "far" : "near",
				us(rl_hist_percentile(x, 50)),
				k ? "far" : "near",
				us(rl_hist_percentile(x, 99)));
	}
	fprintf(f, " errors=%llu\n", (unsigned long long)errors);

	if (cfg->scenario == RL_SC_HANDSHAKE)
		fprintf(f, "  connections  %llu upgraded, %u cycles at once\n",
			(unsigned long long)ctr(s)[RL_C_OPENED], cfg->conns);
	else
		fprintf(f, "  connections  %llu opened of %llu\n",
			(unsigned long long)ctr(s)[RL_C_OPENED],
			(unsigned long long)target(cfg));
	if (cfg->tls)
		fprintf(f, "  tls          %llu handshakes, %llu resumed%s\n",
			(unsigned long long)ctr(s)[RL_C_TLS_HANDSHAKES],
			(unsigned long long)ctr(s)[RL_C_TLS_RESUMED],
			cfg->tls_ca ? ", server verified" :
				      ", server not verified");
	if (cfg->scenario == RL_SC_ECHO || cfg->scenario == RL_SC_BROADCAST ||
	    cfg->scenario == RL_SC_RECOVER)
		fprintf(f, "  messages     %llu sent, %llu received, %.1f MB/s in\n",
			(unsigned long long)ctr(s)[RL_C_SENT],
			(unsigned long long)ctr(s)[RL_C_RECV],
			per_s(s, ctr(s)[RL_C_BYTES_IN]) / 1e6);
	if (cfg->scenario == RL_SC_RECOVER)
		fprintf(f, "  recovery     %llu of %u clients got the %u messages they missed in order with recovered:true, %llu failed, in %.1f ms (%llu server CPU ns)\n",
			(unsigned long long)ctr(s)[RL_C_RECOVERED], cfg->conns,
			cfg->messages,
			(unsigned long long)ctr(s)[RL_C_RECOVER_FAILED],
			(double)ctr(s)[RL_C_RECOVER_NS] / 1e6,
			(unsigned long long)ctr(s)[RL_C_RECOVER_CPU_NS]);
	if ((cfg->scenario == RL_SC_ECHO || cfg->scenario == RL_SC_BROADCAST) &&
	    ctr(s)[RL_C_RECV])
		fprintf(f, "  bytes in     %.1f on the wire, %.1f of payload per message (%.2fx)\n",
			(double)ctr(s)[RL_C_WIRE_IN] / (double)ctr(s)[RL_C_RECV],
			(double)ctr(s)[RL_C_BYTES_IN] / (double)ctr(s)[RL_C_RECV],
			ctr(s)[RL_C_WIRE_IN] ?
			(double)ctr(s)[RL_C_BYTES_IN] /
			(double)ctr(s)[RL_C_WIRE_IN] : 0.0);
	if (cfg->deflate)
		fprintf(f, "  deflate      %llu of %llu connections agreed (%llu with the server's context), %llu messages in compressed (%llu inflated, %llu from the cache), %llu out\n",
			(unsigned long long)ctr(s)[RL_C_PMD_OPENED],
			(unsigned long long)ctr(s)[RL_C_OPENED],
			(unsigned long long)ctr(s)[RL_C_PMD_CONTEXT],
			(unsigned long long)ctr(s)[RL_C_Z_IN],
			(unsigned long long)(ctr(s)[RL_C_Z_IN] -
					     ctr(s)[RL_C_Z_CACHED]),
			(unsigned long long)ctr(s)[RL_C_Z_CACHED],
			(unsigned long long)ctr(s)[RL_C_Z_OUT]);
	if (h->count)
		fprintf(f, "  latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f  (n=%llu)\n",
			us(rl_hist_percentile(h, 50)),
			us(rl_hist_percentile(h, 90)),
			us(rl_hist_percentile(h, 99)),
			us(rl_hist_percentile(h, 99.9)), us(h->max),
			rl_hist_mean(h) / 1000.0,
			(unsigned long long)h->count);
	for (int k = 0; k < 2; k++) {
		const struct rl_hist *x = k ? &s->res->hist_far :
					      &s->res->hist_near;

		if (x->count)
			fprintf(f, "    %s       p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f  (n=%llu; %s)\n",
				k ? "far " : "near",
				us(rl_hist_percentile(x, 50)),
				us(rl_hist_percentile(x, 90)),
				us(rl_hist_percentile(x, 99)),
				us(rl_hist_percentile(x, 99.9)), us(x->max),
				rl_hist_mean(x) / 1000.0,
				(unsigned long long)x->count,
				k ? "subscribers on another server" :
				    "subscribers on the publisher's server");
	}
	fprintf(f, "  errors      ");
	for (unsigned i = RL_E_FIRST; i < RL_C_MAX; i++) {
		if (!ctr(s)[i])
			continue;
		fprintf(f, " %s %llu", rl_ctr_name[i],
			(unsigned long long)ctr(s)[i]);
		any = true;
	}
	for (unsigned i = 0; i < RL_STATUS_MAX; i++)
		if (s->res->stats.status[i])
			fprintf(f, " [HTTP %u x%u]", i, s->res->stats.status[i]);
	for (unsigned i = 0; i < RL_CLOSE_MAX; i++)
		if (s->res->stats.close[i])
			fprintf(f, " [close %u x%u]", i, s->res->stats.close[i]);
	for (unsigned i = 1; i < RL_ERRNO_MAX; i++)
		if (s->res->stats.err_no[i])
			fprintf(f, " [%s x%u]", errno_name(i),
				s->res->stats.err_no[i]);
	if (s->workers_lost) {
		fprintf(f, " workers_lost %u", s->workers_lost);
		any = true;
	}
	if (s->res->err) {
		fprintf(f, " worker_setup (%s)", strerror(-s->res->err));
		any = true;
	}
	fprintf(f, "%s\n", any ? "" : " none");
}

static void json_hist(FILE *f, const char *key, const struct rl_hist *h)
{
	fprintf(f, "\"%s\":{\"count\":%llu,\"min\":%.3f,\"mean\":%.3f,"
		"\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
		"\"max\":%.3f}", key,
		(unsigned long long)h->count, h->count ? us(h->min) : 0.0,
		rl_hist_mean(h) / 1000.0, us(rl_hist_percentile(h, 50)),
		us(rl_hist_percentile(h, 90)), us(rl_hist_percentile(h, 99)),
		us(rl_hist_percentile(h, 99.9)), us(h->max));
}

/* A JSON string: only what paths and labels hold needs escaping. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_errors(FILE *f, const struct rl_summary *s)
{
	const struct rl_stats *st = &s->res->stats;
	const char *sep = "";

	fprintf(f, "\"errors\":{\"total\":%llu",
		(unsigned long long)rl_report_errors(s));
	for (unsigned i = RL_E_FIRST; i < RL_C_MAX; i++)
		fprintf(f, ",\"%s\":%llu", rl_ctr_name[i],
			(unsigned long long)st->c[i]);
	fprintf(f, ",\"workers_lost\":%u,\"worker_setup\":", s->workers_lost);
	if (s->res->err)
		json_str(f, strerror(-s->res->err));
	else
		fprintf(f, "null");
	fprintf(f, ",\"handshake_status\":{");
	for (unsigned i = 0; i < RL_STATUS_MAX; i++) {
		if (!st->status[i])
			continue;
		fprintf(f, "%s\"%u\":%u", sep, i, st->status[i]);
		sep = ",";
	}
	fprintf(f, "},\"close_codes\":{");
	sep = "";
	for (unsigned i = 0; i < RL_CLOSE_MAX; i++) {
		if (!st->close[i])
			continue;
		fprintf(f, "%s\"%u\":%u", sep, i, st->close[i]);
		sep = ",";
	}
	fprintf(f, "},\"errno\":{");
	sep = "";
	for (unsigned i = 1; i < RL_ERRNO_MAX; i++) {
		if (!st->err_no[i])
			continue;
		fprintf(f, "%s\"%s\":%u", sep, errno_name(i), st->err_no[i]);
		sep = ",";
	}
	fprintf(f, "}}");
}

static void json_params(FILE *f, const struct rl_cfg *cfg)
{
	fprintf(f, "\"params\":{\"host\":");
	json_str(f, cfg->host);
	fprintf(f, ",\"port\":%u", cfg->port);
	for (int k = 0; k < 2; k++) {
		const uint16_t *v = k ? cfg->pub_ports : cfg->ports;
		unsigned n = k ? cfg->npub_ports : cfg->nports;

		if (!n)
			continue;
		fprintf(f, ",\"%s\":[", k ? "pub_ports" : "ports");
		for (unsigned i = 0; i < n; i++)
			fprintf(f, "%s%u", i ? "," : "", v[i]);
		fputc(']', f);
	}
	fprintf(f, ",\"path\":");
	json_str(f, cfg->path);
	fprintf(f, ",\"subprotocol\":");
	if (cfg->subprotocol)
		json_str(f, cfg->subprotocol);
	else
		fprintf(f, "null");
	switch (cfg->scenario) {
	case RL_SC_ECHO:
		fprintf(f, ",\"conns\":%u,\"size\":%zu,\"inflight\":%u,\"text\":%s",
			cfg->conns, cfg->size, cfg->inflight,
			cfg->text ? "true" : "false");
		break;
	case RL_SC_BROADCAST:
		fprintf(f, ",\"subscribers\":%u,\"publishers\":%u,\"size\":%zu,\"window\":%u,\"json\":%s,\"text\":%s",
			cfg->subscribers, cfg->publishers, cfg->size,
			cfg->window, cfg->json ? "true" : "false",
			cfg->text ? "true" : "false");
		break;
	case RL_SC_RECOVER:
		fprintf(f, ",\"clients\":%u,\"messages\":%u,\"size\":%zu",
			cfg->conns, cfg->messages, cfg->size);
		break;
	default:
		fprintf(f, ",\"conns\":%u", cfg->conns);
		break;
	}
	if (cfg->scenario == RL_SC_ECHO || cfg->scenario == RL_SC_BROADCAST) {
		fprintf(f, ",\"rate\":");
		if (cfg->rate > 0)
			fprintf(f, "%.3f", cfg->rate);
		else
			fprintf(f, "\"max\"");
	}
	fprintf(f, ",\"duration_s\":%.3f,\"timeout_s\":%.3f,\"procs\":%u,"
		"\"threads\":%u,\"src_ips\":%u,\"tls\":%s,\"deflate\":%s}",
		cfg->duration_s, cfg->timeout_s, cfg->procs, cfg->threads,
		cfg->src_ips, cfg->tls ? "true" : "false",
		cfg->deflate ? "true" : "false");
}

void rl_report_json(FILE *f, const struct rl_summary *s)
{
	const struct rl_cfg *cfg = s->cfg;
	const uint64_t *c = ctr(s);
	const char *what = measured_name(cfg);

	fprintf(f, "{\"tool\":\"ringcast-load\",\"version\":\"%s\","
		"\"scenario\":\"%s\",\"impl\":", RINGCAST_VERSION,
		rl_scenario_get(cfg->scenario)->name);
	json_str(f, cfg->name);
	fputc(',', f);
	json_params(f, cfg);
	fprintf(f, ",\"duration_s\":%.3f,\"interrupted\":%s", s->run_s,
		s->interrupted ? "true" : "false");
	fprintf(f, ",\"connections\":{\"target\":%llu,\"opened\":%llu,"
		"\"closed\":%llu}",
		(unsigned long long)target(cfg),
		(unsigned long long)c[RL_C_OPENED],
		(unsigned long long)c[RL_C_CLOSED]);
	fprintf(f, ",\"messages\":{\"sent\":%llu,\"received\":%llu,"
		"\"measured\":%llu,\"bytes_out\":%llu,\"bytes_in\":%llu,"
		"\"wire_bytes_out\":%llu,\"wire_bytes_in\":%llu,"
		"\"payload_bytes_in\":%llu}",
		(unsigned long long)c[RL_C_SENT],
		(unsigned long long)c[RL_C_RECV],
		(unsigned long long)c[RL_C_MSGS],
		(unsigned long long)c[RL_C_BYTES_OUT],
		(unsigned long long)c[RL_C_BYTES_IN],
		(unsigned long long)c[RL_C_WIRE_OUT],
		(unsigned long long)c[RL_C_WIRE_IN],
		(unsigned long long)c[RL_C_BYTES_IN]);
	if (cfg->deflate)
		fprintf(f, ",\"deflate\":{\"conns\":%llu,\"context_conns\":%llu,"
			"\"compressed_in\":%llu,\"inflate_cached\":%llu,"
			"\"compressed_out\":%llu}",
			(unsigned long long)c[RL_C_PMD_OPENED],
			(unsigned long long)c[RL_C_PMD_CONTEXT],
			(unsigned long long)c[RL_C_Z_IN],
			(unsigned long long)c[RL_C_Z_CACHED],
			(unsigned long long)c[RL_C_Z_OUT]);
	fprintf(f, ",\"%s\":%llu", what, (unsigned long long)measured(s));
	if (cfg->scenario != RL_SC_IDLE)
		fprintf(f, ",\"%s_per_s\":%.1f,\"rate_per_s\":%.1f", what,
			per_s(s, measured(s)), per_s(s, measured(s)));
	if (cfg->v1)
		fprintf(f, ",\"offset_errors\":%llu,\"v1_other_lines\":%llu",
			(unsigned long long)c[RL_C_OFFSET_BAD],
			(unsigned long long)c[RL_C_V1_OTHER]);
	if (cfg->scenario == RL_SC_RECOVER)
		fprintf(f, ",\"recover\":{\"clients\":%u,\"messages\":%u,"
			"\"recovered\":%llu,\"failed\":%llu,\"ns\":%llu,"
			"\"reopen_ns\":%llu,\"server_cpu_ns\":%llu}",
			cfg->conns, cfg->messages,
			(unsigned long long)c[RL_C_RECOVERED],
			(unsigned long long)c[RL_C_RECOVER_FAILED],
			(unsigned long long)c[RL_C_RECOVER_NS],
			(unsigned long long)c[RL_C_RECOVER_OPEN_NS],
			(unsigned long long)c[RL_C_RECOVER_CPU_NS]);
	if (cfg->scenario == RL_SC_BROADCAST)
		fprintf(f, ",\"published\":%llu,\"published_per_s\":%.1f,"
			"\"lost\":%llu,\"out_of_order\":%llu",
			(unsigned long long)c[RL_C_SENT],
			per_s(s, c[RL_C_SENT]),
			(unsigned long long)(c[RL_C_GAPS] + c[RL_C_TAIL_LOST]),
			(unsigned long long)c[RL_C_OUT_OF_ORDER]);
	if (cfg->scenario == RL_SC_IDLE) {
		fprintf(f, ",\"server_rss\":");
		if (rss_known(s))
			fprintf(f, "{\"pid\":%d,\"before_kb\":%ld,"
				"\"after_kb\":%ld,\"conns\":%llu,"
				"\"per_conn_bytes\":%ld}",
				(int)cfg->server_pid, s->rss_before_kb,
				s->rss_after_kb,
				(unsigned long long)s->open_at_end,
				rss_per_conn(s));
		else
			fprintf(f, "null");
	}
	if (cfg->tls) {
		fprintf(f, ",\"tls\":{\"handshakes\":%llu,\"resumed\":%llu,"
			"\"resume\":%s,\"verify\":%s,\"sni\":",
			(unsigned long long)c[RL_C_TLS_HANDSHAKES],
			(unsigned long long)c[RL_C_TLS_RESUMED],
			cfg->tls_resume ? "true" : "false",
			cfg->tls_ca ? "true" : "false");
		if (cfg->tls_sni)
			json_str(f, cfg->tls_sni);
		else
			fprintf(f, "null");
		fputc('}', f);
	}
	fputc(',', f);
	json_hist(f, "latency_us", &s->res->hist);
	fputc(',', f);
	if (s->res->hist_near.count || s->res->hist_far.count) {
		json_hist(f, "latency_near_us", &s->res->hist_near);
		fputc(',', f);
		json_hist(f, "latency_far_us", &s->res->hist_far);
		fputc(',', f);
	}
	json_errors(f, s);
	fprintf(f, "}\n");
}
