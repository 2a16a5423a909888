"""A docker-registry started for a test on a free loopback port (temp
storage, optional htpasswd auth), images built at test time with umoci and
pushed with skopeo, and a small HTTP proxy that can tamper with blobs or
demand bearer tokens."""
import base64
import hashlib
import http.client
import http.server
import json
import os
import pathlib
import shutil
import socket
import subprocess
import threading
import time

import pytest

REGISTRY_BIN = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_tools():
    for tool in (REGISTRY_BIN, "/usr/bin/umoci", "/usr/bin/skopeo"):
        if not os.path.exists(tool):
            pytest.skip(f"{tool} is not installed")


class Registry:
    def __init__(self, tmp: pathlib.Path, htpasswd: str = None):
        need_tools()
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        auth = ""
        if htpasswd:
            (tmp / "htpasswd").write_text(htpasswd)
            auth = f"auth:\n  htpasswd:\n    realm: veil-test\n    path: {tmp / 'htpasswd'}\n"
        config = (
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'storage'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
            + auth
        )
        (tmp / "config.yml").write_text(config)
        self.log = open(tmp / "registry.log", "wb")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(tmp / "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/v2/")
                if c.getresponse().status in (200, 401):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("docker-registry did not start: " + (tmp / "registry.log").read_text())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, timeout=120, **kw)


def build_image(layout: pathlib.Path, tag: str, files: dict, arch: str = None):
    """An image with one layer holding files ({relpath: bytes}), built with umoci."""
    if not (layout / "index.json").exists():
        run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:{tag}")
    if arch:
        run("umoci", "config", "--image", f"{layout}:{tag}", "--architecture", arch)
    src = layout.parent / f"src-{tag}"
    shutil.rmtree(src, ignore_errors=True)
    for rel, data in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    run("umoci", "insert", "--rootless", "--image", f"{layout}:{tag}", src, "/")
    return layout_manifest(layout, tag)


def layout_index(layout: pathlib.Path):
    return json.loads((layout / "index.json").read_text())


def layout_manifest(layout: pathlib.Path, tag: str) -> dict:
    for m in layout_index(layout)["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return m
    raise KeyError(tag)


def add_index(layout: pathlib.Path, tag: str, entries):
    """Writes an image index over (descriptor, os, arch) entries and tags it."""
    idx = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"],
             "platform": {"os": os_, "architecture": arch}}
            for d, os_, arch in entries
        ],
    }
    body = json.dumps(idx).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    (layout / "blobs" / "sha256" / digest[7:]).write_bytes(body)
    index = layout_index(layout)
    index["manifests"].append({
        "mediaType": idx["mediaType"], "digest": digest, "size": len(body),
        "annotations": {"org.opencontainers.image.ref.name": tag}})
    (layout / "index.json").write_text(json.dumps(index))
    return digest


def skopeo_push(layout: pathlib.Path, tag: str, dest: str, creds: str = None, all_images=False):
    args = ["skopeo", "copy", "--dest-tls-verify=false"]
    if creds:
        args += ["--dest-creds", creds]
    if all_images:
        args += ["--all"]
    run(*args, f"oci:{layout}:{tag}", f"docker://{dest}")


def remote_digest(ref: str, creds: str = None) -> str:
    args = ["skopeo", "inspect", "--raw", "--tls-verify=false"]
    if creds:
        args += ["--creds", creds]
    raw = run(*args, f"docker://{ref}").stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def htpasswd_line(user: str, password: str) -> str:
    return subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True,
                          text=True).stdout.strip() + "\n"


def write_authfile(path: pathlib.Path, host: str, user: str, password: str):
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path


class Proxy:
    """Forwards to the registry.  tamper: flips one byte of every blob GET
    body.  fail_first: answers that many requests with 503 first.  redirect:
    sends blob GETs to /storage/… on the proxy (as registries send them to
    their object storage).  bearer (user, password): answers with a Bearer challenge whose
    realm is this proxy's /token, which hands out a token for those basic
    credentials; requests with the token are forwarded."""

    TOKEN = "veil-test-token"

    def __init__(self, upstream_port: int, tamper=False, bearer=None, fail_first=0, redirect=False):
        self.upstream = upstream_port
        self.tamper = tamper
        self.fail_left = fail_first
        self.redirect = redirect
        self.redirected = 0
        self.bearer = bearer
        self.token_requests = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, status, headers, body):
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.fail_left > 0:
                    proxy.fail_left -= 1
                    return self._send(503, [], b"try again")
                if self.path.startswith("/storage/"):
                    proxy.redirected += 1
                    self.path = self.path[len("/storage"):]
                elif proxy.redirect and self.command == "GET" and "/blobs/sha256:" in self.path:
                    return self._send(307, [("Location", f"http://127.0.0.1:{proxy.port}/storage{self.path}")], b"")
                if proxy.bearer and self.path.startswith("/token"):
                    proxy.token_requests.append(self.path)
                    want = "Basic " + base64.b64encode(":".join(proxy.bearer).encode()).decode()
                    if self.headers.get("Authorization") != want:
                        return self._send(401, [], b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                    return self._send(200, [("Content-Type", "application/json")],
                                      json.dumps({"token": proxy.TOKEN}).encode())
                if proxy.bearer and self.headers.get("Authorization") != f"Bearer {proxy.TOKEN}":
                    # the scope the request needs, as distribution's token auth states it
                    parts = self.path.split("?")[0].split("/")
                    kinds = ("manifests", "blobs")
                    cut = next((i for i, p in enumerate(parts) if p in kinds), len(parts))
                    repo = "/".join(parts[2:cut])
                    actions = "pull" if self.command in ("GET", "HEAD") else "pull,push"
                    ch = (f'Bearer realm="http://127.0.0.1:{proxy.port}/token",service="veil-test",'
                          f'scope="repository:{repo}:{actions}"')
                    return self._send(401, [("WWW-Authenticate", ch)], b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                c = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "authorization", "connection")}
                c.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST", "PATCH") else None,
                          headers=headers)
                r = c.getresponse()
                data = r.read()
                hdrs = r.getheaders()
                if r.status in (201, 202):
                    # Location is absolute to the upstream; rewrite it to us
                    hdrs = [(k, v.replace(f"127.0.0.1:{proxy.upstream}", f"127.0.0.1:{proxy.port}"))
                            for k, v in hdrs]
                if proxy.tamper and self.command == "GET" and "/blobs/sha256:" in self.path and data:
                    data = bytes([data[0] ^ 1]) + data[1:]
                self._send(r.status, hdrs, data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
