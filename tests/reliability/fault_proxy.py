"""A tiny fault-injecting HTTP proxy for S3 tests (moto has no fault API): it forwards every request to moto
byte-for-byte (same Host header, so SigV4 signatures still verify) and answers or delays the requests a rule
matches instead. Stdlib only; runs in a thread of the test process."""
from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FaultProxy:
    """rules: list of dicts {match: callable(method, path, query) -> bool, action: "status"|"stall"|"drop",
    status: int, seconds: float, times: int|None (None = forever)}. `log` holds (method, path, query, outcome)."""

    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.rules: list[dict] = []
        self.log: list[tuple] = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                url = urlsplit(self.path)
                query = parse_qs(url.query, keep_blank_values=True)
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                rule = proxy._take(self.command, url.path, query)
                if rule is not None:
                    action = rule.get("action", "status")
                    proxy._record(self.command, url.path, query, action)
                    if action == "stall":
                        proxy.stop_event.wait(rule.get("seconds", 30))
                    elif action == "drop":
                        self.close_connection = True
                        self.connection.close()
                        return
                    if action == "status":
                        status = int(rule.get("status", 500))
                        payload = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
                                   f'<Message>injected {status}</Message><RequestId>fault</RequestId></Error>'
                                   ).encode()
                        self.send_response(status)
                        self.send_header("Content-Type", "application/xml")
                        self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.write(payload)
                        return
                proxy._record(self.command, url.path, query, "forward")
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for k, v in self.headers.items():
                        conn.putheader(k, v)
                    conn.endheaders(body if body else None)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() in ("transfer-encoding", "connection", "content-length"):
                            continue
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def _take(self, method, path, query):
        with self.lock:
            for rule in self.rules:
                if rule["match"](method, path, query):
                    times = rule.get("times")
                    if times is not None:
                        if times <= 0:
                            continue
                        rule["times"] = times - 1
                    return rule
        return None

    def _record(self, method, path, query, outcome):
        with self.lock:
            self.log.append((method, path, {k: v for k, v in query.items()}, outcome, time.time()))

    def close(self):
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()


def is_upload_part(method, path, query) -> bool:
    return method == "PUT" and "partNumber" in query and "uploadId" in query
