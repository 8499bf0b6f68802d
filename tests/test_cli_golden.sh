#!/usr/bin/env bash
# Golden CLI test: a fixed scenario (files of fixed content and mtimes) run
# through every command's --json, usage errors and exit statuses; its
# transcript, with what varies between runs made constant (temp paths,
# times, durations), must equal tests/golden/cli.golden. The JSON schemas
# of docs/CLI.md are these. After a deliberate change:
#   tests/test_cli_golden.sh build/arca --update
set -u
ARCA=$1 MODE=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
GOLDEN=$HERE/golden/cli.golden
T=$(mktemp -d /tmp/arca-golden-XXXXXX)
trap 'rm -rf "$T"' EXIT
export TZ=UTC LC_ALL=C
umask 022
OUT=$T/transcript

# "$ arca ARGS", its stdout (and stderr when it fails), "[exit N]"
run() {
	printf '$ arca %s\n' "$*" >>"$OUT"
	"$ARCA" --store "$T/store" "$@" >"$T/o" 2>"$T/e"
	local rc=$?
	cat "$T/o" >>"$OUT"
	[ $rc = 0 ] || sed 's/^/stderr: /' "$T/e" >>"$OUT"
	printf '[exit %d]\n\n' "$rc" >>"$OUT"
}
in_store() { local st=$1; shift; ARCA_GOLDEN_STORE=$st run_in "$@"; }
run_in() {
	printf '$ arca --store %s %s\n' "${ARCA_GOLDEN_STORE##*/}" "$*" >>"$OUT"
	"$ARCA" --store "$ARCA_GOLDEN_STORE" "$@" >"$T/o" 2>"$T/e"
	local rc=$?
	cat "$T/o" >>"$OUT"
	[ $rc = 0 ] || sed 's/^/stderr: /' "$T/e" >>"$OUT"
	printf '[exit %d]\n\n' "$rc" >>"$OUT"
}

mkdir -p "$T/src/sub"
echo hello >"$T/src/a.txt"
echo world >"$T/src/sub/b.txt"
ln -s a.txt "$T/src/link"
touch -h -d @1700000000 "$T/src/a.txt" "$T/src/sub/b.txt" "$T/src/link" "$T/src/sub" "$T/src"

run snapshot "$T/src" --name app --tag v1 --json
run ls --json
run show app:v1 --json
run tag app:v1 app:stable --json
run tag --list --json
echo again >>"$T/src/a.txt"
touch -d @1700000100 "$T/src/a.txt"
touch -d @1700000100 "$T/src"
run snapshot "$T/src" --name app --tag v2 --json
run log app:v2 --json
run diff app:v1 app:v2 --json
run diff app:v2 --path "$T/src" --json
run restore app:v1 "$T/out" --json
run rollback app:v2 "$T/out" --json
run stats --json
run verify --json
run remote add mirror "$T/remote"
run remote ls --json
run push mirror app:v2 --json
run ls --remote mirror --json
run export app:v2 -o "$T/app.bundle" --json
in_store "$T/other" import "$T/app.bundle" --json
in_store "$T/third" remote add mirror "$T/remote"
in_store "$T/third" pull mirror app:v2 --json
run env create app:v1 --name e1 --label team=qa --json
run env ls --json
run env exec e1 -- sh -c 'echo changed >> a.txt; touch -d @1700000200 a.txt'
run env diff e1 --json
run env snapshot e1 --tag s1 --json
run env reset e1
run env rm e1
run rm app:stable --force --json
run prune --keep-last 1 --json
run gc --json
run repair --json

# errors, with --json and without
run show nosuch --json
run show nosuch
run ls --bogus --json
run restore app:v2 "$T/out" --json
run env exec nosuch -- true

# what varies between runs made constant
sed -E -i \
	-e "s#$T#/T#g" \
	-e 's/"(created|created_ns|time|mtime_ns|started|finished)":[0-9]+/"\1":0/g' \
	-e 's/"created":"[0-9TZ:.-]+"/"created":"TIME"/g' \
	-e 's/"(seconds|elapsed_s|duration_s)":[0-9.e+-]+/"\1":0/g' \
	-e 's/(in )[0-9.]+s/\1Ns/g' \
	-e 's/[0-9]+(\.[0-9]+)? (B|KiB|MiB|GiB)\/s/N B\/s/g' \
	-e 's/"name":"(e1|app)-[0-9a-f]{6}"/"name":"\1-XXXXXX"/g' \
	"$OUT"

if [ "$MODE" = --update ]; then
	mkdir -p "${GOLDEN%/*}"
	cp "$OUT" "$GOLDEN"
	echo "cli_golden: wrote $GOLDEN"
	exit 0
fi
# docs/CLI.md shows these outputs: each of its example blocks must be
# part of the transcript
python3 - "$HERE/../docs/CLI.md" "$OUT" <<'PY' || exit 1
import re, sys
doc, out = open(sys.argv[1]).read(), open(sys.argv[2]).read()
bad = [b for b in re.findall(r"```\n(\$ arca .*?)\n```", doc, re.S) if b + "\n" not in out]
for b in bad:
    print("FAIL: docs/CLI.md example not in the transcript:\n" + b)
sys.exit(1 if bad else 0)
PY
if diff -u "$GOLDEN" "$OUT"; then
	echo "cli_golden: transcript as golden, docs/CLI.md's examples in it"
else
	echo "FAIL: the CLI's output changed (a deliberate change: $0 ARCA --update, and update docs/CLI.md)"
	exit 1
fi
