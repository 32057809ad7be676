# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""The shipped examples stay true: examples/sluiced.yaml with
examples/rules/ passes --check-config and serves the README's demo (the curl
loop: five 200s, then 429 with Retry-After and RateLimit headers; the Python
gRPC client examples/rls_client.py), and the API gateway rules in
examples/rules/api.yaml mean what their comments say."""

import os
import subprocess
import unittest

from harness import SLUICED, SOURCE_DIR, DaemonTest, avoid_window_edge, rls_json

CONFIG = os.path.join(SOURCE_DIR, "examples", "sluiced.yaml")
CLIENT = os.path.join(SOURCE_DIR, "examples", "rls_client.py")


class ExamplesTest(DaemonTest):
    def setUp(self):
        super().setUp()
        # The example domain counts per minute.
        avoid_window_edge(margin=5, window=60)
        # The example's own listen addresses and data dir are overridden by
        # flags, so the test runs beside anything on 8080/8081.
        self.d = self.ws.start(with_config=False, cwd=SOURCE_DIR, args=[
            "--config", CONFIG, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--data-dir", self.ws.data_dir])

    def test_check_config(self):
        p = subprocess.run([SLUICED, "--config", CONFIG, "--check-config"], cwd=SOURCE_DIR, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_readme_curl_demo(self):
        body = '{"domain":"example","descriptors":[{"entries":[{"key":"user","value":"alice"}]}]}'
        codes = [self.d.post("/json", body) for _ in range(6)]
        self.assertEqual([r.status for r in codes], [200] * 5 + [429])
        self.assertIsNotNone(codes[-1].header("Retry-After"))
        r = self.d.post("/v1/decide", {"domain": "example", "entries": [{"key": "user", "value": "alice"}]})
        self.assertStatus(r, 429)
        self.assertIsNotNone(r.header("RateLimit"))
        self.assertIsNotNone(r.header("RateLimit-Policy"))

    def test_python_grpc_client(self):
        env = dict(os.environ)

        def ask():
            return subprocess.run(["/usr/bin/python3", CLIENT, "--target", self.d.grpc_addr, "--domain", "example",
                                   "--entry", "user=bob"], capture_output=True, text=True, timeout=30, env=env)
        for i in range(5):
            p = ask()
            self.assertEqual(p.returncode, 0, f"call {i + 1}: {p.stdout}{p.stderr}")
            self.assertIn("OK", p.stdout)
        p = ask()
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("OVER_LIMIT", p.stdout)

    def test_api_rules(self):
        def status(*descriptors):
            r = self.d.post("/json", rls_json("api", *descriptors))
            self.assertIn(r.status, (200, 429), r)
            return r.json()["statuses"]

        # The office address is unlimited, any other address has 100/s.
        (office,) = status([("remote_address", "203.0.113.10")])
        self.assertEqual(office["limitRemaining"], 4294967295)
        (other,) = status([("remote_address", "198.51.100.7")])
        self.assertEqual(other["currentLimit"]["requestsPerUnit"], 100)
        # Health checks match without a limit.
        (health,) = status([("header_match", "health_check")])
        self.assertEqual(health["code"], "OK")
        self.assertNotIn("currentLimit", health)
        # Nested: writes to orders per address, 10 a minute, named.
        (write,) = status([("route", "orders"), ("method", "POST"), ("remote_address", "198.51.100.7")])
        self.assertEqual(write["currentLimit"]["requestsPerUnit"], 10)
        self.assertEqual(write["currentLimit"].get("name"), "orders_write")
        (read,) = status([("route", "orders"), ("method", "GET")])
        self.assertEqual(read["currentLimit"]["requestsPerUnit"], 50)
        # Every path under /files/ shares one budget.
        (a,) = status([("path", "/files/a")])
        (b,) = status([("path", "/files/b")])
        self.assertEqual(b["limitRemaining"], a["limitRemaining"] - 1)


if __name__ == "__main__":
    unittest.main()
