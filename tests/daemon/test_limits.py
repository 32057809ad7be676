# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""Limits against abusive clients, each answered with a 4xx or a closed
connection, after which the daemon still answers: body size (413), head size
(431), descriptors / entries per request and key / value length (400, gRPC
INVALID_ARGUMENT), connection count, idle connections and slow requests
(slowloris)."""

import time
import unittest

from harness import (DaemonTest, SharedDaemonTest, connect, grpc_channel, grpc_modules, read_http_response, rls_json,
                     rls_proto, wait_closed, wait_for)

RULES = """\
domain: e2e
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: 1000
"""

LIMITS = {
    "max_body_bytes": 2048,
    "max_header_bytes": 2048,
    "max_descriptors": 4,
    "max_entries": 3,
    "max_key_bytes": 16,
    "max_value_bytes": 32,
}


def healthz_raw(sock):
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: e2e\r\n\r\n")
    return read_http_response(sock)


class SizeLimitTest(SharedDaemonTest):
    RULES = {"e2e.yaml": RULES}
    CONFIG = {"limits": LIMITS}

    def tearDown(self):
        # Whatever a test sent, the daemon still answers.
        self.assertStatus(self.daemon.get("/healthz"), 200, "after the abuse")
        r = self.daemon.post("/json", rls_json("e2e", [("user", "still-ok")]))
        self.assertStatus(r, 200, "after the abuse")

    def test_body_too_large_is_413(self):
        for path in ("/json", "/v1/decide", "/admin/import"):
            with self.subTest(path=path):
                r = self.daemon.post(path, b"{" + b" " * 4096 + b"}")
                self.assertStatus(r, 413)
        # A body of exactly the limit is taken.
        text = '{"domain": "e2e", "descriptors": [{"entries": [{"key": "user", "value": "pad"}]}]}'
        padded = text[:-1] + " " * (LIMITS["max_body_bytes"] - len(text)) + "}"
        self.assertEqual(len(padded), LIMITS["max_body_bytes"])
        self.assertStatus(self.daemon.post("/json", padded), 200)

    def test_large_body_on_a_raw_socket(self):
        # A client that announces 10 MB gets 413 without the server reading it all.
        host, port = self.daemon.http_host_port()
        with connect(host, port) as s:
            s.sendall(b"POST /json HTTP/1.1\r\nHost: e2e\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 10000000\r\n\r\n" + b"{" * 4096)
            resp = read_http_response(s)
            self.assertIsNotNone(resp, "closed without an answer")
            self.assertEqual(resp[0], 413)
        # Chunked bodies are counted too.
        with connect(host, port) as s:
            s.sendall(b"POST /json HTTP/1.1\r\nHost: e2e\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(8):
                s.sendall(b"400\r\n" + b" " * 1024 + b"\r\n")
            resp = read_http_response(s)
            self.assertIsNotNone(resp, "closed without an answer")
            self.assertEqual(resp[0], 413)

    def test_head_too_large_is_431(self):
        r = self.daemon.get("/healthz", headers=["X-Padding: " + "a" * 4096])
        self.assertStatus(r, 431)
        many = [f"X-H{i}: {'b' * 40}" for i in range(100)]
        self.assertStatus(self.daemon.get("/healthz", headers=many), 431)
        target = "/healthz?" + "q" * 4096
        self.assertStatus(self.daemon.get(target), 431)

    def test_too_many_descriptors_or_entries(self):
        five = rls_json("e2e", *[[("user", f"d{i}")] for i in range(5)])
        four = rls_json("e2e", *[[("user", f"d{i}")] for i in range(4)])
        self.assertStatus(self.daemon.post("/json", five), 400)
        self.assertStatus(self.daemon.post("/json", four), 200)
        entries4 = rls_json("e2e", [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")])
        entries3 = rls_json("e2e", [("a", "1"), ("b", "2"), ("c", "3")])
        self.assertStatus(self.daemon.post("/json", entries4), 400)
        self.assertStatus(self.daemon.post("/json", entries3), 200)
        lookup4 = {"domain": "e2e", "entries": [{"key": k, "value": "v"} for k in "abcd"]}
        self.assertStatus(self.daemon.post("/v1/decide", lookup4), 400)

    def test_key_and_value_length(self):
        k16, k17 = "k" * 16, "k" * 17
        v32, v33 = "v" * 32, "v" * 33
        self.assertStatus(self.daemon.post("/json", rls_json("e2e", [(k17, "x")])), 400)
        self.assertStatus(self.daemon.post("/json", rls_json("e2e", [(k16, "x")])), 200)
        self.assertStatus(self.daemon.post("/json", rls_json("e2e", [("user", v33)])), 400)
        self.assertStatus(self.daemon.post("/json", rls_json("e2e", [("user", v32)])), 200)
        lim = {"algorithm": "fixed_window", "limit": 5, "period": "1h"}
        self.assertStatus(self.daemon.post("/v1/decide", {"key": k17, "limit": lim}), 400)
        self.assertStatus(self.daemon.post("/v1/decide", {"key": k16, "limit": lim}), 200)
        self.assertStatus(self.daemon.post("/v1/decide", {"domain": "e2e", "entries": [
            {"key": "user", "value": v33}]}), 400)

    def test_grpc_limits_are_invalid_argument(self):
        grpc, _, rls_pb2_grpc, _, _, _ = grpc_modules()
        with grpc_channel(self.daemon.grpc_addr) as channel:
            stub = rls_pb2_grpc.RateLimitServiceStub(channel)
            bad = {
                "5 descriptors": rls_proto("e2e", *[[("user", f"g{i}")] for i in range(5)]),
                "4 entries": rls_proto("e2e", [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]),
                "17-byte key": rls_proto("e2e", [("k" * 17, "x")]),
                "33-byte value": rls_proto("e2e", [("user", "v" * 33)]),
            }
            for case, req in bad.items():
                with self.subTest(case=case):
                    with self.assertRaises(grpc.RpcError) as cm:
                        stub.ShouldRateLimit(req, timeout=5)
                    self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            big = rls_proto("e2e", [("user", "x")])
            big.domain = "e2e" + "x" * 4096  # a message over max_body_bytes
            with self.assertRaises(grpc.RpcError) as cm:
                stub.ShouldRateLimit(big, timeout=5)
            self.assertIn(cm.exception.code(), (grpc.StatusCode.RESOURCE_EXHAUSTED,
                                                grpc.StatusCode.INVALID_ARGUMENT))
            ok = stub.ShouldRateLimit(rls_proto("e2e", *[[("user", f"g{i}")] for i in range(4)]), timeout=5)
            self.assertEqual(len(ok.statuses), 4)

    def test_malformed_http(self):
        host, port = self.daemon.http_host_port()
        for garbage in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n",
                        b"GET / HTTP/9.9\r\n\r\n",
                        b"POST /json HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                        b"POST /json HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"):
            with self.subTest(garbage=garbage[:30]):
                with connect(host, port) as s:
                    s.sendall(garbage)
                    closed, data = wait_closed(s, 5)
                    self.assertTrue(closed, f"still open after {garbage[:30]!r}")
                    if data:
                        self.assertRegex(data.decode("latin-1"), r"^HTTP/1\.[01] 4\d\d ")


class ConnectionLimitTest(DaemonTest):
    def test_connections_beyond_the_limit_are_closed(self):
        d = self.ws.start({"limits": {"max_connections": 8}})
        host, port = d.http_host_port()
        held = []
        try:
            for i in range(8):
                s = connect(host, port)
                held.append(s)
                resp = healthz_raw(s)
                self.assertIsNotNone(resp, f"connection {i + 1} of 8 was refused")
                self.assertEqual(resp[0], 200)
            # The 9th is accepted and closed at once.
            extra = connect(host, port)
            try:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: e2e\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            closed, data = wait_closed(extra, 5)
            extra.close()
            self.assertTrue(closed, "the 9th connection was kept open")
            self.assertNotIn(b" 200 ", data, "the 9th connection was served")
            # The held ones still work.
            for s in held:
                self.assertEqual(healthz_raw(s)[0], 200)
            # Closing one frees a place.
            held.pop().close()

            def ninth_served():
                with connect(host, port) as s:
                    try:
                        resp = healthz_raw(s)
                    except OSError:
                        return False
                    return resp is not None and resp[0] == 200
            wait_for(ninth_served, 10, interval=0.05, what="a freed connection slot")
        finally:
            for s in held:
                s.close()
        self.assertStatus(d.get("/healthz"), 200)


class TimeoutTest(DaemonTest):
    def test_idle_connection_is_closed(self):
        d = self.ws.start({"limits": {"idle_timeout": "300ms", "request_timeout": "60s"}})
        host, port = d.http_host_port()
        with connect(host, port) as s:
            self.assertEqual(healthz_raw(s)[0], 200)
            started = time.monotonic()
            closed, data = wait_closed(s, 10)
            self.assertTrue(closed, "an idle keep-alive connection was kept for 10 s")
            self.assertEqual(data, b"")
            self.assertLess(time.monotonic() - started, 5)
        # A connection that never sends anything is idle too.
        with connect(host, port) as s:
            closed, _ = wait_closed(s, 10)
            self.assertTrue(closed, "a silent connection was kept for 10 s")
        self.assertStatus(d.get("/healthz"), 200)

    def test_slow_request_is_cut_off(self):
        # Slowloris: a head trickled a byte at a time is never idle, but it
        # must be complete within request_timeout.
        d = self.ws.start({"limits": {"idle_timeout": "60s", "request_timeout": "800ms"}})
        host, port = d.http_host_port()
        with connect(host, port) as s:
            s.sendall(b"POST /json HTTP/1.1\r\nHost: e2e\r\n")
            started = time.monotonic()
            closed = False
            data = b""
            while time.monotonic() - started < 10:
                try:
                    s.sendall(b"X")
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                closed, more = wait_closed(s, 0.1)  # the pace of the trickle
                data += more
                if closed:
                    break
            self.assertTrue(closed, "a trickled request was kept for 10 s")
            self.assertLess(time.monotonic() - started, 5)
            if data:
                self.assertRegex(data.decode("latin-1"), r"^HTTP/1\.1 408 ")
        # A slow body counts too.
        with connect(host, port) as s:
            s.sendall(b"POST /json HTTP/1.1\r\nHost: e2e\r\nContent-Length: 1000\r\n\r\n{")
            closed, data = wait_closed(s, 10)
            self.assertTrue(closed, "a request with a missing body was kept for 10 s")
            if data:
                self.assertRegex(data.decode("latin-1"), r"^HTTP/1\.1 408 ")
        self.assertStatus(d.get("/healthz"), 200)


if __name__ == "__main__":
    unittest.main()
