#!/usr/bin/env bash
# CLI behaviour: output, --json, exit statuses, --help for every command.
set -u
ARCA=${1:?usage: test_cli.sh path/to/arca}
T=$(mktemp -d "${TMPDIR:-/tmp}/arca-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
check() { # name, command...
	local name=$1; shift
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
status_is() { # expected status, command...
	local want=$1; shift
	"$@" >/dev/null 2>"$T/err"; local got=$?
	[ "$got" -eq "$want" ] || { echo "  expected exit $want, got $got: $* ($(cat "$T/err"))"; return 1; }
}

S="$T/store"
mkdir -p "$T/src/sub"
head -c 300000 /dev/urandom > "$T/src/a"
echo hello > "$T/src/sub/b"
ln -s sub/b "$T/src/link"

for c in snapshot restore ls show stats verify; do
	check "$c --help" bash -c "'$ARCA' $c --help | grep -q '^usage: arca'"
done
check "global --help lists commands" bash -c "'$ARCA' --help | grep -q 'verify'"
check "--version prints the library's version" bash -c "'$ARCA' --version | grep -qx 'arca ${ARCA_PROJECT_VERSION:-[0-9]*\.[0-9]*\.[0-9]*}'"
# help and usage errors: `arca help CMD` is `arca CMD --help`; a bad option
# is one line on stderr and exit 2, never the whole help
for c in snapshot restore env push ls; do
	check "help $c = $c --help" bash -c "[ \"\$('$ARCA' help $c)\" = \"\$('$ARCA' $c --help)\" ] && '$ARCA' help $c | grep -q '^usage: arca'"
done
for c in $("$ARCA" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p'); do
	check "help $c has examples" bash -c "'$ARCA' help $c | sed -n '/^Examples:/,\$p' | grep -q '^  arca '"
	check "help $c fits 80 columns" bash -c "! '$ARCA' help $c | awk 'length > 80 { print; bad = 1 } END { exit !bad }'"
done
one_line_usage() { # ARGS...: exit 2, one line on stderr, nothing on stdout
	"$ARCA" "$@" >"$T/u.out" 2>"$T/u.err"; local rc=$?
	[ $rc = 2 ] && [ "$(wc -l <"$T/u.err")" = 1 ] && [ ! -s "$T/u.out" ] ||
		{ echo "exit $rc; stderr:"; cat "$T/u.err"; return 1; }
}
check "unknown option of a command: one line" one_line_usage snapshot --bogus /tmp
check "... names the option" grep -q "unknown option '--bogus'" "$T/u.err"
check "an option missing its value: one line" one_line_usage snapshot --name
check "... says so" grep -q "option '--name' needs a value" "$T/u.err"
check "unknown global option: one line" one_line_usage --bogus ls
check "--store without a value: one line" one_line_usage --store
check "... says what it needs" grep -q -- "--store needs a directory" "$T/u.err"
check "help of no command: one line" one_line_usage help nosuch
check "env: unknown option, one line" one_line_usage env create --bogus x
# with --json, errors are JSON on stderr too
json_error() { # EXIT NAME ARGS...: the error object, its code and name
	local want=$1 name=$2; shift 2
	"$ARCA" "$@" >"$T/j.out" 2>"$T/j.err"; local rc=$?
	[ $rc = "$want" ] && python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["error"]
assert e["code"] == int(sys.argv[2]) and e["name"] == sys.argv[3] and e["message"], e' \
		"$T/j.err" "$want" "$name" || { echo "exit $rc:"; cat "$T/j.err"; return 1; }
}
check "--json: a not-found error as JSON" json_error 3 notfound --store "$T/jstore" show nosuch --json
check "--json: a usage error as JSON" json_error 2 usage ls --bogus --json
check "without --json: plain text" bash -c "! '$ARCA' --store '$T/jstore' show nosuch 2>&1 | grep -q '{'"
# the libraries' versions as they report them at run time (zstd's from its
# own CLI, which links the same libzstd)
check "--version: the libraries it runs with" bash -c "'$ARCA' --version | grep -qE '^zstd [0-9]+\.[0-9]+\.[0-9]+$' && '$ARCA' --version | grep -qE '^lmdb 0\.9\.[0-9]+$' && '$ARCA' --version | grep -qE '^openssl [0-9]+\.[0-9]+'"
check "--version: zstd as the zstd library says" bash -c "! command -v zstd >/dev/null || [ \"\$('$ARCA' --version | sed -n 's/^zstd //p')\" = \"\$(zstd -V | sed -n 's/.*v\([0-9.]*\),.*/\1/p')\" ]"
check "unknown command is a usage error" status_is 2 "$ARCA" frobnicate
check "missing store is not created by ls" status_is 3 "$ARCA" --store "$T/nostore" ls
check "no store dir created" test ! -e "$T/nostore"

id=$("$ARCA" --store "$S" snapshot "$T/src" --name web --tag staging --label team=qa -q)
check "snapshot prints an id" bash -c "[[ '$id' =~ ^art_[0-9a-f]{64}$ ]]"
check "snapshot --json has the id" bash -c "'$ARCA' --store '$S' snapshot '$T/src' --json | grep -q '\"id\":\"$id\"'"
check "ARCA_STORE is the default store" bash -c "ARCA_STORE='$S' '$ARCA' ls | grep -q 'web:staging'"
check "--store after the command works" bash -c "'$ARCA' ls --store '$S' | grep -q web"
check "show by prefix" bash -c "'$ARCA' --store '$S' show ${id:4:10} | grep -q 'label:    team=qa'"
check "show --json" bash -c "'$ARCA' --store '$S' show web:staging --json | grep -q '\"kind\":\"tree\"'"
check "ls --json is an array" bash -c "'$ARCA' --store '$S' ls --json | grep -q '^\\[{'"
check "stats --json" bash -c "'$ARCA' --store '$S' stats --json | grep -q '\"artifacts\":1'"
check "restore by name" status_is 0 "$ARCA" --store "$S" restore web "$T/out"
check "restored tree equals source" diff -r --no-dereference "$T/src" "$T/out"
check "restore onto existing dest fails with 5" status_is 5 "$ARCA" --store "$S" restore web "$T/out"
# names that are not UTF-8 or hold control bytes: lossless in JSON (a byte
# of invalid UTF-8 as \udcXX, Python's surrogateescape), quoted for people
mkdir -p "$T/names"
echo plain >"$T/names/plain"
"$ARCA" --store "$S" snapshot "$T/names" --name names -q >/dev/null
printf x >"$T/names/$(printf 'bad\xffname')"
printf y >"$T/names/$(printf 'ctl\x1b[31m')"
printf z >"$T/names/plain-é"
"$ARCA" --store "$S" diff names --path "$T/names" --json >"$T/names.json"
check "JSON: valid, and every name byte for byte (surrogateescape)" python3 -c '
import json, os, sys
names = {os.fsencode(c["path"]) for c in json.load(open(sys.argv[1]))["changes"]}
want = {b"bad\xffname", b"ctl\x1b[31m", "plain-é".encode()}
assert want <= names, names' "$T/names.json"
"$ARCA" --store "$S" diff names --path "$T/names" >"$T/names.txt"
check "human output: no control byte reaches the terminal" bash -c "! grep -q \$'\x1b' '$T/names.txt'"
check "human output: such names quoted with C escapes" bash -c "grep -qF '\"bad\\377name\"' '$T/names.txt' && grep -qF '\"ctl\\033[31m\"' '$T/names.txt' && grep -q 'plain-é\$\|plain-é ' '$T/names.txt'"
check "an error message naming control bytes keeps them off the terminal" bash -c "'$ARCA' --store '$S' restore \"\$(printf 'x\\033[31my')\" '$T/none' 2>&1 | grep -qF 'x\\033[31my' && ! '$ARCA' --store '$S' restore \"\$(printf 'x\\033[31my')\" '$T/none' 2>&1 | grep -q \$'\\x1b'"
check "tag --json prints the ref and its id" bash -c "'$ARCA' --store '$S' tag names names:j1 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"ref\"] == \"names:j1\" and d[\"id\"].startswith(\"art_\")'"
# progress: a live line on a terminal (a pseudo-terminal made by script(1)),
# nothing without one, JSON events with --progress=json
if command -v script >/dev/null; then
	check "progress: a live line when stderr is a terminal" bash -c "script -qec \"'$ARCA' --store '$S' restore web '$T/out-tty'\" /dev/null | tr '\\r' '\\n' | grep -q '^restore write: .*/'"
fi
if command -v script >/dev/null; then
	check "progress: the global --quiet shows none on a terminal" bash -c "! script -qec \"'$ARCA' --store '$S' --quiet restore web '$T/out-q'\" /dev/null | grep -q 'write:'"
fi
check "progress: none when stderr is not a terminal" bash -c "'$ARCA' --store '$S' restore web '$T/out-notty' 2>'$T/p.err' && ! grep -q 'write:' '$T/p.err'"
check "progress: --quiet snapshot shows none on a terminal" bash -c "! command -v script >/dev/null || ! script -qec \"'$ARCA' --store '$S' snapshot '$T/src' --name web -q\" /dev/null | grep -q 'chunk:'"
check "progress=json: one JSON event a line, the phase's end last" bash -c "'$ARCA' --store '$S' restore web '$T/out-json' --progress=json 2>'$T/p.json' && python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith(\"{\")]
assert ev and all(e[\"command\"] == \"restore\" and e[\"phase\"] == \"write\" for e in ev), ev
assert ev[-1][\"phase_end\"] and ev[-1][\"bytes_done\"] == ev[-1][\"bytes_total\"], ev[-1]
' '$T/p.json'"
cp -a "$T/src" "$T/src-copy"
check "progress=json: a snapshot of stored content says it was all stored already" bash -c "'$ARCA' --store '$S' snapshot '$T/src-copy' -q --progress=json 2>'$T/p2.json' >/dev/null && python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith(\"{\")]
last = ev[-1]
assert last[\"phase\"] == \"chunk\" and last[\"phase_end\"], last
assert last[\"bytes_known\"] == last[\"bytes_done\"] > 0, last
assert all(a[\"bytes_known\"] <= b[\"bytes_known\"] for a, b in zip(ev, ev[1:])), ev
' '$T/p2.json'"
check "progress=json: env create reports its restore" bash -c "'$ARCA' --store '$S' env create web --name penv --progress=json 2>'$T/p3.json' >/dev/null && grep -q '\"command\":\"env create\",\"phase\":\"write\".*\"phase_end\":true' '$T/p3.json' && '$ARCA' --store '$S' env reset penv --progress=json 2>'$T/p4.json' && grep -q '\"command\":\"env reset\".*\"phase_end\":true' '$T/p4.json' && '$ARCA' --store '$S' env rm penv"
check "progress: a bad mode is a usage error" status_is 2 "$ARCA" --store "$S" restore web "$T/out-bad" --progress=loud
check "unknown ref gives 3" status_is 3 "$ARCA" --store "$S" restore nosuch "$T/out2"
check "bad label is a usage error" status_is 2 "$ARCA" --store "$S" snapshot "$T/src" --label novalue
mkdir -p "$T/esc" && echo esc > "$T/esc/f"
"$ARCA" --store "$S" snapshot "$T/esc" --name esc --label "note=$(printf 'x\033[31my')" -q >/dev/null
check "show escapes control bytes in a label's value" bash -c "'$ARCA' --store '$S' show esc >'$T/esc.txt' && ! grep -q \$'\x1b' '$T/esc.txt' && grep -qF 'note=x\\033[31my' '$T/esc.txt'"
check "bad name is a usage error" status_is 2 "$ARCA" --store "$S" snapshot "$T/src" --name 'a b'
check "verify ok exits 0" status_is 0 "$ARCA" --store "$S" verify
check "error names the command" bash -c "'$ARCA' --store '$S' restore nosuch '$T/o3' 2>&1 | grep -q '^arca restore: '"

# damage the pack: verify exits 4 and names the artifact
# the largest pack (the last by name may hold only metadata records), its
# middle byte flipped (writing a fixed 0xff could leave it as it was)
pack=$(ls -S "$S"/packs/pack-*.arcp | head -1)
size=$(stat -c %s "$pack")
byte=$(od -An -tu1 -j $((size / 2)) -N1 "$pack" | tr -d ' ')
printf "\\$(printf '%03o' $((byte ^ 255)))" | dd of="$pack" bs=1 seek=$((size / 2)) conv=notrunc status=none
check "verify finds damage (exit 4)" status_is 4 "$ARCA" --store "$S" verify
check "verify names the artifact" bash -c "'$ARCA' --store '$S' verify | grep -q '$id'"
check "verify --json reports not ok" bash -c "'$ARCA' --store '$S' verify --json | grep -q '\"ok\":false'"

# lifecycle commands
S=$T/store2
"$ARCA" --store "$S" snapshot "$T/src" --name app -q >/dev/null
echo v3 >> "$T/src/sub/b"
"$ARCA" --store "$S" snapshot "$T/src" --name app -q >/dev/null
check "tag sets a ref" status_is 0 "$ARCA" --store "$S" tag app app:staging
check "tag --list shows it" bash -c "'$ARCA' --store '$S' tag --list | grep -q '^app:staging'"
check "log shows the chain" bash -c "[ \$('$ARCA' --store '$S' log app | wc -l) -eq 2 ]"
check "rm of a tagged artifact gives 9" status_is 9 "$ARCA" --store "$S" rm app:staging
check "diff against the parent" bash -c "'$ARCA' --store '$S' diff app | grep -q '^M  sub/b'"
check "diff --json" bash -c "'$ARCA' --store '$S' diff app --json | grep -q '\"modified\":'"
"$ARCA" --store "$S" restore app "$T/env" >/dev/null 2>&1
echo scribble >> "$T/env/a"
touch "$T/env/extra"
check "diff against a live tree" bash -c "'$ARCA' --store '$S' diff app '$T/env' | grep -q '^A  extra'"
check "rollback resets a live tree" status_is 0 "$ARCA" --store "$S" rollback app "$T/env"
check "rolled back tree equals the source" diff -r --no-dereference "$T/src" "$T/env"
check "prune keeps the newest" bash -c "'$ARCA' --store '$S' tag --delete app:staging && '$ARCA' --store '$S' prune --keep-last 1 | grep -q removed"
check "gc reclaims" bash -c "'$ARCA' --store '$S' gc --json | grep -q '\"chunks_removed\":[1-9]'"
check "verify after gc" status_is 0 "$ARCA" --store "$S" verify
for c in tag log rm prune gc rollback diff hub; do
	check "$c --help" bash -c "'$ARCA' $c --help | grep -q '^usage: arca'"
done

# a user's restore of a setuid file drops the bit and says so once
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	mkdir -p "$T/suid" && printf '#!/bin/sh\n' > "$T/suid/x" && chmod 4755 "$T/suid/x"
	"$ARCA" --store "$T/store-suid" snapshot "$T/suid" --name suid -q >/dev/null
	chmod -R a+rwX "$T/store-suid" && mkdir -m 777 "$T/nobody" && chmod 755 "$T"
	NB="setpriv --reuid=65534 --regid=65534 --clear-groups"
	check "user restore warns of dropped setuid" bash -c "$NB '$ARCA' --store '$T/store-suid' restore suid '$T/nobody/a' 2>&1 >/dev/null | grep -qx 'arca restore: warning: 1 setuid/setgid bits dropped (ownership could not be restored)'"
	check "user restore --json counts dropped setuid" bash -c "$NB '$ARCA' --store '$T/store-suid' restore suid '$T/nobody/b' --json 2>/dev/null | grep -q '\"setid_dropped\":1'"
	check "user restore dropped the setuid bit" test ! -u "$T/nobody/a/x"
else
	echo "skipped: setuid restore as nobody needs root and setpriv"
fi

# a system that refuses a 1 TiB address-space reservation still works
# (not under ASan, which needs a huge address space itself)
if ! ldd "$ARCA" 2>/dev/null | grep -q asan; then
	check "store opens with limited address space" bash -c "ulimit -v 16000000; '$ARCA' --store '$T/store3' snapshot '$T/src' -q >/dev/null && '$ARCA' --store '$T/store3' verify >/dev/null"
fi

# a tree deeper than the soft limit of open files (one per level)
D=$T/deep; p=$D; for _ in $(seq 300); do p=$p/d; done; mkdir -p "$p"; echo x > "$p/f"
h=$(ulimit -H -n)
if [ "$h" = unlimited ] || [ "$h" -gt 700 ]; then
	check "a deep tree snapshots under a low soft fd limit" \
		bash -c "ulimit -S -n 256 && '$ARCA' --store '$T/store-deep' snapshot '$D' --name deep -q >/dev/null"
	check "and restores" bash -c "ulimit -S -n 256 && '$ARCA' --store '$T/store-deep' restore deep '$T/deep2' >/dev/null 2>&1"
	check "and rolls back" bash -c "ulimit -S -n 256 && rm -r '$T/deep2/d/d/d' && '$ARCA' --store '$T/store-deep' rollback deep '$T/deep2' >/dev/null 2>&1 && test -f '$T/deep2/${p#$D/}/f'"
else
	echo "skipped: deep tree checks need a hard fd limit over 700"
fi

# a writer waiting for another process's writer: --no-wait, --wait, exit 12
S=$T/store-lock
"$ARCA" --store "$S" snapshot "$T/src" --name w -q >/dev/null
check "--wait needs seconds" status_is 2 "$ARCA" --store "$S" --wait soon tag w w:x
check "--wait too long for its milliseconds is refused" status_is 2 "$ARCA" --store "$S" --wait 3000000 tag w w:x
check "--wait at its limit is taken" status_is 0 "$ARCA" --store "$S" --wait 2147483 tag w w:z
check "--no-wait writes when no one else does" status_is 0 "$ARCA" --store "$S" --no-wait tag w w:x
if command -v python3 >/dev/null; then
	# holds the writer lock (a record lock on byte 2^40 of the LMDB lock file)
	python3 -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 1, 1 << 40)
open(sys.argv[2], "w").write(str(os.getpid()))
time.sleep(120)' "$S/index.lmdb-lock" "$T/holder.pid" &
	holder=$!
	trap 'kill $holder 2>/dev/null; rm -rf "$T"' EXIT
	for _ in $(seq 100); do [ -s "$T/holder.pid" ] && break; sleep 0.1; done
	check "--no-wait fails with 12 while another process writes" status_is 12 "$ARCA" --store "$S" --no-wait tag w w:y
	check "--no-wait names the writer's pid" grep -q "locked by writer pid $holder" "$T/err"
	check "--wait 1 fails with 12" status_is 12 "$ARCA" --store "$S" --wait 1 snapshot "$T/src" --name w
	check "--wait says whom it waits for" grep -q "^arca: waiting for the store's writer (pid $holder)" "$T/err"
	check "reading is not blocked by a writer" status_is 0 "$ARCA" --store "$S" --no-wait ls
	kill $holder; wait $holder 2>/dev/null
	check "the writer lock goes with its holder" status_is 0 "$ARCA" --store "$S" --no-wait tag w w:y
else
	echo "skipped: writer lock checks need python3"
fi

# store modes, whatever the umask
S=$T/store-perms
(umask 0; "$ARCA" --store "$S" snapshot "$T/src" --name m -q >/dev/null)
check "store files are 0600 and dirs 0700 under umask 0" bash -c "[ \"\$(stat -c %a '$S' '$S/packs' '$S/index.lmdb' '$S/index.lmdb-lock' '$S'/packs/pack-* | sort -u | tr '\n' ' ')\" = '600 700 ' ]"

# read-only stores: list, verify, restore; writes fail clearly
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	S=$T/ro/store
	mkdir -p "$T/ro/out"
	"$ARCA" --store "$S" snapshot "$T/src" --name r -q >/dev/null
	chown -R nobody "$T/ro" && chmod -R a-w "$S" && chmod 755 "$T" "$T/ro"
	nob() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	check "nobody lists a read-only store" status_is 0 nob "$ARCA" --store "$S" ls
	check "nobody verifies a read-only store" status_is 0 nob "$ARCA" --store "$S" verify
	check "nobody restores from a read-only store" status_is 0 nob "$ARCA" --store "$S" restore r "$T/ro/out/r"
	check "restored from a read-only store" diff -r --no-dereference "$T/src" "$T/ro/out/r"
	check "snapshot into a read-only store fails" status_is 1 nob "$ARCA" --store "$S" snapshot "$T/src" --name r
	check "and says it is read-only" grep -q "^arca snapshot: store .* is read-only" "$T/err"
	chmod -R u+w "$S"
	mkdir "$T/mnt"
	if mount --bind "$S" "$T/mnt" 2>/dev/null; then
		trap 'umount -l "$T/mnt" 2>/dev/null; kill ${holder:-} 2>/dev/null; rm -rf "$T"' EXIT
		if mount -o remount,ro,bind "$T/mnt"; then
			check "a read-only mount lists" status_is 0 "$ARCA" --store "$T/mnt" ls
			check "a read-only mount verifies" status_is 0 "$ARCA" --store "$T/mnt" verify
			check "a read-only mount restores" status_is 0 "$ARCA" --store "$T/mnt" restore r "$T/ro/out/m"
			check "a read-only mount refuses a snapshot" status_is 1 "$ARCA" --store "$T/mnt" snapshot "$T/src" --name r
			check "and says it is read-only" grep -q "is read-only" "$T/err"
		fi
		umount "$T/mnt"
	else
		echo "skipped: read-only mount checks need mount --bind"
	fi
else
	echo "skipped: read-only store checks need root and setpriv"
fi

# a store inside the tree it snapshots is left out of the snapshot
W=$T/w
mkdir -p "$W/sub"
echo one > "$W/sub/f"
"$ARCA" --store "$W/.arca" snapshot "$W" --name w --json > "$T/w1.json" 2>"$T/err"
check "store inside the tree: snapshot works" grep -q '"id":"art_' "$T/w1.json"
check "store inside the tree: counted as excluded" grep -q '"entries_excluded":1' "$T/w1.json"
check "store inside the tree: not restored" bash -c "'$ARCA' --store '$W/.arca' restore w '$T/wout' >/dev/null 2>&1 && [ -f '$T/wout/sub/f' ] && [ ! -e '$T/wout/.arca' ]"
echo two >> "$W/sub/f"
check "store inside the tree: second snapshot" status_is 0 "$ARCA" --store "$W/.arca" snapshot "$W" --name w -q
check "store inside the tree: verify" status_is 0 "$ARCA" --store "$W/.arca" verify
check "snapshot of the store itself is refused" status_is 2 "$ARCA" --store "$W/.arca" snapshot "$W/.arca"

# a file rewritten during the snapshot is stored whole or named in a warning
L=$T/live
mkdir -p "$L"
head -c 33554432 /dev/zero | tr '\0' 'X' > "$L/big"
head -c 33554432 /dev/zero | tr '\0' 'Y' > "$T/big.Y"
head -c 33554432 /dev/zero | tr '\0' 'X' > "$T/big.X"
( for i in $(seq 1 2000); do [ -e "$T/stop" ] && break; dd if="$T/big.Y" of="$L/big" bs=1M conv=notrunc status=none; dd if="$T/big.X" of="$L/big" bs=1M conv=notrunc status=none; done ) &
writer=$!
"$ARCA" --store "$T/store-live" snapshot "$L" --json > "$T/live.json" 2>"$T/live.err"
lrc=$?
touch "$T/stop"
wait "$writer"
check "changing file: snapshot succeeds" [ "$lrc" -eq 0 ]
check "changing file: --json counts files_changed" grep -q '"files_changed":[0-9]' "$T/live.json"
check "changing file: --json lists changed paths" grep -q '"changed_paths":\[' "$T/live.json"
lid=$(sed -n 's/.*"id":"\(art_[0-9a-f]*\)".*/\1/p' "$T/live.json")
"$ARCA" --store "$T/store-live" restore "$lid" "$T/live-out" >/dev/null 2>&1
check "changing file: whole version or warned" bash -c "cmp -s '$T/live-out/big' '$T/big.X' || cmp -s '$T/live-out/big' '$T/big.Y' || { grep -q 'warning: $L/big changed while being read; stored as last read' '$T/live.err' && grep -q '\"files_changed\":[1-9]' '$T/live.json' && grep -q '$L/big' '$T/live.json'; }"

# refs: prune keeps whatever a ref points to, also content stored again
S=$T/store-refs
mkdir -p "$T/p"
echo one > "$T/p/f"
first=$("$ARCA" --store "$S" snapshot "$T/p" --name app -q)
echo two > "$T/p/f"
"$ARCA" --store "$S" snapshot "$T/p" --name app -q >/dev/null
"$ARCA" --store "$S" rollback "$first" "$T/p" >/dev/null 2>&1
again=$("$ARCA" --store "$S" snapshot "$T/p" --name app -q)
check "content rolled back to has its first id" test "$first" = "$again"
check "prune --keep-last 1 after a return removes one" bash -c "'$ARCA' --store '$S' prune --keep-last 1 2>/dev/null | grep -c removed | grep -qx 1"
check "the returned content is still restorable" status_is 0 "$ARCA" --store "$S" restore app "$T/p-out"
"$ARCA" --store "$S" snapshot "$T/p" --name other -q >/dev/null
echo three > "$T/p/f"
"$ARCA" --store "$S" snapshot "$T/p" --name app -q >/dev/null
check "prune --name app spares other's content" bash -c "'$ARCA' --store '$S' prune --name app --keep-last 0 >/dev/null 2>&1 && '$ARCA' --store '$S' restore other '$T/p-out2' >/dev/null 2>&1"
check "prune deleted no ref" bash -c "[ \$('$ARCA' --store '$S' tag --list | wc -l) -eq 2 ]"
for bad in /abs a/../b a//b a/ a/./b . ..; do
	check "snapshot refuses name '$bad'" status_is 2 "$ARCA" --store "$S" snapshot "$T/p" --name "$bad"
	check "tag refuses name '$bad'" status_is 2 "$ARCA" --store "$S" tag app "$bad:t"
	check "prune refuses name '$bad'" status_is 2 "$ARCA" --store "$S" prune --name "$bad" --keep-last 1
done
check "a name with '/' parts works" status_is 0 "$ARCA" --store "$S" tag app team/app.v2:prod
check "log of a chain ends cleanly" status_is 0 "$ARCA" --store "$S" log app


# repair: a lost index is refused, never taken for an empty store
S=$T/store-repair
mkdir -p "$T/r"
head -c 2000000 /dev/urandom > "$T/r/a"
"$ARCA" --store "$S" snapshot "$T/r" --name r -q >/dev/null
packsize=$(stat -c %s "$S/packs/pack-00000001.arcp")
rm "$S/index.lmdb"
check "lost index: snapshot refuses with 4" status_is 4 "$ARCA" --store "$S" snapshot "$T/r" --name r
check "lost index: the message names arca repair" grep -q "arca repair" "$T/err"
check "lost index: packs untouched" [ "$(stat -c %s "$S/packs/pack-00000001.arcp")" = "$packsize" ]
check "repair exits 0" status_is 0 "$ARCA" --store "$S" repair
check "after repair: restore" bash -c "'$ARCA' --store '$S' restore r '$T/r-out' >/dev/null 2>&1 && cmp -s '$T/r/a' '$T/r-out/a'"
check "repair --json" bash -c "'$ARCA' --store '$S' repair --json | grep -q '\"ok\":true'"
printf 'X' | dd of="$S/packs/pack-00000001.arcp" bs=1 seek=13 conv=notrunc status=none
check "verify finds a damaged pack header" status_is 4 "$ARCA" --store "$S" verify
check "repair fixes the header" bash -c "'$ARCA' --store '$S' repair --json | grep -q '\"headers_fixed\":1'"
check "verify is clean again" status_is 0 "$ARCA" --store "$S" verify
check "help lists repair" bash -c "'$ARCA' --help | grep -q '^  repair'"


# a restored disk image is private to its owner, whatever the umask
truncate -s 1M "$T/priv.img"
"$ARCA" --store "$T/store-img" snapshot "$T/priv.img" --name img -q >/dev/null
check "a new image is created 0600" bash -c "umask 0; '$ARCA' --store '$T/store-img' restore img '$T/priv-out.img' >/dev/null && [ \$(stat -c %a '$T/priv-out.img') = 600 ]"
check "a rolled-back new image is created 0600" bash -c "umask 0; '$ARCA' --store '$T/store-img' rollback img '$T/priv-rb.img' >/dev/null && [ \$(stat -c %a '$T/priv-rb.img') = 600 ]"

# no store location: refused, never a store under the current directory
mkdir -p "$T/cwd"
for h in unset "" relative/home; do
	if [ "$h" = unset ]; then envs=(-u HOME); else envs=(HOME="$h"); fi
	check "no store location (HOME $h): snapshot refuses with 2" \
		status_is 2 env -C "$T/cwd" -u ARCA_STORE -u XDG_DATA_HOME "${envs[@]}" "$ARCA" snapshot "$T/src"
	check "no store location (HOME $h): the message says what to set" grep -q "no store location: pass --store DIR, or set ARCA_STORE" "$T/err"
	check "no store location (HOME $h): ls refuses too" \
		 status_is 2 env -C "$T/cwd" -u ARCA_STORE -u XDG_DATA_HOME "${envs[@]}" "$ARCA" ls
	check "no store location (HOME $h): repair refuses too" \
		status_is 2 env -C "$T/cwd" -u ARCA_STORE -u XDG_DATA_HOME "${envs[@]}" "$ARCA" repair
	check "no store location (HOME $h): nothing created under the current directory" [ -z "$(ls -A "$T/cwd")" ]
done
check "a relative XDG_DATA_HOME is ignored" \
	status_is 2 env -C "$T/cwd" -u ARCA_STORE -u HOME XDG_DATA_HOME=rel "$ARCA" ls
check "an absolute HOME still gives the default store" bash -c "env -u ARCA_STORE -u XDG_DATA_HOME HOME='$T/home' '$ARCA' snapshot '$T/src' -q >/dev/null && [ -d '$T/home/.local/share/arca' ]"

# library messages name no CLI flags; the CLI adds hints that do
S=$T/store-hint
"$ARCA" --store "$S" snapshot "$T/src" --name web --tag staging -q >/dev/null
"$ARCA" --store "$S" restore web:staging "$T/hint-out" >/dev/null 2>&1
check "restore onto an existing dir exits 5" status_is 5 "$ARCA" --store "$S" restore web:staging "$T/hint-out"
check "restore: the error names no flag" bash -c "head -1 '$T/err' | grep -q 'already exists' && ! head -1 '$T/err' | grep -q -- '--'"
check "restore onto a non-empty dir: the hint says rollback, not --force" grep -q "^hint: restore into a new directory, or .*arca rollback web:staging" "$T/err"
mkdir -p "$T/hint-empty"
"$ARCA" --store "$S" restore web:staging "$T/hint-empty" >/dev/null 2>"$T/err"
check "restore onto an empty dir: the hint names --force" grep -q "^hint: --force restores into an existing empty directory" "$T/err"
check "restore --force gives no hint" bash -c "'$ARCA' --store '$S' restore web:staging '$T/hint-out' --force >/dev/null 2>'$T/err2'; ! grep -q '^hint:' '$T/err2'"
truncate -s 64K "$T/hint.img"
"$ARCA" --store "$S" snapshot "$T/hint.img" --name himg -q >/dev/null
check "restore onto an existing image exits 5" status_is 5 "$ARCA" --store "$S" restore himg "$T/hint.img"
check "restore image: a hint names --force" grep -q "^hint: --force overwrites it" "$T/err"
check "rm of a tagged artifact exits 9" status_is 9 "$ARCA" --store "$S" rm himg
check "rm: the error names no flag" bash -c "head -1 '$T/err' | grep -q 'still referenced by himg:latest' && ! head -1 '$T/err' | grep -q -- '--'"
check "rm: a hint names --force" grep -q "^hint: .*'arca tag --delete'.*--force" "$T/err"
check "snapshot --parent: an unknown parent exits 3" status_is 3 "$ARCA" --store "$S" snapshot "$T/src" --parent nosuch
check "snapshot --parent: the error names no flag" bash -c "grep -q \"parent: no artifact or ref named 'nosuch'\" '$T/err' && ! grep -q -- '--parent' '$T/err'"

# hub: the CLI gives the library its cache directory, or says what to set
check "hub push without a cache location exits 2" \
	status_is 2 env -u XDG_CACHE_HOME -u HOME "$ARCA" hub push "$T/src" --url http://127.0.0.1:9/x.git --branch main
check "hub push: the message names --cache" grep -q "no hub cache directory: pass --cache DIR, or set XDG_CACHE_HOME or HOME" "$T/err"
check "snapshot --hub-push without a cache location exits 2" \
	status_is 2 env -u XDG_CACHE_HOME -u HOME "$ARCA" --store "$S" snapshot "$T/src" --hub-push --hub-url http://127.0.0.1:9/x.git --hub-branch main
check "snapshot --hub-push: the message says what to set" grep -q "no hub cache directory: set XDG_CACHE_HOME or HOME" "$T/err"
check "hub push uses XDG_CACHE_HOME" bash -c "! env XDG_CACHE_HOME='$T/xc' '$ARCA' hub push '$T/src' --url http://127.0.0.1:9/x.git --branch main 2>/dev/null; [ -d '$T/xc/arca/hub' ]"

# ^C during a snapshot cancels it cleanly: exit 13, no new artifact. The
# signal goes once the progress line shows the snapshot has started; one
# that finished first (exit 0) is retried with twice the data. Job control
# (set -m): a script's background job would otherwise ignore SIGINT.
S=$T/store-int
"$ARCA" --store "$S" snapshot "$T/src" --name base -q >/dev/null
interrupt_snapshot() { # signal: sets int_status, leaves the ls before in ls-before
	int_status=none
	"$ARCA" --store "$S" ls >"$T/ls-before"
	for mb in 64 128 256 512; do
		head -c $((mb << 20)) /dev/urandom >"$T/big.img"
		# emptied here, not by the child's redirection: a progress line left
		# from the last round must not send the signal before the child has
		# even become arca (bash's forked child would run our EXIT trap)
		: >"$T/int-err"
		set -m
		"$ARCA" --store "$S" snapshot "$T/big.img" --name big --progress >/dev/null 2>>"$T/int-err" &
		pid=$!
		set +m
		for _ in $(seq 1 1000); do
			grep -q 'snapshot chunk:' "$T/int-err" 2>/dev/null && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.01
		done
		kill -"$1" "$pid" 2>/dev/null
		wait "$pid"
		int_status=$?
		[ "$int_status" -ne 0 ] && break
		"$ARCA" --store "$S" ls >"$T/ls-before" # it finished first: try a bigger one
	done
	rm -f "$T/big.img"
}
for sig in INT TERM; do
	interrupt_snapshot $sig
	check "snapshot interrupted by SIG$sig exits 13" test "$int_status" = 13
	check "SIG$sig: the snapshot says the store is unchanged" grep -q '^arca snapshot: interrupted; the store is unchanged$' "$T/int-err"
	check "SIG$sig: no new artifact" bash -c "'$ARCA' --store '$S' ls | cmp -s - '$T/ls-before'"
	check "SIG$sig: the store verifies" status_is 0 "$ARCA" --store "$S" verify
done
check "a snapshot after the interrupted ones works" status_is 0 "$ARCA" --store "$S" snapshot "$T/src" --name again
for c in snapshot restore rollback gc verify; do
	check "$c --help lists --progress" bash -c "'$ARCA' $c --help | grep -q -- '--progress'"
done
check "global --help lists exit status 13" bash -c "'$ARCA' --help | grep -q '13 interrupted'"
check "verify --progress ends its line" bash -c "'$ARCA' --store '$S' verify --progress 2>&1 >/dev/null | grep -Eq 'verify check: [0-9]+/[0-9]+'"

# bundles: export to a file and to a pipe, import from both
B=$T/bstore
"$ARCA" --store "$B" snapshot "$T/src" --name bun --tag v1 -q >/dev/null
if "$ARCA" --store "$B" export bun -o - 2>&1 >/dev/null | grep -q 'built without bundle support'; then
	echo "skip: bundle checks (built without bundle support)"
else
	check "export --help" bash -c "'$ARCA' export --help | grep -q '^usage: arca.*export REF'"
	check "import --help" bash -c "'$ARCA' import --help | grep -q '^usage: arca.*import FILE'"
	check "export -o FILE" status_is 0 "$ARCA" --store "$B" export bun:v1 bun -o "$T/b.tar"
	check "export leaves no temporary file" bash -c "! ls '$T'/b.tar.tmp* 2>/dev/null | grep -q ."
	check "export is 0644 under umask 022" bash -c "[ \$(stat -c %a '$T/b.tar') = 644 ]"
	ln -s "$T/victim" "$T/b2.tar.tmp"
	check "export follows no symlink planted at FILE.tmp" bash -c "'$ARCA' --store '$B' export bun:v1 bun -o '$T/b2.tar' && [ ! -e '$T/victim' ] && cmp -s '$T/b2.tar' '$T/b.tar'"
	check "two exports to one FILE at once give a whole bundle" bash -c "'$ARCA' --store '$B' export bun:v1 bun -o '$T/b3.tar' & '$ARCA' --store '$B' export bun:v1 bun -o '$T/b3.tar'; wait; cmp -s '$T/b3.tar' '$T/b.tar'"
	check "export -o - writes the same bytes" bash -c "'$ARCA' --store '$B' export bun:v1 bun -o - | cmp -s - '$T/b.tar'"
	check "export needs -o" status_is 2 "$ARCA" --store "$B" export bun
	check "export of an unknown ref gives 3" status_is 3 "$ARCA" --store "$B" export nosuch -o "$T/x.tar"
	check "a failed export leaves no file" bash -c "[ ! -e '$T/x.tar' ] && ! ls '$T'/x.tar.tmp* 2>/dev/null | grep -q ."
	check "import FILE" status_is 0 "$ARCA" --store "$T/bstore2" import "$T/b.tar"
	check "the imported ref restores" bash -c "'$ARCA' --store '$T/bstore2' restore bun:v1 '$T/bout' >/dev/null && diff -r --no-dereference '$T/src' '$T/bout'"
	check "import --json" bash -c "'$ARCA' --store '$T/bstore2' import '$T/b.tar' --json | grep -q '\"refs_moved\":0'"
	check "export -o - | import -" bash -c "'$ARCA' --store '$B' export bun -o - | '$ARCA' --store '$T/bstore3' import - >/dev/null && '$ARCA' --store '$T/bstore3' tag --list | grep -q '^bun:latest'"
	mkdir -p "$T/unpacked" && tar xf "$T/b.tar" -C "$T/unpacked"
	check "an unpacked bundle is a directory remote pull takes" bash -c "'$ARCA' --store '$T/bstore6' pull '$T/unpacked' bun:v1 >/dev/null && '$ARCA' --store '$T/bstore6' restore bun:v1 '$T/bout6' >/dev/null 2>&1 && diff -r --no-dereference '$T/src' '$T/bout6'"
	head -c 3000 "$T/b.tar" > "$T/cut.tar"
	check "import of a truncated bundle gives 4" status_is 4 "$ARCA" --store "$T/bstore4" import "$T/cut.tar"
	check "a refused import adds no ref" bash -c "[ -z \"\$('$ARCA' --store '$T/bstore4' tag --list)\" ]"
	echo more > "$T/src/more"
	"$ARCA" --store "$B" snapshot "$T/src" --name bun --tag v2 -q >/dev/null
	rm -f "$T/src/more"
	check "export --since" status_is 0 "$ARCA" --store "$B" export bun:v2 --since bun:v1 -o "$T/inc.tar"
	check "a --since bundle is smaller" bash -c "[ \$(stat -c %s '$T/inc.tar') -lt \$(stat -c %s '$T/b.tar') ]"
	check "import without the base gives 3" status_is 3 "$ARCA" --store "$T/bstore5" import "$T/inc.tar"
	check "import with the base works" status_is 0 "$ARCA" --store "$T/bstore2" import "$T/inc.tar"
	mkdir -p "$T/osrc" && echo other > "$T/osrc/f"
	"$ARCA" --store "$T/ostore" snapshot "$T/osrc" --name bun --tag v1 -q >/dev/null
	"$ARCA" --store "$T/ostore" export bun:v1 -o "$T/other.tar"
	check "import of an unrelated artifact for a local ref gives 5 and a hint" bash -c "'$ARCA' --store '$T/bstore2' import '$T/other.tar' 2>'$T/imp.err'; [ \$? = 5 ] && grep -q 'does not descend' '$T/imp.err' && grep -q 'hint: --force' '$T/imp.err'"
	check "import --force moves it" bash -c "'$ARCA' --store '$T/bstore2' import '$T/other.tar' --force >/dev/null && [ \"\$('$ARCA' --store '$T/bstore2' show bun:v1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"id\"])')\" = \"\$('$ARCA' --store '$T/ostore' show bun:v1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"id\"])')\" ]"
fi

# hub: a Hub that wants credentials and gets none: the library says so,
# the CLI hint names the ways to give a token (skipped without a test hub)
echo hub-cli-token > "$T/hubtok"
trap 'bash "$(dirname "$0")/hub_server.sh" stop "$T/hubsrv" >/dev/null 2>&1; rm -rf "$T"' EXIT
if ports=$(bash "$(dirname "$0")/hub_server.sh" start "$T/hubsrv" "$T/hubtok" 2>/dev/null) &&
   read -r hport _ <<<"$ports" && [ -n "$hport" ]; then
	git init -q --bare "$T/hubsrv/repos/h.git"
	hurl=http://127.0.0.1:$hport/git/h.git
	check "hub push without a token exits 10" \
		status_is 10 env -u ARCA_HUB_TOKEN XDG_CACHE_HOME="$T/xc" "$ARCA" hub push "$T/src" --url "$hurl" --branch main
	check "hub push without a token: the error names no flag" bash -c "grep -q 'needs credentials and no token was given' '$T/err' && ! grep '^arca:' '$T/err' | grep -q -- ' --[a-z]\|ARCA_'"
	check "hub push without a token: the hint names --token-file and ARCA_HUB_TOKEN" grep -q "^hint: pass --token-file FILE, or set ARCA_HUB_TOKEN" "$T/err"
	check "snapshot --hub-push without a token exits 10" \
		status_is 10 env -u ARCA_HUB_TOKEN XDG_CACHE_HOME="$T/xc" "$ARCA" --store "$S" snapshot "$T/src" --hub-push --hub-url "$hurl" --hub-branch main
	check "snapshot --hub-push: the hint names ARCA_HUB_TOKEN" grep -q "^hint: set ARCA_HUB_TOKEN" "$T/err"
	check "hub push with ARCA_HUB_TOKEN and GIT_AUTHOR_NAME" bash -c "ARCA_HUB_TOKEN=hub-cli-token GIT_AUTHOR_NAME='Cli Author' XDG_CACHE_HOME='$T/xc' '$ARCA' hub push '$T/src' --url '$hurl' --branch main >/dev/null 2>&1 && git --git-dir='$T/hubsrv/repos/h.git' log -1 --format=%an main | grep -qx 'Cli Author'"
	bash "$(dirname "$0")/hub_server.sh" stop "$T/hubsrv" >/dev/null 2>&1
else
	echo "skip: hub token hint checks (cannot start the test hub)"
fi

# remotes: a directory remote, push, pull into another store, ls --remote
R=$T/remote RS=$T/rstore RD=$T/rdest
mkdir -p "$T/rsrc"
head -c 200000 /dev/urandom > "$T/rsrc/f"
echo small > "$T/rsrc/g"
for c in remote push pull; do
	check "$c --help" bash -c "'$ARCA' $c --help | grep -q '^usage: arca'"
done
"$ARCA" --store "$RS" snapshot "$T/rsrc" --name site -q >/dev/null
check "remote add" status_is 0 "$ARCA" --store "$RS" remote add origin "$R"
check "remote add twice exits 5" status_is 5 "$ARCA" --store "$RS" remote add origin "$R"
check "remote add of a bad URL is a usage error" status_is 2 "$ARCA" --store "$RS" remote add other "ftp://x/y"
check "remote ls names it" bash -c "'$ARCA' --store '$RS' remote ls | grep -q '^origin	$R'"
check "remote ls --json" bash -c "'$ARCA' --store '$RS' remote ls --json | grep -q '\"name\":\"origin\"'"
check "push" status_is 0 "$ARCA" --store "$RS" push origin site
check "push --json counts the ref" bash -c "'$ARCA' --store '$RS' push origin site --json | grep -q '\"refs_moved\":0'"
check "ls --remote lists the ref" bash -c "'$ARCA' --store '$RS' ls --remote origin | grep -q '^site:latest	art_'"
check "ls --remote --json" bash -c "'$ARCA' --store '$RS' ls --remote origin --json | grep -q '\"tag\":\"latest\"'"
check "pull by URL into a new store" status_is 0 "$ARCA" --store "$T/rstore2" pull "$R" site
check "pulled artifact restores" bash -c "'$ARCA' --store '$T/rstore2' restore site '$RD' && diff -r '$T/rsrc' '$RD'"
check "pull of a missing ref exits 3" status_is 3 "$ARCA" --store "$T/rstore2" pull "$R" nosuch
check "restore --from a remote into a store that lacks it" bash -c "'$ARCA' --store '$T/rstore3' restore --from '$R' site '$T/rdest3' && diff -r '$T/rsrc' '$T/rdest3'"
check "restore --from adds nothing to the store" bash -c "'$ARCA' --store '$T/rstore3' ls | grep -c art_ | grep -qx 0"
check "push to an unknown remote exits 3" status_is 3 "$ARCA" --store "$RS" push nowhere site
check "remote rm" status_is 0 "$ARCA" --store "$RS" remote rm origin
check "remote rm again exits 3" status_is 3 "$ARCA" --store "$RS" remote rm origin

# envs on the dir backend
ES="$T/envstore"
mkdir -p "$T/esrc"
echo one >"$T/esrc/f"
appid=$("$ARCA" --store "$ES" snapshot "$T/esrc" --name app -q)
check "env --help" bash -c "'$ARCA' env --help | grep -q '^usage: arca'"
check "env create prints the name" bash -c "'$ARCA' --store '$ES' env create app --name e1 --label team=qa | grep -qx e1"
check "env create of a missing ref exits 3" status_is 3 "$ARCA" --store "$ES" env create nosuch --name e2
check "env ls lists it active" bash -c "'$ARCA' --store '$ES' env ls | grep -qE '^e1 +dir +active +art_'"
check "env show --json" bash -c "'$ARCA' --store '$ES' env show e1 --json | grep -q '\"labels\":{\"team\":\"qa\"}'"
check "env exec streams stdout" bash -c "[ \"\$('$ARCA' --store '$ES' env exec e1 -- cat f)\" = one ]"
check "env exec returns the command's status" status_is 7 "$ARCA" --store "$ES" env exec e1 -- sh -c 'exit 7'
check "env exec -e and -w" bash -c "mkdir -p \"\$('$ARCA' --store '$ES' env show e1 --json | sed -n 's/.*\"dir\":\"\\([^\"]*\\)\".*/\\1/p')/root/sub\" && [ \"\$('$ARCA' --store '$ES' env exec e1 -e X=42 -w sub -- sh -c 'echo \$X \$(basename \$PWD)')\" = '42 sub' ]"
check "env exec --timeout gives 124" status_is 124 "$ARCA" --store "$ES" env exec e1 --timeout 1 -- sleep 30
"$ARCA" --store "$ES" env exec e1 -- sh -c 'echo two > f' >/dev/null 2>&1
check "env diff shows the change" bash -c "'$ARCA' --store '$ES' env diff e1 2>/dev/null | grep -q '^M  f'"
check "env diff --json" bash -c "'$ARCA' --store '$ES' env diff e1 --json | grep -q '\"path\":\"f\"'"
snap=$("$ARCA" --store "$ES" env snapshot e1 --tag s1 2>/dev/null)
check "env snapshot prints an id" bash -c "[[ '$snap' =~ ^art_[0-9a-f]{64}$ ]]"
check "the snapshot's parent is the source" bash -c "'$ARCA' --store '$ES' show '$snap' --json | grep -q '\"parent\":\"art_'"
check "env reset goes back to the source" bash -c "'$ARCA' --store '$ES' env reset e1 && [ \"\$('$ARCA' --store '$ES' env exec e1 -- cat f)\" = one ]"
check "env reset to the snapshot" bash -c "'$ARCA' --store '$ES' env reset e1 '$snap' && [ \"\$('$ARCA' --store '$ES' env exec e1 -- cat f)\" = two ]"
# two builds whose files have one size and one mtime (reproducible builds):
# the quick check alone cannot tell them apart, the env's baseline can
mkdir -p "$T/rb-a/d" "$T/rb-b/d"
for i in 1 2 3; do
	head -c 20000 /dev/urandom >"$T/rb-a/d/f$i"
	head -c 20000 /dev/urandom >"$T/rb-b/d/f$i"
done
touch -d '2020-01-01 00:00:00' "$T"/rb-a/d/* "$T"/rb-b/d/* "$T/rb-a/d" "$T/rb-b/d"
"$ARCA" --store "$ES" snapshot "$T/rb-a" --name rb --tag a -q >/dev/null
"$ARCA" --store "$ES" snapshot "$T/rb-b" --name rb --tag b -q >/dev/null
"$ARCA" --store "$ES" env create rb:a --name erb >/dev/null
erb=$("$ARCA" --store "$ES" env show erb --json | sed -n 's/.*"dir":"\([^"]*\)".*/\1/p')/root
check "env reset between builds of equal sizes and mtimes (a to b)" bash -c "'$ARCA' --store '$ES' env reset erb rb:b && diff -r '$T/rb-b' '$erb'"
check "env reset between builds of equal sizes and mtimes (b to a)" bash -c "'$ARCA' --store '$ES' env reset erb rb:a && diff -r '$T/rb-a' '$erb'"
"$ARCA" --store "$ES" restore rb:a "$T/rb-out" >/dev/null
check "rollback --from tells such builds apart" bash -c "'$ARCA' --store '$ES' rollback rb:b '$T/rb-out' --from rb:a >/dev/null && diff -r '$T/rb-b' '$T/rb-out'"
check "rollback --from a missing ref exits 3" status_is 3 "$ARCA" --store "$ES" rollback rb:a "$T/rb-out" --from nosuch
"$ARCA" --store "$ES" env rm erb >/dev/null
check "env pause on dir exits 14" status_is 14 "$ARCA" --store "$ES" env pause e1
check "env exec without a command is a usage error" status_is 2 "$ARCA" --store "$ES" env exec e1
check "env exec --net without --isolate is a usage error" status_is 2 "$ARCA" --store "$ES" env exec e1 --net -- true
check "env create with an unknown backend exits 3" status_is 3 "$ARCA" --store "$ES" env create app --backend nosuch
check "env rm" status_is 0 "$ARCA" --store "$ES" env rm e1
check "env rm removed it" bash -c "! '$ARCA' --store '$ES' env ls | grep -q e1"
check "env show of a removed env exits 3" status_is 3 "$ARCA" --store "$ES" env show e1

# env red team: hostile names, bad options, symlinks, kill -9 mid-create
for bad in "" . .. a/b ../x -rf .locks "$(printf 'a\tb')" "$(printf 'a\033b')" "$(head -c 256 /dev/zero | tr '\0' n)"; do
	check "env create --name '$bad' exits 2" status_is 2 "$ARCA" --store "$ES" env create app --name "$bad"
done
check "no hostile name made anything" bash -c "[ -z \"\$(ls -A '$ES/envs' | grep -vx .locks)\" ] && [ -z \"\$(ls -A '$ES/envs/.locks')\" ] && [ -z \"\$('$ARCA' --store '$ES' env ls)\" ]"
"$ARCA" --store "$ES" env create app --name e5 --label 'k=a=b' >/dev/null 2>&1
check "a label's value keeps its '='" bash -c "'$ARCA' --store '$ES' env show e5 | grep -qx 'label:     k=a=b'"
check "a label given twice exits 2" status_is 2 "$ARCA" --store "$ES" env create app --name e6 --label a=1 --label a=2
for t in 0 -1 ' 5' +5 5s 99999999999; do
	check "env exec --timeout '$t' exits 2" status_is 2 "$ARCA" --store "$ES" env exec e5 --timeout "$t" -- true
done
check "env exec -e without '=' exits 2" status_is 2 "$ARCA" --store "$ES" env exec e5 -e X -- true
check "env exec -w ../.. exits 7" status_is 7 "$ARCA" --store "$ES" env exec e5 -w ../.. -- true
check "env exec -w /etc is the env's own (none here: 3)" status_is 3 "$ARCA" --store "$ES" env exec e5 -w /etc -- true
mkdir -p "$T/outside" && echo keep >"$T/outside/precious"
ln -s "$T/outside" "$ES/envs/e5/root/out"
check "env exec -w through a symlink out exits 7" status_is 7 "$ARCA" --store "$ES" env exec e5 -w out -- touch pwned
mv "$ES/envs/e5/root" "$ES/envs/e5/root.away" && ln -s "$T/outside" "$ES/envs/e5/root"
check "env exec in a symlinked root exits 7" status_is 7 "$ARCA" --store "$ES" env exec e5 -- touch pwned
check "env reset of a symlinked root exits 7" status_is 7 "$ARCA" --store "$ES" env reset e5
check "env snapshot of a symlinked root exits 7" status_is 7 "$ARCA" --store "$ES" env snapshot e5
check "env diff of a symlinked root exits 7" status_is 7 "$ARCA" --store "$ES" env diff e5
check "env rm of a symlinked root" status_is 0 "$ARCA" --store "$ES" env rm e5
check "nothing outside the store was touched" bash -c "[ \"\$(ls -A '$T/outside')\" = precious ] && [ \"\$(cat '$T/outside/precious')\" = keep ] && [ ! -e '$ES/envs/e5' ]"
"$ARCA" --store "$ES" env create app --name e7 >/dev/null 2>&1
mv "$ES/envs/e7" "$T/e7.away" && ln -s "$T/outside" "$ES/envs/e7"
check "env reset of a symlinked env dir exits 7" status_is 7 "$ARCA" --store "$ES" env reset e7
check "env rm removes the symlinked env dir itself" bash -c "'$ARCA' --store '$ES' env rm e7 && [ ! -L '$ES/envs/e7' ] && [ \"\$(ls -A '$T/outside')\" = precious ]"
# a mount in the env area (a private mount namespace; root only): not followed, not removed
if unshare -m true 2>/dev/null; then
	"$ARCA" --store "$ES" env create app --name e8 >/dev/null 2>&1
	check "env reset, exec, rm of a mount in the env area exit 7 and leave it" unshare -m bash -c "
		mount --bind '$T/outside' '$ES/envs/e8/root' || exit 1
		'$ARCA' --store '$ES' env reset e8 2>/dev/null; [ \$? -eq 7 ] || exit 2
		'$ARCA' --store '$ES' env exec e8 -- touch pwned 2>/dev/null; [ \$? -eq 7 ] || exit 3
		'$ARCA' --store '$ES' env rm e8 2>/dev/null; [ \$? -eq 7 ] || exit 4
		[ \"\$(ls -A '$T/outside')\" = precious ] || exit 5"
	check "env rm after the mount went" status_is 0 "$ARCA" --store "$ES" env rm e8
fi
# kill -9 while a create restores a big image: a later call finds it failed, its files gone
head -c $((96 << 20)) /dev/urandom >"$T/big.img"
"$ARCA" --store "$ES" snapshot "$T/big.img" --name big -q >/dev/null
"$ARCA" --store "$ES" env create big --name k9 >/dev/null 2>&1 &
k9=$!
for _ in $(seq 2000); do [ -e "$ES/envs/k9/disk.img" ] && break; sleep 0.005; done
kill -9 "$k9" 2>/dev/null; wait "$k9" 2>/dev/null
if "$ARCA" --store "$ES" env show k9 2>/dev/null | grep -q '^state: *active'; then
	echo "  (the create finished before the kill: nothing to check)"
else
	check "a killed create shows failed" bash -c "'$ARCA' --store '$ES' env show k9 | grep -q '^state:     failed' && '$ARCA' --store '$ES' env show k9 | grep -q 'create interrupted'"
	check "a killed create left no files" bash -c "[ ! -e '$ES/envs/k9' ] && [ -z \"\$(ls -A '$ES/envs/.locks')\" ]"
fi
check "env rm of the killed create" status_is 0 "$ARCA" --store "$ES" env rm k9
rm -f "$T/big.img"

# the smolvm backend through the CLI, against tests/fake_smolvm.py (a FAKE
# smolvm: no VM; see the test_env_smolvm suite for the argv it checks)
if command -v python3 >/dev/null; then
	HERE=$(cd "$(dirname "$0")" && pwd)
	export FAKE_SMOLVM_HOME="$T/fake-smolvm" FAKE_SMOLVM_LOG="$T/fake-smolvm.log"
	check "env create --backend smolvm (fake)" bash -c "'$ARCA' --store '$ES' env create '$appid' --backend smolvm --name vm1 --set smolvm-bin='$HERE/fake_smolvm.py' --set image=alpine | grep -qx vm1"
	check "env ls shows the smolvm env" bash -c "'$ARCA' --store '$ES' env ls | grep -qE '^vm1 +smolvm +active'"
	check "env exec in the smolvm env" bash -c "[ \"\$('$ARCA' --store '$ES' env exec vm1 -- cat /arca/f)\" = one ]"
	check "env pause on smolvm exits 14" status_is 14 "$ARCA" --store "$ES" env pause vm1
	"$ARCA" --store "$ES" env exec vm1 -- sh -c 'echo three > "$1"/f' sh /arca >/dev/null 2>&1
	check "env diff of the smolvm env shows the guest's change" bash -c "'$ARCA' --store '$ES' env diff vm1 2>/dev/null | grep -q '^M  f'"
	check "env rm of the smolvm env deletes its machine with -f" bash -c "'$ARCA' --store '$ES' env rm vm1 && grep -q '\"delete\"' '$T/fake-smolvm.log' && grep '\"delete\"' '$T/fake-smolvm.log' | grep -q '\"-f\"'"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
