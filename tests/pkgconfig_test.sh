#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pkgconfig_test.sh -- install ringcast into a temporary prefix and build
# examples/ticker.c against it as an embedder would, with pkg-config: once
# against libringcast.so and once against libringcast.a. Each binary must
# serve a tick to a python3-websockets client and exit 0 on SIGTERM.
#
# The install is the awkward kind packagers do: configured for one prefix,
# only the library targets built, installed with --prefix into another,
# then moved: ringcast.pc must point wherever it lies (${pcfiledir}). The
# hub is installed afterwards as its own component.
#
# usage: pkgconfig_test.sh BUILD_DIR SOURCE_DIR [PYTHON3]
#
# The install comes from a fresh configure of SOURCE_DIR with the compiler
# and RC_JEMALLOC of BUILD_DIR (the build ctest runs in), but without its
# sanitizer flags, which an embedder's program would not carry. Everything
# lives in one temporary directory under BUILD_DIR, removed at exit; the
# system (/usr/local) is not touched. Exit 0 when every check passes, 1
# otherwise, 77 when a tool it needs is missing.
set -u

build=${1:?usage: pkgconfig_test.sh BUILD_DIR SOURCE_DIR [PYTHON3]}
src=${2:?usage: pkgconfig_test.sh BUILD_DIR SOURCE_DIR [PYTHON3]}
python=${3:-/usr/bin/python3}

passed=0
failed=0
server_pid=

pass() { passed=$((passed + 1)); echo "ok   - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

for tool in pkg-config nm readelf timeout; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool is not installed"
		exit 77
	fi
done
if ! "$python" -c 'import websockets' 2>/dev/null; then
	echo "SKIP: $python has no websockets module (python3-websockets)"
	exit 77
fi

cache_get() {
	sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" 2>/dev/null
}
cc=$(cache_get CMAKE_C_COMPILER)
cc=${cc:-cc}
jemalloc=$(cache_get RC_JEMALLOC)
jemalloc=${jemalloc:-ON}

tmp=$(mktemp -d "$build/pkgconfig_test.XXXXXX") || exit 1
# shellcheck disable=SC2317  # reached through the trap
cleanup() {
	if [ -n "$server_pid" ]; then
		kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
prefix=$tmp/prefix
unset DESTDIR

# ---- configure, build, install ----

if timeout 60 cmake -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_C_COMPILER="$cc" -DCMAKE_INSTALL_PREFIX="$tmp/configured" \
	-DRC_TESTS=OFF -DRC_BENCH=OFF -DRC_JEMALLOC="$jemalloc" \
	>"$tmp/configure.log" 2>&1; then
	pass "configure ($cc, RC_JEMALLOC=$jemalloc) for another prefix"
else
	cat "$tmp/configure.log"
	fail "configure"
	finish
fi
# Only the libraries are built: installing must not need the hub.
if timeout 120 cmake --build "$tmp/build" -j"$(nproc)" --target ringcast_libs \
	>"$tmp/build.log" 2>&1 && [ ! -e "$tmp/build/ringcast" ] &&
	timeout 30 cmake --install "$tmp/build" --prefix "$tmp/staged" \
	>"$tmp/install.log" 2>&1; then
	pass "library-only build installs with --prefix (no hub built)"
else
	cat "$tmp/build.log" "$tmp/install.log" 2>/dev/null
	fail "library-only build and install"
	finish
fi
if [ -e "$tmp/configured" ]; then
	fail "the configured prefix was written to; --prefix was ignored"
fi
# Relocatable: the tree moves, the .pc still points into it.
mv "$tmp/staged" "$prefix"

pc=$(find "$prefix" -name ringcast.pc -path '*/pkgconfig/*' | head -n 1)
if [ -z "$pc" ]; then
	fail "ringcast.pc installed"
	finish
fi
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir ringcast)
includedir=$(pkg-config --variable=includedir ringcast)
case "$(realpath -m "$libdir")/ $(realpath -m "$includedir")/" in
"$prefix"/*" $prefix"/*)
	pass "ringcast.pc points into the moved prefix ($(pkg-config --variable=prefix ringcast))" ;;
*)
	fail "ringcast.pc points elsewhere: libdir=$libdir includedir=$includedir" ;;
esac
if [ -e "$prefix/bin/ringcast" ]; then
	fail "a library-only install has bin/ringcast"
fi
# Then the hub, as its own component.
if timeout 120 cmake --build "$tmp/build" -j"$(nproc)" >>"$tmp/build.log" 2>&1 &&
	timeout 30 cmake --install "$tmp/build" --prefix "$prefix" \
	--component hub >>"$tmp/install.log" 2>&1; then
	pass "hub built and installed as component 'hub'"
else
	cat "$tmp/build.log" "$tmp/install.log" 2>/dev/null
	fail "hub build and install"
fi
missing=
for f in "$libdir/libringcast.a" "$libdir/libringcast.so" \
	"$libdir/libringcast.so.0" "$includedir/ringcast.h" \
	"$prefix/bin/ringcast"; do
	[ -e "$f" ] || missing="$missing ${f#"$prefix"/}"
done
if [ -z "$missing" ]; then
	pass "installed: libringcast.a, libringcast.so(.0), ringcast.h, ringcast.pc, bin/ringcast"
else
	fail "installed files missing:$missing"
fi

header_version=$(sed -n 's/^#define RINGCAST_VERSION "\(.*\)"/\1/p' \
	"$includedir/ringcast.h")
pc_version=$(pkg-config --modversion ringcast)
if [ -n "$pc_version" ] && [ "$pc_version" = "$header_version" ]; then
	pass "pkg-config --modversion $pc_version matches RINGCAST_VERSION"
else
	fail "pkg-config version '$pc_version' != RINGCAST_VERSION '$header_version'"
fi

# The .so exports exactly the functions the public header declares, each
# marked RC_API: no rc__* helpers, no internal rc_* modules (proto/, simd/),
# and none of the API left hidden by -fvisibility=hidden.
"$cc" -E -P "$includedir/ringcast.h" | grep -oE '\brc_[a-z0-9_]+ *\(' |
	tr -d ' (' | sort -u >"$tmp/declared"
nm -D --defined-only "$libdir/libringcast.so" | awk '{ print $NF }' |
	sort -u >"$tmp/exported"
if [ -s "$tmp/declared" ] && cmp -s "$tmp/declared" "$tmp/exported"; then
	pass "libringcast.so exports exactly the $(wc -l <"$tmp/declared") functions of ringcast.h"
else
	diff "$tmp/declared" "$tmp/exported" | sed 's/^/    /'
	fail "libringcast.so exports differ from ringcast.h (< declared, > exported)"
fi

# Programs load the .so at run time too (FFI, plugins): dlopen() must work.
if "$python" -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' \
	"$libdir/libringcast.so" 2>"$tmp/dlopen.log"; then
	pass "libringcast.so loads with dlopen()"
else
	sed 's/^/    /' "$tmp/dlopen.log"
	fail "libringcast.so does not load with dlopen()"
fi

# ---- build and run the ticker against each library ----

# Start @1 on a free port, read the port from its banner, receive two ticks
# on an arbitrary path, then SIGTERM it and expect exit status 0.
run_ticker() {
	local bin=$1 what=$2 port='' status

	"$bin" 0 >"$tmp/out" 2>"$tmp/err" &
	server_pid=$!
	for _ in $(seq 100); do
		port=$(sed -n 's|^ticker on ws://127.0.0.1:\([0-9]*\)/.*|\1|p' \
			"$tmp/out")
		[ -n "$port" ] && break
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		cat "$tmp/out" "$tmp/err"
		fail "$what: ticker did not start"
		kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		server_pid=
		return
	fi
	if timeout 20 "$python" - "$port" <<'EOF'; then
import asyncio, json, sys
import websockets

async def main(port):
    url = f"ws://127.0.0.1:{port}/any/path"
    async with websockets.connect(url, open_timeout=5) as ws:
        a = json.loads(await asyncio.wait_for(ws.recv(), 5))
        b = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert b["seq"] > a["seq"], (a, b)
    assert b["ts_ms"] >= a["ts_ms"], (a, b)
    print(f"    got {a} then {b}")

asyncio.run(main(int(sys.argv[1])))
EOF
		pass "$what: a client on /any/path receives ticks"
	else
		fail "$what: no ticks received"
	fi
	kill -TERM "$server_pid"
	timeout 10 tail --pid="$server_pid" -f /dev/null
	if kill -0 "$server_pid" 2>/dev/null; then
		fail "$what: still running 10 s after SIGTERM"
		kill -KILL "$server_pid"
	fi
	wait "$server_pid"
	status=$?
	server_pid=
	if [ "$status" -eq 0 ]; then
		pass "$what: exit status 0 after SIGTERM"
	else
		cat "$tmp/err"
		fail "$what: exit status $status after SIGTERM"
	fi
}

needs_libringcast() {
	readelf -d "$1" | grep -q 'NEEDED.*\[libringcast\.so\.0\]'
}

# Shared: plain pkg-config flags; the loader finds the .so in the prefix.
# shellcheck disable=SC2046  # pkg-config output is meant to be split
if "$cc" -O2 -Wall -Wextra -Werror -pthread -o "$tmp/ticker_shared" \
	"$src/examples/ticker.c" $(pkg-config --cflags --libs ringcast) \
	2>"$tmp/cc.log" && needs_libringcast "$tmp/ticker_shared"; then
	pass "shared: cc ticker.c \$(pkg-config --cflags --libs ringcast)"
	LD_LIBRARY_PATH=$libdir run_ticker "$tmp/ticker_shared" shared
else
	cat "$tmp/cc.log"
	fail "shared: build ticker.c against libringcast.so"
fi

# Static: --static pulls in Requires.private and Libs.private; -lringcast
# becomes -l:libringcast.a, since the linker prefers the .so beside it.
static_libs=()
for f in $(pkg-config --static --libs ringcast); do
	[ "$f" = -lringcast ] && f=-l:libringcast.a
	static_libs+=("$f")
done
# shellcheck disable=SC2046
if "$cc" -O2 -Wall -Wextra -Werror -pthread -o "$tmp/ticker_static" \
	"$src/examples/ticker.c" $(pkg-config --cflags ringcast) \
	"${static_libs[@]}" 2>"$tmp/cc.log" &&
	! needs_libringcast "$tmp/ticker_static"; then
	pass "static: cc ticker.c with pkg-config --static --libs, -l:libringcast.a"
	run_ticker "$tmp/ticker_static" static
else
	cat "$tmp/cc.log"
	fail "static: build ticker.c against libringcast.a"
fi

finish
