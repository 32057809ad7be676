#!/usr/bin/python3
# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""Parsing and reporting for bench/daemon.sh.

  report.py wrk NAME REP RESULTS < wrk-output
  report.py h2load NAME REP RESULTS LOGFILE < h2load-output
      Parse one run and append it to RESULTS (JSON lines): requests/s, p99 in
      ms, answers that were not 2xx, transport errors. wrk's p99 comes from its
      --latency distribution; h2load prints no percentiles, so its p99 is
      computed from the per-request --log-file. Prints a one-line summary.
  report.py table RESULTS MEMORY HEADER NOTES OUT USERS
      The medians of the runs of each workload, the ratios against the
      references and the targets, as one Markdown table (plus the memory
      figures from the JSON file MEMORY, HEADER's text above the table and the
      lines of NOTES, with the anomalies found here, below it), printed and
      written to OUT.
"""

import json
import os
import re
import statistics
import sys

UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def wrk_time_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"wrk time {text!r}")
    return float(m.group(1)) * UNIT_MS[m.group(2)]


def parse_wrk(out):
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = re.search(r"^\s+(\d+) requests in", out, re.M)
    if not (rps and p99 and total):
        raise ValueError("wrk output without Requests/sec, 99% or a request count")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(rps.group(1)),
        "p99_ms": wrk_time_ms(p99.group(1)),
        "requests": int(total.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": sum(int(x) for x in sock.groups()) if sock else 0,
    }


def parse_h2load(out, log_file):
    fin = re.search(r"finished in [0-9.]+m?s, ([0-9.]+) req/s", out)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                    r"(\d+) errored, (\d+) timeout", out)
    if not (fin and req):
        raise ValueError("h2load output without 'finished in' or 'requests:'")
    latencies = []
    with open(log_file, encoding="utf-8") as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) >= 3:
                latencies.append(int(cols[2]))
    if not latencies:
        raise ValueError(f"h2load log {log_file} is empty")
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    total, _, done, ok, failed, errored, timeout = (int(x) for x in req.groups())
    return {
        "rps": float(fin.group(1)),
        "p99_ms": p99 / 1000.0,
        "requests": done,
        "non2xx": done - ok,
        "errors": failed + errored + timeout,
    }


def server_cpu_us(out, rps):
    """Server CPU microseconds per request: bench/daemon.sh appends the
    server's CPU ticks and the wall seconds of the whole run (warm-up
    included, at about the same rate) to the tool's output."""
    m = re.search(r"^cpu_ticks (\d+) wall ([0-9.]+)", out, re.M)
    if not m or rps <= 0 or float(m.group(2)) <= 0:
        return None
    cpu_s = int(m.group(1)) / os.sysconf("SC_CLK_TCK")
    return cpu_s / float(m.group(2)) / rps * 1e6


def append(results, record):
    with open(results, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    print(f"  {record['name']} run {record['rep']}: {record['rps']:.0f} req/s, p99 {record['p99_ms']:.2f} ms, "
          f"server CPU {record['cpu_us'] or 0:.1f} us/request, non-2xx {record['non2xx']}, errors {record['errors']}",
          file=sys.stderr)


# name: (label, reference, target ratio, p99 limit ms, expects denials)
WORKLOADS = [
    ("nginx-allow", "nginx `limit_req`, admitting (wrk)", None, None, None, False),
    ("nginx-deny", "nginx `limit_req`, rejecting 429 (wrk)", None, None, None, True),
    ("decide-allow", "sluiced `POST /v1/decide`, allowed (wrk)", "nginx-allow", 0.5, 5.0, False),
    ("json-allow", "sluiced `POST /json`, allowed (wrk)", "nginx-allow", 0.5, 5.0, False),
    ("decide-deny", "sluiced `POST /v1/decide`, denied 429 (wrk)", "nginx-deny", None, None, True),
    ("json-deny", "sluiced `POST /json`, denied 429 (wrk)", "nginx-deny", None, None, True),
    ("health-m1", "gRPC `Health/Check` -c50 -m1 (h2load)", None, None, None, False),
    ("rls-m1", "gRPC `ShouldRateLimit` OK -c50 -m1 (h2load)", "health-m1", 0.7, None, False),
    ("health-m10", "gRPC `Health/Check` -c50 -m10 (h2load)", None, None, None, False),
    ("rls-m10", "gRPC `ShouldRateLimit` OK -c50 -m10 (h2load)", "health-m10", 0.7, None, False),
    ("rls-deny-m10", "gRPC `ShouldRateLimit` OVER_LIMIT -c50 -m10 (h2load)", "health-m10", None, None, False),
    # The shared-state deployment; CPU is sluiced's plus Redis's.
    ("json-redis", "sluiced on Redis `POST /json`, allowed (wrk; CPU incl. Redis)", "json-allow", None, None, False),
    ("decide-redis", "sluiced on Redis `POST /v1/decide`, allowed (wrk; CPU incl. Redis)", "decide-allow", None, None,
     False),
]


def table(results_file, memory_file, header_file, notes_file, out_file, users):
    users = int(users)
    runs = {}
    with open(results_file, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            runs.setdefault(r["name"], []).append(r)
    med = {name: (statistics.median(r["rps"] for r in rs), statistics.median(r["p99_ms"] for r in rs))
           for name, rs in runs.items()}
    cpu = {name: statistics.median(r["cpu_us"] for r in rs) if all(r.get("cpu_us") for r in rs) else None
           for name, rs in runs.items()}
    lines = []
    with open(header_file, encoding="utf-8") as f:
        lines.extend(f.read().rstrip("\n").split("\n"))
    lines.append("")
    lines.append("| Workload | req/s (median) | p99 ms (median) | server CPU µs/req | Ratio | Target | Met? "
                 "| req/s of each run |")
    lines.append("|---|---:|---:|---:|---:|---|---|---|")
    notes = []
    for name, label, ref, ratio_target, p99_target, expects_denials in WORKLOADS:
        if name not in runs:
            continue
        rps, p99 = med[name]
        ratio = target = met = "—"
        if ref and ref in med and med[ref][0] > 0:
            r = rps / med[ref][0]
            ratio = f"{100 * r:.0f}% of {ref}"
            if ratio_target is not None:
                target = f"≥ {100 * ratio_target:.0f}%" + (f", p99 ≤ {p99_target:g} ms" if p99_target else "")
                ok = r >= ratio_target and (p99_target is None or p99 <= p99_target)
                met = "yes" if ok else "**no**"
        each = ", ".join(f"{r['rps']:.0f}" for r in runs[name])
        cpu_text = f"{cpu[name]:.1f}" if cpu[name] else "?"
        lines.append(f"| {label} | {rps:,.0f} | {p99:.2f} | {cpu_text} | {ratio} | {target} | {met} | {each} |")
        for r in runs[name]:
            if r["errors"]:
                notes.append(f"{name} run {r['rep']}: {r['errors']} transport errors (connect/read/write/timeout "
                             f"or failed/errored streams)")
            if expects_denials:
                # Each user is admitted once an hour (twice when a run spans
                # the top of the hour): the rest must be denied.
                admitted = r["requests"] - r["non2xx"]
                if admitted > 2 * users:
                    notes.append(f"{name} run {r['rep']}: {admitted} of {r['requests']} answers admitted, "
                                 f"more than twice the {users} users")
            elif r["non2xx"]:
                notes.append(f"{name} run {r['rep']}: {r['non2xx']} of {r['requests']} answers were not 2xx")
    with open(memory_file, encoding="utf-8") as f:
        mem = json.load(f)
    lines.append("")
    if mem.get("keys"):
        lines.append(f"| Memory at {mem['want']:,} active keys | Value |")
        lines.append("|---|---:|")
        lines.append(f"| keys in the store (`sluiced_store_keys`) | {mem['keys']:,} |")
        lines.append(f"| VmRSS before | {mem['rss_before_kib'] / 1024:,.1f} MiB |")
        lines.append(f"| VmRSS after | {mem['rss_after_kib'] / 1024:,.1f} MiB |")
        lines.append(f"| bytes per key (RSS growth / keys) | {mem['bytes_per_key']:,.0f} |")
        lines.append(f"| new-key decisions/s while filling (wrk) | {mem['fill_rps']:,.0f} |")
    else:
        notes.append("memory: " + mem.get("error", "not measured"))
    with open(notes_file, encoding="utf-8") as f:
        notes.extend(line.strip() for line in f if line.strip())
    if notes:
        lines.append("")
        lines.append("Anomalies:")
        lines.extend(f"- {n}" for n in notes)
    text = "\n".join(lines) + "\n"
    with open(out_file, "w", encoding="utf-8") as f:
        f.write(text)
    print(text)
    return 0


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "wrk" and len(argv) == 5:
        out = sys.stdin.read()
        rec = parse_wrk(out)
        rec["cpu_us"] = server_cpu_us(out, rec["rps"])
        append(argv[4], {"name": argv[2], "rep": int(argv[3]), **rec})
        return 0
    if cmd == "h2load" and len(argv) == 6:
        out = sys.stdin.read()
        rec = parse_h2load(out, argv[5])
        rec["cpu_us"] = server_cpu_us(out, rec["rps"])
        append(argv[4], {"name": argv[2], "rep": int(argv[3]), **rec})
        return 0
    if cmd == "table" and len(argv) == 8:
        return table(*argv[2:8])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (ValueError, OSError) as e:
        print(f"report.py: {e}", file=sys.stderr)
        sys.exit(1)
