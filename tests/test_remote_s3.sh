#!/usr/bin/env bash
# The arca CLI against real servers on loopback: Ceph RGW (tests/s3_server.sh)
# for S3 remotes, lighttpd for a static HTTP remote, and awscli as an
# independent client reading what arca wrote. Exit 77 (skip) without ceph.
#   test_remote_s3.sh ARCA
set -u
ARCA=$1
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/arca-remote-s3-XXXXXX)
S3D=$T/s3
cleanup() {
	"$HERE/s3_server.sh" stop "$S3D" >/dev/null 2>&1
	[ -f "$T/lighttpd.pid" ] && kill "$(cat "$T/lighttpd.pid")" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/check.sh"

for t in radosgw ceph-mon ceph-osd; do
	command -v "$t" >/dev/null || { echo "skip: $t missing (scripts/test-deps.txt)"; exit 77; }
done
"$HERE/s3_server.sh" start "$S3D" "" arca-test >"$T/env" || { echo "FAIL: s3 server did not start"; exit 1; }
# shellcheck disable=SC1091
. "$T/env"
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export AWS_DEFAULT_REGION=$S3_REGION AWS_EC2_METADATA_DISABLED=true HOME=$T/home
mkdir -p "$HOME"
URL="s3://${S3_ENDPOINT#http://}/arca-test/mirror"
A() { "$ARCA" --store "$T/a" "$@"; }
B() { "$ARCA" --store "$T/b" "$@"; }

mkdir -p "$T/src/sub"
head -c 3000000 /dev/urandom >"$T/src/big"
echo hello >"$T/src/sub/small"
truncate -s 64M "$T/disk.img"
head -c 5000000 /dev/urandom | dd of="$T/disk.img" bs=1M seek=20 conv=notrunc 2>/dev/null
A snapshot "$T/src" --name ws -q >/dev/null
A snapshot "$T/disk.img" --name disk -q >/dev/null

check "remote add s3" A remote add origin "$URL"
check "push tree and image to RGW" A push origin ws disk
check "a second push sends nothing" bash -c "'$ARCA' --store '$T/a' push origin ws disk --json | grep -q '\"bytes\":0,'"
check "pull into an empty store" bash -c "'$ARCA' --store '$T/b' pull '$URL' ws disk"
check "the pulled tree restores identical" bash -c "'$ARCA' --store '$T/b' restore ws '$T/ws.out' && diff -r '$T/src' '$T/ws.out'"
check "the pulled image restores identical" bash -c "'$ARCA' --store '$T/b' restore disk '$T/disk.out' && cmp '$T/disk.img' '$T/disk.out'"
check "ls --remote on S3" bash -c "'$ARCA' --store '$T/a' ls --remote origin | grep -q '^ws:latest	art_'"
check "restore --from S3 keeps nothing" bash -c "'$ARCA' --store '$T/c' restore --from '$URL' ws '$T/ws2.out' && diff -r '$T/src' '$T/ws2.out' && [ ! -e '$T/c/index.lmdb' ]"

# what awscli sees is the layout of docs/FORMAT.md
AWS() { aws --endpoint-url "$S3_ENDPOINT" "$@"; }
if command -v aws >/dev/null; then
	AWS s3 ls --recursive s3://arca-test/mirror/ >"$T/keys" 2>&1
	check "awscli lists the marker" grep -q ' mirror/ARCA-REMOTE$' "$T/keys"
	check "awscli lists pack objects and their indexes" bash -c "grep -qE ' mirror/packs/[0-9a-f]{64}\.arcp$' '$T/keys' && grep -qE ' mirror/packs/[0-9a-f]{64}\.idx$' '$T/keys'"
	check "awscli lists ref entries and hints" bash -c "grep -q ' mirror/refs/ws/latest/0000000000000001$' '$T/keys' && grep -q ' mirror/refs/ws/latest/HEAD$' '$T/keys'"
	check "only layout keys" bash -c "! awk '{print \$4}' '$T/keys' | grep -vE '^mirror/(ARCA-REMOTE|packs/[0-9a-f]{64}\.(arcp|idx)|artifacts/[0-9a-f]{64}|refs/.+/(HEAD|[0-9a-f]{16}))$'"
	pack=$(grep -oE 'mirror/packs/[0-9a-f]{64}\.arcp' "$T/keys" | head -n1)
	check "a pack object fetched by awscli hashes to its name" bash -c "aws --endpoint-url '$S3_ENDPOINT' s3 cp 's3://arca-test/$pack' '$T/p.arcp' >/dev/null && [ \"\$(sha256sum < '$T/p.arcp' | cut -c1-64)\" = \"\$(basename '$pack' .arcp)\" ] && [ \"\$(head -c 8 '$T/p.arcp')\" = ARCAPACK ]"
	check "the marker reads arca-remote 1" bash -c "aws --endpoint-url '$S3_ENDPOINT' s3 cp s3://arca-test/mirror/ARCA-REMOTE - | grep -qx 'arca-remote 1'"
	id=$(A ls | awk '$2 == "ws:latest" || /ws:latest/ {print $1; exit}')
	check "a ref entry is the six canonical lines" bash -c "aws --endpoint-url '$S3_ENDPOINT' s3 cp s3://arca-test/mirror/refs/ws/latest/0000000000000001 - > '$T/ref' && [ \$(wc -l < '$T/ref') = 6 ] && head -n 3 '$T/ref' | tr '\n' '|' | grep -qx 'arca-ref 1|ref ws:latest|seq 1|' && grep -qE '^id [0-9a-f]{64}$' '$T/ref' && grep -qx 'prev none' '$T/ref'"
fi

# a wrong secret: one clear line naming the object and the server's code
check "a wrong secret fails with 403 SignatureDoesNotMatch" bash -c "! AWS_SECRET_ACCESS_KEY=wrong '$ARCA' --store '$T/a' push origin ws 2>'$T/err'; grep -q '403 SignatureDoesNotMatch' '$T/err' && [ \$(wc -l < '$T/err') -le 2 ]"

# two machines move one ref at once: exactly one wins, the other is refused
echo one >"$T/src/sub/small"; "$ARCA" --store "$T/a" snapshot "$T/src" --name race -q >/dev/null
echo two >"$T/src/sub/small"; "$ARCA" --store "$T/b" snapshot "$T/src" --name race -q >/dev/null
"$ARCA" --store "$T/a" push "$URL" race >"$T/r1" 2>&1 & p1=$!
"$ARCA" --store "$T/b" push "$URL" race >"$T/r2" 2>&1 & p2=$!
wait $p1; s1=$?; wait $p2; s2=$?
check "racing pushers: one wins, one is refused (exit 5)" bash -c "[ '$s1$s2' = 05 ] || [ '$s1$s2' = 50 ]"
check "the loser is not recorded: one entry" bash -c "[ \$(aws --endpoint-url '$S3_ENDPOINT' s3 ls s3://arca-test/mirror/refs/race/latest/ | grep -c ' 000000000000000') = 1 ]"

# kill -9 in the middle of a push: the re-run sends no finished pack again
RGWLOG=$(ls "$S3D"/log/client.rgw*.log 2>/dev/null | head -n1)
if [ -n "$RGWLOG" ]; then
	mkdir -p "$T/kill"
	head -c 200000000 /dev/urandom >"$T/kill/blob" # three 64 MiB packs and a bit
	A snapshot "$T/kill" --name killed -q >/dev/null
	n0=$(wc -l <"$RGWLOG")
	"$ARCA" --store "$T/a" push origin killed --jobs 1 >/dev/null 2>&1 & kp=$!
	for _ in $(seq 1 400); do
		tail -n +"$n0" "$RGWLOG" | grep -qE '"PUT [^ ]*/packs/[0-9a-f]{64}\.idx HTTP[^"]*" 200' && break
		sleep 0.025
	done
	kill -9 $kp 2>/dev/null; wait $kp 2>/dev/null
	tail -n +"$n0" "$RGWLOG" | grep -oE '"PUT [^ ]*/packs/[0-9a-f]{64}\.idx HTTP[^"]*" 200' |
		grep -oE '[0-9a-f]{64}' | sort -u >"$T/done-packs"
	check "the killed push finished a pack, and moved no ref" bash -c "[ -s '$T/done-packs' ] && ! AWS s3 ls s3://arca-test/mirror/refs/killed/ 2>/dev/null | grep -q ."
	n1=$(wc -l <"$RGWLOG")
	check "the re-run push completes" A push origin killed --jobs 1
	tail -n +"$n1" "$RGWLOG" | grep -oE '"PUT [^ ]*/packs/[0-9a-f]{64}\.arcp' | grep -oE '[0-9a-f]{64}' | sort -u >"$T/re-sent"
	check "the re-run sends none of the finished packs again" bash -c "[ -s '$T/re-sent' ] && ! grep -qFf '$T/done-packs' '$T/re-sent'"
	check "what the resumed push left restores identical" bash -c "'$ARCA' --store '$T/k' restore --from '$URL' killed '$T/kill.out' && cmp '$T/kill/blob' '$T/kill.out/blob'"
	rm -rf "$T/kill" "$T/kill.out"
fi

# a static HTTP remote: a directory remote served by lighttpd
"$ARCA" --store "$T/a" push "$T/www" ws >/dev/null 2>&1
port=$((20000 + RANDOM % 10000))
cat >"$T/lighttpd.conf" <<EOF
server.document-root = "$T/www"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$T/lighttpd-error.log"
EOF
if [ -x /usr/sbin/lighttpd ]; then
	/usr/sbin/lighttpd -D -f "$T/lighttpd.conf" >/dev/null 2>&1 & echo $! >"$T/lighttpd.pid"
	for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
	check "pull from a static HTTP remote" bash -c "'$ARCA' --store '$T/h' pull 'http://127.0.0.1:$port' ws && '$ARCA' --store '$T/h' restore ws '$T/ws3.out' && diff -r '$T/ws.out' '$T/ws3.out'"
	check "push to a static HTTP remote is refused" bash -c "! '$ARCA' --store '$T/a' push 'http://127.0.0.1:$port' ws"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
