"""veil image pull/push against a real docker-registry on loopback, with
images built by umoci and pushed by skopeo during the test."""
import json
import os
import pathlib
import subprocess

import pytest

from registry_fixture import (Proxy, Registry, add_index, build_image, htpasswd_line,
                              layout_manifest, remote_digest, skopeo_push, write_authfile)


@pytest.fixture
def registry(tmp_path):
    reg = Registry(tmp_path / "registry")
    yield reg
    reg.stop()


@pytest.fixture
def image(tmp_path):
    """An OCI layout with two single-arch images and a multi-arch index."""
    layout = tmp_path / "layout"
    amd = build_image(layout, "v1", {"hello.txt": b"hello from veil\n", "data/blob": os.urandom(300_000)})
    arm = build_image(layout, "arm", {"hello.txt": b"arm\n"}, arch="arm64")
    # arm64 first, so picking the first entry would be wrong
    index = add_index(layout, "multi", [(arm, "linux", "arm64"), (amd, "linux", "amd64")])
    return {"layout": layout, "amd": amd["digest"], "arm": arm["digest"], "index": index}


def veil(veil_bin, state, *args, check=True):
    r = subprocess.run([str(veil_bin), "image", *args, "--state", str(state)],
                       capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"veil image {' '.join(args)} failed: {r.stderr}")
    return r


def pulled(r) -> str:
    return r.stdout.strip().splitlines()[-1]


def store_blobs(state: pathlib.Path):
    d = state / "images" / "blobs" / "sha256"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_pull_by_tag(veil_bin, registry, image, tmp_path):
    skopeo_push(image["layout"], "v1", f"{registry.host}/test/app:v1")
    state = tmp_path / "state"
    r = veil(veil_bin, state, "pull", "--insecure-registry", f"{registry.host}/test/app:v1")
    digest = pulled(r)
    assert digest == image["amd"] == remote_digest(f"{registry.host}/test/app:v1")
    # not a TTY: one line per blob
    assert "layer sha256:" in r.stdout and " done in " in r.stdout
    info = json.loads(veil(veil_bin, state, "inspect", f"{registry.host}/test/app:v1", "-o", "json").stdout)
    assert info["digest"] == digest and info["architecture"] == "amd64"
    assert len(info["layers"]) == 1 and info["layers"][0]["size"] > 300_000
    for blob in [digest, info["config"]["digest"], info["layers"][0]["digest"]]:
        assert blob[7:] in store_blobs(state)
    listing = json.loads(veil(veil_bin, state, "list", "-o", "json").stdout)
    assert [e["name"] for e in listing] == [f"{registry.host}/test/app:v1"]
    # a second pull finds everything present
    r = veil(veil_bin, state, "pull", "--insecure-registry", f"{registry.host}/test/app:v1")
    assert "already present" in r.stdout and pulled(r) == digest
    # --quiet prints only the digest
    r = veil(veil_bin, state, "pull", "--quiet", "--insecure-registry", f"{registry.host}/test/app:v1")
    assert r.stdout.strip() == digest


def test_pull_by_digest_and_missing(veil_bin, registry, image, tmp_path):
    skopeo_push(image["layout"], "v1", f"{registry.host}/test/app:v1")
    state = tmp_path / "state"
    ref = f"{registry.host}/test/app@{image['amd']}"
    assert pulled(veil(veil_bin, state, "pull", "--insecure-registry", ref)) == image["amd"]
    assert json.loads(veil(veil_bin, state, "list", "-o", "json").stdout)[0]["name"] == ref
    r = veil(veil_bin, state, "pull", "--insecure-registry", f"{registry.host}/test/app:nope", check=False)
    assert r.returncode == 1
    assert f"manifest nope not found in {registry.host}/test/app" in r.stderr
    # plain http is refused unless asked for (and only on loopback)
    r = veil(veil_bin, state, "pull", f"{registry.host}/test/app:v1", check=False)
    assert r.returncode == 1
    r = veil(veil_bin, state, "pull", "--insecure-registry", "example.com/x:y", check=False)
    assert "only allowed for loopback" in r.stderr


def test_pull_index_picks_amd64(veil_bin, registry, image, tmp_path):
    skopeo_push(image["layout"], "multi", f"{registry.host}/test/multi:latest", all_images=True)
    assert remote_digest(f"{registry.host}/test/multi:latest") == image["index"]
    state = tmp_path / "state"
    digest = pulled(veil(veil_bin, state, "pull", "--insecure-registry", f"{registry.host}/test/multi"))
    assert digest == image["amd"]
    info = json.loads(veil(veil_bin, state, "inspect", f"{registry.host}/test/multi:latest", "-o", "json").stdout)
    assert info["architecture"] == "amd64"
    assert image["arm"][7:] not in store_blobs(state)


def test_pull_from_layout(veil_bin, image, tmp_path):
    state = tmp_path / "state"
    assert pulled(veil(veil_bin, state, "pull", f"oci:{image['layout']}:v1")) == image["amd"]
    assert pulled(veil(veil_bin, state, "pull", f"oci:{image['layout']}:multi")) == image["amd"]
    r = veil(veil_bin, state, "pull", f"oci:{image['layout']}:absent", check=False)
    assert r.returncode == 1 and "no manifest tagged 'absent'" in r.stderr


def test_auth_htpasswd(veil_bin, image, tmp_path):
    reg = Registry(tmp_path / "registry", htpasswd=htpasswd_line("alice", "s3cret"))
    try:
        skopeo_push(image["layout"], "v1", f"{reg.host}/private/app:v1", creds="alice:s3cret")
        state = tmp_path / "state"
        ref = f"{reg.host}/private/app:v1"
        r = veil(veil_bin, state, "pull", "--insecure-registry", ref, check=False)
        assert r.returncode == 1 and "authentication required for" in r.stderr
        bad = write_authfile(tmp_path / "bad.json", reg.host, "alice", "wrong")
        r = veil(veil_bin, state, "pull", "--insecure-registry", "--authfile", str(bad), ref, check=False)
        assert r.returncode == 1
        assert f"authentication denied for {reg.host}/private/app" in r.stderr
        assert store_blobs(state) == []
        good = write_authfile(tmp_path / "auth.json", reg.host, "alice", "s3cret")
        r = veil(veil_bin, state, "pull", "--insecure-registry", "--authfile", str(good), ref)
        assert pulled(r) == image["amd"]
        # push needs the credentials too
        r = veil(veil_bin, state, "push", "--insecure-registry", "--authfile", str(good), ref,
                 f"{reg.host}/private/copy:v1")
        assert remote_digest(f"{reg.host}/private/copy:v1", creds="alice:s3cret") == image["amd"]
    finally:
        reg.stop()


def test_bearer_token_flow(veil_bin, registry, image, tmp_path):
    skopeo_push(image["layout"], "v1", f"{registry.host}/test/app:v1")
    proxy = Proxy(registry.port, bearer=("bob", "pw"))
    try:
        state = tmp_path / "state"
        ref = f"{proxy.host}/test/app:v1"
        auth = write_authfile(tmp_path / "auth.json", proxy.host, "bob", "pw")
        assert pulled(veil(veil_bin, state, "pull", "--insecure-registry", "--authfile", str(auth), ref)) == image["amd"]
        assert proxy.token_requests and "scope=repository%3Atest%2Fapp%3Apull" in proxy.token_requests[0]
        r = veil(veil_bin, state, "push", "--insecure-registry", "--authfile", str(auth), ref,
                 f"{proxy.host}/test/pushed:v2")
        assert any("pull%2Cpush" in t for t in proxy.token_requests)
        assert remote_digest(f"{registry.host}/test/pushed:v2") == image["amd"]
        bad = write_authfile(tmp_path / "bad.json", proxy.host, "bob", "nope")
        r = veil(veil_bin, tmp_path / "s2", "pull", "--insecure-registry", "--authfile", str(bad), ref, check=False)
        assert r.returncode == 1 and "authentication denied for test/app" in r.stderr
    finally:
        proxy.stop()


@pytest.mark.parametrize("chunk", [None, "65536"])
def test_push_pull_round_trip(veil_bin, registry, image, tmp_path, chunk):
    extra = ["--chunk-size", chunk] if chunk else []
    state = tmp_path / "state"
    # from a layout straight to the registry
    r = veil(veil_bin, state, "push", "--insecure-registry", *extra, f"oci:{image['layout']}:v1",
             f"{registry.host}/round/trip:one")
    assert pulled(r) == image["amd"]
    assert remote_digest(f"{registry.host}/round/trip:one") == image["amd"]
    # pull it back, push it from the store under another name, pull that into a fresh store
    veil(veil_bin, state, "pull", "--insecure-registry", f"{registry.host}/round/trip:one")
    r = veil(veil_bin, state, "push", "--insecure-registry", *extra, f"{registry.host}/round/trip:one",
             f"{registry.host}/round/copy:two")
    assert " done in " in r.stdout  # another repository: uploaded (no cross-repo mount)
    r = veil(veil_bin, state, "push", "--insecure-registry", *extra, f"{registry.host}/round/trip:one",
             f"{registry.host}/round/copy:three")
    assert "already present" in r.stdout and " done in " not in r.stdout  # HEAD found them
    fresh = tmp_path / "fresh"
    assert pulled(veil(veil_bin, fresh, "pull", "--insecure-registry", f"{registry.host}/round/copy:two")) == image["amd"]
    assert store_blobs(fresh) == store_blobs(state)
    # a multi-arch index from a layout: children first, then the index
    veil(veil_bin, state, "push", "--insecure-registry", f"oci:{image['layout']}:multi",
         f"{registry.host}/round/multi:latest")
    assert remote_digest(f"{registry.host}/round/multi:latest") == image["index"]
    # skopeo reads what veil pushed
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{registry.host}/round/copy:two",
                    f"oci:{tmp_path / 'back'}:x"], check=True, capture_output=True)
    assert layout_manifest(tmp_path / "back", "x")["digest"] == image["amd"]


def test_tampering_proxy(veil_bin, registry, image, tmp_path):
    skopeo_push(image["layout"], "v1", f"{registry.host}/test/app:v1")
    proxy = Proxy(registry.port, tamper=True)
    try:
        state = tmp_path / "state"
        r = veil(veil_bin, state, "pull", "--insecure-registry", f"{proxy.host}/test/app:v1", check=False)
        assert r.returncode == 1
        assert "digest mismatch: expected sha256:" in r.stderr
        assert store_blobs(state) == []
        assert json.loads(veil(veil_bin, state, "list", "-o", "json").stdout) == []
    finally:
        proxy.stop()


def test_retries_and_redirects(veil_bin, registry, image, tmp_path):
    skopeo_push(image["layout"], "v1", f"{registry.host}/test/app:v1")
    proxy = Proxy(registry.port, fail_first=2, redirect=True)
    try:
        state = tmp_path / "state"
        r = veil(veil_bin, state, "pull", "--insecure-registry", f"{proxy.host}/test/app:v1")
        assert pulled(r) == image["amd"]
        assert proxy.fail_left == 0 and proxy.redirected == 2  # config and layer
        assert "retrying" in r.stderr
    finally:
        proxy.stop()
    # a registry that keeps failing: bounded retries, then a clear error
    proxy = Proxy(registry.port, fail_first=100)
    try:
        r = veil(veil_bin, tmp_path / "s2", "pull", "--insecure-registry", f"{proxy.host}/test/app:v1", check=False)
        assert r.returncode == 1 and "HTTP 503" in r.stderr
        assert proxy.fail_left == 100 - 4  # 1 try + 3 retries
    finally:
        proxy.stop()


def test_prune(veil_bin, image, tmp_path):
    state = tmp_path / "state"
    veil(veil_bin, state, "pull", f"oci:{image['layout']}:v1")
    veil(veil_bin, state, "pull", f"oci:{image['layout']}:arm")
    before = store_blobs(state)
    assert "freed 0 B" in veil(veil_bin, state, "prune").stdout
    assert store_blobs(state) == before
    # untag the arm64 image by hand (there is no rmi verb yet), then prune
    images = state / "images" / "images.json"
    doc = json.loads(images.read_text())
    del doc["images"][f"oci:{image['layout']}:arm"]
    images.write_text(json.dumps(doc))
    out = veil(veil_bin, state, "prune").stdout
    assert "freed 0 B" not in out
    after = store_blobs(state)
    assert image["arm"][7:] not in after and image["amd"][7:] in after
    info = json.loads(veil(veil_bin, state, "inspect", f"oci:{image['layout']}:v1", "-o", "json").stdout)
    assert info["digest"] == image["amd"]
