#!/usr/bin/env bash
# The README's five-minute tour, run as written (the sh block between
# <!-- tour --> and <!-- /tour -->) in a fresh directory with this build's
# arca first on PATH: every command must succeed, and what the comments
# promise must be what it prints.
#   test_readme_tour.sh ARCA README
set -u
ARCA=$1 README=$2
T=$(mktemp -d /tmp/arca-tour-XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin"
ln -s "$(readlink -f "$ARCA")" "$T/bin/arca"
sed -n '/^<!-- tour -->$/,/^<!-- \/tour -->$/p' "$README" | sed '1,2d;$d' | sed '$d' >"$T/tour.sh"
[ -s "$T/tour.sh" ] || { echo "FAIL: no tour block in $README"; exit 1; }
cd "$T" || exit 1
if ! PATH="$T/bin:$PATH" bash -e -x tour.sh >"$T/out" 2>"$T/err"; then
	echo "FAIL: the tour stopped:"; tail -5 "$T/err"; exit 1
fi
fail=0
expect() { grep -q -- "$1" "$T/out" || { echo "FAIL: the tour did not print '$1'"; fail=1; }; }
expect '^art_[0-9a-f]\{64\}$'
expect '^M  app.py'
expect '^A  tmp.log'
expect '^print("hello")$'
expect '^notes$'
grep -c '^app.py$' "$T/out" | grep -qx 2 || { echo "FAIL: env reset did not bring back just app.py"; fail=1; }
tail -1 "$T/out" | grep -q '"name":"app"' || { echo "FAIL: the last ls --json"; fail=1; }
[ "$fail" = 0 ] && echo "readme_tour: $(grep -c '^arca\|^[a-z]' "$T/tour.sh") commands ran as the README says"
exit $fail
