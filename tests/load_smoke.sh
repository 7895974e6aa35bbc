#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# load_smoke.sh -- ringcast-load against the built hub: echo, broadcast,
# handshake and idle, 2 s each; each JSON line must show a non-zero rate and
# no errors. Then a path the hub refuses, whose 404s must be counted.
#
# With --tls, ringcast-load --tls instead, against tests/load_tls_server.py
# (python3-websockets with a throwaway self-signed certificate made here by
# the openssl command, in a temporary directory): every scenario over TLS
# 1.3 and 1.2, session resumption, the certificate verified against its CA
# and its name, SNI, and the failures that must count as tls_handshake;
# then the same scenarios against the hub's own wss:// (--tls-cert).
# Skipped (exit 77) without the openssl command or python3-websockets.
#
# usage: load_smoke.sh RINGCAST RINGCAST_LOAD [PYTHON3 [--tls]]
# Prints "N passed, M failed"; exits non-zero if any failed.
set -u

hub=$1
load=$2
py=${3:-python3}
tls=0
[ "${4:-}" = --tls ] && tls=1
dir=$(mktemp -d)
log=$dir/server.log
out=$dir/out
pid=
pass=0
fail=0

cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

# port NAME: the port the server's "NAME listening on ADDR:PORT" line
# gave, once it is there (5 s at most).
port_of() {
	local p=
	for _ in $(seq 100); do
		p=$(sed -n "s/^$1 listening on [0-9.]*:\\([0-9]*\\).*/\\1/p" "$log")
		[ -n "$p" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "$p"
}

if [ $tls -eq 1 ]; then
	if ! command -v openssl >/dev/null || ! "$py" -c 'import websockets' 2>/dev/null; then
		echo "load_smoke --tls: skipped: needs the openssl command and python3-websockets"
		exit 77
	fi
	# ECDSA P-256, for localhost and 127.0.0.1; another one, for a CA
	# that did not sign it.
	for c in cert other; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$dir/$c.key" -out "$dir/$c.pem" -days 1 -subj /CN=localhost \
			-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>"$log" ||
			{ echo "load_smoke --tls: openssl req failed: $(cat "$log")"; exit 1; }
	done
	"$py" "$(dirname "$0")/load_tls_server.py" "$dir/cert.pem" "$dir/cert.key" >"$log" 2>&1 &
	pid=$!
	port=$(port_of tls)
	port12=$(port_of tls12)
	if [ -z "$port" ] || [ -z "$port12" ]; then
		echo "load_smoke --tls: the TLS server did not start: $(cat "$log")"
		exit 1
	fi
else
	# The admin listener on any free port (its default 9090 is one port
	# for all the hubs ctest runs at once); the per-address connection
	# rate and the per-connection rates off: ringcast-load's scenarios
	# run at full speed from one address on purpose (handshakes: hundreds
	# a second; a publisher: tens of thousands of messages a second;
	# closed-loop echo of 16 KiB: over 8 MiB a second a connection).
	"$hub" --port 0 --threads 1 --admin-port 0 --conn-rate-per-ip 0 \
		--msg-rate 0 --byte-rate 0 >"$log" 2>&1 &
	pid=$!
	port=$(port_of "ringcast [^ ]*")
	if [ -z "$port" ]; then
		echo "load_smoke: the hub did not start: $(cat "$log")"
		exit 1
	fi
fi

# check NAME WANT_RC CHECKS -- ARGS...: run the tool (bounded), then
# assert on its exit status and its last line (JSON). CHECKS is a Python
# expression over j (the JSON object) that must be true.
check() {
	local name=$1 want_rc=$2 expr=$3
	shift 4
	timeout 30 "$load" -p "$port" "$@" -q >"$out" 2>&1
	local rc=$?
	if "$py" - "$out" "$rc" "$want_rc" "$expr" <<'PY'
import json, sys

path, rc, want_rc, expr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lines = open(path).read().splitlines()
try:
    j = json.loads(lines[-1])
except (IndexError, ValueError) as e:
    sys.exit("no JSON line: %s" % e)
if rc != want_rc:
    sys.exit("exit status %d, want %d" % (rc, want_rc))
lat = j["latency_us"]
if lat["count"] and not (lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"]
                         <= lat["p999"] <= lat["max"]):
    sys.exit("percentiles out of order: %s" % lat)
if not eval(expr, {"j": j}):
    sys.exit("failed: %s" % expr)
PY
	then
		pass=$((pass + 1))
		echo "ok   $name"
	else
		fail=$((fail + 1))
		echo "FAIL $name"
		cat "$out"
	fi
}

clean='j["errors"]["total"] == 0'

if [ $tls -eq 1 ]; then
	# Every scenario; the server echoes (or relays) what it got, and
	# Python's websockets drops the echoes it owes once our close frame
	# is in, so at most --inflight per connection go missing at the end.
	tls_ok="$clean and j['params']['tls'] and j['tls']['verify'] is False"
	check tls-echo 0 "$tls_ok and j['round_trips_per_s'] > 0 \
		and j['connections']['opened'] == 50 and j['tls']['handshakes'] == 50 \
		and j['tls']['resumed'] == 0 and j['messages']['received'] > 0 \
		and j['messages']['received'] >= j['messages']['sent'] - 50" -- \
		echo -d 1 -c 50 --tls
	# 16 KiB TEXT frames: a frame over two records, UTF-8 across them.
	check tls12-echo-16k 0 "$tls_ok and j['round_trips_per_s'] > 0 \
		and j['messages']['received'] >= j['messages']['sent'] - 10 * 2" -- \
		echo -d 1 -c 10 -s 16384 --text --inflight 2 --tls -p "$port12"
	# Verified against its CA, the name in the certificate: localhost,
	# which is then the SNI too.
	check tls-verified 0 "$clean and j['tls']['verify'] and j['round_trips_per_s'] > 0" -- \
		echo -d 1 -c 5 --tls --tls-ca "$dir/cert.pem" -H localhost
	check tls-verified-ip 0 "$clean and j['tls']['verify'] and j['round_trips_per_s'] > 0" -- \
		echo -d 1 -c 5 --tls --tls-ca "$dir/cert.pem"
	check tls-broadcast 0 "$clean and j['deliveries_per_s'] > 0 and j['lost'] == 0 \
		and j['out_of_order'] == 0 and j['connections']['opened'] == 21 \
		and j['messages']['received'] == j['published'] * 20" -- \
		broadcast -d 1 -S 20 --publishers 1 --tls
	check tls-handshake 0 "$tls_ok and j['handshakes_per_s'] > 0 \
		and j['tls']['handshakes'] >= j['handshakes'] and j['tls']['resumed'] == 0" -- \
		handshake -d 1 -c 10 --tls
	check tls12-handshake 0 "$tls_ok and j['handshakes_per_s'] > 0" -- \
		handshake -d 1 -c 10 --tls -p "$port12"
	for p in "$port" "$port12"; do
		check "tls-resume($p)" 0 "$clean and j['handshakes'] > 10 \
			and j['tls']['resumed'] >= j['tls']['handshakes'] - 10" -- \
			handshake -d 1 -c 5 --tls --tls-resume -p "$p"
	done
	check tls-idle 0 "$clean and j['open'] == 200 and j['tls']['handshakes'] == 200 \
		and j['server_rss']['pid'] == $pid and j['server_rss']['conns'] == 200" -- \
		idle -d 1 -c 200 --tls --server-pid "$pid"
	# Failures: each connection one tls_handshake error, none open.
	failed='j["errors"]["total"] == 5 and j["errors"]["tls_handshake"] == 5 \
		and j["connections"]["opened"] == 0'
	check tls-wrong-ca 1 "$failed" -- echo -d 1 -c 5 --tls --tls-ca "$dir/other.pem"
	check tls-wrong-name 1 "$failed" -- \
		echo -d 1 -c 5 --tls --tls-ca "$dir/cert.pem" -H localhost --tls-sni wrong.example
	# The server refuses nowhere.*: so the name was sent.
	check tls-sni 1 "$failed" -- echo -d 1 -c 5 --tls --tls-sni nowhere.example
	check tls-rejected 1 "j['errors']['total'] == 5 \
		and j['errors']['handshake_status'] == {'404': 5}" -- \
		echo -d 1 -c 5 -P /nowhere --tls

	# Then the hub's own wss:// (the scenarios scripts/bench runs), its
	# certificate verified: the same tool, so the bench rows stay usable.
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# --admin-port and the rate limits: as for the plain hub.
	"$hub" --port 0 --threads 1 --admin-port 0 --conn-rate-per-ip 0 --msg-rate 0 --byte-rate 0 \
		--tls-cert "$dir/cert.pem" --tls-key "$dir/cert.key" >"$log" 2>&1 &
	pid=$!
	port=$(port_of "ringcast [^ ]*")
	if [ -z "$port" ]; then
		echo "load_smoke --tls: the hub did not start: $(cat "$log")"
		exit 1
	fi
	hub_ok="$clean and j['tls']['verify'] and j['messages']['received'] >= j['messages']['sent']"
	check hub-wss-echo 0 "$hub_ok and j['round_trips_per_s'] > 0 \
		and j['tls']['handshakes'] == 50" -- \
		echo -d 1 -c 50 --tls --tls-ca "$dir/cert.pem" -H localhost
	check hub-wss-echo-16k 0 "$hub_ok and j['round_trips_per_s'] > 0" -- \
		echo -d 1 -c 10 -s 16384 --text --inflight 2 --tls --tls-ca "$dir/cert.pem"
	check hub-wss-broadcast 0 "$clean and j['deliveries_per_s'] > 0 and j['lost'] == 0 \
		and j['out_of_order'] == 0 \
		and j['messages']['received'] == j['published'] * 20" -- \
		broadcast -d 1 -S 20 --publishers 1 --tls
	check hub-wss-handshake 0 "$clean and j['handshakes_per_s'] > 0 \
		and j['tls']['handshakes'] >= j['handshakes'] and j['tls']['resumed'] == 0" -- \
		handshake -d 1 -c 10 --tls
	check hub-wss-resume 0 "$clean and j['handshakes'] > 10 \
		and j['tls']['resumed'] >= j['tls']['handshakes'] - 10" -- \
		handshake -d 1 -c 5 --tls --tls-resume
	check hub-wss-idle 0 "$clean and j['open'] == 200 and j['tls']['handshakes'] == 200 \
		and j['server_rss']['pid'] == $pid and j['server_rss']['conns'] == 200" -- \
		idle -d 1 -c 200 --tls --server-pid "$pid"
	check hub-wss-wrong-ca 1 "$failed" -- echo -d 1 -c 5 --tls --tls-ca "$dir/other.pem"
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
fi

check echo 0 "$clean and j['round_trips_per_s'] > 0 and j['latency_us']['count'] > 0 \
	and j['connections']['opened'] == 50" -- \
	echo -d 2 -c 50
check broadcast 0 "$clean and j['deliveries_per_s'] > 0 and j['lost'] == 0 \
	and j['out_of_order'] == 0 and j['connections']['opened'] == 101 \
	and j['messages']['received'] == j['published'] * 100" -- \
	broadcast -d 2 -S 100 --publishers 1
check handshake 0 "$clean and j['handshakes_per_s'] > 0 \
	and j['latency_us']['count'] >= j['handshakes']" -- \
	handshake -d 2
check idle 0 "$clean and j['open'] == 200 \
	and j['server_rss']['pid'] == $pid and j['server_rss']['conns'] == 200 \
	and j['server_rss']['after_kb'] > 0 and j['server_rss']['before_kb'] > 0 \
	and isinstance(j['server_rss']['per_conn_bytes'], int)" -- \
	idle -d 2 -c 200 --server-pid "$pid"
# Errors are counted by kind, with the status, and fail the run.
check rejected 1 "j['errors']['total'] == 5 \
	and j['errors']['handshake_rejected'] == 5 \
	and j['errors']['handshake_status'] == {'404': 5} \
	and j['connections']['opened'] == 0" -- \
	echo -d 1 -c 5 -P /nowhere

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
