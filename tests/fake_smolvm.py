#!/usr/bin/env python3
"""A FAKE smolvm, for tests only: not smolvm, no VM, no isolation.

It implements exactly the subset of the smolvm CLI that env/env_smolvm.c
uses, in the shapes of smolvm v0.8.0 and v1.9.3 (src/cli/machine.rs of each
tag), chosen by FAKE_SMOLVM_VERSION (default 1.9.3). State lives under
FAKE_SMOLVM_HOME: state.json, hashed data dirs vms/<sha256(name)[:16]>/
(overlay.raw, storage.raw, *.formatted markers, a `name` file) and a
per-machine "guest" root roots/<hash>/ where exec runs commands on the
host (absolute argv elements and -w are prefixed with that root; volumes
are symlinks in it). Every argv is appended to FAKE_SMOLVM_LOG as JSON.
FAKE_SMOLVM_FAIL_START=1 makes `machine start` fail.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time

VERSION = os.environ.get("FAKE_SMOLVM_VERSION", "1.9.3")
HOME = os.environ.get("FAKE_SMOLVM_HOME", "/tmp/fake-smolvm")
MAX_OUTPUT = 11 * 1024 * 1024
DISK_BYTES = 8 * 1024 * 1024


def vtuple(v):
    return tuple(int(x) for x in v.split(".")[:3])


# -n/--name for create, delete and data-dir from 1.0.2 on; positional before
NAME_FLAG = vtuple(VERSION) >= (1, 0, 2)


def usage(msg):
    sys.stderr.write("error: %s\n\nFor more information, try '--help'.\n" % msg)
    sys.exit(2)


def fail(msg):
    sys.stderr.write("Error: %s\n" % msg)
    sys.exit(1)


def parse(args, flags, switches, positional=(), trailing=False):
    """Strict clap-like parse: flags take a value, switches do not."""
    out = {"_pos": [], "_trail": []}
    i = 0
    while i < len(args):
        a = args[i]
        if trailing and a == "--":
            out["_trail"] = args[i + 1:]
            break
        if a.startswith("-") and a != "-":
            key, val = a, None
            if a.startswith("--") and "=" in a:
                key, val = a.split("=", 1)
            name = flags.get(key) or switches.get(key)
            if name is None:
                usage("unexpected argument '%s' found" % a)
            if key in switches:
                if val is not None:
                    usage("unexpected value for '%s'" % key)
                out[name] = True
            else:
                if val is None:
                    i += 1
                    if i >= len(args):
                        usage("a value is required for '%s'" % key)
                    val = args[i]
                out.setdefault(name, []).append(val)
        elif trailing and len(out["_pos"]) >= len(positional):
            out["_trail"] = args[i:]
            break
        else:
            if len(out["_pos"]) >= len(positional):
                usage("unexpected argument '%s' found" % a)
            out["_pos"].append(a)
        i += 1
    return out


def one(o, k, default=None):
    v = o.get(k)
    if v is None:
        return default
    if len(v) > 1:
        usage("the argument '--%s' cannot be used multiple times" % k)
    return v[0]


def load():
    try:
        with open(os.path.join(HOME, "state.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"machines": {}}


def save(st):
    os.makedirs(HOME, exist_ok=True)
    tmp = os.path.join(HOME, "state.json.tmp")
    with open(tmp, "w") as f:
        json.dump(st, f, indent=1)
    os.replace(tmp, os.path.join(HOME, "state.json"))


def vhash(name):
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def data_dir(name):
    return os.path.join(HOME, "vms", vhash(name))


def root_dir(name):
    return os.path.join(HOME, "roots", vhash(name))


def machine(st, name):
    m = st["machines"].get(name)
    if m is None:
        fail("machine '%s' not found" % name)
    return m


def name_arg(o):
    if NAME_FLAG:
        if o["_pos"]:
            usage("unexpected argument '%s' found" % o["_pos"][0])
        return one(o, "name")
    return o["_pos"][0] if o["_pos"] else None


def name_spec(required):
    flags = {"-n": "name", "--name": "name"} if NAME_FLAG else {}
    return flags, (("NAME",) if not NAME_FLAG else ())


def validate_name(name):
    """smolvm's validate_vm_name (src/data/mod.rs)."""
    import re
    if not name or len(name) > 128 or not name[0].isalnum() or name.endswith("-") \
            or "--" in name or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        fail("invalid machine name: %r" % name)


def cmd_create(args):
    nflags, pos = name_spec(False)
    flags = dict(nflags)
    flags.update({"-I": "image", "--image": "image", "--cpus": "cpus", "--mem": "mem",
                  "-v": "volume", "--volume": "volume", "-e": "env", "--env": "env"})
    o = parse(args, flags, {"--net": "net"}, pos)
    name = name_arg(o) or "default"
    validate_name(name)
    for k in ("cpus", "mem"):
        v = one(o, k)
        if v is not None and not v.isdigit():
            usage("invalid value '%s' for '--%s <N>'" % (v, k))
    vols = []
    for v in o.get("volume", []):
        parts = v.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "ro") \
                or not parts[1].startswith("/"):
            fail("invalid volume '%s': expected HOST:GUEST[:ro]" % v)
        if not os.path.isdir(parts[0]):
            fail("volume host path '%s' is not an existing directory" % parts[0])
        vols.append(parts)
    st = load()
    if name in st["machines"]:
        fail("machine '%s' already exists" % name)
    st["machines"][name] = {"name": name, "state": "created", "pid": None,
                            "image": one(o, "image"), "created_at": int(time.time()),
                            "cpus": int(one(o, "cpus", "4")), "mem": int(one(o, "mem", "8192")),
                            "net": bool(o.get("net")), "volumes": vols}
    save(st)
    print("Created machine: %s" % name)


def cmd_start(args):
    o = parse(args, {"-n": "name", "--name": "name"}, {})
    name = one(o, "name", "default")
    st = load()
    m = machine(st, name)
    if m["state"] == "running":
        print("Machine '%s' already running" % name)
        return
    if os.environ.get("FAKE_SMOLVM_FAIL_START") == "1":
        fail("failed to start machine '%s': agent did not become ready (fake)" % name)
    d = data_dir(name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "name"), "w") as f:
        f.write(name)
    for disk in ("overlay", "storage"):
        raw, marker = os.path.join(d, disk + ".raw"), os.path.join(d, disk + ".formatted")
        if not os.path.exists(marker):  # "formats" the disk, like smolvm
            with open(raw, "wb") as f:
                f.truncate(DISK_BYTES)
            with open(marker, "wb") as f:
                f.write(b"1")
    r = root_dir(name)
    os.makedirs(r, exist_ok=True)
    for host, guest, *_ in m["volumes"]:
        link = r + guest
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.islink(link):
            os.symlink(host, link)
    m["state"], m["pid"] = "running", os.getpid()
    save(st)
    print("Machine '%s' started" % name)


def cmd_stop(args):
    o = parse(args, {"-n": "name", "--name": "name"}, {})
    name = one(o, "name", "default")
    st = load()
    m = machine(st, name)
    if m["state"] == "running":
        m["state"], m["pid"] = "stopped", None
        save(st)
    print("Machine '%s' stopped" % name)


def cmd_delete(args):
    nflags, pos = name_spec(True)
    o = parse(args, nflags, {"-f": "force", "--force": "force"}, pos)
    name = name_arg(o)
    if name is None:
        usage("the following required arguments were not provided: %s" %
              ("--name <NAME>" if NAME_FLAG else "<NAME>"))
    st = load()
    machine(st, name)
    if not o.get("force"):
        sys.stderr.write("Delete machine '%s'? [y/N] " % name)
        line = sys.stdin.readline()
        if line.strip().lower() not in ("y", "yes"):
            print("Cancelled")  # the trap: exit 0, nothing deleted
            return
    del st["machines"][name]
    save(st)
    shutil.rmtree(data_dir(name), ignore_errors=True)
    shutil.rmtree(root_dir(name), ignore_errors=True)
    print("Deleted machine: %s" % name)


def info(m):
    return {k: m[k] for k in ("name", "state", "pid", "image", "created_at", "cpus", "mem")}


def cmd_ls(args):
    o = parse(args, {}, {"--json": "json", "-v": "verbose", "--verbose": "verbose"})
    ms = [info(m) for m in sorted(load()["machines"].values(), key=lambda m: m["name"])]
    if o.get("json"):
        print(json.dumps(ms, indent=2))
    else:
        for m in ms:
            print("%s\t%s" % (m["name"], m["state"]))


def cmd_status(args):
    o = parse(args, {"-n": "name", "--name": "name"}, {"--json": "json"})
    m = machine(load(), one(o, "name", "default"))
    print(json.dumps(info(m), indent=2) if o.get("json") else "%s: %s" % (m["name"], m["state"]))


def cmd_data_dir(args):
    nflags, pos = name_spec(True)
    o = parse(args, nflags, {}, pos)
    name = name_arg(o)
    if name is None:
        usage("the following required arguments were not provided: <NAME>")
    if NAME_FLAG:
        machine(load(), name)
    print(data_dir(name))


def running(name):
    m = machine(load(), name)
    if m["state"] != "running":
        fail("machine '%s' is not running" % name)
    return m


def guest_path(name, p):
    if not p.startswith("/"):
        fail("guest path must be absolute: %s" % p)
    return root_dir(name) + p


def parse_duration(s):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for u in sorted(units, key=len, reverse=True):
        if s.endswith(u) and s[:-len(u)].isdigit():
            return int(s[:-len(u)]) * units[u]
    if s.isdigit():
        return int(s)
    usage("invalid value '%s' for '--timeout <DURATION>'" % s)


def pump(src, dst, cap):
    total = 0
    while True:
        b = src.read1(65536) if hasattr(src, "read1") else src.read(65536)
        if not b:
            break
        if total < cap:
            dst.write(b[:cap - total])
            dst.flush()
        total += len(b)


def cmd_exec(args):
    o = parse(args, {"--name": "name", "-w": "workdir", "--workdir": "workdir",
                     "-e": "env", "--env": "env", "--timeout": "timeout"},
              {"--stream": "stream", "-i": "interactive", "-t": "tty"}, (), trailing=True)
    cmd = o["_trail"]
    if not cmd:
        usage("the following required arguments were not provided: <COMMAND>...")
    name = one(o, "name", "default")
    running(name)
    root = root_dir(name)
    argv = [cmd[0] if not (cmd[0].startswith("/") and os.path.exists(root + cmd[0]))
            else root + cmd[0]]
    argv += [root + a if a.startswith("/") else a for a in cmd[1:]]
    env = dict(os.environ)
    for kv in o.get("env", []):
        if "=" not in kv:
            fail("invalid environment variable '%s': expected KEY=VALUE" % kv)
        k, v = kv.split("=", 1)
        env[k] = v
    cwd = guest_path(name, one(o, "workdir", "/"))
    timeout = one(o, "timeout")
    limit = parse_duration(timeout) if timeout else None
    try:
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    except OSError as e:
        fail("exec failed: %s" % e)
    ts = [threading.Thread(target=pump, args=(p.stdout, sys.stdout.buffer, MAX_OUTPUT)),
          threading.Thread(target=pump, args=(p.stderr, sys.stderr.buffer, MAX_OUTPUT))]
    for t in ts:
        t.start()
    try:
        rc = p.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        p.wait()
        rc = 124
    for t in ts:
        t.join()
    if rc < 0:
        rc = 128 - rc
    sys.exit(rc)


def cmd_cp(args):
    o = parse(args, {}, {}, ("SRC", "DST"))
    if len(o["_pos"]) != 2:
        usage("the following required arguments were not provided: <SRC> <DST>")
    src, dst = o["_pos"]
    ends = []
    for p in (src, dst):
        if ":" in p and not p.startswith("/"):
            n, gp = p.split(":", 1)
            running(n)
            ends.append(guest_path(n, gp))
        else:
            ends.append(p)
    if (":" in src) == (":" in dst):
        fail("exactly one of SRC and DST must be MACHINE:PATH")
    s = ends[0]
    if not os.path.isfile(s) or os.path.islink(s):
        fail("%s: not a regular file" % src)
    if os.path.getsize(s) > 4 << 30:
        fail("%s: larger than 4 GiB" % src)
    shutil.copyfile(s, ends[1])


MACHINE = {"create": cmd_create, "start": cmd_start, "stop": cmd_stop, "delete": cmd_delete,
           "rm": cmd_delete, "ls": cmd_ls, "list": cmd_ls, "status": cmd_status,
           "data-dir": cmd_data_dir, "exec": cmd_exec, "cp": cmd_cp}


def main():
    argv = sys.argv[1:]
    log = os.environ.get("FAKE_SMOLVM_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps(argv) + "\n")
    if argv == ["--version"] or argv == ["-V"]:
        print("smolvm %s" % VERSION)
        return
    if len(argv) < 2 or argv[0] != "machine" or argv[1] not in MACHINE:
        usage("unrecognized subcommand '%s'" % " ".join(argv[:2]))
    MACHINE[argv[1]](argv[2:])


if __name__ == "__main__":
    main()
