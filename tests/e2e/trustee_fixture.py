"""A veil-trustee started for a test: temp state dir, sim CA, admin key,
a free loopback port; stopped (and checked to be alive) at the end."""
import base64
import hashlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import time

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def jcs(obj) -> str:
    """RFC 8785 for the documents these tests build (strings and objects only):
    sorted keys, no whitespace, UTF-8 — enough since no numbers occur."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_KEYS = {}


def shared_keys(trustee_bin, root: pathlib.Path):
    """One sim CA and admin key for the whole run: RSA-4096 key generation
    takes seconds, and what a test checks does not depend on the keys."""
    if not _KEYS:
        root.mkdir(parents=True, exist_ok=True)
        for args in (["sim-ca", "init", str(root / "sim-ca")], ["admin", "keygen", str(root / "admin")]):
            subprocess.run([str(trustee_bin)] + args, check=True, capture_output=True, timeout=120)
        _KEYS["ca"], _KEYS["admin"] = root / "sim-ca", root / "admin"
    return _KEYS["ca"], _KEYS["admin"]


class Trustee:
    def __init__(self, trustee_bin, veil_bin, tmp: pathlib.Path, config_extra=None, threads=2, tls=False):
        self.bin = str(trustee_bin)
        self.veil = str(veil_bin)
        self.tmp = tmp
        self.state = tmp / "state"
        self.ca, self.admin_dir = shared_keys(trustee_bin, tmp.parent.parent / "veil-shared-keys")
        cfg = {
            "allow_sample": True,
            "sim_roots": [str(self.ca / "ark.pem")],
            "admin": {"public_key_file": str(self.admin_dir / "admin.pub")},
            "session_ttl_seconds": 60,
        }
        cfg.update(config_extra or {})
        self.config = tmp / "trustee.json"
        self.config.write_text(json.dumps(cfg))
        self.port = free_port()
        self.cacert = None
        transport = ["--insecure-http"]
        if tls:
            self.cacert = tmp / "cert.pem"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-keyout", str(tmp / "key.pem"), "-out", str(self.cacert), "-days", "1",
                            "-subj", "/CN=veil-trustee test", "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)
            transport = ["--tls-cert", str(self.cacert), "--tls-key", str(tmp / "key.pem")]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.log = open(tmp / "trustee.log", "wb")
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--listen", f"127.0.0.1:{self.port}", "--state", str(self.state),
             "--config", str(self.config), "--threads", str(threads)] + transport,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if requests.get(self.url + "/kbs/v0/health", timeout=1,
                                verify=str(self.cacert) if tls else True).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("veil-trustee did not start:\n" + self.logtext())

    def logtext(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.tmp / "trustee.log").read_text(errors="replace")

    def run(self, args, check=True, input=None):
        r = subprocess.run([self.bin] + args, capture_output=True, input=input, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"veil-trustee {' '.join(args)} failed: {r.stderr.decode()}")
        return r

    def admin(self, *args, check=True, input=None):
        tls = ["--cacert", str(self.cacert)] if self.cacert else []
        return self.run(["admin", "--url", self.url, "--key", str(self.admin_dir / "admin.key")] + tls
                        + list(args), check=check, input=input)

    def admin_token(self) -> str:
        return self.run(["admin", "token", "--key", str(self.admin_dir / "admin.key")]).stdout.decode().strip()

    def set_resource(self, path: str, secret: bytes):
        self.admin("set-resource", path, "-", input=secret)

    def set_policy(self, pattern: str, policy: dict):
        self.admin("set-policy", pattern, "-", input=json.dumps(policy).encode())

    def sim_evidence(self, report_data: bytes, measurement="", host_data="") -> dict:
        args = ["sim-ca", "report", "--ca", str(self.ca), "--report-data", report_data.hex()]
        if measurement:
            args += ["--measurement", measurement]
        if host_data:
            args += ["--host-data", host_data]
        return json.loads(self.run(args).stdout)

    def veil_attest(self, *args, check=True):
        r = subprocess.run([self.veil, "attest"] + list(args) + [], capture_output=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"veil attest {' '.join(args)} failed: {r.stderr.decode()}")
        return r

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def runtime_digest(runtime_data: dict) -> bytes:
    return hashlib.sha384(jcs(runtime_data).encode()).digest()
