# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""Rule reloads: SIGHUP with good files (new limits apply, unchanged limits
keep their counters), SIGHUP with bad files (the old rules stay, all of them),
and reloads triggered by a rule file changing, appearing or disappearing."""

import http.client
import json
import signal
import threading
import unittest

from harness import DaemonTest, metric_value, parse_metrics, rls_json, wait_for


def rules(user_limit, keep_limit=5, extra=""):
    return f"""\
domain: e2e
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: {user_limit}
  - key: keep
    rate_limit:
      unit: hour
      requests_per_unit: {keep_limit}
{extra}"""


BAD_FILES = {
    # Each is a reason envoyproxy/ratelimit rejects a file at load.
    "unknown field": ("e2e.yaml", rules(3).replace("requests_per_unit: 3", "requests_per_unit: 40\n      burstt: 2")),
    "unlimited with a unit": ("e2e.yaml", rules(40, extra="""\
  - key: weird
    rate_limit:
      unit: hour
      unlimited: true
""")),
    "bad unit": ("e2e.yaml", rules(40).replace("unit: hour\n      requests_per_unit: 40", "unit: fortnight\n"
                                              "      requests_per_unit: 40")),
    "replaces itself": ("e2e.yaml", rules(40, extra="""\
  - key: selfish
    rate_limit:
      name: me
      unit: hour
      requests_per_unit: 1
      replaces:
        - name: me
""")),
    "not YAML": ("e2e.yaml", "domain: e2e\ndescriptors: [\n"),
    "duplicate domain": ("zz-dup.yaml", "domain: e2e\ndescriptors:\n  - key: other\n"),
    "empty domain": ("zz-empty.yaml", "domain: ''\ndescriptors:\n  - key: other\n"),
}


class ReloadTest(DaemonTest):
    # --- helpers -----------------------------------------------------------

    def start(self, watch=False, user_limit=3, keep_limit=5, **config):
        self.ws.write_rule("e2e.yaml", rules(user_limit, keep_limit))
        cfg = {"rules": {"watch": watch, "watch_interval": "100ms"}}
        cfg.update(config)
        self.d = self.ws.start(cfg)
        return self.d

    def peek(self, key, value, domain="e2e"):
        """The status of a check that consumes nothing (hits_addend 0)."""
        r = self.d.post("/json", rls_json(domain, {"entries": [{"key": key, "value": value}], "hitsAddend": 0}))
        self.assertStatus(r, 200)
        return r.json()["statuses"][0]

    def limit_of(self, key, value, domain="e2e"):
        st = self.peek(key, value, domain)
        return st["currentLimit"]["requestsPerUnit"] if "currentLimit" in st else None

    def hit(self, key, value, hits=1):
        r = self.d.post("/json", rls_json("e2e", [(key, value)], hits_addend=hits))
        self.assertIn(r.status, (200, 429), r)
        return r.json()["statuses"][0]

    def wait_limit(self, key, value, expected, domain="e2e", timeout=10):
        wait_for(lambda: self.limit_of(key, value, domain) == expected, timeout,
                 what=f"the limit of {domain}/{key}={value} to become {expected}")

    def rules_listing(self):
        r = self.d.get("/v1/rules")
        self.assertStatus(r, 200)
        return r.json()

    def reload_failures(self):
        """The sum of the counters that look like failed reloads."""
        total = 0.0
        for name, labels, value in parse_metrics(self.d.get("/metrics").body.decode()):
            text = (name + json.dumps(labels)).lower()
            if "reload" in text and any(w in text for w in ("fail", "error", "invalid", "reject")):
                total += value
        return total

    def sighup_bad(self, file_name):
        """Sends SIGHUP and waits until the daemon reported the failed reload:
        its log names the bad file, or a reload failure counter moved."""
        offset = len(self.d.log())
        failures = self.reload_failures()
        self.d.signal(signal.SIGHUP)
        self.wait_reload_failure(offset, failures, file_name)

    def wait_reload_failure(self, log_offset, failures_before, file_name):
        wait_for(lambda: file_name in self.d.log()[log_offset:] or self.reload_failures() > failures_before, 10,
                 interval=0.05, what=f"a failed reload naming {file_name}")

    # --- tests -------------------------------------------------------------

    def test_sighup_applies_new_rules_and_keeps_unchanged_counters(self):
        self.start(watch=False)
        self.assertEqual(self.hit("keep", "k1", hits=2)["limitRemaining"], 3)
        self.assertEqual(self.hit("user", "u1")["limitRemaining"], 2)
        self.ws.write_rule("e2e.yaml", rules(40))
        self.d.signal(signal.SIGHUP)
        self.wait_limit("user", "u1", 40)
        listed = {r["path"]: r for r in self.rules_listing()["rules"]}
        self.assertEqual(listed["user"]["requests_per_unit"], 40)
        # "keep" did not change: its counter carried over (5 - 2 - 1).
        st = self.hit("keep", "k1")
        self.assertEqual(st["code"], "OK")
        self.assertEqual(st["limitRemaining"], 2)
        self.assertTrue(any("reload" in name for name, _, _ in parse_metrics(self.d.get("/metrics").body.decode())),
                        "reloads are counted in /metrics")

    def test_sighup_with_a_bad_file_keeps_the_old_rules(self):
        self.start(watch=False)
        self.hit("keep", "k2", hits=2)
        before = self.rules_listing()
        for case, (file_name, text) in BAD_FILES.items():
            with self.subTest(case=case):
                self.ws.write_rule(file_name, text)
                self.sighup_bad(file_name)
                self.assertTrue(self.d.running())
                # Nothing of the new files applies, not even their good parts.
                self.assertEqual(self.limit_of("user", "u2"), 3)
                self.assertEqual(self.limit_of("keep", "k2"), 5)
                self.assertEqual(self.peek("keep", "k2")["limitRemaining"], 3)
                self.assertEqual(self.rules_listing(), before)
                self.assertStatus(self.d.get("/readyz"), 200)
                # Put things back as they were.
                if file_name == "e2e.yaml":
                    self.ws.write_rule("e2e.yaml", rules(3))
                else:
                    self.ws.remove_rule(file_name)

        # Each failed reload was counted.
        samples = parse_metrics(self.d.get("/metrics").body.decode())
        self.assertEqual(metric_value(samples, "sluiced_rules_reloads_total", result="failure"), len(BAD_FILES))
        successes = metric_value(samples, "sluiced_rules_reloads_total", result="success") or 0

        # A good file after all that is taken, and the counters survived.
        self.ws.write_rule("e2e.yaml", rules(40))
        self.d.signal(signal.SIGHUP)
        self.wait_limit("user", "u2", 40)
        self.assertEqual(self.hit("keep", "k2")["limitRemaining"], 2)
        samples = parse_metrics(self.d.get("/metrics").body.decode())
        self.assertEqual(metric_value(samples, "sluiced_rules_reloads_total", result="success"), successes + 1)

    def test_reloads_under_traffic(self):
        # Requests racing reloads all get answers, from the old rules or the
        # new ones, never an error.
        self.start(watch=False)
        host, port = self.d.http_host_port()
        stop = threading.Event()
        answers = []
        errors = []

        def traffic():
            conn = http.client.HTTPConnection(host, port, timeout=10)
            body = json.dumps(rls_json("e2e", {"entries": [{"key": "user", "value": "t"}], "hitsAddend": 0}))
            try:
                while not stop.is_set():
                    conn.request("POST", "/json", body=body, headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    answers.append((resp.status, json.loads(resp.read())))
            except Exception as e:  # reported below, from the test's thread
                errors.append(repr(e))
            finally:
                conn.close()

        threads = [threading.Thread(target=traffic) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            for i in range(10):
                limit = 40 + i
                self.ws.write_rule("e2e.yaml", rules(limit))
                self.d.signal(signal.SIGHUP)
                self.wait_limit("user", "u5", limit)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertEqual(errors, [])
        self.assertGreater(len(answers), 10)
        limits = set()
        for status, body in answers:
            self.assertEqual(status, 200, body)
            limits.add(body["statuses"][0]["currentLimit"]["requestsPerUnit"])
        self.assertTrue(limits <= {3} | set(range(40, 50)), limits)

    def test_file_change_reloads_by_itself(self):
        self.start(watch=True)
        self.assertEqual(self.hit("keep", "k3", hits=2)["limitRemaining"], 3)
        self.ws.write_rule("e2e.yaml", rules(40))
        self.wait_limit("user", "u3", 40)
        self.assertEqual(self.hit("keep", "k3")["limitRemaining"], 2)

        # A new file with a new domain.
        self.assertIsNone(self.limit_of("user", "u3", domain="fresh"))
        self.ws.write_rule("fresh.yaml", "domain: fresh\ndescriptors:\n  - key: user\n    rate_limit:\n"
                                         "      unit: day\n      requests_per_unit: 7\n")
        self.wait_limit("user", "u3", 7, domain="fresh")
        # Files that are not *.yaml / *.yml are not rules.
        self.ws.write_rule("notes.txt", "domain: nope\ndescriptors: [\n")
        self.ws.write_rule("e2e.yaml", rules(41))
        self.wait_limit("user", "u3", 41)

        # A removed file takes its domain with it.
        self.ws.remove_rule("fresh.yaml")
        self.wait_limit("user", "u3", None, domain="fresh")
        self.assertEqual(self.limit_of("user", "u3"), 41)

    def test_file_change_to_a_bad_file_keeps_the_old_rules(self):
        self.start(watch=True)
        offset = len(self.d.log())
        failures = self.reload_failures()
        self.ws.write_rule("e2e.yaml", BAD_FILES["unknown field"][1])
        self.wait_reload_failure(offset, failures, "e2e.yaml")
        self.assertEqual(self.limit_of("user", "u4"), 3)
        self.ws.write_rule("e2e.yaml", rules(40))
        self.wait_limit("user", "u4", 40)


if __name__ == "__main__":
    unittest.main()
