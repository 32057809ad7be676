# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""A Redis-backed sluiced against a real redis-server (Unix socket, started
here): decisions are shared between daemons through Redis; with the server
paused (SIGSTOP) decisions still end within store.deadline plus a small
margin with the configured failure-mode answer, while /healthz, /metrics and
gRPC health answer at once; after SIGCONT the real answers come back."""

import http.client
import json
import os
import shutil
import signal
import threading
import time
import unittest

from harness import (DaemonTest, RedisServer, Workspace, grpc_channel, grpc_modules, rls_json, rls_proto,
                     tcp_receive_queue, timed_request, wait_for)

REDIS_SERVER = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")

RULES = """\
domain: e2e
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: 3
"""

DEADLINE_MS = 300
# What "within the deadline" allows on top of it: scheduling on a busy 2-core
# machine, the HTTP round trip. Health checks get the same bound with no
# deadline of their own: they must not wait on Redis at all.
MARGIN_S = 0.7
AT_ONCE_S = 1.0


def one(domain="e2e", value="x", hits=None):
    return rls_json(domain, [("user", value)], hits_addend=hits)


class RedisTest(DaemonTest):
    def setUp(self):
        if not REDIS_SERVER or not os.path.exists(REDIS_SERVER):
            self.skipTest("redis-server is not installed")
        super().setUp()
        self.redis = RedisServer(REDIS_SERVER)
        self.addCleanup(self.redis.stop)
        self.ws.write_rule("e2e.yaml", RULES)

    def start(self, failure_mode="allow", ws=None, deadline_ms=DEADLINE_MS, query=""):
        return (ws or self.ws).start({
            "store": {"uri": self.redis.uri + query, "deadline": f"{deadline_ms}ms", "failure_mode": failure_mode},
            "rules": {"watch": False},
        })

    def post_json(self, d, body):
        status, data, elapsed = timed_request(d, "POST", "/json", body)
        return status, json.loads(data) if data else None, elapsed

    def assertWithinDeadline(self, elapsed, what):
        self.assertLess(elapsed, DEADLINE_MS / 1000 + MARGIN_S,
                        f"{what} took {elapsed:.3f} s with store.deadline {DEADLINE_MS} ms")

    def test_daemons_share_counters_through_redis(self):
        a = self.start()
        other = Workspace()
        self.addCleanup(other.cleanup)
        other.write_rule("e2e.yaml", RULES)
        b = self.start(ws=other)
        self.assertEqual(a.post("/json", one(value="shared", hits=2)).json()["statuses"][0]["limitRemaining"], 1)
        self.assertEqual(b.post("/json", one(value="shared")).json()["statuses"][0].get("limitRemaining", 0), 0)
        self.assertEqual(a.post("/json", one(value="shared")).status, 429)
        self.assertEqual(b.post("/json", one(value="shared")).status, 429)
        # The state is in Redis.
        size = self.redis.command("DBSIZE")
        self.assertRegex(size, rb"^:[1-9]\d*\r\n$")
        # gRPC on the same store.
        _, rls_pb2, rls_pb2_grpc, _, _, _ = grpc_modules()
        with grpc_channel(b.grpc_addr) as channel:
            resp = rls_pb2_grpc.RateLimitServiceStub(channel).ShouldRateLimit(
                rls_proto("e2e", [("user", "shared")]), timeout=5)
            self.assertEqual(resp.overall_code, rls_pb2.RateLimitResponse.OVER_LIMIT)
        self.assertStatus(a.get("/readyz"), 200)

    def check_paused(self, d, failure_mode):
        """With Redis paused: decisions end within the deadline with the
        failure-mode answer; health and metrics answer at once."""
        allow = failure_mode == "allow"
        expected_http = 200 if allow else 429
        expected_code = "OK" if allow else "OVER_LIMIT"

        # Decisions in flight while the probes run.
        results = []

        def decide(i):
            results.append(self.post_json(d, one(value=f"paused-{i}")))

        threads = [threading.Thread(target=decide, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        try:
            for path in ("/healthz", "/metrics"):
                status, _, elapsed = timed_request(d, "GET", path, timeout=5)
                self.assertLess(elapsed, AT_ONCE_S, f"{path} took {elapsed:.3f} s while Redis is paused")
                self.assertEqual(status, 200, path)
            _, _, _, _, health_pb2, health_pb2_grpc = grpc_modules()
            with grpc_channel(d.grpc_addr) as channel:
                started = time.monotonic()
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
                self.assertLess(time.monotonic() - started, AT_ONCE_S, "gRPC health while Redis is paused")
        finally:
            for t in threads:
                t.join(10)
        self.assertEqual(len(results), 6)
        for status, body, elapsed in results:
            self.assertWithinDeadline(elapsed, "a /json decision in a batch of 6")
            self.assertEqual(status, expected_http, body)
            self.assertEqual(body["overallCode"], expected_code)

        # One at a time, on each front end.
        status, body, elapsed = self.post_json(d, one(value="paused-single"))
        self.assertWithinDeadline(elapsed, "/json")
        self.assertEqual(status, expected_http, body)

        status, data, elapsed = timed_request(d, "POST", "/v1/decide",
                                              {"domain": "e2e", "entries": [{"key": "user", "value": "paused-v1"}]})
        self.assertWithinDeadline(elapsed, "/v1/decide")
        self.assertEqual(status, expected_http, data)

        grpc, rls_pb2, rls_pb2_grpc, _, _, _ = grpc_modules()
        with grpc_channel(d.grpc_addr) as channel:
            stub = rls_pb2_grpc.RateLimitServiceStub(channel)
            started = time.monotonic()
            resp = stub.ShouldRateLimit(rls_proto("e2e", [("user", "paused-grpc")]), timeout=5)
            self.assertWithinDeadline(time.monotonic() - started, "ShouldRateLimit")
            self.assertEqual(resp.overall_code,
                             rls_pb2.RateLimitResponse.OK if allow else rls_pb2.RateLimitResponse.OVER_LIMIT)

        # Readiness reports the store, without hanging on it.
        def not_ready():
            status, _, elapsed = timed_request(d, "GET", "/readyz", timeout=5)
            self.assertLess(elapsed, DEADLINE_MS / 1000 + MARGIN_S, "/readyz while Redis is paused")
            return status == 503
        wait_for(not_ready, 10, interval=0.05, what="/readyz to report 503 while Redis is paused")

    def test_paused_redis_allow(self):
        d = self.start("allow")
        for _ in range(3):
            self.assertStatus(d.post("/json", one(value="exhausted")), 200)
        self.assertStatus(d.post("/json", one(value="exhausted")), 429)

        self.redis.pause()
        try:
            self.check_paused(d, "allow")
            # Even the exhausted key is allowed: the store cannot say otherwise.
            status, _, _ = self.post_json(d, one(value="exhausted"))
            self.assertEqual(status, 200)
        finally:
            self.redis.resume()

        # Real answers again: the exhausted key is denied by the store.
        wait_for(lambda: self.post_json(d, one(value="exhausted"))[0] == 429, 10, interval=0.05,
                 what="the store's own answer after SIGCONT")
        wait_for(lambda: timed_request(d, "GET", "/readyz")[0] == 200, 10, interval=0.05,
                 what="/readyz 200 after SIGCONT")
        status, body, _ = self.post_json(d, one(value="after-resume"))
        self.assertEqual(status, 200)
        self.assertEqual(body["statuses"][0]["limitRemaining"], 2)
        self.assertTrue(d.running())

    def test_paused_redis_deny(self):
        d = self.start("deny")
        self.assertStatus(d.post("/json", one(value="before")), 200)

        self.redis.pause()
        try:
            self.check_paused(d, "deny")
        finally:
            self.redis.resume()

        def fresh_ok():
            status, body, _ = self.post_json(d, one(value=f"fresh-{time.monotonic_ns()}"))
            return status == 200 and body["statuses"][0]["limitRemaining"] == 2
        wait_for(fresh_ok, 10, interval=0.05, what="allowed decisions after SIGCONT")
        self.assertEqual(d.stop(), 0)

    def test_sigterm_drains_a_decision_in_flight(self):
        # A decision waiting on the paused store when SIGTERM arrives still
        # gets its answer (the failure mode's, at its deadline), then the
        # daemon exits 0.
        # The store's own timeout bounds how long its connections hold up
        # the exit.
        deadline_s, command_timeout_s = 1.5, 2.0
        d = self.start("allow", deadline_ms=int(deadline_s * 1000), query=f"?command_timeout={command_timeout_s}s")
        host, port = d.http_host_port()
        self.redis.pause()
        conn = http.client.HTTPConnection(host, port, timeout=10)
        self.addCleanup(conn.close)
        conn.request("POST", "/json", body=json.dumps(one(value="draining")).encode(),
                     headers={"Content-Type": "application/json"})
        client_port = conn.sock.getsockname()[1]
        # The daemon has read the whole request once nothing is left unread
        # in its socket's receive queue.
        wait_for(lambda: tcp_receive_queue(port, client_port) == 0, 5, interval=0.005,
                 what="the daemon to read the request")
        started = time.monotonic()
        d.signal(signal.SIGTERM)
        resp = conn.getresponse()
        body = json.loads(resp.read())
        self.assertEqual(resp.status, 200, body)
        self.assertEqual(body["overallCode"], "OK")
        self.assertLess(time.monotonic() - started, deadline_s + MARGIN_S)
        d.proc.wait(10)
        self.assertEqual(d.proc.returncode, 0, d.log())
        self.assertLess(time.monotonic() - started, command_timeout_s + 2.0, "exit after the drain")

    def test_failures_are_counted(self):
        d = self.start("allow")
        self.assertStatus(d.post("/json", one(value="count-1")), 200)
        self.redis.pause()
        try:
            status, _, _ = self.post_json(d, one(value="count-2"))
            self.assertEqual(status, 200)
        finally:
            self.redis.resume()
        r = d.get("/metrics")
        self.assertStatus(r, 200)
        text = r.body
        failures = [line for line in text.decode().splitlines()
                    if not line.startswith("#") and any(w in line for w in ("fail", "error", "timeout", "deadline"))
                    and not line.rstrip().endswith(" 0")]
        self.assertTrue(failures, "a store failure shows in /metrics")


if __name__ == "__main__":
    unittest.main()
