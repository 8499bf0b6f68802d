#!/usr/bin/env bash
# S3 server on loopback for tests: a throw-away one-node Ceph cluster
# (ceph-mon, one ceph-osd on memstore, no mgr) with radosgw in front,
# from Debian 12's packages (scripts/test-deps.txt). Everything it makes -
# config, keyring, mon store, sockets, logs, pid files - lives in DIR; the
# daemons listen on 127.0.0.1 only. Nothing is kept: the OSD holds its
# objects in memory.
#
#   s3_server.sh start DIR [PORT [BUCKET]]   # PORT: a free one if omitted
#   s3_server.sh stop DIR                    # safe to repeat, or after a failed start
#
# start waits until a signed S3 request succeeds (at most S3_START_TIMEOUT
# seconds, 60 by default; on failure it shows the logs' tails and stops
# what it started), creates an S3 user, creates BUCKET (or $S3_BUCKET) if
# given, then prints S3_ENDPOINT=, S3_ACCESS_KEY=, S3_SECRET_KEY=,
# S3_REGION= (and S3_BUCKET=) lines and writes them to DIR/env.
# Exits 77 (ctest's skip code) when the ceph packages are missing.
# S3_MEMSTORE_BYTES sets the OSD's capacity (objects live in memory;
# 1 GiB by default, which the tests need; the sync benchmark wants more).
set -euo pipefail

ACCESS_KEY=ARCATESTACCESSKEY000
SECRET_KEY=arcaTestSecretKey0000000000000000000000
REGION=us-east-1
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

die() { echo "s3_server: $*" >&2; exit 1; }
usage() { die "usage: $0 start DIR [PORT [BUCKET]] | stop DIR"; }

# A zombie still answers kill -0, and PID 1 here reaps orphans only now and
# then; a daemon is alive only if /proc says it is not one.
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
# Alive and started with our config: a recycled PID is never ours.
ours() { alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "-c $D/ceph.conf"; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Below the kernel's ephemeral range (32768-), so no outgoing connection
# takes it between the check and the bind.
pick_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 12000))
		port_free "$p" && { echo "$p"; return 0; }
	done
	die "no free port found"
}

stop() {
	local name pid
	[ -d "$D/pids" ] || return 0
	for name in rgw osd mon; do
		[ -e "$D/pids/$name" ] || continue
		pid=$(cat "$D/pids/$name")
		if ours "$pid"; then
			# The state is thrown away: SIGKILL spares radosgw's ~5 s shutdown
			# and memstore's dump of every object to disk. The mon stops
			# in a fraction of a second on SIGTERM.
			if [ "$name" = mon ]; then kill -TERM "$pid"; else kill -KILL "$pid"; fi 2>/dev/null || true
			for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
			if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
		fi
		rm -f "$D/pids/$name"
	done
	rm -rf "$D/data" "$D/run" "$D/env"
}

# Runs a daemon in the foreground of its own session, detached from ours.
spawn() {
	local name=$1; shift
	setsid "$@" -c "$D/ceph.conf" -f </dev/null >>"$D/log/$name.out" 2>&1 &
	echo $! >"$D/pids/$name"
	disown
}

# Seconds left before the start deadline, at least 1 (timeout 0 means none).
remaining() {
	local left=$((deadline - SECONDS))
	echo $((left > 0 ? left : 1))
}

check_daemons() {
	local name
	for name in mon osd rgw; do
		[ -e "$D/pids/$name" ] || continue
		alive "$(cat "$D/pids/$name")" || { echo "s3_server: $name exited" >&2; exit 1; }
	done
}

# wait_for WHAT CMD...: retries CMD until it succeeds, a daemon dies or
# the start deadline passes.
wait_for() {
	local what=$1; shift
	until "$@" >/dev/null 2>&1; do
		check_daemons
		[ $((deadline - SECONDS)) -gt 0 ] || { echo "s3_server: timed out waiting for $what" >&2; exit 1; }
		sleep 0.1
	done
}

# Runs on every exit of start: unless it got to the end, show why and
# leave nothing running.
start_exit() {
	[ "$ready" = 1 ] && return 0
	local f
	for f in "$D"/log/*; do
		[ -s "$f" ] || continue
		echo "--- $f" >&2
		tail -n 15 "$f" >&2
	done
	stop
	exit 1
}

start() {
	local port=${1:-} bucket=${2:-${S3_BUCKET:-}} t0=$SECONDS name
	for name in mon osd rgw; do
		[ -e "$D/pids/$name" ] && ours "$(cat "$D/pids/$name")" && die "already running in $D (stop it first)"
	done
	ready=0 deadline=$((SECONDS + ${S3_START_TIMEOUT:-60}))
	trap start_exit EXIT
	trap 'echo "s3_server: line $LINENO failed: $BASH_COMMAND" >&2' ERR
	rm -rf "$D/data" "$D/run" "$D/pids" "$D/log" "$D/env"
	mkdir -p "$D/data/mon" "$D/data/osd/ceph-0" "$D/data/rgw" "$D/run" "$D/pids" "$D/log"
	if [ -z "$port" ]; then port=$(pick_port)
	elif ! port_free "$port"; then die "port $port is in use"; fi
	local mon_port
	mon_port=$(pick_port)
	[ "$mon_port" != "$port" ] || mon_port=$(pick_port)

	local fsid osd_uuid
	fsid=$(cat /proc/sys/kernel/random/uuid)
	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	cat >"$D/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
keyring = $D/keyring
# Admin sockets go here; a DIR too long for a socket path only logs an error.
run dir = $D/run
crash dir = $D/run/crash
log file = $D/log/\$name.log
mon cluster log file = $D/log/cluster.log
# One OSD: pools of one replica, a flat CRUSH map, no health nagging.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# The mon would stop itself when the disk under DIR is 95 % full.
mon data avail crit = 1
# radosgw's first start creates 6 pools, each one mon commit; batched every
# second by default, that alone takes ~10 s.
paxos propose interval = 0.05
paxos min wait = 0.01

[mon]
mon data = $D/data/mon/\$cluster-\$id

[osd]
osd data = $D/data/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = ${S3_MEMSTORE_BYTES:-1073741824}

[client.rgw]
# tcp_nodelay: without it, beast's small error replies on a reused
# connection wait ~40 ms (Nagle against the client's delayed ACK)
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw data = $D/data/rgw
EOF
	# One keyring for every entity: it is a test cluster.
	local kr=$D/keyring
	ceph-authtool "$kr" --create-keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool "$kr" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' >/dev/null
	ceph-authtool "$kr" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' >/dev/null
	ceph-authtool "$kr" --gen-key -n client.rgw --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null

	monmaptool --create --fsid "$fsid" --addv a "v2:127.0.0.1:$mon_port" "$D/run/monmap" >/dev/null
	ceph-mon -c "$D/ceph.conf" -i a --mkfs --monmap "$D/run/monmap" >>"$D/log/mkfs.out" 2>&1
	spawn mon ceph-mon -i a
	wait_for "ceph-mon on port $mon_port" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' - "$mon_port"

	local id
	id=$(timeout "$(remaining)" ceph -c "$D/ceph.conf" osd new "$osd_uuid" 2>>"$D/log/mkfs.out")
	[ "$id" = 0 ] || die "ceph osd new gave '$id', not 0"
	ceph-osd -c "$D/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$D/log/mkfs.out" 2>&1
	spawn osd ceph-osd -i 0
	# radosgw waits for the OSD itself, and listens once its pools exist.
	spawn rgw radosgw -n client.rgw
	# An S3 answer, not some other server that took the port first.
	wait_for "radosgw on port $port" bash -c '"$@" | grep -qF ListAllMyBucketsResult' - \
		curl -fsS -m 5 "http://127.0.0.1:$port/"
	check_daemons

	timeout "$(remaining)" radosgw-admin -c "$D/ceph.conf" user create --uid=arca --display-name=arca \
		--access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null 2>>"$D/log/mkfs.out"
	# curl 7.88's --aws-sigv4 does not send x-amz-content-sha256, without
	# which radosgw refuses the signature.
	local sign=(--aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY"
		-H "x-amz-content-sha256: $EMPTY_SHA")
	# The user is known once its bucket list comes back.
	wait_for "a signed request" bash -c '"$@" | grep -qF "<ID>arca</ID>"' - \
		curl -fsS -m 5 "${sign[@]}" "http://127.0.0.1:$port/"
	check_daemons
	if [ -n "$bucket" ]; then
		curl -fsS -m 10 -o /dev/null -X PUT "${sign[@]}" "http://127.0.0.1:$port/$bucket" ||
			die "cannot create bucket $bucket"
	fi

	{
		echo "S3_ENDPOINT=http://127.0.0.1:$port"
		echo "S3_ACCESS_KEY=$ACCESS_KEY"
		echo "S3_SECRET_KEY=$SECRET_KEY"
		echo "S3_REGION=$REGION"
		[ -z "$bucket" ] || echo "S3_BUCKET=$bucket"
	} >"$D/env"
	cat "$D/env"
	echo "s3_server: ready in $((SECONDS - t0)) s" >&2
	ready=1
}

[ $# -ge 2 ] || usage
case $1 in start | stop) ;; *) usage ;; esac
if [ "$1" = start ]; then
	for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool curl timeout; do
		command -v "$tool" >/dev/null || {
			echo "s3_server: $tool not found; skipped (apt-get install --no-install-recommends \$(cat scripts/test-deps.txt))" >&2
			exit 77
		}
	done
fi
[ "$1" = start ] && mkdir -p "$2"
[ -d "$2" ] || exit 0 # stop: nothing was started there
D=$(cd "$2" && pwd)
case $1 in
start) [ $# -le 4 ] || usage; start "${3:-}" "${4:-}" ;;
stop) [ $# -eq 2 ] || usage; stop ;;
esac
