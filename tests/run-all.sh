#!/usr/bin/env bash
# tests/run-all.sh: everything CI runs, from a fresh clone on Debian 12.
#
#   1. install the Debian packages that are missing (apt-get; as root, or with sudo)
#   2. build with warnings as errors into build-ci/, install into _inst/ (no root needed)
#   3. meson test (unit + fuzz-corpus suites)
#   4. the integration suite (pytest + slixmpp against a real Prosody) on the installed binaries
#   5. an ASan+UBSan build (build-ci-asan/, _inst-asan/): unit tests, then the integration
#      suite again if the time budget allows (a sanitizer report fails the run)
#   6. one last line: "N passed, M failed[, K skipped]"; exit status 0 only if nothing failed
#
# Environment: SLIDGE_CI_BUDGET (seconds, default 1080): the sanitizer integration run is
# skipped (and reported as skipped) when less than SLIDGE_CI_ASAN_IT_NEEDS (default 480)
# seconds of the budget are left. PYTEST_ARGS: extra pytest arguments (e.g. "-k echo").
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUDGET=${SLIDGE_CI_BUDGET:-1080}
ASAN_IT_NEEDS=${SLIDGE_CI_ASAN_IT_NEEDS:-480}
PY=/usr/bin/python3
export DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1
SECONDS=0

PASSED=0 FAILED=0 SKIPPED=0
BROKEN=()

say() { printf '\n=== %s (%ss)\n' "$*" "$SECONDS"; }
broken() { BROKEN+=("$1"); FAILED=$((FAILED + 1)); printf '*** step failed: %s\n' "$1"; }

summary() {
	if [ ${#BROKEN[@]} -gt 0 ]; then
		printf '\nsteps that broke: %s\n' "$(IFS=';'; echo "${BROKEN[*]}")"
	fi
	printf '\n'
	if [ "$SKIPPED" -gt 0 ]; then
		echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	else
		echo "$PASSED passed, $FAILED failed"
	fi
	[ "$FAILED" -eq 0 ]
	exit $?
}

# add "passed failed skipped" printed by a counter to the totals; LAST_FAILED = failed
add_counts() {
	local p f s
	read -r p f s <<<"$1" || return 1
	[ -n "$s" ] || return 1
	PASSED=$((PASSED + p)) FAILED=$((FAILED + f)) SKIPPED=$((SKIPPED + s)) LAST_FAILED=$f
	echo "    -> $p passed, $f failed, $s skipped"
}

# counts from meson's testlog.json (one JSON object per line)
count_meson() {
	"$PY" - "$1" <<'EOF'
import json, sys
p = f = s = 0
with open(sys.argv[1]) as fh:
    for line in fh:
        line = line.strip()
        if not line:
            continue
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            p += 1
        elif r == "SKIP":
            s += 1
        else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS
            f += 1
print(p, f, s)
EOF
}

# counts from pytest's junit xml; a test with a failure or error in any phase counts once,
# as failed
count_junit() {
	"$PY" - "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET
worst = {}
rank = {"passed": 0, "skipped": 1, "failed": 2}
for tc in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    key = (tc.get("classname"), tc.get("name"))
    tags = {c.tag for c in tc}
    st = "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else "passed"
    if rank[st] >= rank.get(worst.get(key, "passed"), 0):
        worst[key] = st
v = list(worst.values())
print(v.count("passed"), v.count("failed"), v.count("skipped"))
EOF
}

# ---- 1. packages -------------------------------------------------------------------------

PKGS=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev libxml2-dev libev-dev
	liblmdb-dev libcurl4-gnutls-dev libqrencode-dev libgnutls28-dev nettle-dev libmsgpack-dev
	libseccomp-dev libpng-dev libidn-dev prosody prosody-modules python3-slixmpp
	python3-pytest lmdb-utils zbar-tools)

install_packages() {
	local missing=() p
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && { echo "all packages present"; return 0; }
	echo "installing: ${missing[*]}"
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo -n)
		else
			echo "not root and no sudo: install these packages first: ${missing[*]}" >&2
			return 1
		fi
	fi
	"${sudo[@]}" apt-get update -q || return 1
	"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

say "packages"
install_packages || { broken "installing Debian packages"; summary; }

# ---- build, install, unit tests ----------------------------------------------------------

# setup_build DIR PREFIX [meson options...]
setup_build() {
	local dir=$1 prefix=$2
	shift 2
	if [ -d "$dir/meson-private" ]; then
		meson setup --reconfigure --werror --prefix "$prefix" "$@" "$dir"
	else
		meson setup --werror --prefix "$prefix" "$@" "$dir"
	fi
}

# build_and_test NAME DIR PREFIX [meson options...]: build, install, meson test
build_and_test() {
	local name=$1 dir=$2 prefix=$3
	shift 3
	say "$name: configure"
	setup_build "$dir" "$prefix" "$@" || { broken "$name: meson setup"; return 1; }
	say "$name: build and install"
	meson install -C "$dir" --quiet || { broken "$name: build/install"; return 1; }
	say "$name: meson test"
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs --num-processes 2
	local rc=$?
	local counts
	if [ -s "$dir/meson-logs/testlog.json" ] && counts=$(count_meson "$dir/meson-logs/testlog.json") &&
		add_counts "$counts"; then
		if [ $rc -ne 0 ] && [ "$LAST_FAILED" -eq 0 ]; then
			broken "$name: meson test exited $rc with no failing test"
		fi
	else
		[ $rc -eq 0 ] || broken "$name: meson test (exit $rc, no testlog.json)"
	fi
	return 0
}

# integration NAME PREFIX BUILDDIR: the pytest suite against an installed prefix
integration() {
	local name=$1 prefix=$2 dir=$3
	local xml="$dir/pytest-integration.xml"
	say "$name: integration tests against $prefix"
	rm -f "$xml"
	# shellcheck disable=SC2086
	SLIDGE_PREFIX=$prefix SLIDGE_ROGUE_MODULE=$dir/tests/rogue/rogue.so \
		timeout -k 10 900 "$PY" -m pytest -p no:cacheprovider -rfEs \
		--junitxml="$xml" ${PYTEST_ARGS:-} tests/integration
	local rc=$?
	local counts
	if [ -s "$xml" ] && counts=$(count_junit "$xml") && add_counts "$counts"; then
		if [ $rc -ne 0 ] && { [ $rc -ne 1 ] || [ "$LAST_FAILED" -eq 0 ]; }; then
			broken "$name: pytest exited $rc"
		fi
	else
		broken "$name: pytest (exit $rc, no junit xml)"
	fi
}

# As root, slidged runs its workers as `nobody`: they must be able to reach the worker and
# the module installed inside this clone, so every directory above it must be traversable.
if [ "$(id -u)" = 0 ]; then
	d=$ROOT
	while [ "$d" != / ]; do
		chmod o+x "$d" 2>/dev/null || true
		d=$(dirname "$d")
	done
fi

if build_and_test "build" "$ROOT/build-ci" "$ROOT/_inst"; then
	integration "build" "$ROOT/_inst" "$ROOT/build-ci"
fi

# ---- sanitizers ----------------------------------------------------------------------------

export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:disable_coredump=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
if build_and_test "asan+ubsan" "$ROOT/build-ci-asan" "$ROOT/_inst-asan" \
	-Db_sanitize=address,undefined -Db_lundef=false -Dsandbox=false; then
	left=$((BUDGET - SECONDS))
	if [ "$left" -ge "$ASAN_IT_NEEDS" ]; then
		integration "asan+ubsan" "$ROOT/_inst-asan" "$ROOT/build-ci-asan"
	else
		say "asan+ubsan: integration tests skipped (${left}s left of the ${BUDGET}s budget)"
		SKIPPED=$((SKIPPED + 1))
	fi
fi

say "done"
summary
