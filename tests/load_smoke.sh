#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# load_smoke.sh -- ringcast-load against the built hub: echo, broadcast,
# handshake and idle, 2 s each; each JSON line must show a non-zero rate and
# no errors. Then a path the hub refuses, whose 404s must be counted.
#
# usage: load_smoke.sh RINGCAST RINGCAST_LOAD [PYTHON3]
# Prints "N passed, M failed"; exits non-zero if any failed.
set -u

hub=$1
load=$2
py=${3:-python3}
log=$(mktemp)
out=$(mktemp)
pid=
pass=0
fail=0

cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -f "$log" "$out"
}
trap cleanup EXIT

"$hub" --port 0 --threads 1 >"$log" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$log")
	[ -n "$port" ] && break
	sleep 0.05
done
if [ -z "$port" ]; then
	echo "load_smoke: the hub did not start: $(cat "$log")"
	exit 1
fi

# check NAME WANT_RC CHECKS -- ARGS...: run the tool (bounded), then
# assert on its exit status and its last line (JSON). CHECKS is a Python
# expression over j (the JSON object) that must be true.
check() {
	local name=$1 want_rc=$2 expr=$3
	shift 4
	timeout 30 "$load" "$@" -p "$port" -q >"$out" 2>&1
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
