"""veil image unpack/encrypt end to end: a real docker-registry, images built
with umoci at test time, encrypted by skopeo and by veil, decrypted by veil
and by skopeo, KEKs released by a running veil-trustee."""
import hashlib
import json
import os
import pathlib
import shutil
import stat
import subprocess

import pytest

from registry_fixture import Registry, build_image, run, skopeo_push
from trustee_fixture import Trustee

FILES = {
    "etc/hello.txt": b"hello from veil\n",
    "bin/app": b"#!/bin/sh\necho app\n" + os.urandom(3000),
    "data/blob.bin": os.urandom(300_000),
}
MORE = {"data/second.txt": b"second layer\n" * 1000, "etc/hello.txt": b"replaced in layer 2\n"}


def tree(root: pathlib.Path) -> dict:
    """path → (kind, content digest / link target) for everything below root."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = ("dir", None)
        else:
            out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory, veil_bin):
    tmp = tmp_path_factory.mktemp("imgcrypt")
    reg = Registry(tmp / "registry")
    layout = tmp / "layout"
    build_image(layout, "v1", FILES)
    src = tmp / "src-more"
    for rel, data in MORE.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    run("umoci", "insert", "--rootless", "--image", f"{layout}:v1", src, "/")
    # the reference tree: what umoci itself unpacks
    run("umoci", "unpack", "--rootless", "--image", f"{layout}:v1", tmp / "umoci-bundle")
    keys = tmp / "keys"
    keys.mkdir()
    run("openssl", "genrsa", "-out", keys / "rsa.pem", "2048")
    run("openssl", "rsa", "-in", keys / "rsa.pem", "-pubout", "-out", keys / "rsa.pub")
    # PKCS#8: skopeo reads EC private keys only in that form
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keys / "ec.pem")
    run("openssl", "ec", "-in", keys / "ec.pem", "-pubout", "-out", keys / "ec.pub")
    skopeo_push(layout, "v1", f"{reg.host}/app:plain")
    yield {"tmp": tmp, "reg": reg, "layout": layout, "keys": keys, "veil": str(veil_bin),
           "ref_tree": tree(tmp / "umoci-bundle" / "rootfs")}
    reg.stop()


def veil(env, *args, state, check=True):
    r = subprocess.run([env["veil"], "image", *[str(a) for a in args], "--state", str(state)],
                       capture_output=True, text=True, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"veil image {args}: {r.stderr}")
    return r


def no_partial_rootfs(d: pathlib.Path):
    return not (d / "rootfs").exists() and not list(d.glob(".rootfs.tmp*"))


def test_unpack_plain_matches_umoci(env, tmp_path):
    out = tmp_path / "bundle"
    r = veil(env, "unpack", f"{env['reg'].host}/app:plain", out, "--insecure-registry", state=tmp_path / "s")
    assert "layer 2/2" in r.stdout
    assert tree(out / "rootfs") == env["ref_tree"]
    assert (out / "rootfs/etc/hello.txt").read_bytes() == MORE["etc/hello.txt"]
    spec = json.loads((out / "config.json").read_text())
    assert spec["root"]["path"] == "rootfs" and spec["process"]["args"]


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_skopeo_encrypted_image_unpacks(env, tmp_path, kind):
    keys = env["keys"]
    run("skopeo", "copy", "--dest-tls-verify=false", "--encryption-key", f"jwe:{keys / (kind + '.pub')}",
        f"oci:{env['layout']}:v1", f"docker://{env['reg'].host}/app:enc-{kind}")
    ref = f"{env['reg'].host}/app:enc-{kind}"
    state = tmp_path / "s"
    # no key: refused, nothing unpacked
    r = veil(env, "unpack", ref, tmp_path / "nokey", "--insecure-registry", state=state, check=False)
    assert r.returncode != 0 and "ocicrypt" in r.stderr
    assert no_partial_rootfs(tmp_path / "nokey")
    # the other key: refused
    other = keys / ("ec.pem" if kind == "rsa" else "rsa.pem")
    r = veil(env, "unpack", ref, tmp_path / "wrong", "--decryption-key", other, state=state, check=False)
    assert r.returncode != 0 and "ocicrypt" in r.stderr
    assert no_partial_rootfs(tmp_path / "wrong")
    r = veil(env, "unpack", ref, tmp_path / "ok", "--decryption-key", keys / (kind + ".pem"), state=state)
    assert "decrypted" in r.stdout
    assert tree(tmp_path / "ok" / "rootfs") == env["ref_tree"]


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_veil_encrypted_image_decrypts_with_skopeo(env, tmp_path, kind):
    keys = env["keys"]
    state = tmp_path / "s"
    veil(env, "pull", f"{env['reg'].host}/app:plain", "--insecure-registry", state=state)
    enc = tmp_path / "enc"
    veil(env, "encrypt", f"{env['reg'].host}/app:plain", f"oci:{enc}:v1", "--recipient",
         f"jwe:{keys / (kind + '.pub')}", state=state)
    manifest = json.loads((enc / "blobs/sha256" / json.loads((enc / "index.json").read_text())
                           ["manifests"][0]["digest"][7:]).read_text())
    assert all(l["mediaType"].endswith("+encrypted") for l in manifest["layers"])
    dec = tmp_path / "dec"
    run("skopeo", "copy", "--decryption-key", keys / (kind + ".pem"), f"oci:{enc}:v1", f"oci:{dec}:v1")
    run("umoci", "unpack", "--rootless", "--image", f"{dec}:v1", tmp_path / "dec-bundle")
    assert tree(tmp_path / "dec-bundle" / "rootfs") == env["ref_tree"]
    # and through a registry: encrypt into the store, push, decrypt with skopeo
    veil(env, "encrypt", f"{env['reg'].host}/app:plain", f"{env['reg'].host}/app:veil-enc-{kind}",
         "--recipient", f"jwe:{keys / (kind + '.pub')}", state=state)
    veil(env, "push", f"{env['reg'].host}/app:veil-enc-{kind}", f"{env['reg'].host}/app:veil-enc-{kind}",
         "--insecure-registry", state=state)
    run("skopeo", "copy", "--src-tls-verify=false", "--decryption-key", keys / (kind + ".pem"),
        f"docker://{env['reg'].host}/app:veil-enc-{kind}", f"oci:{tmp_path / 'dec2'}:v1")


def test_encrypt_chosen_layer_only(env, tmp_path):
    state = tmp_path / "s"
    veil(env, "pull", f"{env['reg'].host}/app:plain", "--insecure-registry", state=state)
    enc = tmp_path / "enc"
    veil(env, "encrypt", f"{env['reg'].host}/app:plain", f"oci:{enc}:v1", "--layer", "1",
         "--recipient", f"jwe:{env['keys'] / 'ec.pub'}", state=state)
    idx = json.loads((enc / "index.json").read_text())
    m = json.loads((enc / "blobs/sha256" / idx["manifests"][0]["digest"][7:]).read_text())
    kinds = [l["mediaType"].endswith("+encrypted") for l in m["layers"]]
    assert kinds == [False, True]
    r = veil(env, "encrypt", f"{env['reg'].host}/app:plain", f"oci:{tmp_path / 'x'}:v1", "--layer", "7",
             "--recipient", f"jwe:{env['keys'] / 'ec.pub'}", state=state, check=False)
    assert r.returncode != 0 and "layer" in r.stderr


def test_keyprovider_kek_from_trustee(env, tmp_path, trustee_bin, veil_bin):
    (tmp_path / "trustee").mkdir()
    t = Trustee(trustee_bin, veil_bin, tmp_path / "trustee")
    try:
        kek = os.urandom(32)
        (tmp_path / "kek").write_bytes(kek)
        t.set_resource("default/key/image-kek", kek)
        t.set_policy("default/key/*", {"allOf": [{"claim": "tee", "equals": "sample"}]})
        state = tmp_path / "s"
        veil(env, "pull", f"{env['reg'].host}/app:plain", "--insecure-registry", state=state)
        veil(env, "encrypt", f"{env['reg'].host}/app:plain", "127.0.0.1/app:kbs", "--keyprovider", "kbs",
             "--kid", "kbs:///default/key/image-kek", "--kek-file", tmp_path / "kek", state=state)
        r = veil(env, "unpack", "127.0.0.1/app:kbs", tmp_path / "nokbs", state=state, check=False)
        assert r.returncode != 0 and "kbs:///default/key/image-kek" in r.stderr
        r = veil(env, "unpack", "127.0.0.1/app:kbs", tmp_path / "out", "--kbs", t.url, "--kbs-tee", "sample",
                 state=state)
        assert tree(tmp_path / "out" / "rootfs") == env["ref_tree"]
        rows = json.loads(t.admin("audit", "--limit", "100").stdout)
        assert any(r["event"] == "release" and r["resource"] == "default/key/image-kek" for r in rows)
    finally:
        t.stop()


def test_tampered_or_truncated_layer_leaves_nothing(env, tmp_path):
    keys = env["keys"]
    ref = f"{env['reg'].host}/app:enc-tamper"
    run("skopeo", "copy", "--dest-tls-verify=false", "--encryption-key", f"jwe:{keys / 'ec.pub'}",
        f"oci:{env['layout']}:v1", f"docker://{ref}")
    state = tmp_path / "s"
    veil(env, "pull", ref, "--insecure-registry", state=state)
    info = json.loads(veil(env, "inspect", ref, "-o", "json", state=state).stdout)
    layer = info["layers"][-1]["digest"]
    blob = state / "images" / "blobs" / "sha256" / layer[7:]
    original = blob.read_bytes()
    os.chmod(blob, stat.S_IRUSR | stat.S_IWUSR)
    for name, data in [("flipped", original[:100] + bytes([original[100] ^ 1]) + original[101:]),
                       ("truncated", original[: len(original) // 2])]:
        blob.write_bytes(data)
        out = tmp_path / name
        r = veil(env, "unpack", ref, out, "--decryption-key", keys / "ec.pem", state=state, check=False)
        assert r.returncode != 0 and ("mismatch" in r.stderr or "truncated" in r.stderr), r.stderr
        assert no_partial_rootfs(out)
    blob.write_bytes(original)
    veil(env, "unpack", ref, tmp_path / "good", "--decryption-key", keys / "ec.pem", state=state)
