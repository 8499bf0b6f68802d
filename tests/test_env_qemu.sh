#!/usr/bin/env bash
# The qemu env backend end to end, with real VMs: qemu-system-x86_64 (TCG
# here: /dev/kvm on these machines does not run guests) booting the host's
# kernel over a small busybox root filesystem image (tests/qemu_rootfs.sh,
# made once under CACHE). A VM disk goes round trip: boot, change,
# snapshot, reset, boot again and see the old state, reset to the
# snapshot and see the new one. Exit 77 (skip, saying why) where qemu or a
# kernel is missing.
#   test_env_qemu.sh ARCA CACHE
set -u
ARCA=$1 CACHE=$2
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/arca-env-qemu-XXXXXX)
cleanup() {
	# no VM of this test outlives it
	# (by the files it has open: a qemu.pid may have been replaced)
	for p in $(pgrep -f '^qemu-system-x86_64 ' 2>/dev/null); do
		ls -l "/proc/$p/fd" 2>/dev/null | grep -qF "$T/store/envs/" && kill -9 "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/check.sh"
skip() { echo "skip: $*"; exit 77; }

command -v qemu-system-x86_64 >/dev/null || skip "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
ls /boot/vmlinuz-* >/dev/null 2>&1 || skip "no /boot/vmlinuz-* (apt-get install linux-image-amd64)"
mkdir -p "$CACHE"
"$HERE/qemu_rootfs.sh" "$CACHE/rootfs.img"
case $? in 0) ;; 77) skip "no rootfs image (see above)" ;; *) echo "FAIL: rootfs image"; exit 1 ;; esac

A() { "$ARCA" --store "$T/store" "$@"; }
dbg() { debugfs -R "$1" "$2" 2>/dev/null; }
restore_img() { A restore "$1" "$2" >/dev/null; }
# qemu's arguments are relative to the env's dir: a VM of env $1 is a qemu
# with a file open there (its disk, even when the dir is gone)
qemu_of() {
	local p
	for p in $(pgrep -f '^qemu-system-x86_64 ' 2>/dev/null); do
		ls -l "/proc/$p/fd" 2>/dev/null | grep -qF "$T/store/envs/$1/" && { echo "$p"; return 0; }
	done
	return 1
}
no_qemu_for() { ! qemu_of "$1" >/dev/null && [ ! -e "$T/store/envs/$1" ]; }
json_has() { grep -q -- "$2" <<<"$1" || { echo "no '$2' in: $1"; return 1; }; }

A snapshot "$CACHE/rootfs.img" --name vm --tag v1 --quiet >/dev/null ||
	{ echo "FAIL: snapshot of the rootfs image"; exit 1; }

# ---- create: the backend chooses machine, acceleration and command line ----
t0=$(date +%s)
check "create boots the image (host kernel and initrd)" A env create vm:v1 --backend qemu --name q1
echo "  create to active: $(( $(date +%s) - t0 )) s"
show=$(A env show q1 --json)
check "show: active" json_has "$show" '"state":"active"'
check "show: machine type" json_has "$show" 'machine=microvm'
check "show: acceleration chosen (KVM where it runs, else TCG)" json_has "$show" 'accel-used='
check "show: kernel command line" json_has "$show" 'cmdline=console=ttyS0 rdinit=/arca/agent'
check "show: the host kernel" json_has "$show" 'kernel-used=/boot/vmlinuz-'
check "show: capabilities" json_has "$show" '"pause"'

# ---- exec: stdout, stderr, exit status, env, cwd, stdin, timeout ----
check "exec: stdout" bash -c '[ "$('"$ARCA"' --store '"$T"'/store env exec q1 -- cat /etc/motd)" = "hello from the image" ]'
A env exec q1 -- sh -c 'echo out; echo err >&2; exit 7' >"$T/o" 2>"$T/e"
check "exec: exit status of the guest command" test $? = 7
check "exec: its stdout" grep -qx out "$T/o"
check "exec: its stderr, apart" bash -c "grep -qx err '$T/e' && ! grep -q err '$T/o'"
check "exec: -e and -w" bash -c '[ "$('"$ARCA"' --store '"$T"'/store env exec q1 -e FOO=b\ ar -w /etc -- sh -c "echo \$FOO; pwd")" = "b ar
/etc" ]'
check "exec: stdin goes through" bash -c '[ "$(printf "one\ntwo\n" | '"$ARCA"' --store '"$T"'/store env exec q1 -- wc -l)" = 2 ]'
check "exec: a command not found is an error (exit 3)" status_is 3 A env exec q1 -- no-such-command
t0=$(date +%s)
check "exec --timeout: 124" status_is 124 A env exec q1 --timeout 1 -- sleep 60
check "exec --timeout: killed promptly" test $(( $(date +%s) - t0 )) -lt 15
check "exec: 1 MiB of output, byte for byte" bash -c '[ "$('"$ARCA"' --store '"$T"'/store env exec q1 -- sh -c "head -c 1048576 /dev/zero | tr \"\\0\" x" | wc -c)" = 1048576 ]'
# two execs at once: one waits for the other, both finish
A env exec q1 -- sh -c 'sleep 1; echo a' >"$T/p1" 2>&1 &
p1=$!
A env exec q1 -- sh -c 'echo b' >"$T/p2" 2>&1
wait $p1
check "exec: two at once both run" bash -c "grep -qx a '$T/p1' && grep -qx b '$T/p2'"
# an arca killed mid-exec: the next exec still works (its command is killed)
"$ARCA" --store "$T/store" env exec q1 -- sh -c 'sleep 30' >/dev/null 2>&1 &
p1=$!
sleep 1
kill -9 $p1
wait $p1 2>/dev/null
check "exec after an arca killed mid-exec" bash -c '[ "$('"$ARCA"' --store '"$T"'/store env exec q1 -- echo alive)" = alive ]'

# ---- change, diff, snapshot ----
check "exec: the guest writes" A env exec q1 -- sh -c 'echo new > /root/new && echo more >> /etc/motd'
check "diff: the disk changed" bash -c "'$ARCA' --store '$T/store' env diff q1 --json | grep -q changed"
snap=$(A env snapshot q1 --tag s1)
check "snapshot: an artifact" test -n "$snap"
check "snapshot: its parent is the source" bash -c "'$ARCA' --store '$T/store' show vm:s1 --json | grep -q \"\$('$ARCA' --store '$T/store' show vm:v1 --json | sed -n 's/.*\"id\":\"\\([^\"]*\\)\".*/\\1/p')\""
check "the guest runs on after its snapshot" A env exec q1 -- true
restore_img vm:s1 "$T/s1.img"
check "snapshot holds what the guest wrote" bash -c "[ \"\$(debugfs -R 'cat /root/new' '$T/s1.img' 2>/dev/null)\" = new ]"
# nothing of the agent in the snapshot: the same names as the image plus /root/new
dbg "ls -p /" "$CACHE/rootfs.img" | cut -d/ -f6 | sort >"$T/names.src"
dbg "ls -p /" "$T/s1.img" | cut -d/ -f6 | sort >"$T/names.s1"
check "snapshot: no agent file in the guest's root" diff "$T/names.src" "$T/names.s1"
root_names() { dbg "ls -p /root" "$1" | cut -d/ -f6 | grep -vx '[.]*' | tr '\n' ' '; }
check "snapshot: /root holds only what the guest made" test "$(root_names "$T/s1.img")" = "new "

# ---- reset: the old state after a boot; then the snapshot's ----
t0=$(date +%s)
check "reset to the source" A env reset q1
echo "  reset to active: $(( $(date +%s) - t0 )) s"
check "after reset: the guest's file is gone" status_is 1 A env exec q1 -- test -e /root/new
check "after reset: motd as it was" bash -c '[ "$('"$ARCA"' --store '"$T"'/store env exec q1 -- cat /etc/motd)" = "hello from the image" ]'
check "reset to the snapshot" A env reset q1 vm:s1
check "after reset to the snapshot: the guest's file" bash -c '[ "$('"$ARCA"' --store '"$T"'/store env exec q1 -- cat /root/new)" = new ]'

# ---- pause, resume ----
check "pause" A env pause q1
check "show: paused" bash -c "'$ARCA' --store '$T/store' env show q1 | grep -q 'state: *paused'"
check "exec refused while paused" bash -c "! '$ARCA' --store '$T/store' env exec q1 -- true"
check "diff while paused" A env diff q1
check "resume" A env resume q1
check "exec after resume" A env exec q1 -- true

# ---- volumes: only what is asked for is shared ----
mkdir -p "$T/share"
echo shared >"$T/share/f"
# the second one's guest path resolved in the guest's root (it once went
# to the initramfs's, out of the guest's sight)
check "create with a read-only volume" A env create vm:v1 --backend qemu --name q2 --initrd none -v "$T/share:/mnt:ro" -v "$T/share:/../root:ro"
check "volume: the guest reads it" bash -c '[ "$('"$ARCA"' --store '"$T"'/store env exec q2 -- cat /mnt/f)" = shared ]'
check "volume: a guest path with .. is the guest's" bash -c '[ "$('"$ARCA"' --store '"$T"'/store env exec q2 -- cat /root/f)" = shared ]'
check "volume: read-only" status_is 1 A env exec q2 -- sh -c 'echo x > /mnt/g'
check "volume: nothing written to the host" test ! -e "$T/share/g"
check "a guest path the disk lacks is refused" bash -c "! '$ARCA' --store '$T/store' env create vm:v1 --backend qemu --name q3 --initrd none -v '$T/share:/nonexistent'"
check "... and leaves nothing running" no_qemu_for q3

# ---- hostile commands, odd env dirs, interrupted calls ----
check "create r1 (no host initrd)" A env create vm:v1 --backend qemu --name r1 --initrd none 7>"$T/fd7"
R="$T/store/envs/r1"
qp=$(qemu_of r1)
check "the VM holds none of arca's fds (a caller's, the store's)" bash -c "[ -n '$qp' ] && ! ls -l /proc/$qp/fd | grep -e '$T/fd7' -e index.lmdb"
# output before the command reads its stdin: the agent must not block on a
# full stdin pipe while the output pipe fills (it did: the env then hung)
head -c 4194304 /dev/zero | timeout 60 "$ARCA" --store "$T/store" env exec r1 -- \
	sh -c 'head -c 3000000 /dev/zero; cat | wc -c >&2' >"$T/o" 2>"$T/e"
check "exec: output before stdin is read, no deadlock" test "$(wc -c <"$T/o")" = 3000000
check "... and all of stdin reaches the command" grep -qx 4194304 "$T/e"
check "exec after it" A env exec r1 -- true
# an arca killed while it streams stdin leaves half a frame in the guest's
# port: the next client's ping must not be taken for the rest of it
yes | "$ARCA" --store "$T/store" env exec r1 -- sh -c 'sleep 2; cat >/dev/null' >/dev/null 2>&1 &
ep=$!
sleep 1
kill -9 $ep
wait $ep 2>/dev/null
check "exec after an arca killed mid-stdin" bash -c '[ "$(timeout 30 '"$ARCA"' --store '"$T"'/store env exec r1 -- echo alive)" = alive ]'
# a command that never reads its stdin, given endless stdin, and a timeout:
# the kill must not wait behind stdin the guest has not taken (stdin goes
# within a window the guest credits back)
t0=$(date +%s)
yes | timeout 60 "$ARCA" --store "$T/store" env exec r1 --timeout 3 -- sleep 1000 >/dev/null 2>&1
rc=$?
check "exec --timeout: a command that never reads endless stdin is killed (124)" test "$rc" = 124
check "... promptly" test $(( $(date +%s) - t0 )) -lt 20
check "... and the env answers after it" bash -c '[ "$(timeout 30 '"$ARCA"' --store '"$T"'/store env exec r1 -- echo alive)" = alive ]'
# the serial console after the boot: not the host's disk to fill
c0=$(stat -c %s "$R/console.log")
A env exec r1 -- sh -c 'head -c 300000 /dev/zero | tr "\0" x >/dev/ttyS0' >/dev/null 2>&1
check "the guest's console after boot does not grow console.log" test "$(stat -c %s "$R/console.log")" -lt $((c0 + 100000))
check "exec: too many arguments, said so" bash -c "'$ARCA' --store '$T/store' env exec r1 -- true \$(seq 5000) 2>&1 | grep -q 'over 4095 arguments'"
# disk.img swapped for a symlink: a snapshot must not read what it names
echo secret >"$T/victim"
mv "$R/disk.img" "$R/disk.real" && ln -s "$T/victim" "$R/disk.img"
check "snapshot: disk.img a symlink is refused" bash -c "! '$ARCA' --store '$T/store' env snapshot r1 --tag sym"
check "... and makes no artifact" bash -c "! '$ARCA' --store '$T/store' show vm:sym >/dev/null 2>&1"
rm "$R/disk.img" && mv "$R/disk.real" "$R/disk.img"
# a reset killed while its VM boots on the rolled-back disk: the record
# still names the old artifact, so nothing may use that VM
check "exec: a change" A env exec r1 -- sh -c 'echo changed > /root/c'
"$ARCA" --store "$T/store" env reset r1 vm:v1 >/dev/null 2>&1 &
rp=$!
sleep 1.5
kill -9 $rp
wait $rp 2>/dev/null
check "after a killed reset: exec refused, saying so" bash -c "! '$ARCA' --store '$T/store' env exec r1 -- true 2>'$T/e' && grep -q 'reset did not finish' '$T/e'"
check "... and snapshot refused" bash -c "! '$ARCA' --store '$T/store' env snapshot r1 --tag half"
check "... reset again mends it" A env reset r1 vm:v1
check "... the reset's state" status_is 1 A env exec r1 -- test -e /root/c
# a guest out of pids: each exec fails to fork, and must not leak the
# agent's fds (128 such execs left it unable to make a pipe for good)
A env exec r1 -- sh -c 'echo 301 >/proc/sys/kernel/pid_max; setsid sh -c "i=0; while [ \$i -lt 400 ]; do sleep 7 & i=\$((i+1)); done" </dev/null >/dev/null 2>&1 & sleep 1' >/dev/null 2>&1
t0=$(date +%s)
for i in $(seq 140); do A env exec r1 -- true >/dev/null 2>&1; done
sleep $(( 9 - ($(date +%s) - t0) > 0 ? 9 - ($(date +%s) - t0) : 0 ))
check "exec works again once the guest has pids" bash -c '[ "$('"$ARCA"' --store '"$T"'/store env exec r1 -- echo alive)" = alive ]'
# the guest powers itself off
A env exec r1 -- poweroff -f >/dev/null 2>&1
check "after poweroff -f in the guest: exec says the VM is not running" bash -c "'$ARCA' --store '$T/store' env exec r1 -- true 2>&1 | grep -q 'VM is not running'"
# a qemu.pid that is another program's locked pidfile: never killed
python3 -c 'import fcntl,sys,time; f=open(sys.argv[1],"w"); fcntl.lockf(f,fcntl.LOCK_EX); time.sleep(60)' "$T/foreign.pid" &
fp=$!
sleep 0.5
rm -f "$R/qemu.pid" && ln "$T/foreign.pid" "$R/qemu.pid"
check "rm with a foreign process locking qemu.pid" A env rm r1
check "... the foreign process lives" kill -0 $fp
kill $fp 2>/dev/null
check "... nothing left of r1" no_qemu_for r1

# ---- rm ----
check "rm" A env rm q1
check "rm: no VM left, no files" no_qemu_for q1
check "rm of the second" A env rm q2
check "rm: none left" no_qemu_for q2

# ---- failures ----
head -c 16M /dev/urandom >"$T/garbage.img"
A snapshot "$T/garbage.img" --name junk --quiet >/dev/null
A env create junk --backend qemu --name bad --initrd none >"$T/o" 2>&1
check "a disk that does not mount: create fails" test $? != 0
check "... the env is failed" bash -c "'$ARCA' --store '$T/store' env show bad | grep -q 'state: *failed'"
check "... with the console's last lines in its error" grep -q 'console:.*cannot mount' "$T/o"
check "... saying the guest stopped (not a timeout)" grep -q 'stopped before its agent answered' "$T/o"
check "... and nothing running or left behind" no_qemu_for bad
A env create vm:v1 --backend qemu --name slow --initrd none --set boot-timeout=1 >"$T/o" 2>&1
check "a guest that does not come up in time: create fails" test $? != 0
check "... with the bound and the console in its error" grep -q 'did not come up within 1 s.*console:' "$T/o"
check "... and nothing running or left behind" no_qemu_for slow
# host files that are not files: /dev/zero filled ENV for ever, a FIFO hung
mkfifo "$T/fifo"
check "--initrd /dev/zero is refused, promptly" status_is 2 timeout 30 "$ARCA" --store "$T/store" env create vm:v1 --backend qemu --name z1 --initrd /dev/zero
check "--kernel a FIFO is refused, promptly" status_is 2 timeout 30 "$ARCA" --store "$T/store" env create vm:v1 --backend qemu --name z2 --kernel "$T/fifo"
check "... nothing left of them" bash -c "! ls '$T/store/envs/z1' '$T/store/envs/z2' 2>/dev/null"
mkdir -p "$T/tree"
echo t >"$T/tree/f"
A snapshot "$T/tree" --name tree --quiet >/dev/null
check "a tree artifact is refused" status_is 2 A env create tree --backend qemu --name t1
check "an unknown setting is refused" status_is 2 A env create vm:v1 --backend qemu --name t2 --set speed=11

echo "env_qemu: $pass passed, $fail failed"
[ "$fail" = 0 ]
