#!/usr/bin/python3
# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""gRPC helpers for bench/daemon.sh (run with Debian's /usr/bin/python3).

  grpc_frames.py write OUTDIR --stubs DIR [--proto-dir DIR]
      Writes the request bodies h2load replays, each one gRPC message with its
      5-byte prefix (flag 0 = uncompressed, 4-byte big-endian length):
        rls_allow.bin   RateLimitRequest domain "bench", user=u1 (never limited)
        rls_deny.bin    RateLimitRequest domain "bench_deny", user=u1 (1 per hour)
        health.bin      an empty HealthCheckRequest (00 00000000)
      The messages are serialized by the generated Python modules in --stubs;
      without them, by `protoc --encode` over the .proto files in --proto-dir.

  grpc_frames.py check TARGET FRAMEDIR --stubs DIR
      Sends each frame's message once through a real gRPC client (grpcio) and
      checks the answers: rls_allow OK, rls_deny OVER_LIMIT from the second
      call on, health SERVING. h2load only counts HTTP 2xx, so this is what
      shows the replayed frames are decided, not refused with a grpc-status.
      Exit 0 when every answer is as expected, 1 otherwise.
"""

import argparse
import os
import struct
import subprocess
import sys

RLS_METHOD = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"
HEALTH_METHOD = "/grpc.health.v1.Health/Check"


def frame(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


def unframe(data: bytes) -> bytes:
    if len(data) < 5 or data[0] != 0:
        raise ValueError("not an uncompressed gRPC frame")
    (length,) = struct.unpack(">I", data[1:5])
    if length != len(data) - 5:
        raise ValueError(f"frame says {length} bytes, has {len(data) - 5}")
    return data[5:]


def load_stubs(stubs):
    sys.path.insert(0, stubs)
    from envoy.service.ratelimit.v3 import rls_pb2  # noqa: E402
    return rls_pb2


def rls_request_stubs(rls_pb2, domain):
    req = rls_pb2.RateLimitRequest(domain=domain)
    d = req.descriptors.add()
    e = d.entries.add()
    e.key = "user"
    e.value = "u1"
    return req.SerializeToString()


def rls_request_protoc(proto_dir, domain):
    text = f'domain: "{domain}"\ndescriptors {{ entries {{ key: "user" value: "u1" }} }}\n'
    out = subprocess.run(
        ["protoc", "-I", proto_dir, "--encode=envoy.service.ratelimit.v3.RateLimitRequest",
         "envoy/service/ratelimit/v3/rls.proto"],
        input=text.encode(), capture_output=True, check=True)
    return out.stdout


def cmd_write(args):
    os.makedirs(args.outdir, exist_ok=True)
    try:
        rls_pb2 = load_stubs(args.stubs)
        encode = lambda domain: rls_request_stubs(rls_pb2, domain)  # noqa: E731
        how = "generated modules"
    except ImportError:
        encode = lambda domain: rls_request_protoc(args.proto_dir, domain)  # noqa: E731
        how = "protoc --encode"
    for name, domain in (("rls_allow.bin", "bench"), ("rls_deny.bin", "bench_deny")):
        with open(os.path.join(args.outdir, name), "wb") as f:
            f.write(frame(encode(domain)))
    with open(os.path.join(args.outdir, "health.bin"), "wb") as f:
        f.write(frame(b""))
    print(f"frames written to {args.outdir} ({how})", file=sys.stderr)
    return 0


def cmd_check(args):
    import grpc
    rls_pb2 = load_stubs(args.stubs)
    import health_pb2

    def read(name):
        with open(os.path.join(args.framedir, name), "rb") as f:
            return unframe(f.read())

    channel = grpc.insecure_channel(args.target)
    rls = channel.unary_unary(RLS_METHOD, request_serializer=lambda b: b,
                              response_deserializer=rls_pb2.RateLimitResponse.FromString)
    health = channel.unary_unary(HEALTH_METHOD, request_serializer=lambda b: b,
                                 response_deserializer=health_pb2.HealthCheckResponse.FromString)
    ok_code = rls_pb2.RateLimitResponse.OK
    over_code = rls_pb2.RateLimitResponse.OVER_LIMIT
    failures = []

    allow = read("rls_allow.bin")
    for i in range(3):
        r = rls(allow, timeout=5)
        if r.overall_code != ok_code:
            failures.append(f"rls_allow call {i + 1}: overall_code {r.overall_code}, expected OK")
    deny = read("rls_deny.bin")
    codes = [rls(deny, timeout=5).overall_code for _ in range(3)]
    if codes[1:] != [over_code, over_code]:
        failures.append(f"rls_deny calls: overall codes {codes}, expected OVER_LIMIT from the second on")
    h = health(read("health.bin"), timeout=5)
    if h.status != health_pb2.HealthCheckResponse.SERVING:
        failures.append(f"health: status {h.status}, expected SERVING")
    channel.close()
    for f in failures:
        print("grpc check: " + f, file=sys.stderr)
    if not failures:
        print(f"grpc check: ShouldRateLimit answers OK and OVER_LIMIT, Health SERVING ({args.target})",
              file=sys.stderr)
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("outdir")
    w.add_argument("--stubs", required=True)
    w.add_argument("--proto-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                       "proto"))
    c = sub.add_parser("check")
    c.add_argument("target")
    c.add_argument("framedir")
    c.add_argument("--stubs", required=True)
    args = p.parse_args()
    return cmd_write(args) if args.cmd == "write" else cmd_check(args)


if __name__ == "__main__":
    sys.exit(main())
