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
check "unknown ref gives 3" status_is 3 "$ARCA" --store "$S" restore nosuch "$T/out2"
check "bad label is a usage error" status_is 2 "$ARCA" --store "$S" snapshot "$T/src" --label novalue
check "bad name is a usage error" status_is 2 "$ARCA" --store "$S" snapshot "$T/src" --name 'a b'
check "verify ok exits 0" status_is 0 "$ARCA" --store "$S" verify
check "error names the command" bash -c "'$ARCA' --store '$S' restore nosuch '$T/o3' 2>&1 | grep -q '^arca restore: '"

# damage the pack: verify exits 4 and names the artifact
pack=$(ls "$S"/packs/pack-*.arcp | tail -1)
size=$(stat -c %s "$pack")
printf '\xff' | dd of="$pack" bs=1 seek=$((size / 2)) conv=notrunc status=none
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

# a system that refuses a 1 TiB address-space reservation still works
# (not under ASan, which needs a huge address space itself)
if ! ldd "$ARCA" 2>/dev/null | grep -q asan; then
	check "store opens with limited address space" bash -c "ulimit -v 16000000; '$ARCA' --store '$T/store3' snapshot '$T/src' -q >/dev/null && '$ARCA' --store '$T/store3' verify >/dev/null"
fi

# refs: prune keeps whatever a ref points to, also content stored again
S=$T/store4
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

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
