"""arca from Python: ctypes over libarca.so, the standard library only.

    import arca
    with arca.Store("/var/lib/arca") as st:
        art = st.snapshot("/work/app", name="app", tag="v1")
        st.restore("app:v1", "/tmp/app-copy")
        with open("app.bundle", "wb") as f:
            st.export(["app:v1"], f)

Every call raises an arca.Error subclass (NotFound, Exists, Corrupt, ...)
with the library's message when it fails. A `progress` argument is a
callable taking a dict (phase, items_done, items_total, bytes_done,
bytes_total, phase_end); returning True cancels the operation, which then
raises Cancelled (as does an exception the callable raises, chained).

The library is found as $ARCA_LIBRARY, else libarca.so.0 on the loader's
path. A Store is one open store: open it once per process, share it
between threads.
"""
import ctypes
import ctypes.util
import os
import tempfile

__all__ = ["Store", "Error", "NotFound", "Exists", "Corrupt", "Locked", "Invalid", "IOError_",
           "Ambiguous", "Unsafe", "NoSpace", "Unsupported", "Referenced", "Auth", "Conflict",
           "Cancelled", "NotSupported", "version"]

# ---- the library ----

def _load():
    path = os.environ.get("ARCA_LIBRARY")
    if not path:
        path = ctypes.util.find_library("arca") or "libarca.so.0"
    return ctypes.CDLL(path)

_lib = _load()
_libc = ctypes.CDLL(None)
_libc.free.argtypes = [ctypes.c_void_p]

c_char_pp = ctypes.POINTER(ctypes.c_char_p)


class _Id(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_uint8 * 32)]


class _Label(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("value", ctypes.c_char_p)]


class _Progress(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("phase", ctypes.c_int), ("phase_name", ctypes.c_char_p),
                ("items_done", ctypes.c_uint64), ("items_total", ctypes.c_uint64),
                ("bytes_done", ctypes.c_uint64), ("bytes_total", ctypes.c_uint64),
                ("phase_end", ctypes.c_int), ("bytes_known", ctypes.c_uint64)]


_PROGRESS_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_Progress), ctypes.c_void_p)
_WARN_CB = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)


class _StoreOptions(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("chunk_min", ctypes.c_uint32), ("chunk_avg", ctypes.c_uint32),
                ("chunk_max", ctypes.c_uint32), ("zstd_level", ctypes.c_int), ("threads", ctypes.c_uint),
                ("no_create", ctypes.c_int), ("lock_timeout_ms", ctypes.c_int),
                ("on_wait", ctypes.c_void_p), ("wait_payload", ctypes.c_void_p)]


class _OpStats(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint)] + [(n, ctypes.c_uint64) for n in (
        "entries", "entries_skipped", "logical_bytes", "bytes_read", "bytes_written", "hole_bytes",
        "chunks", "chunks_new", "new_raw_bytes", "new_stored_bytes", "files_unchanged",
        "bytes_compared", "entries_changed", "entries_removed", "files_changed", "entries_excluded",
        "entries_foreign", "setid_dropped")]


class _SnapshotOptions(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("name", ctypes.c_char_p), ("tag", ctypes.c_char_p),
                ("labels", ctypes.POINTER(_Label)), ("nlabels", ctypes.c_size_t), ("kind", ctypes.c_int),
                ("parent", ctypes.c_char_p), ("on_warning", _WARN_CB), ("warning_payload", ctypes.c_void_p),
                ("progress_cb", _PROGRESS_CB), ("progress_payload", ctypes.c_void_p)]


class _RestoreOptions(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("force", ctypes.c_int), ("progress_cb", _PROGRESS_CB),
                ("progress_payload", ctypes.c_void_p)]


class _RollbackOptions(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("checksum", ctypes.c_int), ("progress_cb", _PROGRESS_CB),
                ("progress_payload", ctypes.c_void_p), ("keep_allocation", ctypes.c_int),
                ("baseline", ctypes.c_char_p)]


class _DiffEntry(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("path", ctypes.c_char_p), ("changes", ctypes.c_uint),
                ("type_a", ctypes.c_char), ("type_b", ctypes.c_char),
                ("size_a", ctypes.c_uint64), ("size_b", ctypes.c_uint64)]


class _DiffStats(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint)] + [(n, ctypes.c_uint64) for n in (
        "added", "deleted", "modified", "ranges", "changed_bytes", "size_a", "size_b", "bytes_read")]


_DIFF_ENTRY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_DiffEntry), ctypes.c_void_p)
_DIFF_RANGE_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p)


class _Artifact(ctypes.Structure):
    _fields_ = [("id", _Id), ("kind", ctypes.c_int), ("logical_bytes", ctypes.c_uint64),
                ("data_bytes", ctypes.c_uint64), ("entries", ctypes.c_uint64), ("created_ns", ctypes.c_int64),
                ("name", ctypes.c_char_p), ("tag", ctypes.c_char_p), ("labels", ctypes.POINTER(_Label)),
                ("nlabels", ctypes.c_size_t), ("has_parent", ctypes.c_int), ("parent", _Id),
                ("manifest_bytes", ctypes.c_uint64)]


_ARTIFACT_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_Artifact), ctypes.c_void_p)
_REF_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_Id), ctypes.c_void_p)


class _SyncOptions(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("access_key", ctypes.c_char_p), ("secret_key", ctypes.c_char_p),
                ("session_token", ctypes.c_char_p), ("jobs", ctypes.c_uint), ("force", ctypes.c_int),
                ("progress_cb", _PROGRESS_CB), ("progress_payload", ctypes.c_void_p),
                ("tmp_dir", ctypes.c_char_p)]


class _SyncResult(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint)] + [(n, ctypes.c_uint64) for n in (
        "artifacts", "chunks", "bytes", "objects", "requests", "refs_moved")]


class _EnvCreateOptions(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("backend", ctypes.c_char_p), ("name", ctypes.c_char_p),
                ("labels", ctypes.POINTER(_Label)), ("nlabels", ctypes.c_size_t),
                ("settings", c_char_pp), ("custom", ctypes.c_void_p),
                ("progress_cb", _PROGRESS_CB), ("progress_payload", ctypes.c_void_p)]


class _EnvResetOptions(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("progress_cb", _PROGRESS_CB), ("progress_payload", ctypes.c_void_p)]


class _EnvExecOptions(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("argv", c_char_pp), ("envp", c_char_pp),
                ("cwd", ctypes.c_char_p), ("timeout_s", ctypes.c_uint), ("stdin_fd", ctypes.c_int),
                ("stdout_fd", ctypes.c_int), ("stderr_fd", ctypes.c_int), ("isolate", ctypes.c_int),
                ("net", ctypes.c_int)]


class _EnvInfo(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("name", ctypes.c_char_p), ("backend", ctypes.c_char_p),
                ("state", ctypes.c_int), ("source", _Id), ("current", _Id), ("kind", ctypes.c_int),
                ("created_ns", ctypes.c_int64), ("labels", ctypes.POINTER(_Label)), ("nlabels", ctypes.c_size_t),
                ("dir", ctypes.c_char_p), ("error", ctypes.c_char_p), ("settings", c_char_pp),
                ("nsettings", ctypes.c_size_t), ("capabilities", ctypes.c_uint)]


def _sig(name, res, *args):
    f = getattr(_lib, name)
    f.restype = res
    f.argtypes = list(args)
    return f


_P = ctypes.c_void_p
_S = ctypes.c_char_p
_I = ctypes.c_int
_sig("arca_version", _S)
_sig("arca_error_last", _S)
_sig("arca_error_name", _S, _I)
_sig("arca_id_format", None, ctypes.c_char_p, ctypes.POINTER(_Id))
_sig("arca_store_open", _I, ctypes.POINTER(_P), _S, ctypes.POINTER(_StoreOptions))
_sig("arca_store_free", None, _P)
_sig("arca_snapshot", _I, ctypes.POINTER(_Id), _P, _S, ctypes.POINTER(_SnapshotOptions), ctypes.POINTER(_OpStats))
_sig("arca_restore", _I, _P, _S, _S, ctypes.POINTER(_RestoreOptions), ctypes.POINTER(_OpStats))
_sig("arca_rollback", _I, _P, _S, _S, ctypes.POINTER(_RollbackOptions), ctypes.POINTER(_OpStats))
_sig("arca_diff", _I, _P, _S, _S, _S, _DIFF_ENTRY_CB, _DIFF_RANGE_CB, _P, ctypes.POINTER(_DiffStats))
_sig("arca_resolve", _I, ctypes.POINTER(_Id), _P, _S)
_sig("arca_tag_set", _I, _P, _S, _S)
_sig("arca_tag_delete", _I, _P, _S)
_sig("arca_ref_foreach", _I, _P, _REF_CB, _P)
_sig("arca_artifact_lookup", _I, ctypes.POINTER(ctypes.POINTER(_Artifact)), _P, ctypes.POINTER(_Id))
_sig("arca_artifact_free", None, ctypes.POINTER(_Artifact))
_sig("arca_artifact_foreach", _I, _P, _ARTIFACT_CB, _P)
_sig("arca_remote_add", _I, _P, _S, _S, _S, _I)
_sig("arca_remote_remove", _I, _P, _S)
_sig("arca_push", _I, ctypes.POINTER(_SyncResult), _P, _S, c_char_pp, ctypes.c_size_t, ctypes.POINTER(_SyncOptions))
_sig("arca_pull", _I, ctypes.POINTER(_SyncResult), _P, _S, c_char_pp, ctypes.c_size_t, ctypes.POINTER(_SyncOptions))
_sig("arca_export", _I, ctypes.POINTER(_SyncResult), _P, c_char_pp, ctypes.c_size_t, c_char_pp, ctypes.c_size_t,
     _I, ctypes.POINTER(_SyncOptions))
_sig("arca_import", _I, ctypes.POINTER(_SyncResult), _P, _I, ctypes.POINTER(_SyncOptions))
_sig("arca_env_create", _I, _P, _S, ctypes.POINTER(_EnvCreateOptions), ctypes.POINTER(ctypes.c_void_p))
_sig("arca_env_lookup", _I, ctypes.POINTER(ctypes.POINTER(_EnvInfo)), _P, _S)
_sig("arca_env_info_free", None, ctypes.POINTER(_EnvInfo))
_sig("arca_env_exec", _I, _P, _S, ctypes.POINTER(_EnvExecOptions), ctypes.POINTER(_I))
_sig("arca_env_snapshot", _I, _P, _S, ctypes.POINTER(_SnapshotOptions), ctypes.POINTER(_Id))
_sig("arca_env_reset_ext", _I, _P, _S, _S, ctypes.POINTER(_EnvResetOptions))
_sig("arca_env_remove", _I, _P, _S)
_sig("arca_env_pause", _I, _P, _S)
_sig("arca_env_resume", _I, _P, _S)

# ---- errors ----


class Error(Exception):
    """A failed arca call: .code (the library's negative code), .name ("ENOTFOUND")."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.name = (_lib.arca_error_name(code) or b"ERROR").decode()


class NotFound(Error): pass
class Exists(Error): pass
class Corrupt(Error): pass
class Locked(Error): pass
class Invalid(Error): pass
class IOError_(Error): pass
class Ambiguous(Error): pass
class Unsafe(Error): pass
class NoSpace(Error): pass
class Unsupported(Error): pass
class Referenced(Error): pass
class Auth(Error): pass
class Conflict(Error): pass
class Cancelled(Error): pass
class NotSupported(Error): pass


_ERRORS = {-2: NotFound, -3: Exists, -4: Corrupt, -5: Locked, -6: Invalid, -7: IOError_, -9: Ambiguous,
           -10: Unsafe, -11: NoSpace, -12: Unsupported, -13: Referenced, -14: Auth, -15: Conflict,
           -16: Cancelled, -17: NotSupported}


def _check(rc, progress=None):
    if rc == 0:
        return
    msg = (_lib.arca_error_last() or b"").decode(errors="replace")
    err = _ERRORS.get(rc, Error)(rc, msg)
    if progress is not None and progress.raised is not None:
        raise err from progress.raised
    raise err


def version():
    """The library's version ("0.1.0")."""
    return _lib.arca_version().decode()


def _b(s):
    return None if s is None else os.fsencode(s)


def _id_str(i):
    buf = ctypes.create_string_buffer(69)
    _lib.arca_id_format(buf, ctypes.byref(i))
    return buf.value.decode()


def _strv(items):
    arr = (ctypes.c_char_p * (len(items) + 1))(*[_b(x) for x in items], None)
    return arr


def _labels(d):
    d = d or {}
    arr = (_Label * max(len(d), 1))()
    for i, (k, v) in enumerate(d.items()):
        arr[i].key, arr[i].value = _b(k), _b(v)
    return arr, len(d)


class _Progress_:
    """A Python callable as an arca_progress_cb (kept alive by its owner)."""

    def __init__(self, fn):
        self.fn, self.raised = fn, None
        self.cb = _PROGRESS_CB(self._call) if fn else _PROGRESS_CB()

    def _call(self, p, _payload):
        if self.raised is not None:
            return 1
        q = p.contents
        try:
            return 1 if self.fn({"phase": (q.phase_name or b"").decode(), "items_done": q.items_done,
                                 "items_total": q.items_total, "bytes_done": q.bytes_done,
                                 "bytes_total": q.bytes_total, "phase_end": bool(q.phase_end),
                                 "bytes_known": q.bytes_known if q.version >= 2 else 0}) else 0
        except BaseException as e:  # noqa: B902 - carried to the caller
            self.raised = e
            return 1


def _artifact_dict(a):
    return {"id": _id_str(a.id), "kind": {1: "tree", 2: "image"}.get(a.kind, "?"),
            "logical_bytes": a.logical_bytes, "data_bytes": a.data_bytes, "entries": a.entries,
            "created_ns": a.created_ns, "name": a.name.decode() if a.name else None,
            "tag": a.tag.decode() if a.tag else None,
            "labels": {a.labels[i].key.decode(): a.labels[i].value.decode() for i in range(a.nlabels)},
            "parent": _id_str(a.parent) if a.has_parent else None}


def _sync_options(progress, jobs=0, force=False):
    o = _SyncOptions(1)
    env = os.environ
    o.access_key, o.secret_key = _b(env.get("AWS_ACCESS_KEY_ID")), _b(env.get("AWS_SECRET_ACCESS_KEY"))
    o.session_token = _b(env.get("AWS_SESSION_TOKEN"))
    o.jobs, o.force = jobs, int(bool(force))
    o.progress_cb = progress.cb
    return o


def _result_dict(r):
    return {n: getattr(r, n) for n, _ in _SyncResult._fields_[1:]}


def _fileno(f):
    return f if isinstance(f, int) else f.fileno()


class Store:
    """One open store (a directory: created unless create=False)."""

    def __init__(self, path, create=True, wait=True):
        o = _StoreOptions(1)
        o.no_create = int(not create)
        o.lock_timeout_ms = -1 if wait else 0
        self._h = ctypes.c_void_p()
        _check(_lib.arca_store_open(ctypes.byref(self._h), _b(path), ctypes.byref(o)))

    def close(self):
        if self._h:
            _lib.arca_store_free(self._h)
            self._h = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---- artifacts ----

    def snapshot(self, path, name=None, tag=None, labels=None, kind=None, parent=None, progress=None):
        """Stores the tree or image at path; returns the artifact's id."""
        pr = _Progress_(progress)
        o = _SnapshotOptions(2)
        o.name, o.tag, o.parent = _b(name), _b(tag), _b(parent)
        larr, o.nlabels = _labels(labels)
        o.labels = larr
        o.kind = {None: 0, "tree": 1, "image": 2}[kind]
        o.progress_cb = pr.cb
        out = _Id()
        _check(_lib.arca_snapshot(ctypes.byref(out), self._h, _b(path), ctypes.byref(o), None), pr)
        return _id_str(out)

    def restore(self, ref, dest, force=False, progress=None):
        pr = _Progress_(progress)
        o = _RestoreOptions(2, int(bool(force)), pr.cb, None)
        st = _OpStats(1)
        _check(_lib.arca_restore(self._h, _b(ref), _b(dest), ctypes.byref(o), ctypes.byref(st)), pr)
        return {n: getattr(st, n) for n, _ in _OpStats._fields_[1:]}

    def rollback(self, ref, dest, checksum=False, baseline=None, progress=None):
        """Puts the existing dest back to ref in place."""
        pr = _Progress_(progress)
        o = _RollbackOptions(3, int(bool(checksum)), pr.cb, None, 0, _b(baseline))
        st = _OpStats(1)
        _check(_lib.arca_rollback(self._h, _b(ref), _b(dest), ctypes.byref(o), ctypes.byref(st)), pr)
        return {n: getattr(st, n) for n, _ in _OpStats._fields_[1:]}

    def diff(self, ref_a, ref_b=None, path=None):
        """Trees: a list of {"kind": "A"|"D"|"M", "path", "changes", ...};
        images: a list of (offset, length) ranges."""
        out = []

        def entry(e, _p):
            q = e.contents
            out.append({"kind": chr(q.kind), "path": os.fsdecode(q.path), "changes": q.changes,
                        "size_a": q.size_a, "size_b": q.size_b})
            return 0

        def rng(off, length, _p):
            out.append((off, length))
            return 0

        ecb, rcb = _DIFF_ENTRY_CB(entry), _DIFF_RANGE_CB(rng)
        st = _DiffStats(1)
        _check(_lib.arca_diff(self._h, _b(ref_a), _b(ref_b), _b(path), ecb, rcb, None, ctypes.byref(st)))
        return out

    def resolve(self, ref):
        out = _Id()
        _check(_lib.arca_resolve(ctypes.byref(out), self._h, _b(ref)))
        return _id_str(out)

    def show(self, ref):
        """One artifact's metadata, as a dict."""
        i = _Id()
        _check(_lib.arca_resolve(ctypes.byref(i), self._h, _b(ref)))
        p = ctypes.POINTER(_Artifact)()
        _check(_lib.arca_artifact_lookup(ctypes.byref(p), self._h, ctypes.byref(i)))
        try:
            return _artifact_dict(p.contents)
        finally:
            _lib.arca_artifact_free(p)

    def ls(self):
        """Every artifact, oldest first."""
        out = []
        cb = _ARTIFACT_CB(lambda a, _p: out.append(_artifact_dict(a.contents)) or 0)
        _check(_lib.arca_artifact_foreach(self._h, cb, None))
        return out

    def tag(self, ref, name_tag):
        _check(_lib.arca_tag_set(self._h, _b(ref), _b(name_tag)))

    def untag(self, name_tag):
        _check(_lib.arca_tag_delete(self._h, _b(name_tag)))

    def refs(self):
        """{"NAME:TAG": id} for every ref."""
        out = {}
        cb = _REF_CB(lambda n, t, i, _p: out.__setitem__(f"{n.decode()}:{t.decode()}", _id_str(i.contents)) or 0)
        _check(_lib.arca_ref_foreach(self._h, cb, None))
        return out

    # ---- sync ----

    def remote_add(self, name, url, region=None, insecure_http=False):
        _check(_lib.arca_remote_add(self._h, _b(name), _b(url), _b(region), int(bool(insecure_http))))

    def remote_remove(self, name):
        _check(_lib.arca_remote_remove(self._h, _b(name)))

    def push(self, remote, refs, jobs=0, force=False, progress=None):
        pr = _Progress_(progress)
        o, r = _sync_options(pr, jobs, force), _SyncResult(1)
        _check(_lib.arca_push(ctypes.byref(r), self._h, _b(remote), _strv(refs), len(refs), ctypes.byref(o)), pr)
        return _result_dict(r)

    def pull(self, remote, refs, jobs=0, force=False, progress=None):
        pr = _Progress_(progress)
        o, r = _sync_options(pr, jobs, force), _SyncResult(1)
        _check(_lib.arca_pull(ctypes.byref(r), self._h, _b(remote), _strv(refs), len(refs), ctypes.byref(o)), pr)
        return _result_dict(r)

    def export(self, refs, file, since=(), progress=None):
        """Writes a bundle of refs to file (a file object or an fd)."""
        pr = _Progress_(progress)
        o, r = _sync_options(pr), _SyncResult(1)
        if hasattr(file, "flush"):
            file.flush()
        _check(_lib.arca_export(ctypes.byref(r), self._h, _strv(refs), len(refs), _strv(list(since)), len(since),
                                _fileno(file), ctypes.byref(o)), pr)
        return _result_dict(r)

    def import_(self, file, progress=None):
        """Reads a bundle from file (a file object or an fd)."""
        pr = _Progress_(progress)
        o, r = _sync_options(pr), _SyncResult(1)
        _check(_lib.arca_import(ctypes.byref(r), self._h, _fileno(file), ctypes.byref(o)), pr)
        return _result_dict(r)

    # ---- envs ----

    def env_create(self, ref, backend="dir", name=None, labels=None, settings=None, progress=None):
        """Makes an env from ref; returns its name."""
        pr = _Progress_(progress)
        o = _EnvCreateOptions(2)
        o.progress_cb = pr.cb
        o.backend, o.name = _b(backend), _b(name)
        larr, o.nlabels = _labels(labels)
        o.labels = larr
        sv = _strv([f"{k}={v}" for k, v in (settings or {}).items()])
        o.settings = sv
        out = ctypes.c_void_p()
        _check(_lib.arca_env_create(self._h, _b(ref), ctypes.byref(o), ctypes.byref(out)), pr)
        try:
            return ctypes.string_at(out).decode()
        finally:
            _libc.free(out)

    def env_show(self, name):
        p = ctypes.POINTER(_EnvInfo)()
        _check(_lib.arca_env_lookup(ctypes.byref(p), self._h, _b(name)))
        try:
            e = p.contents
            return {"name": e.name.decode(), "backend": e.backend.decode(),
                    "state": {1: "creating", 2: "active", 3: "paused", 4: "destroyed", 5: "failed"}.get(e.state),
                    "source": _id_str(e.source), "current": _id_str(e.current),
                    "kind": {1: "tree", 2: "image"}.get(e.kind), "dir": os.fsdecode(e.dir) if e.dir else None,
                    "error": e.error.decode() if e.error else None,
                    "settings": [e.settings[i].decode() for i in range(e.nsettings)]}
        finally:
            _lib.arca_env_info_free(p)

    def env_exec(self, name, argv, env=None, cwd=None, timeout=0, input=None):
        """Runs argv in the env; returns (status, stdout bytes, stderr bytes)."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
                tempfile.TemporaryFile() as inp:
            if input is not None:
                inp.write(input)
                inp.seek(0)
            o = _EnvExecOptions(1)
            av, ev = _strv(list(argv)), _strv([f"{k}={v}" for k, v in (env or {}).items()])
            o.argv, o.envp, o.cwd, o.timeout_s = av, ev, _b(cwd), int(timeout)
            o.stdin_fd = inp.fileno() if input is not None else -1
            o.stdout_fd, o.stderr_fd = out.fileno(), err.fileno()
            status = ctypes.c_int()
            _check(_lib.arca_env_exec(self._h, _b(name), ctypes.byref(o), ctypes.byref(status)))
            out.seek(0)
            err.seek(0)
            return status.value, out.read(), err.read()

    def env_snapshot(self, name, tag=None, artifact_name=None):
        o = _SnapshotOptions(2)
        o.tag, o.name = _b(tag), _b(artifact_name)
        out = _Id()
        _check(_lib.arca_env_snapshot(self._h, _b(name), ctypes.byref(o), ctypes.byref(out)))
        return _id_str(out)

    def env_reset(self, name, ref=None, progress=None):
        pr = _Progress_(progress)
        o = _EnvResetOptions(1, pr.cb, None)
        _check(_lib.arca_env_reset_ext(self._h, _b(name), _b(ref), ctypes.byref(o)), pr)

    def env_pause(self, name):
        _check(_lib.arca_env_pause(self._h, _b(name)))

    def env_resume(self, name):
        _check(_lib.arca_env_resume(self._h, _b(name)))

    def env_rm(self, name):
        _check(_lib.arca_env_remove(self._h, _b(name)))
