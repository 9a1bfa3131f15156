#!/usr/bin/env bash
# tests/bench/run.sh: the benchmark suite, one command (docs/performance.md).
#
#   tests/bench/run.sh [--quick]
#
#   1. builds and installs the gateway into build-bench/ and _inst-bench/ (release), unless
#      BENCH_NO_BUILD=1; the bench programs come from build-bench/tests/bench/ when meson
#      built them, else they are compiled here with cc
#   2. runs, each bounded by `timeout`:
#        relay    100 users x 4 in flight, then 1 user x 16 (saturation, CPU per stanza),
#                 then 100 x 4 again with the home directory on tmpfs (/dev/shm)
#        latency  open loop at 20% of the relay saturation (and 50%)
#        memory   idle PSS at 1, 100, 1000 users (keeps its home for scale)
#        scale    start with 1000 users -> all logged in; kill -9 -> echo works again;
#                 then the start again with --boot-concurrency 32
#   3. prints every table, then a summary against the targets, and writes each program's
#      JSON object and a combined one to $BENCH_OUT (default build-bench/bench-results/),
#      results.json.
#
# --quick: shorter runs and 100 users instead of 1000 (a smoke test, about a minute).
# Environment: BENCH_BUILD (build dir), SLIDGE_PREFIX (install prefix), BENCH_OUT,
# BENCH_USERS (default 1000), BENCH_NO_BUILD=1, BENCH_TMPDIR (where the gateways' home
# directories go; default /tmp, i.e. the disk, as /var/lib/slidge would be).
# Everything runs on loopback, with its own home directories; the whole suite takes
# 5 to 8 minutes on 2 cores.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
PREFIX=${SLIDGE_PREFIX:-$ROOT/_inst-bench}
OUT=${BENCH_OUT:-$BUILD/bench-results}
USERS=${BENCH_USERS:-1000}
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
if [ $QUICK = 1 ]; then
	USERS=${BENCH_USERS:-100}
	DUR=3 WARM=1 STEPS="1,10,$USERS"
else
	DUR=10 WARM=2 STEPS="1,100,$USERS"
fi
SECONDS=0

say() { printf '\n=== %s (%ss)\n' "$*" "$SECONDS"; }
fail() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ---- build ---------------------------------------------------------------------------

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
	say "build: $BUILD -> $PREFIX"
	if [ ! -d "$BUILD/meson-private" ]; then
		meson setup "$BUILD" --prefix "$PREFIX" -Dbuildtype=release >/dev/null ||
			fail "meson setup failed"
	fi
	if ! ninja -C "$BUILD" install >"$BUILD/bench-build.log" 2>&1; then
		tail -20 "$BUILD/bench-build.log"
		[ -x "$PREFIX/bin/slidged" ] || fail "the build failed and nothing is installed"
		echo "bench: the build failed; using what is installed in $PREFIX" >&2
	fi
fi
[ -x "$PREFIX/bin/slidged" ] || fail "no $PREFIX/bin/slidged (build first, or set SLIDGE_PREFIX)"

BIN=$BUILD/tests/bench
if [ ! -x "$BIN/bench-relay" ]; then
	# meson does not build the benchmarks (tests/meson.build has no subdir('bench')
	# yet): compile them here.
	BIN=$BUILD/bench-standalone
	mkdir -p "$BIN"
	SRC=$ROOT/tests/bench
	for p in relay memory scale latency; do
		if [ ! -x "$BIN/bench-$p" ] || [ -n "$(find "$SRC" -newer "$BIN/bench-$p" -name '*.[ch]')" ]; then
			cc -std=gnu11 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
				-o "$BIN/bench-$p" "$SRC/$p.c" "$SRC/bench.c" \
				$(pkg-config --cflags --libs gnutls) || fail "cannot compile bench-$p"
		fi
	done
fi

mkdir -p "$OUT"
rm -f "$OUT"/*.json
export SLIDGE_PREFIX=$PREFIX

# run NAME TIMEOUT PROGRAM ARGS...: the table on the terminal (and NAME.txt), the JSON
# object in NAME.json
run() {
	local name=$1 limit=$2 prog=$3
	shift 3
	say "$name"
	timeout -k 10 "$limit" "$BIN/$prog" --json "$OUT/$name.json" "$@" 2>&1 |
		grep -v '^{' | tee "$OUT/$name.txt"
	local rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ] || echo "bench: $name failed (exit $rc)" >&2
	[ -s "$OUT/$name.json" ] || echo '{"failed":true}' >"$OUT/$name.json"
}

# a number from a JSON object file: jnum FILE KEY (top-level keys only are unique)
jnum() { grep -o "\"$2\":[-0-9.e]*" "$1" | head -1 | cut -d: -f2; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
	"kernel $(uname -r), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo),"\
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"

run relay 120 bench-relay --users 100 --window 4 --warmup $WARM --duration $DUR
run relay-1user 120 bench-relay --users 1 --window 16 --warmup $WARM --duration $DUR
# The same as the first with the gateway's home (the users' LMDB stores) on tmpfs: what
# the disk's fsync costs.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	BENCH_TMPDIR=/dev/shm run relay-tmpfs 120 bench-relay --users 100 --window 4 \
		--warmup $WARM --duration $DUR
fi

SAT=$(jnum "$OUT/relay.json" roundtrips_per_s)
[ -n "$SAT" ] || SAT=5000
run latency 120 bench-latency --users 100 --saturation "$SAT" --fraction 0.2 --duration $DUR
run latency-50 120 bench-latency --users 100 --saturation "$SAT" --fraction 0.5 --duration $DUR

HOME_DIR=/tmp/sbench-suite.$$
rm -rf "$HOME_DIR"
run memory 400 bench-memory --steps "$STEPS" --home "$HOME_DIR"
run scale 300 bench-scale --users "$USERS" --home "$HOME_DIR" --restarts 5
run scale-c32 300 bench-scale --users "$USERS" --home "$HOME_DIR" --restarts 0 \
	--boot-concurrency 32
rm -rf "$HOME_DIR"

# ---- the combined object and the summary ---------------------------------------------

{
	printf '{"suite":"slidge-c bench","date":"%s","commit":"%s","elapsed_s":%s' \
		"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(git describe --always --dirty 2>/dev/null || echo unknown)" \
		"$SECONDS"
	for n in relay relay-1user relay-tmpfs latency latency-50 memory scale scale-c32; do
		[ -s "$OUT/$n.json" ] || continue
		printf ',"%s":' "$n"
		tr -d '\n' <"$OUT/$n.json"
	done
	printf '}\n'
} >"$OUT/results.json"

say "summary (targets are goals, not tests)"
python3 "$ROOT/tests/bench/summary.py" "$OUT/results.json"
echo
echo "results: $OUT/results.json (and one .json and .txt per program); ${SECONDS}s"
