#!/usr/bin/env bash
# docs/arca.1 and docs/arca.bash are what scripts/gen-cli-docs makes from
# this arca's --help (so neither drifts from it), the man page renders, and
# the completion completes commands, subcommands and options.
#   test_cli_docs.sh ARCA SOURCE_DIR
set -u
ARCA=$1 S=$2
T=$(mktemp -d /tmp/arca-cli-docs-XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/check.sh"
check "generate from --help" "$S/scripts/gen-cli-docs" "$ARCA" "$T"
check "docs/arca.1 is current (else: scripts/gen-cli-docs build/arca docs)" diff -u "$S/docs/arca.1" "$T/arca.1"
check "docs/arca.bash is current (else: scripts/gen-cli-docs build/arca docs)" diff -u "$S/docs/arca.bash" "$T/arca.bash"
if command -v man >/dev/null; then
	check "the man page renders, every command in it" bash -c "man -l '$S/docs/arca.1' 2>/dev/null | col -b >'$T/man.txt' && for c in \$('$ARCA' --help | sed -n '/^Commands:/,/^\$/s/^  \\([a-z]*\\) .*/\\1/p'); do grep -q \"ARCA \${c^^}\" '$T/man.txt' || { echo \"no \$c\"; exit 1; }; done"
fi
complete_words() { # WORDS...: what the completion offers for the last one
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _arca; printf "%s\n" "${COMPREPLY[@]}"' \
		sh "$S/docs/arca.bash" "$@"
}
check "completes a command" bash -c "[ \"\$($(declare -f complete_words); S='$S'; complete_words arca snaps)\" = snapshot ]"
check "completes a subcommand" bash -c "[ \"\$($(declare -f complete_words); S='$S'; complete_words arca env cre)\" = create ]"
check "completes an option after --store DIR" bash -c "$(declare -f complete_words); S='$S'; complete_words arca --store /tmp restore --fo | grep -qx -- --force"
echo "cli_docs: $pass passed, $fail failed"
[ "$fail" = 0 ]
