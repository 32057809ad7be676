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

from harness import (BlackholeProxy, DaemonTest, RedisServer, Workspace, avoid_window_edge, grpc_channel, grpc_modules,
                     metric_value, open_fds, parse_metrics, rls_json, rls_proto, rss_kib, tcp_receive_queue,
                     timed_request, wait_for)

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

    def test_fallback_to_a_local_share_then_reconcile(self):
        # Two instances share each limit: while Redis is paused this one
        # admits floor(10 / 2) = 5 per user on its own, a domain configured
        # to deny does, the breaker opens, and once Redis is back the units
        # admitted locally are charged to it.
        self.ws.write_rule("fb.yaml", "domain: fb\ndescriptors:\n  - key: user\n    rate_limit: {unit: hour, requests_per_unit: 10}\n")
        self.ws.write_rule("strict.yaml", "domain: strict\ndescriptors:\n  - key: user\n    rate_limit: {unit: hour, requests_per_unit: 10}\n")
        d = self.ws.start({
            "store": {
                "uri": self.redis.uri, "deadline": f"{DEADLINE_MS}ms", "failure_mode": "fallback",
                "failure_mode_by_domain": {"strict": "deny"},
                "resilience": {"fallback": {"instances": 2},
                               "circuit_breaker": {"minimum_calls": 3, "open_duration": "300ms"}},
            },
            "rules": {"watch": False},
        })
        avoid_window_edge()
        self.assertStatus(d.post("/json", one("fb", "warm")), 200)

        self.redis.pause()
        try:
            answers = []
            for _ in range(7):
                status, body, elapsed = self.post_json(d, one("fb", "u"))
                self.assertWithinDeadline(elapsed, "a fallback decision")
                answers.append(status)
            self.assertEqual(answers, [200] * 5 + [429] * 2)
            status, _, elapsed = self.post_json(d, one("strict", "u"))
            self.assertWithinDeadline(elapsed, "a decision in a domain that denies")
            self.assertEqual(status, 429)
            # A caller-supplied limit in that domain gets the domain's mode too.
            override = one("strict", "v")
            override["descriptors"][0]["limit"] = {"requests_per_unit": 100, "unit": "HOUR"}
            status, _, elapsed = self.post_json(d, override)
            self.assertWithinDeadline(elapsed, "a limit override in a domain that denies")
            self.assertEqual(status, 429)
            samples = parse_metrics(d.get("/metrics").body.decode())
            self.assertEqual(metric_value(samples, "sluice_circuit_breaker_state", breaker="redis"), 1.0)
            self.assertGreaterEqual(
                metric_value(samples, "sluice_resilience_fallback_decisions_total", allowed="true") or 0, 5)
        finally:
            self.redis.resume()
        resumed = time.monotonic()

        def charged():
            # Traffic (here, another user) is what finds the store back: the
            # breaker lets probes through, closes, and reconciliation runs.
            self.post_json(d, one("fb", "traffic"))
            samples = parse_metrics(d.get("/metrics").body.decode())
            return (metric_value(samples, "sluice_resilience_reconcile_units_total", result="charged") or 0) >= 5
        wait_for(charged, 10, interval=0.05, what="the 5 local admissions charged to Redis")
        print(f"\nreconciled {time.monotonic() - resumed:.3f} s after SIGCONT", flush=True)
        samples = parse_metrics(d.get("/metrics").body.decode())
        self.assertEqual(metric_value(samples, "sluice_circuit_breaker_state", breaker="redis"), 0.0)
        # Redis now holds the 5 units: 10 - 5 - 1 remain after one more.
        status, body, _ = self.post_json(d, one("fb", "u"))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["statuses"][0]["limitRemaining"], 4)

    def test_blackholed_network(self):
        # Redis behind a proxy that stops forwarding (no reset, no answer):
        # every decision still ends by its deadline with the failure mode's
        # answer, the daemon does not storm the server with connections, and
        # once packets flow again the store answers within a short time, with
        # no descriptors or memory left behind.
        proxy = BlackholeProxy(self.redis.socket)
        self.addCleanup(proxy.close)
        d = self.ws.start({
            "store": {"uri": f"redis://{proxy.address}?connect_timeout=200ms&command_timeout=500ms",
                      "deadline": f"{DEADLINE_MS}ms", "failure_mode": "allow",
                      "resilience": {"circuit_breaker": {"minimum_calls": 5, "open_duration": "250ms"}}},
            "rules": {"watch": False},
        })
        avoid_window_edge()
        for _ in range(3):
            self.assertStatus(d.post("/json", one(value="spent")), 200)
        self.assertStatus(d.post("/json", one(value="spent")), 429)
        for i in range(20):
            self.assertStatus(d.post("/json", one(value=f"warm-{i}")), 200)
        fds_before, rss_before = open_fds(d.pid), rss_kib(d.pid)
        accepted_before = proxy.accepted

        proxy.blackhole()
        latencies = []
        try:
            outage_end = time.monotonic() + 3.0
            i = 0
            while time.monotonic() < outage_end:
                status, body, elapsed = self.post_json(d, one(value=f"dark-{i}"))
                latencies.append(elapsed)
                self.assertEqual(status, 200, body)  # allow: admitted, degraded
                i += 1
            status, _, elapsed = self.post_json(d, one(value="spent"))
            self.assertEqual(status, 200, "the failure mode answers even for an exhausted key")
            self.assertLess(timed_request(d, "GET", "/healthz", timeout=5)[2], AT_ONCE_S)
        finally:
            proxy.restore()
        restored = time.monotonic()
        attempts = proxy.accepted - accepted_before

        def store_answers():
            return self.post_json(d, one(value="spent"))[0] == 429
        wait_for(store_answers, 10, interval=0.02, what="the store's own answer after the network is back")
        recovery = time.monotonic() - restored

        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        wait_for(lambda: open_fds(d.pid) <= fds_before + 2, 10, interval=0.1,
                 what=f"the daemon's descriptors back to {fds_before} (+2)")
        rss_growth_kib = rss_kib(d.pid) - rss_before
        print(f"\nblackhole: {len(latencies)} decisions, p99 {p99 * 1000:.1f} ms (deadline {DEADLINE_MS} ms), "
              f"{attempts} connections during 3 s, recovery {recovery * 1000:.0f} ms, fds {fds_before} -> "
              f"{open_fds(d.pid)}, RSS +{rss_growth_kib} KiB", flush=True)
        self.assertLess(p99, DEADLINE_MS / 1000 + MARGIN_S)
        self.assertLessEqual(attempts, 20, "connection attempts during a 3 s outage")
        self.assertLess(recovery, 3.0)
        self.assertLess(rss_growth_kib, 32 * 1024)

    def test_killed_server(self):
        # Redis killed mid-load: decisions end by their deadline with the
        # failure mode's answer while it is gone, and come from the new server
        # (which starts empty) once it is back.
        d = self.start("deny")
        avoid_window_edge()
        self.assertStatus(d.post("/json", one(value="before")), 200)
        fds_before = open_fds(d.pid)
        self.redis.kill()
        latencies = []
        for i in range(40):
            status, body, elapsed = self.post_json(d, one(value=f"gone-{i}"))
            latencies.append(elapsed)
            self.assertEqual(status, 429, body)  # deny
        self.assertLess(max(latencies), DEADLINE_MS / 1000 + MARGIN_S)
        self.redis.restart()
        restarted = time.monotonic()

        def fresh_ok():
            status, body, _ = self.post_json(d, one(value="after"))
            return status == 200
        wait_for(fresh_ok, 10, interval=0.02, what="allowed decisions from the restarted server")
        recovery = time.monotonic() - restarted
        status, body, _ = self.post_json(d, one(value="before"))
        self.assertEqual(body["statuses"][0]["limitRemaining"], 2, "the new server started empty")
        wait_for(lambda: open_fds(d.pid) <= fds_before + 2, 10, interval=0.1,
                 what=f"the daemon's descriptors back to {fds_before} (+2)")
        print(f"\nkilled: max decision {max(latencies) * 1000:.1f} ms (deadline {DEADLINE_MS} ms), "
              f"recovery {recovery * 1000:.0f} ms", flush=True)
        self.assertLess(recovery, 3.0)


if __name__ == "__main__":
    unittest.main()
