#!/usr/bin/env bash
# A store on a full filesystem (an 8 MiB tmpfs): a snapshot that does not
# fit fails with "no space" and exit 8, whether the pack write or the
# index commit runs out; the store stays valid and takes a small snapshot
# afterwards. Skips (exit 77) where tmpfs cannot be mounted.
set -u
ARCA=${1:?usage: test_fulldisk.sh path/to/arca}
T=$(mktemp -d "${TMPDIR:-/tmp}/arca-fulldisk-XXXXXX")
M=$T/mnt
cleanup() {
	mountpoint -q "$M" && umount "$M"
	rm -rf "$T"
}
trap cleanup EXIT
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root to mount a tmpfs"; exit 77; fi
mkdir -p "$M"
if ! mount -t tmpfs -o size=8m tmpfs "$M" 2>"$T/err"; then
	echo "SKIP: cannot mount tmpfs: $(cat "$T/err")"; exit 77
fi
pass=0 fail=0
check() { # name, command...
	local name=$1; shift
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
# runs arca, keeps its status in $st and stderr in $T/err
run() { "$ARCA" "$@" >"$T/out" 2>"$T/err"; st=$?; }
nospace() { # the failed run said so, with exit 8
	[ "$st" -eq 8 ] && grep -qi 'no space' "$T/err" ||
		{ echo "  exit $st: $(cat "$T/err")"; return 1; }
}
store_ok() { # verify clean, the small artifact restores
	rm -rf "$T/r"
	"$ARCA" --store "$S" verify >/dev/null 2>&1 &&
		"$ARCA" --store "$S" restore small "$T/r" >/dev/null 2>&1 &&
		diff -r --no-dereference "$T/small" "$T/r" >/dev/null
}

S=$M/store
mkdir -p "$T/small" "$T/big" "$T/many" "$T/later"
head -c 100000 /dev/urandom > "$T/small/a"
echo hi > "$T/small/b"
for i in $(seq 1 20); do head -c 1048576 /dev/urandom > "$T/big/f$i"; done
echo later > "$T/later/x"

run --store "$S" snapshot "$T/small" --name small -q
check "first small snapshot" test "$st" -eq 0
run --store "$S" snapshot "$T/big" --name big -q
check "20 MiB into 8 MiB: no space, exit 8" nospace
check "store valid after the pack ran out" store_ok
check "the failed snapshot left no artifact" bash -c "! '$ARCA' --store '$S' ls | grep -q big"
run --store "$S" snapshot "$T/later" --name later -q
check "a small snapshot succeeds afterwards" test "$st" -eq 0

# Many small files: the pack is small (~0.5 MiB), the index needs a few
# MiB. Leave room for the pack only, so the index commit runs out.
for i in $(seq 1 6000); do echo "small file $i $RANDOM$RANDOM" > "$T/many/f$i"; done
hit_index=0
for free_k in 1024 768 1536 2048; do
	rm -f "$M/filler"
	avail=$(df --output=avail -k "$M" | tail -1)
	[ "$avail" -gt "$free_k" ] || continue
	dd if=/dev/zero of="$M/filler" bs=1k count=$((avail - free_k)) status=none 2>/dev/null
	run --store "$S" snapshot "$T/many" --name many -q
	[ "$st" -eq 0 ] && { echo "  (fits with ${free_k}K free)"; continue; }
	check "many files with ${free_k}K free: no space, exit 8" nospace
	grep -q "index" "$T/err" && { hit_index=1; echo "  (${free_k}K free: $(cat "$T/err"))"; }
	rm -f "$M/filler"
	check "store valid after running out with ${free_k}K free" store_ok
done
check "the index commit ran out of space at least once" test "$hit_index" -eq 1
rm -f "$M/filler"
run --store "$S" snapshot "$T/later" --name later2 -q
check "a small snapshot succeeds at the end" test "$st" -eq 0
check "store valid at the end" store_ok

echo "fulldisk: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
