"""The Python binding against the real library (ARCA_LIBRARY: the build's
libarca.so), run by ctest: every call of the binding, on real files."""
import os
import shutil
import tempfile
import unittest

import arca


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Binding(unittest.TestCase):
    def setUp(self):
        self.t = tempfile.mkdtemp(prefix="arca-py-")
        self.src = os.path.join(self.t, "src")
        write(os.path.join(self.src, "a.txt"), b"alpha\n")
        write(os.path.join(self.src, "sub", "b.bin"), os.urandom(300000))
        self.st = arca.Store(os.path.join(self.t, "store"))

    def tearDown(self):
        self.st.close()
        shutil.rmtree(self.t)

    def p(self, *parts):
        return os.path.join(self.t, *parts)

    def test_version(self):
        self.assertRegex(arca.version(), r"^\d+\.\d+\.\d+$")

    def test_snapshot_show_ls_restore(self):
        art = self.st.snapshot(self.src, name="app", tag="v1", labels={"team": "qa"})
        self.assertRegex(art, r"^art_[0-9a-f]{64}$")
        info = self.st.show("app:v1")
        self.assertEqual(info["id"], art)
        self.assertEqual(info["kind"], "tree")
        self.assertEqual(info["labels"], {"team": "qa"})
        self.assertEqual([a["id"] for a in self.st.ls()], [art])
        stats = self.st.restore("app:v1", self.p("out"))
        self.assertEqual(read(self.p("out", "sub", "b.bin")), read(os.path.join(self.src, "sub", "b.bin")))
        self.assertGreater(stats["logical_bytes"], 300000)
        self.assertEqual(self.st.resolve(art[4:16]), art)

    def test_errors_are_typed(self):
        with self.assertRaises(arca.NotFound) as cm:
            self.st.show("nosuch:tag")
        self.assertEqual(cm.exception.name, "ENOTFOUND")
        self.assertIn("nosuch", str(cm.exception))
        self.st.snapshot(self.src, name="app")
        os.mkdir(self.p("full"))
        write(self.p("full", "x"), b"x")
        with self.assertRaises(arca.Exists):
            self.st.restore("app", self.p("full"))
        with self.assertRaises(arca.Invalid):
            self.st.snapshot(self.src, name="../bad")
        with self.assertRaises(arca.Invalid):
            arca.Store(self.p("store"))  # the same store twice in one process

    def test_diff_rollback(self):
        self.st.snapshot(self.src, name="app", tag="v1")
        write(os.path.join(self.src, "a.txt"), b"changed\n")
        write(os.path.join(self.src, "new.txt"), b"new\n")
        self.st.snapshot(self.src, name="app", tag="v2")
        d = {e["path"]: e["kind"] for e in self.st.diff("app:v1", "app:v2")}
        self.assertEqual(d, {"": "M", "a.txt": "M", "new.txt": "A"})  # "": the root (its mtime)
        self.st.restore("app:v2", self.p("work"))
        stats = self.st.rollback("app:v1", self.p("work"))
        self.assertEqual(read(self.p("work", "a.txt")), b"alpha\n")
        self.assertFalse(os.path.exists(self.p("work", "new.txt")))
        self.assertGreaterEqual(stats["entries_removed"], 1)
        live = self.st.diff("app:v1", path=self.p("work"))
        self.assertEqual(live, [])

    def test_image_diff_ranges(self):
        img = self.p("disk.img")
        with open(img, "wb") as f:
            f.truncate(4 << 20)
            f.seek(1 << 20)
            f.write(os.urandom(65536))
        self.st.snapshot(img, name="disk", tag="v1")
        with open(img, "r+b") as f:
            f.seek(3 << 20)
            f.write(b"\xff" * 4096)
        ranges = self.st.diff("disk:v1", path=img)
        self.assertTrue(ranges and all(isinstance(r, tuple) for r in ranges))
        self.assertTrue(any(off <= 3 << 20 < off + n for off, n in ranges), ranges)

    def test_tags_and_refs(self):
        art = self.st.snapshot(self.src, name="app", tag="v1")
        self.st.tag(art, "app:stable")
        self.assertEqual(self.st.refs()["app:stable"], art)
        self.st.untag("app:stable")
        self.assertNotIn("app:stable", self.st.refs())
        with self.assertRaises(arca.NotFound):
            self.st.untag("app:stable")

    def test_progress_and_cancel(self):
        calls = []
        self.st.snapshot(self.src, name="app", progress=lambda p: calls.append(p) and False)
        self.assertTrue(calls and calls[-1]["phase_end"] and calls[-1]["phase"] == "chunk")
        with self.assertRaises(arca.Cancelled):
            self.st.restore("app", self.p("cancelled"), progress=lambda p: True)

        def boom(p):
            raise KeyError("from the callable")
        with self.assertRaises(arca.Cancelled) as cm:
            self.st.restore("app", self.p("boom"), progress=boom)
        self.assertIsInstance(cm.exception.__cause__, KeyError)

    def test_push_pull_export_import(self):
        self.st.snapshot(self.src, name="app", tag="v1")
        self.st.remote_add("mirror", self.p("remote"))
        r = self.st.push("mirror", ["app:v1"])
        self.assertEqual(r["artifacts"], 1)
        bundle = self.p("app.bundle")
        with open(bundle, "wb") as f:
            self.st.export(["app:v1"], f)
        self.st.close()
        other = arca.Store(self.p("store2"))
        try:
            other.remote_add("mirror", self.p("remote"))
            self.assertEqual(other.pull("mirror", ["app:v1"])["artifacts"], 1)
            other.restore("app:v1", self.p("pulled"))
            self.assertEqual(read(self.p("pulled", "a.txt")), b"alpha\n")
        finally:
            other.close()
        third = arca.Store(self.p("store3"))
        try:
            with open(bundle, "rb") as f:
                self.assertEqual(third.import_(f)["artifacts"], 1)
            self.assertIn("app:v1", third.refs())
            with open(self.p("trunc.bundle"), "wb") as f:
                f.write(read(bundle)[:1000])
            with open(self.p("trunc.bundle"), "rb") as f, self.assertRaises(arca.Corrupt):
                third.import_(f)
        finally:
            third.close()
        self.st = arca.Store(self.p("store"))

    def test_env_lifecycle(self):
        self.st.snapshot(self.src, name="app", tag="v1")
        seen = []
        name = self.st.env_create("app:v1", name="e1", labels={"k": "v"}, progress=seen.append)
        self.assertTrue(seen and seen[-1]["phase"] == "write" and seen[-1]["phase_end"])
        self.assertEqual(name, "e1")
        info = self.st.env_show("e1")
        self.assertEqual((info["state"], info["backend"], info["kind"]), ("active", "dir", "tree"))
        status, out, err = self.st.env_exec("e1", ["sh", "-c", "cat a.txt; echo oops >&2; exit 3"])
        self.assertEqual((status, out, err), (3, b"alpha\n", b"oops\n"))
        status, out, _ = self.st.env_exec("e1", ["cat"], input=b"piped")
        self.assertEqual((status, out), (0, b"piped"))
        status, out, _ = self.st.env_exec("e1", ["sh", "-c", 'echo "$X"'], env={"X": "y z"})
        self.assertEqual(out, b"y z\n")
        self.assertEqual(self.st.env_exec("e1", ["sleep", "30"], timeout=1)[0], 124)
        self.st.env_exec("e1", ["sh", "-c", "echo more > new.txt"])
        snap = self.st.env_snapshot("e1", tag="s1")
        self.assertEqual(self.st.show("app:s1")["id"], snap)
        seen.clear()
        self.st.env_reset("e1", progress=seen.append)
        self.assertTrue(seen and seen[-1]["phase_end"])
        self.assertEqual(self.st.env_exec("e1", ["test", "-e", "new.txt"])[0], 1)
        self.st.env_reset("e1", "app:s1")
        self.assertEqual(self.st.env_exec("e1", ["cat", "new.txt"])[1], b"more\n")
        with self.assertRaises(arca.NotSupported):
            self.st.env_pause("e1")  # the dir backend cannot pause
        self.st.env_rm("e1")
        with self.assertRaises(arca.NotFound):
            self.st.env_show("e1")

    def test_context_manager(self):
        with arca.Store(self.p("store4")) as s:
            s.snapshot(self.src, name="x")
        with arca.Store(self.p("store4"), create=False) as s:
            self.assertEqual(len(s.ls()), 1)
        with self.assertRaises(arca.NotFound):
            arca.Store(self.p("nostore"), create=False)


if __name__ == "__main__":
    unittest.main()
