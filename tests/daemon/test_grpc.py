# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""sluiced over gRPC with Debian's grpcio: envoy.service.ratelimit.v3
RateLimitService/ShouldRateLimit (statuses, matching, hits_addend per request
and per descriptor, the golden wire vector, bad requests) and
grpc.health.v1.Health/Check."""

import time
import unittest

from harness import DaemonTest, SharedDaemonTest, grpc_channel, grpc_modules, rls_proto, seconds_to_boundary
from rules_fixture import RULES

grpc, rls_pb2, rls_pb2_grpc, ratelimit_pb2, health_pb2, health_pb2_grpc = grpc_modules()

OK = rls_pb2.RateLimitResponse.OK
OVER_LIMIT = rls_pb2.RateLimitResponse.OVER_LIMIT
Unit = rls_pb2.RateLimitResponse.RateLimit
UINT32_MAX = 4294967295
METHOD = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"
# The golden vector: {domain:"d", descriptors:[{entries:[{key:"remote_address",
# value:"1.2.3.4"}]}], hits_addend:1} as Debian's protobuf encodes it.
GOLDEN = bytes.fromhex("0a0164121b0a190a0e72656d6f74655f616464726573731207312e322e332e341801")

GOLDEN_RULES = """\
domain: d
descriptors:
  - key: remote_address
    rate_limit:
      unit: day
      requests_per_unit: 2
"""


class GrpcTest(SharedDaemonTest):
    RULES = dict(RULES, **{"golden.yaml": GOLDEN_RULES})

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = grpc_channel(cls.daemon.grpc_addr)
        cls.stub = rls_pb2_grpc.RateLimitServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        super().tearDownClass()

    def call(self, *descriptors, domain="e2e", hits_addend=0):
        return self.stub.ShouldRateLimit(rls_proto(domain, *descriptors, hits_addend=hits_addend), timeout=5)

    def test_ok_then_over_limit(self):
        for expected in (2, 1, 0):
            resp = self.call([("user", "g-alice")])
            self.assertEqual(resp.overall_code, OK)
            self.assertEqual(len(resp.statuses), 1)
            st = resp.statuses[0]
            self.assertEqual(st.code, OK)
            self.assertTrue(st.HasField("current_limit"))
            self.assertEqual(st.current_limit.requests_per_unit, 3)
            self.assertEqual(st.current_limit.unit, Unit.HOUR)
            self.assertEqual(st.limit_remaining, expected)
            self.assertTrue(st.HasField("duration_until_reset"))
            reset = st.duration_until_reset.seconds + st.duration_until_reset.nanos / 1e9
            self.assertAlmostEqual(reset, seconds_to_boundary(3600), delta=2.0)
        resp = self.call([("user", "g-alice")])
        self.assertEqual(resp.overall_code, OVER_LIMIT)
        self.assertEqual(resp.statuses[0].code, OVER_LIMIT)
        self.assertEqual(resp.statuses[0].limit_remaining, 0)

    def test_statuses_in_request_order(self):
        resp = self.call([("user", "g-order-a")], [("nothing", "here")], [("user", "vip")],
                         [("plan", "unlimited")], [("user", "bot-g")])
        self.assertEqual(resp.overall_code, OK)
        st = resp.statuses
        self.assertEqual(len(st), 5)
        self.assertEqual(st[0].current_limit.requests_per_unit, 3)
        self.assertEqual(st[0].limit_remaining, 2)
        self.assertEqual(st[1].code, OK)
        self.assertFalse(st[1].HasField("current_limit"))
        self.assertEqual(st[2].current_limit.requests_per_unit, 100)
        self.assertEqual(st[3].limit_remaining, UINT32_MAX)
        self.assertEqual(st[4].current_limit.requests_per_unit, 1)
        self.assertEqual(st[4].current_limit.unit, Unit.DAY)

        resp = self.call([("user", "g-order-b")], [("user", "bot-g")])
        self.assertEqual(resp.overall_code, OVER_LIMIT)
        self.assertEqual([s.code for s in resp.statuses], [OK, OVER_LIMIT])

    def test_depth_and_specificity(self):
        two = [("path", "/api"), ("user", "g-depth")]
        self.assertEqual(self.call(two).statuses[0].current_limit.requests_per_unit, 2)
        self.assertFalse(self.call([("path", "/api")]).statuses[0].HasField("current_limit"))
        self.assertEqual(self.call([("user", "g-depth")]).statuses[0].current_limit.requests_per_unit, 3)
        self.assertFalse(self.call(two + [("x", "y")]).statuses[0].HasField("current_limit"))
        self.assertEqual(self.call(two).overall_code, OK)
        self.assertEqual(self.call(two).overall_code, OVER_LIMIT)

    def test_share_threshold_and_wildcards(self):
        self.assertEqual(self.call([("team", "red-g1")]).overall_code, OK)
        self.assertEqual(self.call([("team", "red-g2")]).overall_code, OK)
        self.assertEqual(self.call([("team", "red-g3")]).overall_code, OVER_LIMIT)
        self.assertEqual(self.call([("user", "bot-gw1")]).overall_code, OK)
        self.assertEqual(self.call([("user", "bot-gw2")]).overall_code, OK)

    def test_request_hits_addend(self):
        resp = self.call([("addend", "g-1")], hits_addend=2)
        self.assertEqual(resp.statuses[0].limit_remaining, 1)
        resp = self.call([("addend", "g-1")], hits_addend=2)
        self.assertEqual(resp.overall_code, OVER_LIMIT)

    def test_descriptor_hits_addend(self):
        # 0 checks without consuming, and overrides the request's addend.
        for _ in range(3):
            resp = self.call(([("addend", "g-2")], 0), hits_addend=3)
            self.assertEqual(resp.overall_code, OK)
            self.assertEqual(resp.statuses[0].limit_remaining, 3)
        # Per descriptor: 2 on one, the request's 1 on the other.
        resp = self.call(([("addend", "g-2")], 2), [("addend", "g-3")], hits_addend=1)
        self.assertEqual([s.limit_remaining for s in resp.statuses], [1, 2])
        resp = self.call(([("addend", "g-2")], 2), ([("addend", "g-3")], 2))
        self.assertEqual([s.code for s in resp.statuses], [OVER_LIMIT, OK])
        self.assertEqual(resp.statuses[1].limit_remaining, 0)

    def test_limit_override(self):
        # A caller-supplied limit replaces the configured one ...
        req = rls_proto("e2e", [("user", "g-override")])
        req.descriptors[0].limit.requests_per_unit = 2
        req.descriptors[0].limit.unit = 4  # envoy.type.v3.RateLimitUnit DAY
        for expected in (OK, OK, OVER_LIMIT):
            resp = self.stub.ShouldRateLimit(req, timeout=5)
            self.assertEqual(resp.overall_code, expected)
            self.assertEqual(resp.statuses[0].current_limit.requests_per_unit, 2)
            self.assertEqual(resp.statuses[0].current_limit.unit, Unit.DAY)
        # ... and, as upstream, applies in a known domain even where no rule
        # matches.
        req = rls_proto("e2e", [("nothing", "g-override")])
        req.descriptors[0].limit.requests_per_unit = 1
        req.descriptors[0].limit.unit = 3  # HOUR
        self.assertEqual(self.stub.ShouldRateLimit(req, timeout=5).overall_code, OK)
        resp = self.stub.ShouldRateLimit(req, timeout=5)
        self.assertEqual(resp.overall_code, OVER_LIMIT)
        self.assertEqual(resp.statuses[0].current_limit.requests_per_unit, 1)

    def test_shadow_and_replaces(self):
        for _ in range(3):
            resp = self.call([("shadow", "g-s")])
            self.assertEqual(resp.overall_code, OK)
        for _ in range(3):
            resp = self.call([("category", "account")], [("category", "premium")])
            self.assertEqual(resp.overall_code, OK)
            self.assertFalse(resp.statuses[0].HasField("current_limit"))
            self.assertEqual(resp.statuses[1].current_limit.requests_per_unit, 10)

    def test_unknown_domain_and_descriptor(self):
        for domain, desc in (("no-such-domain", [("user", "x")]), ("e2e", [("nothing", "x")])):
            for _ in range(3):
                resp = self.call(desc, domain=domain)
                self.assertEqual(resp.overall_code, OK)
                self.assertEqual(len(resp.statuses), 1)
                self.assertEqual(resp.statuses[0].code, OK)
                self.assertFalse(resp.statuses[0].HasField("current_limit"))

    def test_same_counters_as_http(self):
        self.assertEqual(self.call([("user", "g-shared")], hits_addend=2).overall_code, OK)
        r = self.daemon.post("/json", {"domain": "e2e", "descriptors": [
            {"entries": [{"key": "user", "value": "g-shared"}]}]})
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["statuses"][0].get("limitRemaining", 0), 0)
        self.assertEqual(self.call([("user", "g-shared")]).overall_code, OVER_LIMIT)

    def test_golden_vector_on_the_wire(self):
        raw = self.channel.unary_unary(METHOD)  # bytes in, bytes out
        out = raw(GOLDEN, timeout=5)
        resp = rls_pb2.RateLimitResponse.FromString(out)
        self.assertEqual(resp.overall_code, OK)
        self.assertEqual(resp.statuses[0].current_limit.requests_per_unit, 2)
        self.assertEqual(resp.statuses[0].limit_remaining, 1)
        self.assertEqual(rls_pb2.RateLimitResponse.FromString(raw(GOLDEN, timeout=5)).statuses[0].limit_remaining, 0)
        self.assertEqual(rls_pb2.RateLimitResponse.FromString(raw(GOLDEN, timeout=5)).overall_code, OVER_LIMIT)

    def test_invalid_requests(self):
        bad = [
            rls_pb2.RateLimitRequest(domain="", descriptors=[
                ratelimit_pb2.RateLimitDescriptor(entries=[{"key": "user", "value": "x"}])]),
            rls_pb2.RateLimitRequest(domain="e2e"),
            rls_pb2.RateLimitRequest(domain="e2e", descriptors=[ratelimit_pb2.RateLimitDescriptor()]),
            rls_pb2.RateLimitRequest(domain="e2e", descriptors=[
                ratelimit_pb2.RateLimitDescriptor(entries=[{"key": "", "value": "x"}])]),
        ]
        for req in bad:
            with self.subTest(req=str(req)):
                with self.assertRaises(grpc.RpcError) as cm:
                    self.stub.ShouldRateLimit(req, timeout=5)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, cm.exception.details())
        # Garbage bytes are not a message (grpc++ picks the error code).
        raw = self.channel.unary_unary(METHOD)
        with self.assertRaises(grpc.RpcError):
            raw(b"\xff\xff\xff\xff", timeout=5)
        # Still serving.
        self.assertEqual(self.call([("user", "g-after-bad")]).overall_code, OK)

    def test_health_check(self):
        health = health_pb2_grpc.HealthStub(self.channel)
        for service in ("", "envoy.service.ratelimit.v3.RateLimitService"):
            resp = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            self.assertEqual(resp.status, health_pb2.HealthCheckResponse.SERVING, service)


class GrpcOptionsTest(DaemonTest):
    def test_response_headers(self):
        self.ws.write_rule("e2e.yaml", RULES["e2e.yaml"])
        d = self.ws.start({"grpc": {"response_headers": True}})
        with grpc_channel(d.grpc_addr) as channel:
            stub = rls_pb2_grpc.RateLimitServiceStub(channel)
            resp = stub.ShouldRateLimit(rls_proto("e2e", [("user", "hdr-1")]), timeout=5)
            names = {h.key.lower(): h.value for h in resp.response_headers_to_add}
            self.assertTrue(any(n.startswith("ratelimit") or n.startswith("x-ratelimit") for n in names),
                            f"no rate-limit header in {names}")
            # Without a matching rule there is nothing to report.
            resp = stub.ShouldRateLimit(rls_proto("e2e", [("nothing", "x")]), timeout=5)
            self.assertEqual(resp.overall_code, OK)

    def test_dynamic_metadata(self):
        self.ws.write_rule("e2e.yaml", RULES["e2e.yaml"])
        d = self.ws.start({"grpc": {"dynamic_metadata": True}})
        with grpc_channel(d.grpc_addr) as channel:
            stub = rls_pb2_grpc.RateLimitServiceStub(channel)
            resp = stub.ShouldRateLimit(rls_proto("e2e", [("user", "md-1")]), timeout=5)
            self.assertTrue(resp.HasField("dynamic_metadata"))
            self.assertEqual(resp.dynamic_metadata.fields["domain"].string_value, "e2e")
        # Off by default.
        d2 = self.ws.start()
        with grpc_channel(d2.grpc_addr) as channel:
            stub = rls_pb2_grpc.RateLimitServiceStub(channel)
            resp = stub.ShouldRateLimit(rls_proto("e2e", [("user", "md-1")]), timeout=5)
            self.assertFalse(resp.HasField("dynamic_metadata"))

    def test_global_shadow_mode(self):
        self.ws.write_rule("e2e.yaml", RULES["e2e.yaml"])
        d = self.ws.start(args=["--shadow-mode"])
        with grpc_channel(d.grpc_addr) as channel:
            stub = rls_pb2_grpc.RateLimitServiceStub(channel)
            for _ in range(5):
                resp = stub.ShouldRateLimit(rls_proto("e2e", [("user", "gs-1")]), timeout=5)
                self.assertEqual(resp.overall_code, OK, "global shadow mode never denies")
        r = d.post("/json", {"domain": "e2e", "descriptors": [{"entries": [{"key": "user", "value": "gs-1"}]}]})
        self.assertStatus(r, 200)
        r = d.post("/v1/decide", {"domain": "e2e", "entries": [{"key": "user", "value": "gs-1"}]})
        self.assertStatus(r, 200)
        self.assertIs(r.json()["shadow_denied"], True)

    def test_sigterm_with_an_open_channel(self):
        # An idle HTTP/2 connection must not hold up the shutdown.
        d = self.ws.start()
        with grpc_channel(d.grpc_addr) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            resp = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            self.assertEqual(resp.status, health_pb2.HealthCheckResponse.SERVING)
        started = time.monotonic()
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.monotonic() - started, 10)


if __name__ == "__main__":
    unittest.main()
