#!/usr/bin/env python3
"""Loopback HTTP server for tests/test_transport_s3.c: answers 500 to the
requests it is told to, and otherwise proxies to an upstream (radosgw,
signatures intact: the Host header is passed on) or serves one file for
every path while ignoring Range.

  flaky_http.py proxy UPSTREAM_PORT | flaky_http.py static FILE

Prints its port on stdout once it listens. Control paths (not counted):
  GET /__arca/fail/N/before[/CODE]   the next N requests get 500 (or CODE) at once
  GET /__arca/fail/N/after           the next N are forwarded, then answered 500
  GET /__arca/fail/N/stall           the next N get no answer for 3 s
  GET /__arca/count           requests seen so far
"""
import http.client
import http.server
import sys
import threading
import time

MODE, ARG = sys.argv[1], sys.argv[2]
LOCK = threading.Lock()
STATE = {"fail": 0, "when": "before", "code": 500, "count": 0}
ERR = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code></Error>'
HOP = ("connection", "keep-alive", "transfer-encoding", "content-length")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=(), length=None):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/__arca/"):
            p = self.path.split("/")
            with LOCK:
                if p[2] == "fail":
                    STATE["fail"], STATE["when"] = int(p[3]), p[4]
                    STATE["code"] = int(p[5]) if len(p) > 5 else 500
                c = STATE["count"]
            return self.reply(200, str(c).encode())
        with LOCK:
            STATE["count"] += 1
            fail = STATE["fail"] > 0
            if fail:
                STATE["fail"] -= 1
            when, code = STATE["when"], STATE["code"]
        if fail and when == "stall":
            time.sleep(3)
            self.close_connection = True
            return
        if fail and when == "before":
            return self.reply(code, ERR, [("Content-Type", "application/xml")])
        if MODE == "static":
            with open(ARG, "rb") as f:
                data = f.read()
            return self.reply(200, data)  # Range ignored on purpose
        conn = http.client.HTTPConnection("127.0.0.1", int(ARG), timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        conn.request(self.command, self.path, body=body if self.command in ("PUT", "POST") else None,
                     headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        length = r.getheader("Content-Length") if self.command == "HEAD" else None
        conn.close()
        if fail:
            return self.reply(500, ERR, [("Content-Type", "application/xml")])
        hl = [(k, v) for k, v in r.getheaders() if k.lower() not in HOP]
        self.reply(r.status, data, hl, length)

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = any


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
srv.serve_forever()
