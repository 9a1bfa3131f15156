#!/usr/bin/env bash
# contrib/quickstart.sh: try slidge-c on the demo network in one command (Debian 12).
#
# Installs the Debian packages that are missing (apt-get, as root or with sudo), builds
# slidge-c and installs it into ./_inst-demo, then starts, from the state directory ./_demo:
#   - a Prosody for localhost only: c2s on 127.0.0.1:5222 (STARTTLS with a self-signed
#     certificate, plaintext also allowed: it is loopback only), component port
#     127.0.0.1:5347, one user romeo@localhost (password: romeo), and an XEP-0363 upload
#     service upload.localhost (Prosody's http_file_share, HTTP on 127.0.0.1:5280) for files;
#   - slidged, in the foreground, as the component gw.localhost with the demo module.
# Ctrl-C stops both. Run it again to start again: the state in ./_demo is kept (delete the
# directory to start from scratch).
#
# Environment: C2S_PORT (5222), COMPONENT_PORT (5347), HTTP_PORT (5280), DEMO_USER (romeo), DEMO_PASSWORD
# (romeo), DEMO_DIR (./_demo), SLIDGED_ARGS (more slidged options, e.g. "--demo-registration 2fa").
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=${DEMO_DIR:-$ROOT/_demo}
PREFIX=$ROOT/_inst-demo
BUILD=$ROOT/build-demo
C2S_PORT=${C2S_PORT:-5222}
COMPONENT_PORT=${COMPONENT_PORT:-5347}
HTTP_PORT=${HTTP_PORT:-5280}
DEMO_USER=${DEMO_USER:-romeo}
DEMO_PASSWORD=${DEMO_PASSWORD:-romeo}
GW=gw.localhost

PKGS=(meson ninja-build pkg-config gcc libxml2-dev libev-dev liblmdb-dev libcurl4-gnutls-dev
	libqrencode-dev libgnutls28-dev nettle-dev libmsgpack-dev libseccomp-dev libpng-dev libidn-dev
	prosody openssl)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\nquickstart: %s\n' "$*" >&2; exit 1; }

# ---- packages --------------------------------------------------------------------------
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	step "installing Debian packages: ${missing[*]}"
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || die "run as root, or install sudo, or install: ${missing[*]}"
		sudo=(sudo)
	fi
	# Installing prosody would also start the system-wide Prosody on port 5222, where the
	# demo's own Prosody wants to listen: keep the service from starting during this install.
	policy=""
	if [[ " ${missing[*]} " == *" prosody "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# temporary, from slidge-c contrib/quickstart.sh\nexit 101\n' |
			"${sudo[@]}" tee "$policy" >/dev/null
		"${sudo[@]}" chmod 755 "$policy"
	fi
	rc=0
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q || rc=$?
	[ $rc -ne 0 ] || "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
	[ -z "$policy" ] || "${sudo[@]}" rm -f "$policy"
	[ $rc -eq 0 ] || die "apt-get failed"
fi

# ---- build and install -------------------------------------------------------------------
step "building slidge-c into $PREFIX"
if [ -d "$BUILD/meson-private" ]; then
	meson setup --reconfigure --prefix "$PREFIX" "$BUILD" >/dev/null
else
	meson setup --prefix "$PREFIX" "$BUILD" >/dev/null
fi
meson install -C "$BUILD" --quiet

# ---- state directory, Prosody config, certificate, user -----------------------------------
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$C2S_PORT" "$COMPONENT_PORT" "$HTTP_PORT"; do
	if port_busy "$port"; then
		die "something already listens on 127.0.0.1:$port (a system Prosody? stop it with
  'systemctl stop prosody', or choose other ports: C2S_PORT=5223 COMPONENT_PORT=5348 HTTP_PORT=5290 $0)"
	fi
done

mkdir -p "$STATE/prosody/data" "$STATE/prosody/certs" "$STATE/gateway"
# the demo state never belongs in git
[ -e "$STATE/.gitignore" ] || echo '*' >"$STATE/.gitignore"
if [ ! -s "$STATE/secret" ]; then
	(umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$STATE/secret")
fi
SECRET=$(cat "$STATE/secret")

CERTS=$STATE/prosody/certs
if [ ! -s "$CERTS/localhost.key" ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,DNS:$GW" \
		-keyout "$CERTS/localhost.key" -out "$CERTS/localhost.crt" 2>/dev/null
	chmod 600 "$CERTS/localhost.key"
fi

run_as_root=false
[ "$(id -u)" -ne 0 ] || run_as_root=true
cat >"$STATE/prosody/prosody.cfg.lua" <<EOF
-- written by contrib/quickstart.sh: a Prosody for localhost only (loopback)
run_as_root = $run_as_root
daemonize = false
pidfile = "$STATE/prosody/prosody.pid"
data_path = "$STATE/prosody/data"
log = { info = "$STATE/prosody/prosody.log"; error = "$STATE/prosody/prosody.err" }
interfaces = { "127.0.0.1" }
c2s_ports = { $C2S_PORT }
component_interfaces = { "127.0.0.1" }
component_ports = { $COMPONENT_PORT }
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; "carbons"; "pep";
	"private"; "blocklist"; "vcard_legacy"; "version"; "time"; "uptime"; "posix" }
modules_disabled = { "s2s"; "limits" }
-- files (XEP-0363): Prosody's own http_file_share, HTTP on loopback only
http_ports = { $HTTP_PORT }
http_interfaces = { "127.0.0.1" }
https_ports = { }
http_external_url = "http://127.0.0.1:$HTTP_PORT/"
http_default_host = "upload.localhost"
-- plaintext is allowed because c2s listens on 127.0.0.1 only
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
certificates = "$CERTS"
ssl = { certificate = "$CERTS/localhost.crt"; key = "$CERTS/localhost.key" }

VirtualHost "localhost"

Component "$GW"
    component_secret = "$SECRET"

-- the gateway requests upload slots for the files of legacy contacts: allow it
Component "upload.localhost" "http_file_share"
    http_file_share_access = { "$GW"; "localhost" }
    http_file_share_size_limit = 100*1024*1024
EOF

prosodyctl --config "$STATE/prosody/prosody.cfg.lua" register "$DEMO_USER" localhost "$DEMO_PASSWORD" ||
	die "could not create $DEMO_USER@localhost"

# ---- run ---------------------------------------------------------------------------------
PROSODY_PID=""
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$PROSODY_PID" ] && kill -0 "$PROSODY_PID" 2>/dev/null; then
		echo "stopping Prosody"
		kill -TERM "$PROSODY_PID" 2>/dev/null || true
		wait "$PROSODY_PID" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "starting Prosody (log: $STATE/prosody/prosody.log)"
# its own session: Ctrl-C goes to slidged, and cleanup() stops Prosody afterwards
setsid prosody -F --config "$STATE/prosody/prosody.cfg.lua" </dev/null >>"$STATE/prosody/prosody.out" 2>&1 &
PROSODY_PID=$!
for _ in $(seq 100); do
	port_busy "$C2S_PORT" && port_busy "$COMPONENT_PORT" && break
	kill -0 "$PROSODY_PID" 2>/dev/null || die "Prosody exited: see $STATE/prosody/prosody.out and prosody.err"
	sleep 0.1
done
port_busy "$COMPONENT_PORT" || die "Prosody does not listen on $COMPONENT_PORT"

cat <<EOF

  slidge-c demo is starting.

  1. In your XMPP client (Gajim, Dino, ...), add the account
        $DEMO_USER@localhost   password: $DEMO_PASSWORD
     server 127.0.0.1, port $C2S_PORT. The certificate is self-signed: accept it when the
     client asks (or allow an unencrypted connection: it is loopback only).
  2. Discover services on $GW (Gajim: Accounts > Discover Services) and register
     with any username (letters, digits, . _ -) and any password but "wrong".
  3. Accept the contacts the gateway adds, and chat with echo@$GW:
     it repeats what you write. Send it a file: it sends it back. "/file" makes it send
     one; other script commands (/nick, /avatar, /react-last, /input...) are listed in
     contrib/modules/demo/demo.c. Message $GW "help" for the gateway's commands.

  Ctrl-C stops the gateway and Prosody.

EOF

# As root, slidged runs its workers as `nobody`: they must reach the worker and module
# installed in this checkout, and the gateway's state directory below it.
if [ "$(id -u)" -eq 0 ]; then
	d=$ROOT
	while [ "$d" != / ]; do
		chmod o+x "$d" 2>/dev/null || true
		d=$(dirname "$d")
	done
	chmod o+x "$STATE" 2>/dev/null || true
fi

step "starting slidged (gateway $GW, demo network)"
# shellcheck disable=SC2086
"$PREFIX/bin/slidged" --jid "$GW" --secret "$SECRET" --server 127.0.0.1 --port "$COMPONENT_PORT" \
	--home-dir "$STATE/gateway" --legacy-module demo --user-jid-validator '.*@localhost' \
	--admins "$DEMO_USER@localhost" --upload-service upload.localhost --http-ports "$HTTP_PORT" \
	${SLIDGED_ARGS:-} || true
