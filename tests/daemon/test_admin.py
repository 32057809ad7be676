# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""The admin endpoints: bearer-token auth (401 without the right token, 404
when admin is off), checkpoints, the streamed NDJSON export, all-or-nothing
import (bad input changes nothing) and rule reload."""

import json
import unittest

from harness import DaemonTest, Workspace, crc32c, rls_json, wait_for

TOKEN = "e2e-admin-token-5f0c9a"
AUTH = f"Authorization: Bearer {TOKEN}"

RULES = """\
domain: e2e
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: 3
"""

ENDPOINTS = (("POST", "/admin/checkpoint"), ("GET", "/admin/export"), ("POST", "/admin/import"),
             ("POST", "/admin/reload"))


class AdminTest(DaemonTest):
    def start(self, token=True, data_dir=True, ws=None, **config):
        ws = ws or self.ws
        ws.write_rule("e2e.yaml", RULES)
        cfg = {"rules": {"watch": False}, "checkpoint": {"interval": "1h"}}
        if token:
            cfg["admin"] = {"token_file": ws.write_token(TOKEN)}
        if data_dir:
            cfg["data_dir"] = ws.data_dir
        cfg.update(config)
        return ws.start(cfg)

    def other_workspace(self):
        ws = Workspace()
        self.addCleanup(ws.cleanup)
        return ws

    @staticmethod
    def remaining(d, user):
        r = d.post("/json", rls_json("e2e", {"entries": [{"key": "user", "value": user}], "hitsAddend": 0}))
        assert r.status == 200, r
        return r.json()["statuses"][0].get("limitRemaining", 0)

    @staticmethod
    def hit(d, user, hits=1):
        r = d.post("/json", rls_json("e2e", [("user", user)], hits_addend=hits))
        assert r.status in (200, 429), r
        return r

    def export(self, d):
        r = d.get("/admin/export", headers=[AUTH])
        self.assertStatus(r, 200)
        return r

    # --- auth --------------------------------------------------------------

    def test_disabled_without_a_token(self):
        d = self.start(token=False)
        for method, path in ENDPOINTS:
            with self.subTest(path=path):
                self.assertStatus(d.request(method, path, body=b"" if method == "POST" else None, headers=[AUTH]),
                                  404)
        self.assertStatus(d.get("/healthz"), 200)

    def test_wrong_or_missing_token_is_401(self):
        d = self.start()
        bad_headers = ([], ["Authorization: Bearer wrong"], [f"Authorization: Bearer {TOKEN}x"],
                       [f"Authorization: Bearer {TOKEN[:-1]}"], [f"Authorization: Basic {TOKEN}"],
                       [f"Authorization: {TOKEN}"], ["Authorization: Bearer "])
        for method, path in ENDPOINTS:
            for headers in bad_headers:
                with self.subTest(path=path, headers=headers):
                    r = d.request(method, path, body=b"" if method == "POST" else None, headers=headers)
                    self.assertStatus(r, 401)
        # Nothing happened: no checkpoint was written.
        self.assertEqual(self.ws.checkpoints(), {})

    # --- checkpoint --------------------------------------------------------

    def test_checkpoint(self):
        d = self.start()
        self.hit(d, "ck-1", 2)
        before = self.ws.checkpoints()
        r = d.post("/admin/checkpoint", b"", headers=[AUTH])
        self.assertStatus(r, 200)
        r.json()  # a JSON report
        after = self.ws.checkpoints()
        self.assertEqual(len(set(after) - set(before)), 1, f"one new checkpoint file: {before} -> {after}")
        self.assertGreater(max(after), max(before, default=0))
        r = d.post("/admin/checkpoint", b"", headers=[AUTH])
        self.assertStatus(r, 200)
        self.assertGreater(max(self.ws.checkpoints()), max(after))

    # --- export and import -------------------------------------------------

    def test_export_is_streamed_ndjson(self):
        d = self.start()
        self.hit(d, "exp-1", 2)
        self.hit(d, "exp-2", 1)
        r = self.export(d)
        self.assertEqual((r.header("Transfer-Encoding") or "").lower(), "chunked", "the export is streamed")
        lines = r.body.decode().splitlines()
        objects = [json.loads(line) for line in lines]
        self.assertEqual(objects[0]["format"], "sluice.export")
        self.assertEqual(objects[0]["encoding"], "ndjson")
        self.assertEqual(objects[-1]["format"], "sluice.export.end")
        records = objects[1:-1]
        self.assertEqual(objects[-1]["count"], len(records))
        keys = [rec["key"] for rec in records]
        self.assertEqual(len([k for k in keys if "exp-1" in k]), 1, keys)
        self.assertEqual(len([k for k in keys if "exp-2" in k]), 1, keys)

    def test_import_restores_an_export_elsewhere(self):
        source = self.start()
        self.hit(source, "imp-1", 2)
        self.hit(source, "imp-2", 3)
        dump = self.export(source).body

        target = self.start(ws=self.other_workspace(), data_dir=False)
        self.assertEqual(self.remaining(target, "imp-1"), 3)
        r = target.post("/admin/import", dump, headers=[AUTH])
        self.assertStatus(r, 200)
        report = r.json()
        self.assertIsInstance(report, dict)
        self.assertIn(2, [v for v in report.values() if isinstance(v, int)],
                      f"the report counts the 2 imported records: {report}")
        self.assertEqual(self.remaining(target, "imp-1"), 1)
        self.assertEqual(self.remaining(target, "imp-2"), 0)
        self.assertStatus(self.hit(target, "imp-2"), 429)
        self.assertStatus(self.hit(target, "imp-1"), 200)

    def test_bad_import_is_400_and_changes_nothing(self):
        source = self.start()
        self.hit(source, "bad-1", 2)
        self.hit(source, "bad-2", 1)
        good = self.export(source).body
        lines = good.decode().splitlines(keepends=True)
        self.assertGreaterEqual(len(lines), 4)
        trailer = json.loads(lines[-1])

        def with_trailer(records, **changes):
            body = lines[0] + "".join(records)
            end = {"format": "sluice.export.end", "count": len(records), "crc32c": crc32c(body.encode())}
            end.update(changes)
            return (body + json.dumps(end, separators=(",", ":")) + "\n").encode()

        # Sanity: the trailer this test writes is the daemon's own.
        self.assertEqual(with_trailer(lines[1:-1]), good)
        record = json.loads(lines[1])
        bad_record = json.dumps(dict(record, version=99), separators=(",", ":")) + "\n"
        bad_bodies = {
            "garbage": b"this is not an export",
            "empty": b"",
            "truncated (no trailer)": "".join(lines[:-1]).encode(),
            "cut in the middle of a record": good[:len(lines[0]) + len(lines[1]) // 2],
            "checksum mismatch": with_trailer(lines[1:-1], crc32c=(trailer["crc32c"] + 1) % 2**32),
            "count mismatch": with_trailer(lines[1:-1], count=trailer["count"] + 1),
            # Framed and checksummed correctly, but one record is invalid:
            # all or nothing, so the valid one is not applied either.
            "invalid record": with_trailer([bad_record] + lines[2:-1]),
            "data after the trailer": good + lines[1].encode(),
        }

        target = self.start(ws=self.other_workspace(), data_dir=False)
        self.hit(target, "bad-2", 2)  # target's own state, which must survive
        for case, body in bad_bodies.items():
            with self.subTest(case=case):
                r = target.post("/admin/import", body, headers=[AUTH])
                self.assertEqual(self.remaining(target, "bad-1"), 3, f"nothing applied; import answered {r}")
                self.assertEqual(self.remaining(target, "bad-2"), 1, f"nothing applied; import answered {r}")
                self.assertStatus(r, 400)
                answer = r.json()
                self.assertTrue(answer.get("error") or answer.get("invalid"), answer)
        # The good one still imports.
        self.assertStatus(target.post("/admin/import", good, headers=[AUTH]), 200)
        self.assertEqual(self.remaining(target, "bad-1"), 1)

    # --- reload ------------------------------------------------------------

    def test_reload(self):
        d = self.start()
        self.ws.write_rule("e2e.yaml", RULES.replace("requests_per_unit: 3", "requests_per_unit: 30"))
        r = d.post("/admin/reload", b"", headers=[AUTH])
        self.assertStatus(r, 200)
        wait_for(lambda: d.post("/json", rls_json("e2e", [("user", "rl-1")])).json()["statuses"][0]
                 ["currentLimit"]["requestsPerUnit"] == 30, 10, what="the reloaded limit")

        self.ws.write_rule("e2e.yaml", RULES.replace("requests_per_unit: 3", "requests_per_unit: 31\n      nope: 1"))
        r = d.post("/admin/reload", b"", headers=[AUTH])
        self.assertGreaterEqual(r.status, 400, r)
        self.assertIn("e2e.yaml", r.body.decode(), "the error names the file")
        st = d.post("/json", rls_json("e2e", [("user", "rl-1")])).json()["statuses"][0]
        self.assertEqual(st["currentLimit"]["requestsPerUnit"], 30, "the old rules stay")


if __name__ == "__main__":
    unittest.main()
