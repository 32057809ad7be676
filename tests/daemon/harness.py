# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""Shared machinery of the sluiced end-to-end tests.

Each test starts the real daemon (the binary named by $SLUICED) in its own
temporary directory, with a config file and rule files the test writes, on
ports the kernel picks (127.0.0.1:0); the daemon reports the bound addresses
in its --ready-file. HTTP goes through `curl` (the client the daemon's users
run), raw-socket abuse through `socket`, gRPC through Debian's grpcio with the
stubs the build generates into <build>/python.

Every wait polls a condition with a deadline; nothing sleeps to let time pass,
except `avoid_window_edge`, which keeps a test from straddling the top of an
hour (when every hour- and day-aligned window of the rules rolls over).

By hand, from this directory:
    SLUICED=<build>/daemon/sluiced PYTHONPATH=<build>/python:. \
        /usr/bin/python3 -m unittest -v test_http.HttpTest.test_replaces
SLUICED_E2E_KEEP=1 keeps each test's directory (config, rules, the daemon's
log sluiced.N.log) and prints where it is.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

SLUICED = os.environ.get("SLUICED", "")
SOURCE_DIR = os.environ.get("SLUICE_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CURL = shutil.which("curl")

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def avoid_window_edge(margin=30.0, window=3600.0):
    """Waits out the end of the current `window` (s, aligned to the epoch)
    if it is less than `margin` s away.

    Tests count hits in hour- and day-long fixed windows aligned to the epoch;
    a test that began a few seconds before the top of an hour would see its
    counters reset halfway. Tests take well under `margin` seconds."""
    left = window - time.time() % window
    if left < margin:
        time.sleep(left + 0.5)


def wait_for(condition, timeout, interval=0.02, what="condition"):
    """Polls `condition()` until it returns a truthy value; returns it.
    Raises AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def deep_merge(base, over):
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class Response:
    """One HTTP response: status, headers (lower-case name -> [values]), body."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"response body is not JSON ({e}): {self.body[:500]!r}") from None

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:300]!r}>"


def _parse_header_file(text):
    # curl -D writes every response head it saw (a 100 Continue first, for
    # example); the last one is the answer.
    blocks = [b for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    headers = {}
    if not blocks:
        return headers
    for line in blocks[-1].splitlines()[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return headers


def curl(method, url, body=None, headers=(), unix_socket=None, timeout=10.0, extra_args=()):
    """Runs one request with curl; returns a Response.

    `body` (bytes or str) is sent as-is; a dict or list is sent as JSON. An
    AssertionError is raised when curl got no HTTP status at all."""
    if CURL is None:
        raise unittest.SkipTest("curl is not installed")
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    with tempfile.TemporaryDirectory(prefix="curl-") as tmp:
        body_file = os.path.join(tmp, "body")
        head_file = os.path.join(tmp, "head")
        cmd = [CURL, "-sS", "--noproxy", "*", "-X", method, "-o", body_file, "-D", head_file,
               "-w", "%{http_code}", "--max-time", str(timeout),
               # No "Expect: 100-continue" pause before larger bodies.
               "-H", "Expect:"]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        for h in headers:
            cmd += ["-H", h]
        if unix_socket:
            cmd += ["--unix-socket", unix_socket]
        cmd += list(extra_args)
        cmd.append(url)
        proc = subprocess.run(cmd, input=body if body is not None else b"", capture_output=True,
                              timeout=timeout + 5)
        status = int(proc.stdout.decode().strip() or "0")
        if status == 0:
            raise AssertionError(f"curl {method} {url} got no response (exit {proc.returncode}): "
                                 f"{proc.stderr.decode().strip()}")
        with open(head_file, encoding="latin-1") as f:
            head = f.read()
        body_out = b""
        if os.path.exists(body_file):
            with open(body_file, "rb") as f:
                body_out = f.read()
        return Response(status, _parse_header_file(head), body_out)


class Daemon:
    """One sluiced process. Started by Workspace.start(); stopped by stop()
    (SIGTERM) or kill() (SIGKILL)."""

    def __init__(self, workspace, args, cwd=None):
        self.workspace = workspace
        self.ready_file = os.path.join(workspace.dir, "ready.json")
        if os.path.exists(self.ready_file):
            os.unlink(self.ready_file)
        workspace.runs += 1
        self.log_path = os.path.join(workspace.dir, f"sluiced.{workspace.runs}.log")
        self.args = [SLUICED, "--ready-file", self.ready_file] + list(args)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=cwd or workspace.dir)
        self.ready = None
        self.returncode = None

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"sluiced exited with {self.proc.returncode} before it was ready; "
                                     f"command: {' '.join(self.args)}\noutput:\n{self.log()}")
            if os.path.exists(self.ready_file):
                try:
                    with open(self.ready_file, encoding="utf-8") as f:
                        self.ready = json.load(f)
                    break
                except ValueError:
                    pass  # written atomically, so this is someone else's file: keep polling
            if time.monotonic() >= deadline:
                self.kill()
                raise AssertionError(f"sluiced was not ready within {timeout} s; "
                                     f"command: {' '.join(self.args)}\noutput:\n{self.log()}")
            time.sleep(0.01)
        return self

    # Addresses, as the ready file reports them.
    @property
    def http_addr(self):
        return self.ready["http"][0]

    @property
    def grpc_addr(self):
        return self.ready["grpc"][0]

    def url(self, path, addr=None):
        addr = addr or self.http_addr
        if addr.startswith("unix:"):
            return "http://localhost" + path
        return f"http://{addr}{path}"

    def http_host_port(self):
        host, _, port = self.http_addr.rpartition(":")
        return host.strip("[]"), int(port)

    def request(self, method, path, body=None, headers=(), addr=None, timeout=10.0, extra_args=()):
        addr = addr or self.http_addr
        unix = addr[len("unix:"):] if addr.startswith("unix:") else None
        return curl(method, self.url(path, addr), body=body, headers=headers, unix_socket=unix,
                    timeout=timeout, extra_args=extra_args)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    # Signals and exit.
    def signal(self, sig):
        self.proc.send_signal(sig)

    def running(self):
        return self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then waits for the exit; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._log.close()
                raise AssertionError(f"sluiced did not exit within {timeout} s of SIGTERM; "
                                     f"output:\n{self.log()}") from None
        self._log.close()
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        """SIGKILL (no-op if it already exited)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._log.close()
        self.returncode = self.proc.returncode
        return self.returncode


class Workspace:
    """A temporary directory with a rules directory, a data directory and the
    config file; starts daemons in it."""

    def __init__(self, root=None):
        self.dir = tempfile.mkdtemp(prefix="sluiced-e2e-", dir=root)
        self.rules_dir = os.path.join(self.dir, "rules")
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.rules_dir)
        os.makedirs(self.data_dir)
        self.config_path = os.path.join(self.dir, "config.yaml")
        self.token_path = os.path.join(self.dir, "admin.token")
        self.runs = 0
        self.daemons = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write_rule(self, name, text):
        """Writes a rule file atomically (temp file + rename), so a watching
        daemon never reads half of it."""
        path = os.path.join(self.rules_dir, name)
        tmp = os.path.join(self.dir, "." + name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        return path

    def remove_rule(self, name):
        os.unlink(os.path.join(self.rules_dir, name))

    def write_token(self, token):
        with open(self.token_path, "w", encoding="utf-8") as f:
            f.write(token + "\n")
        os.chmod(self.token_path, 0o600)
        return self.token_path

    def default_config(self):
        return {
            "http": {"listen": ["127.0.0.1:0"]},
            "grpc": {"listen": ["127.0.0.1:0"]},
            "rules": {"directory": self.rules_dir},
        }

    def write_config(self, overrides=None, text=None):
        """Writes config.yaml: the default config deep-merged with
        `overrides` (written as JSON, which is YAML), or `text` as given."""
        if text is None:
            text = json.dumps(deep_merge(self.default_config(), overrides or {}), indent=2) + "\n"
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(text)
        return self.config_path

    def start(self, config=None, args=(), config_text=None, with_config=True, wait=True, cwd=None):
        """Starts sluiced with this workspace's config (rewritten from
        `config` overrides or `config_text`) plus `args`, in `cwd` (default:
        the workspace); waits until ready."""
        if not SLUICED:
            raise AssertionError("SLUICED is not set: run through ctest, or export SLUICED=<build>/daemon/sluiced")
        full = []
        if with_config:
            self.write_config(config, config_text)
            full += ["--config", self.config_path]
        full += list(args)
        daemon = Daemon(self, full, cwd=cwd)
        self.daemons.append(daemon)
        if wait:
            daemon.wait_ready()
        return daemon

    def cleanup(self):
        for d in self.daemons:
            d.kill()
        if os.environ.get("SLUICED_E2E_KEEP"):
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def checkpoints(self, directory=None):
        """Checkpoint files (checkpoint-<id>.ckpt) anywhere under the data
        directory, as {id: path}."""
        found = {}
        for root, _, files in os.walk(directory or self.data_dir):
            for name in files:
                m = re.fullmatch(r"checkpoint-(\d+)\.ckpt", name)
                if m:
                    found[int(m.group(1))] = os.path.join(root, name)
        return found


class DaemonTest(unittest.TestCase):
    """Base class: a fresh Workspace per test (self.ws), cleaned up after it;
    daemons started through self.ws.start() are killed at the end."""

    def setUp(self):
        avoid_window_edge()
        self.ws = Workspace()
        self.addCleanup(self.ws.cleanup)

    # Common assertions.
    def assertStatus(self, response, status, msg=""):
        self.assertEqual(response.status, status, f"{msg} {response!r}")


class SharedDaemonTest(unittest.TestCase):
    """Base class for a module whose tests share one daemon started in
    setUpClass from the class attributes RULES ({file: text}), CONFIG
    (overrides) and ARGS. Tests keep apart by using their own keys."""

    RULES = {}
    CONFIG = {}
    ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.ws = Workspace()
        try:
            for name, text in cls.RULES.items():
                cls.ws.write_rule(name, text)
            cls.daemon = cls.ws.start(cls.CONFIG, cls.ARGS)
        except BaseException:
            cls.ws.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.ws.cleanup()

    def setUp(self):
        avoid_window_edge()
        if not self.daemon.running():
            self.fail(f"the shared sluiced has exited; output:\n{self.daemon.log()}")

    def assertStatus(self, response, status, msg=""):
        self.assertEqual(response.status, status, f"{msg} {response!r}")


# ---------------------------------------------------------------------------
# Envoy RLS over HTTP (/json) and gRPC.

def rls_json(domain, *descriptors, hits_addend=None):
    """A RateLimitRequest in proto3 JSON. Each descriptor is a list of
    (key, value) pairs, or a dict already in JSON form."""
    out = {"domain": domain, "descriptors": []}
    for d in descriptors:
        if isinstance(d, dict):
            out["descriptors"].append(d)
        else:
            out["descriptors"].append({"entries": [{"key": k, "value": v} for k, v in d]})
    if hits_addend is not None:
        out["hitsAddend"] = hits_addend
    return out


def parse_duration_json(text):
    """proto3 JSON Duration ("42s", "1.5s") -> seconds as float."""
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)s", text)
    if not m:
        raise AssertionError(f"not a proto3 JSON duration: {text!r}")
    return float(m.group(1))


def seconds_to_boundary(unit_seconds):
    return unit_seconds - time.time() % unit_seconds


def grpc_modules():
    """(grpc, rls_pb2, rls_pb2_grpc, ratelimit_pb2, health_pb2, health_pb2_grpc);
    SkipTest if grpcio is missing (only Debian's /usr/bin/python3 has it)."""
    try:
        import grpc
    except ImportError:
        raise unittest.SkipTest("grpcio is not installed for this python (use /usr/bin/python3)") from None
    # The generated stubs are the build's (sluice_rls_python): missing ones are an error, not a skip.
    from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc
    from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2
    import health_pb2
    import health_pb2_grpc
    return grpc, rls_pb2, rls_pb2_grpc, ratelimit_pb2, health_pb2, health_pb2_grpc


def grpc_channel(addr):
    """A plaintext channel to "HOST:PORT" or "unix:/path" (grpcio takes both as they are)."""
    grpc = grpc_modules()[0]
    return grpc.insecure_channel(addr, options=[("grpc.enable_http_proxy", 0)])


def rls_proto(domain, *descriptors, hits_addend=0):
    """A RateLimitRequest message. Each descriptor is a list of (key, value)
    pairs, or a (pairs, hits_addend) tuple for a per-descriptor addend."""
    _, rls_pb2, _, ratelimit_pb2, _, _ = grpc_modules()
    from google.protobuf import wrappers_pb2
    req = rls_pb2.RateLimitRequest(domain=domain, hits_addend=hits_addend)
    for d in descriptors:
        addend = None
        if isinstance(d, tuple):
            d, addend = d
        desc = req.descriptors.add()
        for k, v in d:
            desc.entries.add(key=k, value=v)
        if addend is not None:
            desc.hits_addend.CopyFrom(wrappers_pb2.UInt64Value(value=addend))
    return req


# ---------------------------------------------------------------------------
# Prometheus text.

_METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text -> list of (name, {label: value}, float)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC_LINE.match(line)
        if not m:
            raise AssertionError(f"unparsable metrics line: {line!r}")
        labels = dict(_LABEL.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def metric_value(samples, name_pattern, **labels):
    """Sum of the samples whose name fully matches `name_pattern` (a regex)
    and whose labels include `labels`; None if there is none."""
    total = None
    for name, ls, value in samples:
        if re.fullmatch(name_pattern, name) and all(ls.get(k) == v for k, v in labels.items()):
            total = (total or 0.0) + value
    return total


# ---------------------------------------------------------------------------
# Raw sockets (abuse tests).

def connect(host, port, timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_http_response(sock, timeout=5.0):
    """Reads one HTTP/1.1 response (Content-Length or chunked body) from a
    socket; returns (status, headers, body), or None if the peer closed
    (or reset) the connection before a whole head arrived."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(rest) < n:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return status, headers, rest[:n]
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while not rest.endswith(b"0\r\n\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
        return status, headers, rest
    except (ConnectionResetError, BrokenPipeError):
        return None


def wait_closed(sock, timeout):
    """Reads until the peer closes the connection; returns (closed, data):
    closed is False when `timeout` passed with the connection still open."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, data
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False, data
        except (ConnectionResetError, BrokenPipeError):
            return True, data
        if not chunk:
            return True, data
        data += chunk


def timed_request(daemon, method, path, body=None, timeout=10.0):
    """One request through http.client on a new connection, for timing
    without a process start: returns (status, body bytes, seconds); status
    0 when no answer came within `timeout`."""
    import http.client
    host, port = daemon.http_host_port()
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    started = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, time.monotonic() - started
    except socket.timeout:
        return 0, b"", time.monotonic() - started
    finally:
        conn.close()


class RedisServer:
    """A throwaway redis-server on a Unix socket in its own temp dir (no TCP
    port, no persistence). pause()/resume() send SIGSTOP/SIGCONT."""

    def __init__(self, binary):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="sluiced-redis-")
        self.socket = os.path.join(self.dir, "redis.sock")
        self.log_path = os.path.join(self.dir, "redis.log")
        self._log = open(self.log_path, "wb")
        self._spawn()

    def _spawn(self):
        self.proc = subprocess.Popen(
            [self.binary, "--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: self._ping(), 10, interval=0.02, what="redis-server to answer PING")
        except AssertionError:
            self.stop()
            raise

    def kill(self):
        """SIGKILL: the server and everything it held are gone."""
        self.proc.kill()
        self.proc.wait()

    def restart(self):
        """A new, empty server on the same socket after kill()."""
        try:
            os.unlink(self.socket)
        except FileNotFoundError:
            pass
        self._spawn()

    @property
    def uri(self):
        return "redis+unix://" + self.socket

    def command(self, *args, timeout=5.0):
        """Sends one command (RESP); returns the raw reply bytes."""
        payload = f"*{len(args)}\r\n".encode()
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            payload += f"${len(a)}\r\n".encode() + a + b"\r\n"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.socket)
            s.sendall(payload)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data

    def _ping(self):
        if self.proc.poll() is not None:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                raise AssertionError(f"redis-server exited with {self.proc.returncode}:\n{f.read()}")
        try:
            return self.command("PING", timeout=1.0).startswith(b"+PONG")
        except OSError:
            return False

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class BlackholeProxy:
    """A TCP port on 127.0.0.1 that forwards every connection to a Unix
    socket. blackhole() stops forwarding in both directions without closing
    anything: connections stay open, bytes are held, and new connections are
    accepted but get no answer, which is what a client sees when the network
    drops packets. restore() forwards the held bytes and everything after, as
    TCP does once packets flow again. `accepted` counts connections."""

    def __init__(self, target_path):
        self.target_path = target_path
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = False
        self._lock = threading.Lock()
        self._sockets = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def blackhole(self):
        self._flowing.clear()

    def restore(self):
        self._flowing.set()

    def _accept_loop(self):
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target_path)
            except OSError:
                client.close()
                upstream.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while not self._closed:
                data = src.recv(65536)
                if not data:
                    break
                # Held, not dropped: sent once the network is back.
                while not self._flowing.wait(0.1):
                    if self._closed:
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self._closed = True
        self._flowing.set()
        self.listener.close()
        self._thread.join(5)
        with self._lock:
            for sock in self._sockets:
                sock.close()


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), unmasked: what an NDJSON export's trailer holds."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def tcp_receive_queue(local_port, remote_port):
    """Bytes waiting unread in the receive queue of the TCP socket with these
    ports (from /proc/net/tcp); None if there is no such socket."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if int(local.rsplit(":", 1)[1], 16) == local_port and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                return int(queues.split(":")[1], 16)
    return None
