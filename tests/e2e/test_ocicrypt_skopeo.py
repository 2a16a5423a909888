"""ocicrypt interoperability with skopeo (containers/ocicrypt), both ways,
with RSA and EC P-256 recipients:

- an image encrypted by `skopeo copy --encryption-key jwe:PUB` is decrypted
  by veil (through the ocicrypt-tool helper) to the original layer blobs,
  byte for byte;
- an image encrypted by veil is decrypted by `skopeo copy --decryption-key`
  to the original layer blobs.

Plus refusals (wrong key, flipped byte) that must leave no plaintext behind,
and the attestation-agent key-provider wrapping round trip.  The source image
is an OCI layout built here with Python's tarfile (no image files are kept
in the tree)."""
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import tarfile

import pytest

from conftest import build_dir

TOOL = build_dir() / "tests" / "unit" / "ocicrypt-tool"
SKOPEO = shutil.which("skopeo")
TAG = "v1"
ENC = "+encrypted"

pytestmark = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")


@pytest.fixture(scope="session")
def tool():
    if not TOOL.exists():
        pytest.fail(f"ocicrypt-tool is not built at {TOOL}: build the tree first")
    return TOOL


def run(*args, ok=True, timeout=120):
    r = subprocess.run([str(a) for a in args], capture_output=True, timeout=timeout)
    if ok and r.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed ({r.returncode}): {r.stderr.decode()}")
    return r


# ---- the source image ---------------------------------------------------------


def _blob(layout, data):
    h = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / h).write_bytes(data)
    return {"digest": "sha256:" + h, "size": len(data)}


def _layer(files):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
            t.addfile(ti, io.BytesIO(data))
    raw = bio.getvalue()
    return raw, gzip.compress(raw, mtime=0)


def make_layout(layout):
    """Three gzip'd layers: small text, ~3 MiB of incompressible bytes (several
    of the decrypt reader's chunks), and a directory of files."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    rnd = random.Random(7)
    layers_files = [
        {"etc/motd": b"hello from layer 0\n" * 50},
        {"opt/blob.bin": bytes(rnd.getrandbits(8) for _ in range(3 * 1024 * 1024 + 11))},
        {f"srv/{i}.txt": f"file {i}\n".encode() * (i + 1) for i in range(40)},
    ]
    layers, diff_ids = [], []
    for files in layers_files:
        raw, gz = _layer(files)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        d = _blob(layout, gz)
        d["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
        layers.append(d)
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    c = _blob(layout, json.dumps(config).encode())
    c["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": c, "layers": layers}
    m = _blob(layout, json.dumps(manifest).encode())
    m["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    m["annotations"] = {"org.opencontainers.image.ref.name": TAG}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [m]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')


def manifest_of(layout):
    idx = json.loads((layout / "index.json").read_text())
    for m in idx["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == TAG:
            return json.loads(blob_bytes(layout, m["digest"]))
    raise AssertionError(f"{layout}: no manifest tagged {TAG}")


def blob_bytes(layout, digest):
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def layer_blobs(layout):
    return [blob_bytes(layout, l["digest"]) for l in manifest_of(layout)["layers"]]


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    d = tmp_path_factory.mktemp("img") / "src"
    make_layout(d)
    return d


# ---- keys ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """kind → (private PEM, public PEM), plus a second key of each kind.  EC
    keys are PKCS#8: skopeo 1.9.3 does not take SEC1 ("EC PRIVATE KEY")
    decryption keys."""
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for kind, gen in (("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                      ("ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])):
        for n in ("", "2"):
            priv, pub = d / f"{kind}{n}.pem", d / f"{kind}{n}.pub.pem"
            run("openssl", "genpkey", *gen, "-out", priv)
            run("openssl", "pkey", "-in", priv, "-pubout", "-out", pub)
            out[kind + n] = (priv, pub)
    return out


def skopeo_copy(*args, ok=True):
    return run(SKOPEO, "--insecure-policy", "copy", "--quiet", *args, ok=ok)


def decrypt_with_tool(tool, layout, outdir, *key_args, ok=True):
    return run(tool, "decrypt", layout, TAG, outdir, *key_args, ok=ok)


# ---- skopeo encrypts, veil decrypts ----------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_skopeo_encrypts_veil_decrypts(tool, src, keys, tmp_path, kind):
    priv, pub = keys[kind]
    enc = tmp_path / "enc"
    skopeo_copy("--encryption-key", f"jwe:{pub}", f"oci:{src}:{TAG}", f"oci:{enc}:{TAG}")
    layers = manifest_of(enc)["layers"]
    assert all(l["mediaType"].endswith(ENC) for l in layers)
    assert all("org.opencontainers.image.enc.keys.jwe" in l["annotations"] for l in layers)

    out = tmp_path / "out"
    r = decrypt_with_tool(tool, enc, out, "--key", priv)
    lines = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert [x["encrypted"] for x in lines] == [True] * len(layers)
    for i, want in enumerate(layer_blobs(src)):
        assert (out / str(i)).read_bytes() == want, f"layer {i} differs"

    # the other key of the same kind opens nothing, and no plaintext remains
    bad = tmp_path / "bad"
    r = decrypt_with_tool(tool, enc, bad, "--key", keys[kind + "2"][0], ok=False)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "ocicrypt: no offered key opens layer sha256:" in err, err
    assert "tried 1 JWE recipient with 1 key" in err, err
    assert not any(bad.iterdir())


def test_skopeo_two_recipients_each_key_opens(tool, src, keys, tmp_path):
    enc = tmp_path / "enc"
    skopeo_copy("--encryption-key", f"jwe:{keys['rsa'][1]}", "--encryption-key",
                f"jwe:{keys['ec'][1]}", f"oci:{src}:{TAG}", f"oci:{enc}:{TAG}")
    want = layer_blobs(src)
    for kind in ("rsa", "ec"):
        out = tmp_path / f"out-{kind}"
        decrypt_with_tool(tool, enc, out, "--key", keys[kind][0])
        assert [(out / str(i)).read_bytes() for i in range(len(want))] == want


def test_flipped_byte_in_skopeo_layer(tool, src, keys, tmp_path):
    enc = tmp_path / "enc"
    skopeo_copy("--encryption-key", f"jwe:{keys['ec'][1]}", f"oci:{src}:{TAG}", f"oci:{enc}:{TAG}")
    big = manifest_of(enc)["layers"][1]
    p = enc / "blobs" / "sha256" / big["digest"].split(":", 1)[1]
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x20
    p.write_bytes(bytes(data))
    out = tmp_path / "out"
    r = decrypt_with_tool(tool, enc, out, "--key", keys["ec"][0], ok=False)
    assert r.returncode == 1
    assert "ocicrypt: layer HMAC mismatch" in r.stderr.decode(), r.stderr.decode()
    assert not (out / "1").exists(), "a layer that failed its HMAC was kept"


# ---- veil encrypts, skopeo decrypts ------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_veil_encrypts_skopeo_decrypts(tool, src, keys, tmp_path, kind):
    priv, pub = keys[kind]
    enc, dec = tmp_path / "enc", tmp_path / "dec"
    run(tool, "encrypt", src, TAG, enc, "--recipient", f"jwe:{pub}")
    layers = manifest_of(enc)["layers"]
    assert all(l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip" + ENC for l in layers)
    for l in layers:
        assert hashlib.sha256(blob_bytes(enc, l["digest"])).hexdigest() == l["digest"][7:]
        assert len(blob_bytes(enc, l["digest"])) == l["size"]
    skopeo_copy("--decryption-key", priv, f"oci:{enc}:{TAG}", f"oci:{dec}:{TAG}")
    dl = manifest_of(dec)["layers"]
    assert all(not l["mediaType"].endswith(ENC) for l in dl)
    assert layer_blobs(dec) == layer_blobs(src)

    # skopeo refuses it with the other key
    r = skopeo_copy("--decryption-key", keys[kind + "2"][0], f"oci:{enc}:{TAG}",
                    f"oci:{tmp_path / 'dec2'}:{TAG}", ok=False)
    assert r.returncode != 0


def test_veil_two_recipients_and_partial(tool, src, keys, tmp_path):
    """RSA and EC recipients on one image (comma-separated JWEs), only layers
    0 and 2 encrypted: skopeo opens it with either key."""
    enc = tmp_path / "enc"
    run(tool, "encrypt", src, TAG, enc, "--recipient", f"jwe:{keys['rsa'][1]}",
        "--recipient", f"jwe:{keys['ec'][1]}", "--layer", "0", "--layer", "2")
    mts = [l["mediaType"].endswith(ENC) for l in manifest_of(enc)["layers"]]
    assert mts == [True, False, True]
    for kind in ("rsa", "ec"):
        dec = tmp_path / f"dec-{kind}"
        skopeo_copy("--decryption-key", keys[kind][0], f"oci:{enc}:{TAG}", f"oci:{dec}:{TAG}")
        assert layer_blobs(dec) == layer_blobs(src)
        # and veil itself
        out = tmp_path / f"out-{kind}"
        decrypt_with_tool(tool, enc, out, "--key", keys[kind][0])
        assert [(out / str(i)).read_bytes() for i in range(3)] == layer_blobs(src)


def test_veil_key_provider_round_trip(tool, src, keys, tmp_path):
    """The attestation-agent annotation (kbs:/// kid, A256GCM-wrapped
    options): opened with the KEK, refused without a provider or with
    another KEK."""
    kek, other = tmp_path / "kek", tmp_path / "other"
    kek.write_bytes(os.urandom(32))
    other.write_bytes(os.urandom(32))
    kid = "kbs:///default/key/app"
    enc = tmp_path / "enc"
    run(tool, "encrypt", src, TAG, enc, "--kid", kid, "--kek-file", kek)
    import base64
    for l in manifest_of(enc)["layers"]:
        pkt = json.loads(base64.b64decode(
            l["annotations"]["org.opencontainers.image.enc.keys.provider.attestation-agent"]))
        assert pkt["kid"] == kid and pkt["wrap_type"] == "A256GCM"
        assert len(base64.b64decode(pkt["iv"])) == 12
        pub = json.loads(base64.b64decode(l["annotations"]["org.opencontainers.image.enc.pubopts"]))
        assert pub["cipher"] == "AES_256_CTR_HMAC_SHA256" and len(base64.b64decode(pub["hmac"])) == 32
    out = tmp_path / "out"
    decrypt_with_tool(tool, enc, out, "--kid", kid, "--kek-file", kek)
    assert [(out / str(i)).read_bytes() for i in range(3)] == layer_blobs(src)
    r = decrypt_with_tool(tool, enc, tmp_path / "o2", ok=False)
    assert f"no key provider for {kid}" in r.stderr.decode(), r.stderr.decode()
    r = decrypt_with_tool(tool, enc, tmp_path / "o3", "--kid", kid, "--kek-file", other, ok=False)
    assert "the KEK does not open wrapped_data" in r.stderr.decode(), r.stderr.decode()
