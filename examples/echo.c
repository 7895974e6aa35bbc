/* SPDX-License-Identifier: MIT */
/* echo.c -- the smallest ringcast program: a WebSocket echo server. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <ringcast.h>

static struct rc_server *server;

static void on_message(struct rc_conn *c, const void *data, size_t len,
		       enum rc_opcode op)
{
	rc_send(c, data, len, op);	/* data is borrowed: rc_send copies */
}

static void on_signal(int sig)
{
	(void)sig;
	rc_server_stop(server);		/* async-signal-safe */
}

int main(void)
{
	struct rc_config cfg = rc_config_default();
	struct rc_handlers h = { .on_message = on_message };

	cfg.port = 9001;
	server = rc_server_new(&cfg, &h, NULL);
	if (!server) {
		perror("rc_server_new");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("echo server on ws://127.0.0.1:%u/ (simd %s)\n",
	       rc_server_port(server), rc_simd_name());
	fflush(stdout);
	rc_server_run(server);		/* returns once stopped and drained */
	rc_server_free(server);
	return 0;
}
