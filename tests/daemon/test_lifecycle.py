# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""Start, stop and restart: SIGTERM exits 0 after a final checkpoint and a
restart keeps the counts; kill -9 restarts from the last checkpoint (a corrupt
newest one is skipped); periodic checkpoints; --check-config; --help; a
daemon run from flags alone."""

import os
import signal
import subprocess
import unittest

from harness import SLUICED, DaemonTest, grpc_channel, grpc_modules, rls_json, wait_for

TOKEN = "lifecycle-token-77"
AUTH = f"Authorization: Bearer {TOKEN}"

RULES = """\
domain: e2e
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: 3
"""

INLINE = {"algorithm": "token_bucket", "limit": 5, "period": "1h"}


class LifecycleTest(DaemonTest):
    def start(self, interval="1h", **config):
        self.ws.write_rule("e2e.yaml", RULES)
        cfg = {"data_dir": self.ws.data_dir, "checkpoint": {"interval": interval},
               "admin": {"token_file": self.ws.write_token(TOKEN)}}
        cfg.update(config)
        return self.ws.start(cfg)

    def hit(self, d, user, hits=1):
        r = d.post("/json", rls_json("e2e", [("user", user)], hits_addend=hits))
        self.assertIn(r.status, (200, 429), r)
        return r

    def remaining(self, d, user):
        r = d.post("/json", rls_json("e2e", {"entries": [{"key": "user", "value": user}], "hitsAddend": 0}))
        self.assertStatus(r, 200)
        return r.json()["statuses"][0].get("limitRemaining", 0)

    def inline_remaining(self, d, key):
        r = d.post("/v1/decide", {"key": key, "limit": INLINE, "operation": "peek"})
        self.assertStatus(r, 200)
        return r.json()["remaining"]

    def test_sigterm_writes_a_final_checkpoint_and_restart_keeps_counts(self):
        d = self.start()
        self.assertEqual(self.hit(d, "life-1", 2).json()["statuses"][0]["limitRemaining"], 1)
        self.assertStatus(d.post("/v1/decide", {"key": "life-inline", "limit": INLINE, "cost": 3}), 200)
        before = self.ws.checkpoints()
        self.assertEqual(d.stop(), 0, d.log())
        after = self.ws.checkpoints()
        self.assertTrue(after and max(after) > max(before, default=0),
                        f"no final checkpoint: {before} -> {after}\n{d.log()}")
        self.assertFalse([f for f in os.listdir(self.ws.data_dir) if f.endswith(".tmp")])

        d2 = self.start()
        self.assertEqual(self.remaining(d2, "life-1"), 1)
        self.assertEqual(self.inline_remaining(d2, "life-inline"), 2)
        self.assertStatus(self.hit(d2, "life-1"), 200)
        self.assertStatus(self.hit(d2, "life-1"), 429)
        # And once more, through a second SIGTERM.
        self.assertEqual(d2.stop(), 0, d2.log())
        d3 = self.start()
        self.assertEqual(self.remaining(d3, "life-1"), 0)
        self.assertEqual(d3.stop(), 0)

    def test_sigterm_without_a_data_dir_exits_0(self):
        self.ws.write_rule("e2e.yaml", RULES)
        d = self.ws.start()
        self.hit(d, "life-2")
        self.assertEqual(d.stop(), 0, d.log())
        self.assertEqual(self.ws.checkpoints(), {})

    def test_kill_9_restarts_from_the_last_checkpoint(self):
        d = self.start()
        self.hit(d, "life-3", 2)
        self.assertStatus(d.post("/v1/decide", {"key": "life-inline-3", "limit": INLINE, "cost": 2}), 200)
        self.assertStatus(d.post("/admin/checkpoint", b"", headers=[AUTH]), 200)
        # After the checkpoint: lost with the process.
        self.hit(d, "life-3", 1)
        self.assertStatus(d.post("/v1/decide", {"key": "life-inline-3", "limit": INLINE, "cost": 2}), 200)
        self.assertEqual(self.remaining(d, "life-3"), 0)
        d.kill()

        d2 = self.start()
        self.assertEqual(self.remaining(d2, "life-3"), 1)
        self.assertEqual(self.inline_remaining(d2, "life-inline-3"), 3)

    def test_corrupt_newest_checkpoint_is_skipped(self):
        d = self.start()
        self.hit(d, "life-4", 1)
        self.assertStatus(d.post("/admin/checkpoint", b"", headers=[AUTH]), 200)
        self.hit(d, "life-4", 1)
        self.assertStatus(d.post("/admin/checkpoint", b"", headers=[AUTH]), 200)
        d.kill()
        checkpoints = self.ws.checkpoints()
        self.assertGreaterEqual(len(checkpoints), 2)
        newest = checkpoints[max(checkpoints)]
        with open(newest, "r+b") as f:
            data = bytearray(f.read())
            data[len(data) // 2] ^= 0xFF
            f.seek(0)
            f.write(data)

        d2 = self.start()
        self.assertEqual(self.remaining(d2, "life-4"), 2, "restored from the older, intact checkpoint")
        self.assertIn(os.path.basename(newest), d2.log(), "the skipped checkpoint is logged")

    def test_periodic_checkpoints(self):
        d = self.start(interval="200ms")
        self.hit(d, "life-5", 2)
        # Two checkpoints begun after the decision was answered hold it.
        first = max(self.ws.checkpoints(), default=0)
        wait_for(lambda: max(self.ws.checkpoints(), default=0) >= first + 2, 10,
                 what="two periodic checkpoints")
        d.kill()
        d2 = self.start()
        self.assertEqual(self.remaining(d2, "life-5"), 1)
        self.assertLessEqual(len(self.ws.checkpoints()), 3, "checkpoint.retain defaults to 3")


class CommandLineTest(DaemonTest):
    def run_sluiced(self, *args):
        return subprocess.run([SLUICED, *args], capture_output=True, text=True, timeout=30, cwd=self.ws.dir)

    def test_help(self):
        p = self.run_sluiced("--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        for flag in ("--config", "--store", "--rules", "--http", "--grpc", "--data-dir", "--admin-token-file",
                     "--shadow-mode", "--log-level", "--check-config", "--ready-file"):
            self.assertIn(flag, p.stdout + p.stderr)

    def test_check_config_accepts_a_good_config(self):
        self.ws.write_rule("e2e.yaml", RULES)
        self.ws.write_config({"store": {"failure_mode": "deny"}, "limits": {"max_body_bytes": 1000}})
        p = self.run_sluiced("--config", self.ws.config_path, "--check-config",
                             "--ready-file", self.ws.path("ready.json"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(self.ws.path("ready.json")), "--check-config starts nothing")

    def test_check_config_rejects_with_file_and_line(self):
        cases = {
            "unknown key": ("http:\n  listen: ['127.0.0.1:0']\n  colour: blue\n", 3, "colour"),
            "unknown section": ("rules:\n  watch: true\nstorage:\n  uri: 'memory:'\n", 3, "storage"),
            "bad enum": ("grpc:\n  listen: []\nstore:\n  failure_mode: maybe\n", 4, "failure_mode"),
            "wrong type": ("limits:\n  max_body_bytes: lots\n", 2, "max_body_bytes"),
            "bad duration": ("store:\n  deadline: soonish\n", 2, "deadline"),
            "bad listen address": ("http:\n  listen: ['no-port-here']\n", 2, None),
            "bad store uri": ("store:\n  uri: 'floppy:/a'\n", 2, None),
            "not YAML": ("http: [\n", None, None),
        }
        for case, (text, line, word) in cases.items():
            with self.subTest(case=case):
                self.ws.write_config(text=text)
                p = self.run_sluiced("--config", self.ws.config_path, "--check-config")
                self.assertEqual(p.returncode, 1, f"{case}: {p.stderr}")
                expected = "config.yaml" + (f":{line}" if line else "")
                self.assertIn(expected, p.stderr)
                if word:
                    self.assertIn(word, p.stderr)

    def test_check_config_rejects_bad_rules(self):
        self.ws.write_rule("e2e.yaml", RULES)
        self.ws.write_rule("broken.yaml", "domain: broken\ndescriptors:\n  - key: user\n    rate_limit:\n"
                                          "      unit: lightyear\n      requests_per_unit: 1\n")
        self.ws.write_config()
        p = self.run_sluiced("--config", self.ws.config_path, "--check-config")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stderr, r"broken\.yaml:\d+")
        # The daemon refuses to start on them too.
        d = self.ws.start(wait=False)
        self.assertEqual(d.proc.wait(10), 1)
        self.assertIn("broken.yaml", d.log())

    def test_bad_flags(self):
        for args in (["--no-such-flag"], ["--config"], ["--http"], ["--config", self.ws.path("missing.yaml")],
                     ["--log-level", "chatty"], ["--store", "floppy:"]):
            with self.subTest(args=args):
                p = self.run_sluiced(*args, "--check-config")
                self.assertNotEqual(p.returncode, 0)
                self.assertTrue(p.stderr.strip(), "says what is wrong")

    def test_flags_alone(self):
        self.ws.write_rule("e2e.yaml", RULES)
        d = self.ws.start(with_config=False, args=[
            "--store", "memory:", "--rules", self.ws.rules_dir, "--http", "127.0.0.1:0", "--http",
            "unix:" + self.ws.path("h.sock"), "--grpc", "127.0.0.1:0", "--data-dir", self.ws.data_dir,
            "--admin-token-file", self.ws.write_token(TOKEN), "--log-level", "debug"])
        self.assertEqual(d.ready["pid"], d.pid)
        self.assertRegex(d.ready["http"][0], r"^127\.0\.0\.1:[1-9]\d*$")
        self.assertEqual(d.ready["http"][1], "unix:" + self.ws.path("h.sock"))
        self.assertRegex(d.ready["grpc"][0], r"^127\.0\.0\.1:[1-9]\d*$")
        self.assertStatus(d.post("/json", rls_json("e2e", [("user", "flags-1")]), addr=d.ready["http"][1]), 200)
        self.assertEqual(d.post("/json", rls_json("e2e", [("user", "flags-1")])).json()["statuses"][0]
                         ["limitRemaining"], 1)
        self.assertStatus(d.post("/admin/checkpoint", b"", headers=[AUTH]), 200)
        self.assertTrue(self.ws.checkpoints())
        _, _, _, _, health_pb2, health_pb2_grpc = grpc_modules()
        with grpc_channel(d.grpc_addr) as channel:
            resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            self.assertEqual(resp.status, health_pb2.HealthCheckResponse.SERVING)
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(self.ws.path("h.sock")), "the unix socket is removed on exit")

    def test_sigint_also_stops_cleanly(self):
        d = self.ws.start()
        d.signal(signal.SIGINT)
        self.assertEqual(d.proc.wait(10), 0)


if __name__ == "__main__":
    unittest.main()
