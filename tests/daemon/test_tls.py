# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""TLS and mutual TLS on both listeners: certificates made here with the
openssl command (a CA, a server certificate for 127.0.0.1 / localhost, a
client certificate), HTTPS through curl, gRPC through grpcio's SSL
credentials; without the client certificate an mTLS listener refuses."""

import os
import shutil
import subprocess
import tempfile
import unittest

from harness import DaemonTest, curl, grpc_modules, rls_json, rls_proto

OPENSSL = shutil.which("openssl")
RULES = """\
domain: e2e
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: 2
"""


def make_certificates(directory):
    """ca.pem, server.pem/server.key (127.0.0.1 and localhost), client.pem/client.key."""
    def run(*args):
        subprocess.run([OPENSSL, *args], cwd=directory, check=True, capture_output=True, timeout=60)

    def key(name):
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key")

    key("ca")
    run("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2", "-subj", "/CN=sluiced e2e CA",
        "-out", "ca.pem")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        key(name)
        run("req", "-new", "-key", f"{name}.key", "-subj", f"/CN=sluiced e2e {name}", "-out", f"{name}.csr")
        with open(os.path.join(directory, f"{name}.ext"), "w", encoding="ascii") as f:
            f.write(ext)
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    return {n: os.path.join(directory, n) for n in
            ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


class TlsTest(DaemonTest):
    @classmethod
    def setUpClass(cls):
        if OPENSSL is None:
            raise unittest.SkipTest("the openssl command is not installed")
        cls.cert_dir = tempfile.mkdtemp(prefix="sluiced-tls-")
        cls.certs = make_certificates(cls.cert_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.cert_dir, ignore_errors=True)

    def start(self, mtls):
        self.ws.write_rule("e2e.yaml", RULES)
        tls = {"cert_file": self.certs["server.pem"], "key_file": self.certs["server.key"]}
        if mtls:
            tls["client_ca_file"] = self.certs["ca.pem"]
        return self.ws.start({"http": {"listen": ["127.0.0.1:0"], "tls": tls},
                              "grpc": {"listen": ["127.0.0.1:0"], "tls": tls}})

    def https(self, d, path, body=None, client_cert=False):
        args = ["--cacert", self.certs["ca.pem"]]
        if client_cert:
            args += ["--cert", self.certs["client.pem"], "--key", self.certs["client.key"]]
        return curl("POST" if body is not None else "GET", f"https://{d.http_addr}{path}", body=body,
                    extra_args=args)

    def secure_channel(self, d, client_cert):
        grpc = grpc_modules()[0]
        with open(self.certs["ca.pem"], "rb") as f:
            ca = f.read()
        kw = {"root_certificates": ca}
        if client_cert:
            with open(self.certs["client.key"], "rb") as f:
                kw["private_key"] = f.read()
            with open(self.certs["client.pem"], "rb") as f:
                kw["certificate_chain"] = f.read()
        return grpc.secure_channel(d.grpc_addr, grpc.ssl_channel_credentials(**kw),
                                   options=[("grpc.enable_http_proxy", 0)])

    def test_tls(self):
        d = self.start(mtls=False)
        self.assertStatus(self.https(d, "/healthz"), 200)
        body = rls_json("e2e", [("user", "tls-1")])
        self.assertStatus(self.https(d, "/json", body), 200)
        # Plain HTTP on the TLS port gets no HTTP answer.
        with self.assertRaises(AssertionError):
            curl("GET", f"http://{d.http_addr}/healthz", timeout=5)

        grpc, rls_pb2, rls_pb2_grpc, _, health_pb2, health_pb2_grpc = grpc_modules()
        with self.secure_channel(d, client_cert=False) as channel:
            resp = rls_pb2_grpc.RateLimitServiceStub(channel).ShouldRateLimit(
                rls_proto("e2e", [("user", "tls-1")]), timeout=10)
            self.assertEqual(resp.statuses[0].limit_remaining, 0, "HTTPS and gRPC share the counter")
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            self.assertEqual(health.status, health_pb2.HealthCheckResponse.SERVING)
        # A plaintext gRPC client cannot talk to it.
        with grpc.insecure_channel(d.grpc_addr, options=[("grpc.enable_http_proxy", 0)]) as channel:
            with self.assertRaises(grpc.RpcError):
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)

    def test_mutual_tls(self):
        d = self.start(mtls=True)
        self.assertStatus(self.https(d, "/healthz", client_cert=True), 200)
        with self.assertRaises(AssertionError):
            self.https(d, "/healthz", client_cert=False)

        grpc, _, _, _, health_pb2, health_pb2_grpc = grpc_modules()
        with self.secure_channel(d, client_cert=True) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            self.assertEqual(health.status, health_pb2.HealthCheckResponse.SERVING)
        with self.secure_channel(d, client_cert=False) as channel:
            with self.assertRaises(grpc.RpcError) as cm:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        # Still serving after the refused handshakes.
        self.assertStatus(self.https(d, "/healthz", client_cert=True), 200)

    def test_bad_certificate_files_refuse_to_start(self):
        self.ws.write_rule("e2e.yaml", RULES)
        d = self.ws.start({"http": {"tls": {"cert_file": self.certs["server.pem"],
                                            "key_file": self.certs["client.key"]}}}, wait=False)
        self.assertEqual(d.proc.wait(10), 1)
        d = self.ws.start({"grpc": {"tls": {"cert_file": self.ws.path("missing.pem"),
                                            "key_file": self.certs["server.key"]}}}, wait=False)
        self.assertEqual(d.proc.wait(10), 1)
        self.assertIn("missing.pem", d.log())


if __name__ == "__main__":
    unittest.main()
