# The shell tests' checks (sourced): `check WHAT CMD...` runs CMD, counts it
# passed or failed and on failure shows WHAT and the tail of CMD's output;
# `status_is N CMD...` succeeds when CMD exits N. Needs $T, a scratch dir.
pass=0 fail=0
check() {
	local what=$1; shift
	if "$@" >"$T/out" 2>&1; then pass=$((pass + 1)); else
		fail=$((fail + 1)); echo "FAIL: $what"; sed 's/^/  | /' "$T/out" | tail -n 15
	fi
}
status_is() { local want=$1; shift; "$@"; local got=$?; [ "$got" = "$want" ] || { echo "exit $got, wanted $want"; return 1; }; }
