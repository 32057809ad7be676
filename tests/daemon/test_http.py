# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""sluiced over HTTP/1.1 with curl: POST /v1/decide (inline limits and rule
lookups), POST /json (envoyproxy/ratelimit's proto3 JSON form) with
envoyproxy/ratelimit's matching rules, rate-limit headers, /healthz, /readyz,
/metrics (checked by promtool), /v1/rules, and a Unix-socket listener."""

import os
import re
import shutil
import socket
import subprocess
import time
import unittest

from harness import (DaemonTest, SharedDaemonTest, metric_value, parse_duration_json, parse_metrics, rls_json,
                     seconds_to_boundary)
from rules_fixture import RULES

UINT32_MAX = 4294967295
POLICY_RE = re.compile(r'^"([^"]*)";q=(\d+);w=(\d+)')
RATELIMIT_RE = re.compile(r'^"([^"]*)";r=(\d+);t=(\d+)')


class HttpTest(SharedDaemonTest):
    RULES = RULES

    # --- helpers -----------------------------------------------------------

    def decide(self, body, expect=None):
        r = self.daemon.post("/v1/decide", body)
        if expect is not None:
            self.assertStatus(r, expect, f"POST /v1/decide {body}")
        return r

    def inline(self, key, algorithm, limit, period="1h", cost=None, operation=None, expect=None, **extra):
        lim = {"algorithm": algorithm, "limit": limit, "period": period}
        lim.update(extra)
        body = {"key": key, "limit": lim}
        if cost is not None:
            body["cost"] = cost
        if operation is not None:
            body["operation"] = operation
        return self.decide(body, expect)

    def rls(self, *descriptors, domain="e2e", hits_addend=None, expect=None):
        r = self.daemon.post("/json", rls_json(domain, *descriptors, hits_addend=hits_addend))
        if expect is not None:
            self.assertStatus(r, expect, f"POST /json {descriptors}")
        return r

    def status_of(self, *descriptors, **kw):
        """The single status of a one-descriptor /json request."""
        r = self.rls(*descriptors, **kw)
        self.assertIn(r.status, (200, 429), r)
        body = r.json()
        self.assertEqual(len(body["statuses"]), len(descriptors), body)
        return r.status, body

    # --- /v1/decide with an inline limit ------------------------------------

    def test_fixed_window_counts_down_then_denies_with_headers(self):
        for expected_remaining in (2, 1, 0):
            r = self.inline("fw-alice", "fixed_window", 3, expect=200)
            body = r.json()
            self.assertIs(body["allowed"], True)
            self.assertEqual(body["limit"], 3)
            self.assertEqual(body["remaining"], expected_remaining)
            self.assertGreater(body["reset_after_ms"], 0)
            self.assertLessEqual(body["reset_after_ms"], 3600 * 1000)
            self.assertIn("application/json", r.header("Content-Type") or "")
            self.assertIsNone(r.header("Retry-After"), "Retry-After only on 429")
            policy = POLICY_RE.match(r.header("RateLimit-Policy") or "")
            self.assertIsNotNone(policy, r)
            self.assertEqual(policy.group(2), "3")
            self.assertEqual(policy.group(3), "3600")
            rl = RATELIMIT_RE.match(r.header("RateLimit") or "")
            self.assertIsNotNone(rl, r)
            self.assertEqual(rl.group(1), policy.group(1), "RateLimit names the policy it reports on")
            self.assertEqual(int(rl.group(2)), expected_remaining)
            self.assertLessEqual(int(rl.group(3)), 3600)

        r = self.inline("fw-alice", "fixed_window", 3, expect=429)
        body = r.json()
        self.assertIs(body["allowed"], False)
        self.assertEqual(body["remaining"], 0)
        self.assertGreater(body["retry_after_ms"], 0)
        self.assertLessEqual(body["retry_after_ms"], 3600 * 1000)
        retry_after = r.header("Retry-After")
        self.assertIsNotNone(retry_after, r)
        self.assertRegex(retry_after, r"^\d+$")
        self.assertGreaterEqual(int(retry_after), 1)
        self.assertLessEqual(int(retry_after), 3600)
        # Retry-After never points earlier than the retry_after_ms it rounds.
        self.assertGreaterEqual(int(retry_after) * 1000, body["retry_after_ms"])
        rl = RATELIMIT_RE.match(r.header("RateLimit") or "")
        self.assertIsNotNone(rl, r)
        self.assertEqual(rl.group(2), "0")

        # Another key has its own counter.
        self.assertIs(self.inline("fw-bob", "fixed_window", 3, expect=200).json()["allowed"], True)

    def test_every_algorithm_admits_its_limit_then_denies(self):
        for algorithm in ("fixed_window", "token_bucket", "gcra", "sliding_window", "sliding_window_log"):
            with self.subTest(algorithm=algorithm):
                key = f"algo-{algorithm}"
                for i in range(4):
                    r = self.inline(key, algorithm, 4)
                    self.assertStatus(r, 200, f"{algorithm} hit {i + 1} of 4")
                    self.assertIs(r.json()["allowed"], True)
                    self.assertEqual(r.json()["remaining"], 3 - i, r)
                r = self.inline(key, algorithm, 4)
                self.assertStatus(r, 429, f"{algorithm} hit 5 of 4")
                body = r.json()
                self.assertIs(body["allowed"], False)
                # The next unit comes back within one period (1h), sooner
                # for the refilling algorithms (1h / 4); the sliding window
                # counter weighs the previous window in, up to two periods.
                self.assertGreater(body["retry_after_ms"], 0)
                periods = 2 if algorithm == "sliding_window" else 1
                self.assertLessEqual(body["retry_after_ms"], periods * 3600 * 1000)
                self.assertIsNotNone(r.header("Retry-After"))

    def test_token_bucket_refill_setting(self):
        # Capacity 5, refilled 1 per hour: the 6th is denied for about an hour.
        for _ in range(5):
            self.inline("tb-refill", "token_bucket", 5, refill=1, expect=200)
        body = self.inline("tb-refill", "token_bucket", 5, refill=1, expect=429).json()
        self.assertGreater(body["retry_after_ms"], 3600 * 1000 - 60 * 1000)
        self.assertLessEqual(body["retry_after_ms"], 3600 * 1000)

    def test_cost_is_all_or_nothing(self):
        body = self.inline("cost-1", "fixed_window", 5, cost=2, expect=200).json()
        self.assertEqual(body["remaining"], 3)
        body = self.inline("cost-1", "fixed_window", 5, cost=4, expect=429).json()
        self.assertIs(body["allowed"], False)
        self.assertEqual(body["remaining"], 3, "a denied consume takes nothing")
        body = self.inline("cost-1", "fixed_window", 5, cost=3, expect=200).json()
        self.assertEqual(body["remaining"], 0)

    def test_peek_refund_reset(self):
        key = "ops-1"
        self.assertEqual(self.inline(key, "token_bucket", 3, cost=2, expect=200).json()["remaining"], 1)
        # Peek answers without consuming.
        for _ in range(3):
            body = self.inline(key, "token_bucket", 3, operation="peek", expect=200).json()
            self.assertIs(body["allowed"], True)
            self.assertEqual(body["remaining"], 1)
        body = self.inline(key, "token_bucket", 3, cost=2, operation="peek", expect=429).json()
        self.assertIs(body["allowed"], False)
        # Refund gives units back.
        self.inline(key, "token_bucket", 3, cost=1, operation="refund", expect=200)
        self.assertEqual(self.inline(key, "token_bucket", 3, operation="peek").json()["remaining"], 2)
        # Reset forgets the usage.
        self.inline(key, "token_bucket", 3, cost=3, expect=429)
        self.inline(key, "token_bucket", 3, cost=2, expect=200)
        self.inline(key, "token_bucket", 3, operation="reset", expect=200)
        self.assertEqual(self.inline(key, "token_bucket", 3, operation="peek").json()["remaining"], 3)
        self.assertEqual(self.inline(key, "token_bucket", 3, cost=3, expect=200).json()["remaining"], 0)

    def test_decide_rejects_bad_input(self):
        bad = [
            b"{not json",
            b"[]",
            {"limit": {"algorithm": "fixed_window", "limit": 1, "period": "1h"}},  # no key
            {"key": "", "limit": {"algorithm": "fixed_window", "limit": 1, "period": "1h"}},
            {"key": "k"},  # neither limit nor rule
            {"key": "k", "limit": {"algorithm": "leaky", "limit": 1, "period": "1h"}},
            {"key": "k", "limit": {"algorithm": "fixed_window", "limit": 1, "period": "soon"}},
            {"key": "k", "limit": {"algorithm": "fixed_window", "limit": -1, "period": "1h"}},
            {"key": "k", "limit": {"algorithm": "fixed_window", "limit": 1, "period": "1h"}, "cost": -1},
            {"key": "k", "limit": {"algorithm": "fixed_window", "limit": 1, "period": "1h"}, "operation": "steal"},
            {"domain": "e2e"},  # a rule lookup without entries
            {"domain": "e2e", "entries": [{"value": "x"}]},  # an entry without key
        ]
        for body in bad:
            with self.subTest(body=body):
                r = self.decide(body)
                self.assertStatus(r, 400)
                self.assertIsInstance(r.json().get("error"), str)
                self.assertTrue(r.json()["error"], "the error says what is wrong")
        # None of them consumed anything from "k".
        body = self.inline("k", "fixed_window", 1, expect=200).json()
        self.assertEqual(body["remaining"], 0)

    # --- /v1/decide with a rule lookup --------------------------------------

    def test_rule_lookup(self):
        lookup = {"domain": "e2e", "entries": [{"key": "user", "value": "lookup-carol"}]}
        for expected in (2, 1, 0):
            r = self.decide(lookup, 200)
            body = r.json()
            self.assertIs(body["allowed"], True)
            self.assertEqual(body["limit"], 3)
            self.assertEqual(body["remaining"], expected)
            self.assertEqual(body["rule"], "user")
            policy = POLICY_RE.match(r.header("RateLimit-Policy") or "")
            self.assertIsNotNone(policy, r)
            self.assertEqual((policy.group(2), policy.group(3)), ("3", "3600"))
        r = self.decide(lookup, 429)
        self.assertIs(r.json()["allowed"], False)
        self.assertIsNotNone(r.header("Retry-After"))
        # The same counter as /json uses for the same descriptor.
        status, body = self.status_of([("user", "lookup-carol")])
        self.assertEqual(status, 429)
        self.assertEqual(body["statuses"][0]["code"], "OVER_LIMIT")

        # key+value and a nested rule name their path.
        vip = self.decide({"domain": "e2e", "entries": [{"key": "user", "value": "vip"}]}, 200).json()
        self.assertEqual(vip["rule"], "user_vip")
        self.assertEqual(vip["limit"], 100)
        nested = self.decide({"domain": "e2e", "entries": [{"key": "path", "value": "/api"},
                                                           {"key": "user", "value": "lookup-dan"}]}, 200).json()
        self.assertEqual(nested["rule"], "path_/api.user")
        self.assertEqual(nested["limit"], 2)
        # Cost applies to rule lookups too.
        costly = self.decide({"domain": "e2e", "entries": [{"key": "user", "value": "lookup-erin"}],
                              "cost": 2}, 200).json()
        self.assertEqual(costly["remaining"], 1)

    def test_rule_lookup_without_match(self):
        for body in ({"domain": "e2e", "entries": [{"key": "nothing", "value": "here"}]},
                     {"domain": "no-such-domain", "entries": [{"key": "user", "value": "x"}]}):
            with self.subTest(body=body):
                r = self.decide(body, 200)
                self.assertEqual(r.json().get("allowed"), True, r)
                self.assertEqual(r.json().get("matched"), False, r)

    # --- /json: envoyproxy/ratelimit's JSON form ----------------------------

    def test_json_ok_then_over_limit(self):
        for expected in (2, 1, 0):
            r = self.rls([("user", "json-alice")], expect=200)
            body = r.json()
            self.assertEqual(body["overallCode"], "OK")
            (st,) = body["statuses"]
            self.assertEqual(st["code"], "OK")
            self.assertEqual(st["currentLimit"]["requestsPerUnit"], 3)
            self.assertEqual(st["currentLimit"]["unit"], "HOUR")
            self.assertEqual(st.get("limitRemaining", 0), expected)
            # Fixed windows are aligned to the unit: the reset is the top of
            # the hour.
            reset = parse_duration_json(st["durationUntilReset"])
            self.assertAlmostEqual(reset, seconds_to_boundary(3600), delta=2.0)
        r = self.rls([("user", "json-alice")], expect=429)
        body = r.json()
        self.assertEqual(body["overallCode"], "OVER_LIMIT")
        (st,) = body["statuses"]
        self.assertEqual(st["code"], "OVER_LIMIT")
        self.assertEqual(st.get("limitRemaining", 0), 0)
        self.assertEqual(st["currentLimit"]["requestsPerUnit"], 3)

    def test_json_statuses_in_request_order(self):
        r = self.rls([("user", "order-a")], [("nothing", "here")], [("user", "vip")],
                     [("plan", "unlimited")], expect=200)
        st = r.json()["statuses"]
        self.assertEqual(len(st), 4)
        self.assertEqual(st[0]["currentLimit"]["requestsPerUnit"], 3)
        self.assertEqual(st[0]["limitRemaining"], 2)
        self.assertEqual(st[1]["code"], "OK")
        self.assertNotIn("currentLimit", st[1])
        self.assertEqual(st[2]["currentLimit"]["requestsPerUnit"], 100)
        self.assertEqual(st[3]["code"], "OK")
        self.assertEqual(st[3]["limitRemaining"], UINT32_MAX)

        # One descriptor over its limit makes the whole request OVER_LIMIT;
        # the others still report OK.
        self.rls([("user", "order-b")], hits_addend=3, expect=200)
        r = self.rls([("user", "order-c")], [("user", "order-b")], expect=429)
        body = r.json()
        self.assertEqual(body["overallCode"], "OVER_LIMIT")
        self.assertEqual([s["code"] for s in body["statuses"]], ["OK", "OVER_LIMIT"])

    def test_key_value_beats_key_only_and_wildcard(self):
        _, body = self.status_of([("user", "vip")])
        self.assertEqual(body["statuses"][0]["currentLimit"]["requestsPerUnit"], 100)
        _, body = self.status_of([("user", "bot-1")])
        self.assertEqual(body["statuses"][0]["currentLimit"]["requestsPerUnit"], 1)
        self.assertEqual(body["statuses"][0]["currentLimit"]["unit"], "DAY")
        _, body = self.status_of([("user", "match-plain")])
        self.assertEqual(body["statuses"][0]["currentLimit"]["requestsPerUnit"], 3)

    def test_wildcard_values_have_their_own_counters(self):
        self.assertEqual(self.status_of([("user", "bot-w1")])[0], 200)
        self.assertEqual(self.status_of([("user", "bot-w1")])[0], 429)
        # Another value matching the same wildcard is counted separately.
        self.assertEqual(self.status_of([("user", "bot-w2")])[0], 200)

    def test_share_threshold_shares_one_counter(self):
        self.assertEqual(self.status_of([("team", "red-1")])[0], 200)
        self.assertEqual(self.status_of([("team", "red-2")])[0], 200)
        status, body = self.status_of([("team", "red-3")])
        self.assertEqual(status, 429, "values matching a share_threshold wildcard share its counter")
        self.assertEqual(body["statuses"][0]["currentLimit"]["requestsPerUnit"], 2)

    def test_depth_must_match(self):
        two = [("path", "/api"), ("user", "depth-1")]
        _, body = self.status_of(two)
        self.assertEqual(body["statuses"][0]["currentLimit"]["requestsPerUnit"], 2)
        self.assertEqual(body["statuses"][0]["currentLimit"]["unit"], "DAY")
        # The one-entry prefix has no limit of its own.
        _, body = self.status_of([("path", "/api")])
        self.assertNotIn("currentLimit", body["statuses"][0])
        # One entry "user" matches the top-level user rule, not the nested one.
        _, body = self.status_of([("user", "depth-1")])
        self.assertEqual(body["statuses"][0]["currentLimit"]["requestsPerUnit"], 3)
        # Three entries are deeper than any rule.
        _, body = self.status_of(two + [("extra", "x")])
        self.assertNotIn("currentLimit", body["statuses"][0])
        # An unknown first level never reaches the nested rule.
        _, body = self.status_of([("path", "/other"), ("user", "depth-1")])
        self.assertNotIn("currentLimit", body["statuses"][0])
        # The nested limit counts on its own: 2 per day.
        self.assertEqual(self.status_of(two)[0], 200)
        self.assertEqual(self.status_of(two)[0], 429)

    def test_unlimited_and_whitelisted(self):
        for _ in range(5):
            status, body = self.status_of([("plan", "unlimited")], hits_addend=1000)
            self.assertEqual(status, 200)
            self.assertEqual(body["statuses"][0]["code"], "OK")
            self.assertEqual(body["statuses"][0]["limitRemaining"], UINT32_MAX)
        for _ in range(5):
            status, body = self.status_of([("plan", "free")], hits_addend=1000)
            self.assertEqual(status, 200)
            self.assertEqual(body["statuses"][0]["code"], "OK")
            self.assertNotIn("currentLimit", body["statuses"][0])

    def test_shadow_mode_rule_reports_but_never_denies(self):
        for i in range(3):
            status, body = self.status_of([("shadow", "s-1")])
            self.assertEqual(status, 200, f"hit {i + 1}: a shadow rule never denies")
            self.assertEqual(body["statuses"][0]["code"], "OK")
            self.assertEqual(body["overallCode"], "OK")
        body = self.decide({"domain": "e2e", "entries": [{"key": "shadow", "value": "s-1"}]}, 200).json()
        self.assertIs(body["allowed"], True)
        self.assertIs(body["shadow_denied"], True, "the decision says it would have been denied")
        # ... and the rule's shadow counter moved.
        samples = parse_metrics(self.daemon.get("/metrics").body.decode())
        shadow = metric_value(samples, r"sluiced_rule_\w*shadow\w*_total", domain="e2e", rule="shadow")
        self.assertIsNotNone(shadow, "no sluiced_rule_*shadow*_total{domain=e2e,rule=shadow}")
        self.assertGreaterEqual(shadow, 3)

    def test_replaces(self):
        account = [("category", "account")]
        premium = [("category", "premium")]
        for _ in range(3):
            r = self.rls(account, premium, expect=200)
            st = r.json()["statuses"]
            self.assertEqual(st[0]["code"], "OK")
            self.assertNotIn("currentLimit", st[0], "a replaced limit is not applied")
            self.assertEqual(st[1]["currentLimit"]["requestsPerUnit"], 10)
        # Alone, the account limit applies, and the replaced hits did not
        # touch its counter: 1 per hour.
        self.assertEqual(self.status_of(account)[0], 200)
        self.assertEqual(self.status_of(account)[0], 429)

    def test_hits_addend(self):
        d = [("addend", "h-1")]
        # 0 for a descriptor checks without consuming.
        for _ in range(3):
            _, body = self.status_of({"entries": [{"key": "addend", "value": "h-1"}], "hitsAddend": 0})
            self.assertEqual(body["statuses"][0]["code"], "OK")
            self.assertEqual(body["statuses"][0]["limitRemaining"], 3)
        # The request's addend counts for every descriptor.
        _, body = self.status_of(d, hits_addend=2)
        self.assertEqual(body["statuses"][0]["limitRemaining"], 1)
        # A descriptor's addend overrides the request's.
        r = self.rls({"entries": [{"key": "addend", "value": "h-1"}], "hitsAddend": 1}, hits_addend=50,
                     expect=200)
        self.assertEqual(r.json()["statuses"][0].get("limitRemaining", 0), 0)
        _, body = self.status_of({"entries": [{"key": "addend", "value": "h-1"}], "hitsAddend": "0"})
        self.assertEqual(body["statuses"][0]["code"], "OK", "UInt64Value also reads as a string")
        self.assertEqual(self.status_of(d)[0], 429)

    def test_limit_override(self):
        d = {"entries": [{"key": "user", "value": "override-1"}], "limit": {"requestsPerUnit": 1, "unit": "DAY"}}
        status, body = self.status_of(d)
        self.assertEqual(status, 200)
        self.assertEqual(body["statuses"][0]["currentLimit"], {"requestsPerUnit": 1, "unit": "DAY"})
        self.assertEqual(self.status_of(d)[0], 429)

    def test_extension_rule_token_bucket(self):
        d = [("bucket", "b-1")]
        self.assertEqual(self.status_of(d)[0], 200)
        self.assertEqual(self.status_of(d)[0], 200)
        status, body = self.status_of(d)
        self.assertEqual(status, 429)
        self.assertEqual(body["statuses"][0]["currentLimit"]["requestsPerUnit"], 2)

    def test_unknown_domain_and_descriptor_are_ok_without_limit(self):
        for domain, desc in (("no-such-domain", [("user", "x")]), ("e2e", [("nothing", "x")]),
                             ("e2e", [("user", "x"), ("nothing", "y")])):
            with self.subTest(domain=domain, desc=desc):
                for _ in range(5):
                    status, body = self.status_of(desc, domain=domain)
                    self.assertEqual(status, 200)
                    self.assertEqual(body["overallCode"], "OK")
                    st = body["statuses"][0]
                    self.assertEqual(st["code"], "OK")
                    self.assertNotIn("currentLimit", st)
                    self.assertEqual(st.get("limitRemaining", 0), 0)

    def test_domains_are_separate(self):
        self.assertEqual(self.status_of([("user", "dom-1")], domain="other")[0], 200)
        self.assertEqual(self.status_of([("user", "dom-1")], domain="other")[0], 429)
        self.assertEqual(self.status_of([("user", "dom-1")], domain="e2e")[0], 200)

    def test_json_rejects_bad_requests(self):
        bad = [
            b"{",
            b'"just a string"',
            {"descriptors": [{"entries": [{"key": "user", "value": "x"}]}]},  # no domain
            {"domain": "e2e", "descriptors": []},
            {"domain": "e2e", "descriptors": [{"entries": []}]},
            {"domain": "e2e", "descriptors": [{"entries": [{"value": "x"}]}]},
            {"domain": "e2e", "descriptors": [{"entries": [{"key": "user", "value": "x"}]}], "bogus": 1},
            {"domain": "e2e", "descriptors": [{"entries": [{"key": "user", "value": 7}]}]},
        ]
        for body in bad:
            with self.subTest(body=body):
                r = self.daemon.post("/json", body)
                self.assertStatus(r, 400)

    # --- other endpoints ---------------------------------------------------

    def test_health_and_readiness(self):
        self.assertStatus(self.daemon.get("/healthz"), 200)
        self.assertStatus(self.daemon.get("/readyz"), 200)

    def test_unknown_path_and_method(self):
        self.assertStatus(self.daemon.get("/no/such/path"), 404)
        r = self.daemon.get("/v1/decide")
        self.assertIn(r.status, (404, 405), r)

    def test_rules_listing(self):
        r = self.daemon.get("/v1/rules")
        self.assertStatus(r, 200)
        body = r.json()
        listed = {(rule["domain"], rule["path"]): rule for rule in body["rules"]}
        for key in (("e2e", "user"), ("e2e", "user_vip"), ("e2e", "user_bot*"), ("e2e", "path_/api.user"),
                    ("e2e", "category_premium"), ("other", "user")):
            self.assertIn(key, listed, f"{key} not in {sorted(listed)}")
        self.assertEqual(os.path.basename(listed[("e2e", "user")]["source_file"]), "e2e.yaml")
        self.assertEqual(os.path.basename(listed[("other", "user")]["source_file"]), "other.yml")
        self.assertEqual(listed[("e2e", "user")]["requests_per_unit"], 3)
        self.assertEqual(listed[("e2e", "user")]["unit"], "HOUR")
        # Each source file with its load time.
        sources = {os.path.basename(s["file"]): s for s in body["sources"]}
        self.assertEqual(set(sources), {"e2e.yaml", "other.yml"})
        self.assertEqual(sources["other.yml"]["domain"], "other")
        for s in sources.values():
            self.assertLess(abs(s["loaded_at_unix"] - time.time()), 600, s)

    def test_metrics(self):
        # Make the per-rule counters move: 2 within, 1 over.
        for _ in range(3):
            self.rls([("user", "metrics-1")], hits_addend=2)
        r = self.daemon.get("/metrics")
        self.assertStatus(r, 200)
        self.assertIn("text/plain", r.header("Content-Type") or "")
        text = r.body.decode()
        samples = parse_metrics(text)
        total = metric_value(samples, r"sluiced_rule_\w*total\w*_total|sluiced_rule_total_hits_total|"
                                      r"sluiced_rule_hits_total|sluiced_rule_requests_total",
                             domain="e2e", rule="user")
        self.assertIsNotNone(total, "no per-rule total counter for e2e/user:\n" + text[:3000])
        self.assertGreaterEqual(total, 3)
        over = metric_value(samples, r"sluiced_rule_\w*over\w*_total", domain="e2e", rule="user")
        self.assertIsNotNone(over, "no per-rule over-limit counter for e2e/user")
        self.assertGreaterEqual(over, 1)
        within = metric_value(samples, r"sluiced_rule_within_limit_total", domain="e2e", rule="user")
        self.assertGreaterEqual(within or 0, 2)
        # Decision and store latency histograms.
        names = {name for name, _, _ in samples}
        for histogram in ("sluiced_decision_duration_seconds", "sluiced_store_duration_seconds"):
            for suffix in ("_bucket", "_sum", "_count"):
                self.assertIn(histogram + suffix, names)
        self.assertGreater(metric_value(samples, "sluiced_decision_duration_seconds_count"), 0)

        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool is not installed (Debian package prometheus)")
        check = subprocess.run([promtool, "check", "metrics"], input=r.body, capture_output=True, timeout=30)
        # promtool exits 1 for lint findings as well as for errors; only
        # errors (unparsable text) are failures here, lint is printed.
        out = (check.stdout + check.stderr).decode()
        self.assertNotIn("error while linting", out, out)
        self.assertNotRegex(out, r"(?i)parse error|text format parsing error", out)
        lint = [line for line in out.splitlines() if line.strip()]
        self.assertEqual(check.returncode, 0, "promtool check metrics:\n" + "\n".join(lint))


class HeaderModeTest(DaemonTest):
    """http.rate_limit_headers: ietf (default, tested above), draft,
    x-ratelimit (reset as seconds or as an epoch) and none."""

    def decide_twice(self, config):
        d = self.ws.start(config)
        body = {"key": "hdr", "limit": {"algorithm": "fixed_window", "limit": 1, "period": "1h"}}
        allowed = d.post("/v1/decide", body)
        self.assertStatus(allowed, 200)
        denied = d.post("/v1/decide", body)
        self.assertStatus(denied, 429)
        self.assertRegex(denied.header("Retry-After") or "", r"^[1-9]\d*$")
        d.stop()
        return allowed, denied

    def test_draft(self):
        allowed, denied = self.decide_twice({"http": {"rate_limit_headers": "draft"}})
        self.assertEqual(allowed.header("RateLimit-Limit"), "1")
        self.assertEqual(allowed.header("RateLimit-Remaining"), "0")
        self.assertLessEqual(int(allowed.header("RateLimit-Reset")), 3600)
        self.assertEqual(allowed.header("RateLimit-Policy"), "1;w=3600")
        self.assertIsNone(allowed.header("RateLimit"))
        self.assertEqual(denied.header("RateLimit-Remaining"), "0")

    def test_x_ratelimit(self):
        allowed, _ = self.decide_twice({"http": {"rate_limit_headers": "x-ratelimit"}})
        self.assertEqual(allowed.header("X-RateLimit-Limit"), "1")
        self.assertEqual(allowed.header("X-RateLimit-Remaining"), "0")
        self.assertLessEqual(int(allowed.header("X-RateLimit-Reset")), 3600)
        self.assertIsNone(allowed.header("RateLimit-Policy"))

    def test_x_ratelimit_epoch_reset(self):
        allowed, _ = self.decide_twice({"http": {"rate_limit_headers": "x-ratelimit", "x_ratelimit_reset": "epoch"}})
        reset = int(allowed.header("X-RateLimit-Reset"))
        now = time.time()
        self.assertGreater(reset, now - 2)
        self.assertLessEqual(reset, now + 3600 + 2)
        self.assertAlmostEqual(reset, now + seconds_to_boundary(3600), delta=2)

    def test_none(self):
        allowed, denied = self.decide_twice({"http": {"rate_limit_headers": "none"}})
        for r in (allowed, denied):
            self.assertFalse([h for h in r.headers if "ratelimit" in h], r.headers)


class RuleOptionsTest(DaemonTest):
    """quota_mode, rules.all_or_nothing and rules.merge_domains."""

    def rls(self, d, *descriptors):
        r = d.post("/json", rls_json("q", *descriptors))
        self.assertIn(r.status, (200, 429), r)
        return r

    def test_quota_mode_denies_only_when_every_quota_is_over(self):
        self.ws.write_rule("q.yaml", """\
domain: q
descriptors:
  - key: soft_a
    quota_mode: true
    rate_limit: {unit: hour, requests_per_unit: 1}
  - key: soft_b
    quota_mode: true
    rate_limit: {unit: hour, requests_per_unit: 2}
""")
        d = self.ws.start()
        both = ([("soft_a", "x")], [("soft_b", "x")])
        self.assertStatus(self.rls(d, *both), 200)
        r = self.rls(d, *both)
        self.assertStatus(r, 200, "one quota over, the other not: still allowed")
        self.assertEqual([s["code"] for s in r.json()["statuses"]], ["OVER_LIMIT", "OK"])
        r = self.rls(d, *both)
        self.assertStatus(r, 429, "every quota over")
        self.assertEqual(r.json()["overallCode"], "OVER_LIMIT")

    def test_all_or_nothing(self):
        self.ws.write_rule("q.yaml", """\
domain: q
descriptors:
  - key: a
    rate_limit: {unit: hour, requests_per_unit: 1}
  - key: b
    rate_limit: {unit: hour, requests_per_unit: 5}
""")
        d = self.ws.start({"rules": {"all_or_nothing": True}})
        pair = ([("a", "x")], [("b", "x")])
        self.assertStatus(self.rls(d, *pair), 200)
        r = self.rls(d, *pair)
        self.assertStatus(r, 429)
        # b was not charged for the denied request.
        peek = self.rls(d, {"entries": [{"key": "b", "value": "x"}], "hitsAddend": 0})
        self.assertEqual(peek.json()["statuses"][0]["limitRemaining"], 4)

    def test_merge_domains(self):
        self.ws.write_rule("q1.yaml", "domain: q\ndescriptors:\n  - key: a\n    rate_limit: {unit: hour, "
                                      "requests_per_unit: 1}\n")
        self.ws.write_rule("q2.yaml", "domain: q\ndescriptors:\n  - key: b\n    rate_limit: {unit: hour, "
                                      "requests_per_unit: 7}\n")
        d = self.ws.start(wait=False)
        self.assertEqual(d.proc.wait(10), 1, "a domain split over two files is an error by default")
        self.assertIn("q2.yaml", d.log())
        d = self.ws.start({"rules": {"merge_domains": True}})
        r = self.rls(d, [("a", "x")], [("b", "x")])
        self.assertEqual([s["currentLimit"]["requestsPerUnit"] for s in r.json()["statuses"]], [1, 7])


class HttpUnixSocketTest(DaemonTest):
    """Both listeners on Unix domain sockets, as deployments beside Envoy do."""

    def test_unix_socket_listeners(self):
        self.ws.write_rule("e2e.yaml", RULES["e2e.yaml"])
        http_sock = self.ws.path("http.sock")
        grpc_sock = self.ws.path("grpc.sock")
        # A stale socket file (as a killed daemon leaves it) is replaced.
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(http_sock)
        stale.close()
        self.assertTrue(os.path.exists(http_sock))
        d = self.ws.start({"http": {"listen": ["unix:" + http_sock, "127.0.0.1:0"]},
                           "grpc": {"listen": ["unix:" + grpc_sock]}})
        self.assertEqual(d.ready["http"][0], "unix:" + http_sock)
        self.assertRegex(d.ready["http"][1], r"^127\.0\.0\.1:\d+$")
        self.assertEqual(d.ready["grpc"], ["unix:" + grpc_sock])
        self.assertEqual(d.ready["pid"], d.pid)
        body = rls_json("e2e", [("user", "unix-1")])
        for addr, expected in ((d.ready["http"][0], 200), (d.ready["http"][1], 200), (d.ready["http"][0], 200),
                               (d.ready["http"][1], 429)):
            r = d.post("/json", body, addr=addr)
            self.assertStatus(r, expected, addr)
        self.assertStatus(d.get("/healthz", addr=d.ready["http"][0]), 200)


if __name__ == "__main__":
    unittest.main()
