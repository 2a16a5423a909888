"""Interoperability of veil's JOSE code (through the jose-tool helper) with an
independent implementation, python3-jwcrypto: JWE both ways for every
algorithm, JWS both ways, JWK import/export, RFC 7638 thumbprints, and JCS
against a reference canonicaliser written here from the RFC 8785 text."""
import base64
import json
import math
import subprocess

import pytest

from conftest import build_dir

jwcrypto = pytest.importorskip("jwcrypto", reason="python3-jwcrypto is not installed")
from jwcrypto import jwe, jwk, jws  # noqa: E402

TOOL = build_dir() / "tests" / "unit" / "jose-tool"

ALL_ALGS = ["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW",
            "ECDH-ES+A256KW"]
ALL_ENCS = ["A128GCM", "A192GCM", "A256GCM"]
PLAINTEXT = b"resource \x00\xff bytes: " + bytes(range(256))


@pytest.fixture(scope="session")
def tool():
    if not TOOL.exists():
        pytest.fail(f"jose-tool is not built at {TOOL}: build the tree first")
    return TOOL


def run(tool, *args, stdin=b"", ok=True):
    r = subprocess.run([str(tool), *map(str, args)], input=stdin, capture_output=True,
                       timeout=60)
    if ok and r.returncode != 0:
        pytest.fail(f"jose-tool {' '.join(map(str, args))} failed: {r.stderr.decode()}")
    return r


def generate(kind):
    if kind.startswith("RSA"):
        return jwk.JWK.generate(kty="RSA", size=int(kind.split("-")[1]))
    if kind == "Ed25519":
        return jwk.JWK.generate(kty="OKP", crv="Ed25519")
    return jwk.JWK.generate(kty="EC", crv=kind)


@pytest.fixture(scope="session")
def keys():
    return {k: generate(k) for k in ["RSA-2048", "P-256", "P-384", "P-521", "Ed25519"]}


@pytest.fixture
def files(tmp_path, keys):
    """Per-key files: public JWK, private JWK, private PEM, public PEM."""
    out = {}
    for kind, k in keys.items():
        d = {
            "pub_jwk": tmp_path / f"{kind}.pub.jwk",
            "priv_jwk": tmp_path / f"{kind}.jwk",
            "priv_pem": tmp_path / f"{kind}.pem",
            "pub_pem": tmp_path / f"{kind}.pub.pem",
        }
        d["pub_jwk"].write_text(k.export_public())
        d["priv_jwk"].write_text(k.export_private())
        d["priv_pem"].write_bytes(k.export_to_pem(private_key=True, password=None))
        d["pub_pem"].write_bytes(k.export_to_pem())
        out[kind] = d
    return out


def kinds_for(alg):
    return ["RSA-2048"] if alg.startswith("RSA") else ["P-256", "P-384", "P-521"]


ENCRYPT_CASES = [(k, a, e) for a in ALL_ALGS for k in kinds_for(a) for e in ALL_ENCS]


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# ---- JWE: ours → jwcrypto ------------------------------------------------

@pytest.mark.parametrize("kind,alg,enc", ENCRYPT_CASES,
                         ids=[f"{k}-{a}-{e}" for k, a, e in ENCRYPT_CASES])
def test_our_jwe_opens_with_jwcrypto(tool, keys, files, kind, alg, enc):
    out = run(tool, "jwe-encrypt", files[kind]["pub_jwk"], alg, enc, stdin=PLAINTEXT).stdout
    doc = json.loads(out)
    # flattened serialisation, base64url without padding (RFC 7516 §7.2.2)
    expected = {"protected", "iv", "ciphertext", "tag"} | (set() if alg == "ECDH-ES"
                                                          else {"encrypted_key"})
    assert set(doc) == expected
    for v in doc.values():
        assert "=" not in v and "+" not in v and "/" not in v
    assert len(b64d(doc["iv"])) == 12 and len(b64d(doc["tag"])) == 16
    hdr = json.loads(b64d(doc["protected"]))
    assert hdr["alg"] == alg and hdr["enc"] == enc
    t = jwe.JWE()
    t.allowed_algs = [alg, enc]
    t.deserialize(out.decode(), key=keys[kind])
    assert t.payload == PLAINTEXT


def test_default_algs(tool, files):
    for kind, alg in [("RSA-2048", "RSA-OAEP-256"), ("P-256", "ECDH-ES+A256KW"),
                      ("P-521", "ECDH-ES+A256KW")]:
        doc = json.loads(run(tool, "jwe-encrypt", files[kind]["pub_jwk"], stdin=b"x").stdout)
        hdr = json.loads(b64d(doc["protected"]))
        assert (hdr["alg"], hdr["enc"]) == (alg, "A256GCM")


# ---- JWE: jwcrypto → ours ------------------------------------------------

THEIR_CASES = [(k, a, e) for a in ["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A128KW",
                                   "ECDH-ES+A256KW"]
               for k in kinds_for(a) for e in ["A128GCM", "A256GCM"]]


def their_jwe(key, alg, enc, plaintext=PLAINTEXT):
    t = jwe.JWE(plaintext, protected=json.dumps({"alg": alg, "enc": enc}))
    t.allowed_algs = [alg, enc]
    t.add_recipient(key)
    return t


@pytest.mark.parametrize("kind,alg,enc", THEIR_CASES,
                         ids=[f"{k}-{a}-{e}" for k, a, e in THEIR_CASES])
def test_jwcrypto_jwe_opens_with_ours(tool, keys, files, kind, alg, enc):
    t = their_jwe(keys[kind], alg, enc)
    pem = files[kind]["priv_pem"]
    flattened = t.serialize()
    assert run(tool, "jwe-decrypt", pem, stdin=flattened.encode()).stdout == PLAINTEXT
    compact = t.serialize(compact=True)
    assert run(tool, "jwe-decrypt", pem, stdin=compact.encode()).stdout == PLAINTEXT
    assert run(tool, "jwe-decrypt", pem,
               stdin=json.dumps(compact).encode()).stdout == PLAINTEXT


def test_jwcrypto_general_json_two_recipients(tool, keys, files):
    """General serialisation: per-recipient headers carry alg (and epk)."""
    t = jwe.JWE(PLAINTEXT, protected=json.dumps({"enc": "A256GCM"}))
    t.allowed_algs = ["RSA-OAEP", "ECDH-ES+A256KW", "A256GCM"]
    t.add_recipient(keys["RSA-2048"], header=json.dumps({"alg": "RSA-OAEP"}))
    t.add_recipient(keys["P-384"], header=json.dumps({"alg": "ECDH-ES+A256KW"}))
    doc = t.serialize()
    assert len(json.loads(doc)["recipients"]) == 2
    for kind in ["RSA-2048", "P-384"]:
        assert run(tool, "jwe-decrypt", files[kind]["priv_pem"],
                   stdin=doc.encode()).stdout == PLAINTEXT
    r = run(tool, "jwe-decrypt", files["P-256"]["priv_pem"], stdin=doc.encode(), ok=False)
    assert r.returncode == 1 and b"recipients" in r.stderr


@pytest.mark.parametrize("kind,alg", [("RSA-2048", "RSA-OAEP-256"), ("P-256", "ECDH-ES+A256KW"),
                                      ("P-384", "ECDH-ES")])
def test_tampered_jwe_rejected(tool, keys, files, kind, alg):
    doc = json.loads(their_jwe(keys[kind], alg, "A256GCM").serialize())
    pem = files[kind]["priv_pem"]
    for member in [m for m in ["protected", "encrypted_key", "iv", "ciphertext", "tag"]
                   if m in doc]:
        v = doc[member]
        i = len(v) // 2
        bad = dict(doc, **{member: v[:i] + ("A" if v[i] != "A" else "B") + v[i + 1:]})
        r = run(tool, "jwe-decrypt", pem, stdin=json.dumps(bad).encode(), ok=False)
        assert r.returncode == 1, f"tampered {member} was accepted"
        assert r.stdout == b""
    # the right JWE under the wrong key
    other = files["P-521" if kind != "P-521" else "P-256"]["priv_pem"]
    assert run(tool, "jwe-decrypt", other, stdin=json.dumps(doc).encode(),
               ok=False).returncode == 1


# ---- JWS -----------------------------------------------------------------

JWS_CASES = [("ES256", "P-256"), ("ES384", "P-384"), ("ES512", "P-521"), ("EdDSA", "Ed25519"),
             ("RS256", "RSA-2048"), ("PS256", "RSA-2048")]


@pytest.mark.parametrize("alg,kind", JWS_CASES, ids=[a for a, _ in JWS_CASES])
def test_our_jws_verified_by_jwcrypto(tool, keys, files, alg, kind):
    payload = b'{"sub":"veil","n":1}'
    token = run(tool, "jws-sign", files[kind]["priv_pem"], alg, '{"kid":"k1"}',
                stdin=payload).stdout.decode().strip()
    t = jws.JWS()
    t.deserialize(token)
    t.verify(keys[kind], alg=alg)
    assert t.payload == payload
    assert t.jose_header["kid"] == "k1"


@pytest.mark.parametrize("alg,kind", JWS_CASES, ids=[a for a, _ in JWS_CASES])
def test_jwcrypto_jws_verified_by_ours(tool, keys, files, alg, kind):
    payload = b"payload \x01\x02"
    t = jws.JWS(payload)
    t.add_signature(keys[kind], alg=alg, protected=json.dumps({"alg": alg}))
    token = t.serialize(compact=True)
    pub = files[kind]["pub_pem"]
    assert run(tool, "jws-verify", pub, stdin=token.encode()).stdout == payload
    h, p, s = token.split(".")
    for bad in [f"{h}.{p}X.{s}", f"{h}.{p}.{s[:-8]}", f"{h[:-2]}.{p}.{s}",
                f"{h}.{p[:len(p) // 2]}A{p[len(p) // 2 + 1:]}.{s}"]:
        if bad == token:
            continue
        assert run(tool, "jws-verify", pub, stdin=bad.encode(), ok=False).returncode == 1
    # another key of the same kind
    other = generate(kind)
    other_pem = files[kind]["pub_pem"].with_suffix(".other.pem")
    other_pem.write_bytes(other.export_to_pem())
    assert run(tool, "jws-verify", other_pem, stdin=token.encode(), ok=False).returncode == 1


def test_hmac_and_none_refused(tool, files):
    key = jwk.JWK.generate(kty="oct", size=256)
    t = jws.JWS(b"x")
    t.add_signature(key, alg="HS256", protected=json.dumps({"alg": "HS256"}))
    r = run(tool, "jws-verify", files["P-256"]["pub_pem"],
            stdin=t.serialize(compact=True).encode(), ok=False)
    assert r.returncode == 1 and b"HS256" in r.stderr
    none = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=") + b".eA."
    r = run(tool, "jws-verify", files["P-256"]["pub_pem"], stdin=none, ok=False)
    assert r.returncode == 1 and b"none" in r.stderr


# ---- JWK and thumbprints ---------------------------------------------------

KINDS = ["RSA-2048", "P-256", "P-384", "P-521", "Ed25519"]


@pytest.mark.parametrize("kind", KINDS)
def test_our_jwk_imported_by_jwcrypto(tool, keys, files, kind):
    priv = json.loads(run(tool, "jwk-from-pem", files[kind]["priv_pem"], "private").stdout)
    pub = json.loads(run(tool, "jwk-from-pem", files[kind]["priv_pem"]).stdout)
    assert "d" in priv and "d" not in pub
    theirs = json.loads(keys[kind].export_private())
    # the same key gives the same members, byte for byte (fixed-length EC
    # coordinates, minimal RSA integers)
    for m, v in priv.items():
        assert theirs[m] == v, m
    k = jwk.JWK(**priv)
    assert k.has_private
    assert k.thumbprint() == keys[kind].thumbprint()
    kp = jwk.JWK(**pub)
    assert not kp.has_private


@pytest.mark.parametrize("kind", KINDS)
def test_jwcrypto_jwk_imported_by_ours(tool, keys, files, kind):
    pem = run(tool, "jwk-to-pem", files[kind]["priv_jwk"], "private").stdout
    k = jwk.JWK.from_pem(pem)
    assert k.thumbprint() == keys[kind].thumbprint()
    # from_pem adds a "kid" member; every key member must be identical
    mine = {m: v for m, v in json.loads(k.export_private()).items() if m != "kid"}
    assert mine == json.loads(keys[kind].export_private())
    pub_pem = run(tool, "jwk-to-pem", files[kind]["pub_jwk"]).stdout
    assert jwk.JWK.from_pem(pub_pem).thumbprint() == keys[kind].thumbprint()


@pytest.mark.parametrize("kind", KINDS)
def test_thumbprints_equal(tool, keys, files, kind):
    for f in ["pub_jwk", "priv_jwk"]:
        ours = run(tool, "thumbprint", files[kind][f]).stdout.decode().strip()
        assert ours == keys[kind].thumbprint()


def test_bad_jwks_refused(tool, tmp_path, keys):
    cases = {
        "x25519": jwk.JWK.generate(kty="OKP", crv="X25519").export_public(),
        "oct": jwk.JWK.generate(kty="oct", size=256).export(),
        "rsa1024": jwk.JWK.generate(kty="RSA", size=1024).export_public(),
        "secp256k1": jwk.JWK.generate(kty="EC", crv="secp256k1").export_public(),
    }
    bad_point = json.loads(keys["P-256"].export_public())
    y = bytearray(b64d(bad_point["y"]))
    y[-1] ^= 1
    bad_point["y"] = base64.urlsafe_b64encode(bytes(y)).rstrip(b"=").decode()
    cases["off-curve"] = json.dumps(bad_point)
    for name, text in cases.items():
        p = tmp_path / f"{name}.jwk"
        p.write_text(text)
        r = run(tool, "jwk-to-pem", p, ok=False)
        assert r.returncode == 1, f"{name} accepted"
        assert r.stderr, name


# ---- JCS -------------------------------------------------------------------

def es_number(v):
    """ECMAScript Number::toString (RFC 8785 §3.2.2.3) from Python's shortest
    round-trip repr: same digits, ECMAScript's choice of notation."""
    if isinstance(v, bool):
        raise TypeError
    if isinstance(v, int):
        assert abs(v) <= 2 ** 53
        return str(v)
    assert math.isfinite(v)
    if v == 0:
        return "0"
    if v < 0:
        return "-" + es_number(-v)
    mant, _, exp = repr(v).partition("e")
    ip, _, fp = mant.partition(".")
    allds = ip + fp
    stripped = allds.lstrip("0")
    n = len(ip) + (int(exp) if exp else 0) - (len(allds) - len(stripped))
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def es_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif c < 0x20:
            out.append(f"\\u{c:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def jcs(v):
    """RFC 8785 from its text: UTF-16 code unit order of keys (§3.2.3)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return es_string(v)
    if isinstance(v, (int, float)):
        return es_number(v)
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    items = sorted(v.items(), key=lambda kv: kv[0].encode("utf-16-be"))
    return "{" + ",".join(es_string(k) + ":" + jcs(x) for k, x in items) + "}"


JCS_DOCS = [
    '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],'
    '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
    '"literals":[null,true,false]}',
    '{"\\u20ac":1,"\\r":2,"\\ufb33":3,"1":4,"\\ud83d\\ude00":5,"\\u0080":6,"\\u00f6":7}',
    '{"nonce":"AAEC","tee-pubkey":{"kty":"EC","crv":"P-256","x":"abc","y":"def"},'
    '"z":[1,-1,0.1,1e-7,1.2345678901234568e+20,1.5e300,-0.0,9007199254740992]}',
    '[{"b":{"d":[],"c":{}},"a":"\\u001f\\u007f\\u2028 é"},[[[]]],"",0.000001,1e21,1e-6]',
]


@pytest.mark.parametrize("doc", JCS_DOCS, ids=[f"doc{i}" for i in range(len(JCS_DOCS))])
def test_jcs_matches_reference(tool, doc):
    want = jcs(json.loads(doc)).encode("utf-8")
    assert run(tool, "jcs", stdin=doc.encode()).stdout == want


def test_jcs_refuses_unsafe_integer(tool):
    r = run(tool, "jcs", stdin=b'{"a":9007199254740993}', ok=False)
    assert r.returncode == 1 and b"2^53" in r.stderr
