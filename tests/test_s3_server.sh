#!/usr/bin/env bash
# The loopback S3 server of tests/s3_server.sh behaves like S3 for the
# requests arca's remotes will make, checked with independent clients
# (Debian's awscli v2 and curl --aws-sigv4), and stop leaves nothing behind.
# Exits 77 (skip) when the ceph packages or /usr/bin/aws are missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# Debian's awscli v2; a pip awscli v1 earlier on PATH may shadow it.
AWS=/usr/bin/aws
[ -x "$AWS" ] || { echo "test_s3_server: $AWS not found (awscli); skipped" >&2; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/arca-s3.XXXXXX")
srv=$tmp/srv
cleanup() { "$here/s3_server.sh" stop "$srv" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT

fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

t0=$(date +%s%N)
rc=0
"$here/s3_server.sh" start "$srv" "" arca-preset >"$tmp/start.out" || rc=$?
[ "$rc" != 77 ] || exit 77
[ "$rc" = 0 ] || { echo "s3_server.sh start failed ($rc)"; exit 1; }
ms=$((($(date +%s%N) - t0) / 1000000))
echo "start to ready: $((ms / 1000)).$(printf %03d $((ms % 1000))) s"
. "$srv/env"
grep -qx "S3_ENDPOINT=$S3_ENDPOINT" "$tmp/start.out" || fail "start prints the env lines"

mkdir -p "$tmp/home"
export HOME=$tmp/home AWS_CONFIG_FILE=$tmp/home/aws-config AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export AWS_DEFAULT_REGION=$S3_REGION AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
printf '[default]\ns3 =\n    addressing_style = path\n' >"$AWS_CONFIG_FILE"
aws() { "$AWS" --endpoint-url "$S3_ENDPOINT" --output json "$@"; }

# curl signs the request but does not send x-amz-content-sha256 (7.88),
# which radosgw requires: it is added by hand, the hash of the body.
sha() { sha256sum "$1" | cut -d' ' -f1; }
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
s3curl() { # s3curl ACCESS SECRET CURL-ARGS...
	local ak=$1 sk=$2; shift 2
	curl -sS -m 30 --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$ak:$sk" "$@"
}

B=arca-smoke
aws s3api head-bucket --bucket arca-preset >/dev/null 2>"$tmp/err" &&
	pass "bucket given to start exists" || fail "preset bucket: $(head -c 300 "$tmp/err")"
aws s3api create-bucket --bucket "$B" >/dev/null 2>"$tmp/err" &&
	pass "create-bucket" || fail "create-bucket: $(head -c 300 "$tmp/err")"

# 1 MiB + 7 bytes of random data: not a multiple of anything.
head -c 1048583 /dev/urandom >"$tmp/obj"
aws s3api put-object --bucket "$B" --key dir/obj --body "$tmp/obj" >/dev/null 2>"$tmp/err" &&
	pass "put-object" || fail "put-object: $(head -c 300 "$tmp/err")"
if aws s3api get-object --bucket "$B" --key dir/obj "$tmp/got" >/dev/null 2>"$tmp/err" &&
	cmp -s "$tmp/obj" "$tmp/got"; then pass "get-object is byte-identical"
else fail "get-object: $(head -c 300 "$tmp/err")"; fi

# Range GET, awscli and curl (suffix range), against the same bytes locally.
dd if="$tmp/obj" of="$tmp/want" bs=4096 skip=1000 count=4096 iflag=skip_bytes,count_bytes status=none
if aws s3api get-object --bucket "$B" --key dir/obj --range bytes=1000-5095 "$tmp/rng" >"$tmp/rng.json" 2>"$tmp/err" &&
	cmp -s "$tmp/want" "$tmp/rng" && grep -q '"ContentRange": "bytes 1000-5095/1048583"' "$tmp/rng.json"; then
	pass "range GET bytes=1000-5095"
else fail "range GET: $(cat "$tmp/rng.json" "$tmp/err" | head -c 300)"; fi
tail -c 10 "$tmp/obj" >"$tmp/want"
code=$(s3curl "$S3_ACCESS_KEY" "$S3_SECRET_KEY" -H "x-amz-content-sha256: $EMPTY_SHA" -H "Range: bytes=-10" \
	-o "$tmp/rng" -w '%{http_code}' "$S3_ENDPOINT/$B/dir/obj") || true
[ "$code" = 206 ] && cmp -s "$tmp/want" "$tmp/rng" && pass "range GET bytes=-10 (206)" || fail "suffix range: http $code"

# Signatures are checked: a wrong secret and an unknown key are refused.
AWS_SECRET_ACCESS_KEY=wrong-secret-wrong-secret-wrong-secret00 \
	aws s3api get-object --bucket "$B" --key dir/obj "$tmp/bad" >/dev/null 2>&1 &&
	fail "awscli with a wrong secret got the object" || pass "awscli with a wrong secret fails"
code=$(s3curl "$S3_ACCESS_KEY" wrong-secret -H "x-amz-content-sha256: $EMPTY_SHA" -o "$tmp/e" -w '%{http_code}' \
	"$S3_ENDPOINT/$B/dir/obj") || true
[ "$code" = 403 ] && grep -q '<Code>SignatureDoesNotMatch</Code>' "$tmp/e" &&
	pass "wrong secret: 403 SignatureDoesNotMatch" || fail "wrong secret: http $code $(head -c 300 "$tmp/e")"
code=$(s3curl NOSUCHACCESSKEY0000 "$S3_SECRET_KEY" -H "x-amz-content-sha256: $EMPTY_SHA" -o "$tmp/e" -w '%{http_code}' \
	"$S3_ENDPOINT/$B/dir/obj") || true
[ "$code" = 403 ] && grep -q '<Code>InvalidAccessKeyId</Code>' "$tmp/e" &&
	pass "unknown key: 403 InvalidAccessKeyId" || fail "unknown key: http $code $(head -c 300 "$tmp/e")"

# Create-only PUT: If-None-Match: * succeeds on a new key, 412 on an
# existing one, which keeps its content.
printf v1 >"$tmp/v1"
printf v2 >"$tmp/v2"
put_new() { # put_new FILE KEY -> http code
	s3curl "$S3_ACCESS_KEY" "$S3_SECRET_KEY" -X PUT -H "x-amz-content-sha256: $(sha "$1")" \
		-H "If-None-Match: *" --data-binary "@$1" -o "$tmp/e" -w '%{http_code}' "$S3_ENDPOINT/$B/$2"
}
c1=$(put_new "$tmp/v1" cond) || true
c2=$(put_new "$tmp/v2" cond) || true
now=$(s3curl "$S3_ACCESS_KEY" "$S3_SECRET_KEY" -H "x-amz-content-sha256: $EMPTY_SHA" "$S3_ENDPOINT/$B/cond") || true
[ "$c1" = 200 ] && [ "$c2" = 412 ] && [ "$now" = v1 ] &&
	pass "If-None-Match: * (new 200, existing 412)" || fail "If-None-Match: new $c1, existing $c2, content '$now'"

# stop: nothing of this server is left running (zombies count as gone).
pids=$(cat "$srv"/pids/* | tr '\n' ' ')
"$here/s3_server.sh" stop "$srv"
"$here/s3_server.sh" stop "$srv" || fail "second stop"
left=""
for p in /proc/[0-9]*; do
	cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
	[[ $cmd == *"$srv/"* ]] || continue
	grep -q '^State:[[:space:]]*Z' "$p/status" 2>/dev/null && continue
	left="$left ${p#/proc/}"
done
[ -z "$left" ] && pass "stop leaves no process (were: $pids)" || fail "left running after stop:$left"

[ "$fails" = 0 ] || { echo "$fails check(s) failed; server logs in $srv/log:"; tail -n 20 "$srv"/log/*.log; exit 1; }
