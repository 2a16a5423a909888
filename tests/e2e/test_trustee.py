"""End-to-end tests of veil-trustee: the running binary, real HTTP, the KBS
protocol with the sample TEE and with sim-root SNP evidence, the admin API,
and the ways a request can be wrong."""
import base64
import hashlib
import json
import time

import pytest
import requests
from jwcrypto import jwe as jjwe
from jwcrypto import jwk as jjwk
from jwcrypto import jwt as jjwt

from trustee_fixture import Trustee, b64, runtime_digest

SECRET = b"s3cr3t-api-key-\x00\x01\xff"
SAMPLE_POLICY = {"allOf": [{"claim": "tee", "equals": "sample"}]}


@pytest.fixture
def trustee(trustee_bin, veil_bin, tmp_path):
    t = Trustee(trustee_bin, veil_bin, tmp_path)
    yield t
    alive = t.alive()
    t.stop()
    assert alive, "veil-trustee died during the test:\n" + t.logtext()
    # sanitizer builds: a clean shutdown reports no error and no leak
    log = t.logtext()
    assert "Sanitizer" not in log and "runtime error:" not in log, log


def auth(t, tee="sample", version="0.1.1"):
    s = requests.Session()
    r = s.post(t.url + "/kbs/v0/auth", json={"version": version, "tee": tee, "extra-params": {}})
    return s, r


def attest_sample(t, s, nonce, key=None, report_data=None):
    key = key or jjwk.JWK.generate(kty="EC", crv="P-256")
    rt = {"nonce": nonce, "tee-pubkey": json.loads(key.export_public())}
    rd = report_data if report_data is not None else runtime_digest(rt)
    body = {"runtime-data": rt,
            "tee-evidence": {"primary_evidence": {"svn": "1", "report_data": b64(rd)},
                             "additional_evidence": "{}"}}
    return s.post(t.url + "/kbs/v0/attest", json=body), key


def problem(r):
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.text
    p = r.json()
    assert p["status"] == r.status_code and p["type"] and p["detail"]
    return p


def test_sample_rcar_with_cli(trustee):
    trustee.set_resource("default/key/k1", SECRET)
    trustee.set_policy("default/key/*", SAMPLE_POLICY)
    r = trustee.veil_attest("get-resource", "--kbs", trustee.url, "--tee", "sample", "default/key/k1")
    assert r.stdout == SECRET


@pytest.mark.parametrize("kind", ["P-256", "P-384", "P-521", "RSA-2048"])
def test_sim_snp_rcar_with_cli(trustee, kind):
    measurement = "ab" * 48
    trustee.set_resource("tenant/api/key", SECRET)
    trustee.set_policy("tenant/api/key", {"allOf": [{"claim": "sim", "equals": True},
                                                     {"claim": "measurement", "equals": measurement}]})
    r = trustee.veil_attest("get-resource", "--kbs", trustee.url, "--tee", "sim", "--sim-ca",
                            str(trustee.ca), "--measurement", measurement, "--key-kind", kind,
                            "tenant/api/key")
    assert r.stdout == SECRET
    # another measurement is refused with the rule that failed
    r = trustee.veil_attest("get-resource", "--kbs", trustee.url, "--tee", "sim", "--sim-ca",
                            str(trustee.ca), "--measurement", "cd" * 48, "tenant/api/key", check=False)
    assert r.returncode != 0 and b"403" in r.stderr and b"measurement" in r.stderr


def test_sim_never_satisfies_policy_not_naming_it(trustee):
    measurement = "ab" * 48
    trustee.set_resource("tenant/api/key", SECRET)
    trustee.set_policy("tenant/api/key", {"claim": "measurement", "equals": measurement})
    r = trustee.veil_attest("get-resource", "--kbs", trustee.url, "--tee", "sim", "--sim-ca",
                            str(trustee.ca), "--measurement", measurement, "tenant/api/key", check=False)
    assert r.returncode != 0 and b"403" in r.stderr and b"sim" in r.stderr
    assert SECRET not in r.stdout


def test_rcar_over_tls(trustee_bin, veil_bin, tmp_path):
    t = Trustee(trustee_bin, veil_bin, tmp_path, tls=True)
    try:
        t.set_resource("default/key/k1", SECRET)
        t.set_policy("default/key/*", SAMPLE_POLICY)
        r = t.veil_attest("get-resource", "--kbs", t.url, "--tee", "sample", "--cacert", str(t.cacert),
                          "default/key/k1")
        assert r.stdout == SECRET
        # without the CA the client refuses the server
        r = t.veil_attest("get-resource", "--kbs", t.url, "--tee", "sample", "default/key/k1", check=False)
        assert r.returncode != 0 and b"certificate" in r.stderr.lower()
        assert t.alive()
    finally:
        t.stop()


def test_token_is_ear_and_verifies_with_jwks(trustee, tmp_path):
    tok = tmp_path / "token"
    r = trustee.veil_attest("token", "--kbs", trustee.url, "--tee", "sim", "--sim-ca",
                            str(trustee.ca), "--measurement", "11" * 48, "--token-out", str(tok))
    jwks = jjwk.JWKSet.from_json(requests.get(trustee.url + "/kbs/v0/jwks").text)
    t = jjwt.JWT(jwt=tok.read_text(), key=jwks, algs=["ES256"])  # verifies the signature
    claims = json.loads(t.claims)
    assert claims == json.loads(r.stdout)
    assert json.loads(t.header)["alg"] == "ES256"
    assert claims["eat_profile"] == "tag:github.com,2023:veraison/ear"
    assert claims["exp"] > claims["iat"] >= int(time.time()) - 60
    cpu0 = claims["submods"]["cpu0"]
    # sim hardware is never better than a warning; no reference values → unrecognized
    assert cpu0["ear.status"] == "warning"
    assert cpu0["ear.trustworthiness-vector"]["hardware"] == 32
    ev = cpu0["ear.veraison.annotated-evidence"]
    assert ev["snp"]["sim"] is True and ev["snp"]["measurement"] == "11" * 48
    assert "tee-pubkey" in ev["runtime_data_claims"]
    # a token with a flipped signature byte does not verify
    head, body, sig = tok.read_text().split(".")
    bad = head + "." + body + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
    with pytest.raises(Exception):
        jjwt.JWT(jwt=bad, key=jwks, algs=["ES256"])


def test_manual_rcar_and_jwe_decrypts_with_jwcrypto(trustee):
    trustee.set_resource("default/key/k1", SECRET)
    trustee.set_policy("default/key/k1", SAMPLE_POLICY)
    for key in [jjwk.JWK.generate(kty="RSA", size=2048), jjwk.JWK.generate(kty="EC", crv="P-384")]:
        s, r = auth(trustee)
        assert r.status_code == 200
        assert "kbs-session-id" in s.cookies
        nonce = r.json()["nonce"]
        assert len(base64.b64decode(nonce)) == 32
        r, _ = attest_sample(trustee, s, nonce, key=key)
        assert r.status_code == 200, r.text
        r = s.get(trustee.url + "/kbs/v0/resource/default/key/k1")
        assert r.status_code == 200, r.text
        jw = r.json()
        assert set(jw) >= {"protected", "encrypted_key", "iv", "ciphertext", "tag"}
        hdr = json.loads(base64.urlsafe_b64decode(jw["protected"] + "=="))
        assert hdr["enc"] == "A256GCM"
        assert hdr["alg"] == ("RSA-OAEP-256" if key["kty"] == "RSA" else "ECDH-ES+A256KW")
        tok = jjwe.JWE()
        tok.deserialize(r.text, key=key)
        assert tok.payload == SECRET


def test_bearer_token_fetches_resource(trustee):
    trustee.set_resource("default/key/k1", SECRET)
    trustee.set_policy("default/key/k1", SAMPLE_POLICY)
    s, r = auth(trustee)
    r, key = attest_sample(trustee, s, r.json()["nonce"])
    token = r.json()["token"]
    r = requests.get(trustee.url + "/kbs/v0/resource/default/key/k1",
                     headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200, r.text
    t = jjwe.JWE()
    t.deserialize(r.text, key=key)
    assert t.payload == SECRET
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    r = requests.get(trustee.url + "/kbs/v0/resource/default/key/k1",
                     headers={"Authorization": "Bearer " + forged})
    assert r.status_code == 401 and "token" in problem(r)["detail"]


def test_nonce_is_single_use(trustee):
    s, r = auth(trustee)
    nonce = r.json()["nonce"]
    r, _ = attest_sample(trustee, s, nonce)
    assert r.status_code == 200, r.text
    r, _ = attest_sample(trustee, s, nonce)
    assert r.status_code == 401 and "nonce already used" in problem(r)["detail"]


def test_wrong_nonce_and_wrong_binding_refused(trustee):
    s, r = auth(trustee)
    r, _ = attest_sample(trustee, s, b64(b"\x00" * 32))
    assert r.status_code == 401 and "nonce" in problem(r)["detail"]
    s, r = auth(trustee)
    r, _ = attest_sample(trustee, s, r.json()["nonce"], report_data=hashlib.sha384(b"other").digest())
    assert r.status_code == 401 and "report_data" in problem(r)["detail"]
    # sim SNP evidence bound to other runtime data
    s, r = auth(trustee, tee="snp")
    key = jjwk.JWK.generate(kty="EC", crv="P-256")
    rt = {"nonce": r.json()["nonce"], "tee-pubkey": json.loads(key.export_public())}
    ev = trustee.sim_evidence(hashlib.sha384(b"not the binding").digest())
    r = s.post(trustee.url + "/kbs/v0/attest", json={"runtime-data": rt, "tee-evidence": {
        "primary_evidence": ev, "additional_evidence": "{}"}})
    assert r.status_code == 401 and "report_data" in problem(r)["detail"]


def test_sim_evidence_attests_by_hand(trustee):
    s, r = auth(trustee, tee="snp")
    key = jjwk.JWK.generate(kty="EC", crv="P-521")
    rt = {"nonce": r.json()["nonce"], "tee-pubkey": json.loads(key.export_public())}
    ev = trustee.sim_evidence(runtime_digest(rt) + b"\x00" * 16)
    r = s.post(trustee.url + "/kbs/v0/attest", json={"runtime-data": rt, "tee-evidence": {
        "primary_evidence": ev, "additional_evidence": "{}"}})
    assert r.status_code == 200, r.text


def test_expired_session_refused(trustee_bin, veil_bin, tmp_path):
    t = Trustee(trustee_bin, veil_bin, tmp_path, config_extra={"session_ttl_seconds": 1})
    try:
        s, r = auth(t)
        nonce = r.json()["nonce"]
        sid = s.cookies["kbs-session-id"]
        time.sleep(2.2)
        s = requests.Session()  # the client dropped the cookie at Max-Age; send it anyway
        s.headers["Cookie"] = "kbs-session-id=" + sid
        r, _ = attest_sample(t, s, nonce)
        assert r.status_code == 401 and "expired" in problem(r)["detail"]
    finally:
        t.stop()


def test_unknown_tee_and_version(trustee):
    _, r = auth(trustee, tee="sgx-made-up")
    assert r.status_code == 400 and "unknown TEE" in problem(r)["detail"]
    _, r = auth(trustee, version="9.0.0")
    assert r.status_code == 400 and "version" in problem(r)["detail"]


def test_sample_refused_when_not_allowed(trustee_bin, veil_bin, tmp_path):
    t = Trustee(trustee_bin, veil_bin, tmp_path, config_extra={"allow_sample": False})
    try:
        _, r = auth(t)
        assert r.status_code == 403 and "sample" in problem(r)["detail"]
    finally:
        t.stop()


def test_policy_refusal_names_the_rule(trustee):
    trustee.set_resource("default/key/k1", SECRET)
    trustee.set_policy("default/key/*", {"allOf": [{"claim": "tee", "equals": "sample"},
                                                   {"claim": "svn", "equals": "7"}]})
    s, r = auth(trustee)
    r, _ = attest_sample(trustee, s, r.json()["nonce"])
    r = s.get(trustee.url + "/kbs/v0/resource/default/key/k1")
    assert r.status_code == 403
    d = problem(r)["detail"]
    assert "svn" in d and "default/key/*" in d
    assert SECRET.decode(errors="ignore") not in r.text


def test_default_deny_without_policy(trustee):
    trustee.set_resource("default/key/nopolicy", SECRET)
    s, r = auth(trustee)
    attest_sample(trustee, s, r.json()["nonce"])
    r = s.get(trustee.url + "/kbs/v0/resource/default/key/nopolicy")
    assert r.status_code == 403 and "default deny" in problem(r)["detail"]


def test_unknown_resource_404_and_bad_paths(trustee):
    trustee.set_policy("default/key/*", SAMPLE_POLICY)
    s, r = auth(trustee)
    attest_sample(trustee, s, r.json()["nonce"])
    r = s.get(trustee.url + "/kbs/v0/resource/default/key/missing")
    assert r.status_code == 404 and "does not exist" in problem(r)["detail"]
    for bad in ["default/key", "default/../key/x", "a/b/c/d", "default/key/%2e%2e"]:
        r = s.get(trustee.url + "/kbs/v0/resource/" + bad)
        assert r.status_code in (400, 404), (bad, r.status_code)


def test_resource_needs_attestation(trustee):
    trustee.set_resource("default/key/k1", SECRET)
    trustee.set_policy("default/key/*", SAMPLE_POLICY)
    r = requests.get(trustee.url + "/kbs/v0/resource/default/key/k1")
    assert r.status_code == 401
    s, r = auth(trustee)  # session, but never attested
    r = s.get(trustee.url + "/kbs/v0/resource/default/key/k1")
    assert r.status_code == 401 and "not attested" in problem(r)["detail"]


def test_admin_requires_signed_token(trustee, tmp_path):
    url = trustee.url + "/kbs/v0/resource/default/key/k1"
    r = requests.put(url, data=b"x")
    assert r.status_code == 401 and "Bearer" in problem(r)["detail"]
    other = jjwk.JWK.generate(kty="OKP", crv="Ed25519")
    tok = jjwt.JWT(header={"alg": "EdDSA"}, claims={"iat": int(time.time()), "exp": int(time.time()) + 60})
    tok.make_signed_token(other)
    r = requests.put(url, data=b"x", headers={"Authorization": "Bearer " + tok.serialize()})
    assert r.status_code == 401 and "admin token" in problem(r)["detail"]
    # the real admin key, signed by jwcrypto (an independent JWS implementation)
    pem = (trustee.admin_dir / "admin.key").read_bytes()
    real = jjwk.JWK.from_pem(pem)
    tok = jjwt.JWT(header={"alg": "EdDSA"}, claims={"iat": int(time.time()), "exp": int(time.time()) + 60})
    tok.make_signed_token(real)
    r = requests.put(url, data=b"x", headers={"Authorization": "Bearer " + tok.serialize()})
    assert r.status_code == 200, r.text
    # expired admin tokens are refused
    tok = jjwt.JWT(header={"alg": "EdDSA"}, claims={"iat": int(time.time()) - 600, "exp": int(time.time()) - 300})
    tok.make_signed_token(real)
    r = requests.get(trustee.url + "/kbs/v0/admin/audit", headers={"Authorization": "Bearer " + tok.serialize()})
    assert r.status_code == 401


def test_oversized_and_malformed_bodies(trustee):
    big = b"{" + b" " * (2 << 20) + b"}"
    r = requests.post(trustee.url + "/kbs/v0/auth", data=big)
    assert r.status_code == 413
    for body in [b"", b"not json", b"[]", b'{"version": 1}', b'{"version":"0.1.1"}',
                 b'{"version":"0.1.1","tee":["snp"]}', b"\xff\xfe"]:
        r = requests.post(trustee.url + "/kbs/v0/auth", data=body)
        assert r.status_code == 400, (body, r.status_code)
    s, r = auth(trustee)
    for body in [b"{}", b'{"runtime-data": 5}', b'{"runtime-data": {"nonce": 1}}',
                 b'{"runtime-data": {}, "tee-evidence": "x"}', b"nope"]:
        s2, r2 = auth(trustee)
        r = s2.post(trustee.url + "/kbs/v0/attest", data=body)
        assert r.status_code in (400, 401), (body, r.status_code)
    r = requests.get(trustee.url + "/kbs/v0/nothing-here")
    assert r.status_code == 404


def test_audit_log_and_no_plaintext_at_rest(trustee):
    trustee.set_resource("default/key/k1", SECRET)
    trustee.set_policy("default/key/k1", SAMPLE_POLICY)
    trustee.veil_attest("get-resource", "--kbs", trustee.url, "--tee", "sample", "default/key/k1")
    trustee.set_policy("default/key/k1", {"allOf": [{"claim": "tee", "equals": "sample"},
                                                    {"claim": "svn", "equals": "2"}]})
    trustee.veil_attest("get-resource", "--kbs", trustee.url, "--tee", "sample", "default/key/k1",
                        check=False)
    rows = json.loads(trustee.admin("audit", "--limit", "1000").stdout)
    events = [(r["event"], r["outcome"]) for r in rows]
    assert ("release", "released") in events and ("release", "refused") in events
    assert ("attest", "accepted") in events
    dump = json.dumps(rows).encode()
    assert SECRET not in dump and b"s3cr3t" not in dump
    for f in trustee.state.rglob("*"):
        if f.is_file():
            assert b"s3cr3t" not in f.read_bytes(), f
    assert b"s3cr3t" not in trustee.logtext().encode()


def test_init_data_binds_host_data(trustee, tmp_path):
    toml = 'algorithm = "sha256"\nversion = "0.1.0"\n\n[data]\n"policy.rego" = "allow"\n'
    (tmp_path / "init.toml").write_text(toml)
    host_data = hashlib.sha256(toml.encode()).hexdigest()
    trustee.set_resource("default/key/k1", SECRET)
    trustee.set_policy("default/key/k1", {"allOf": [{"claim": "sim", "equals": True},
                                                    {"claim": "init_data.digest", "equals": host_data}]})
    r = trustee.veil_attest("get-resource", "--kbs", trustee.url, "--tee", "sim", "--sim-ca", str(trustee.ca),
                            "--host-data", host_data, "--init-data", str(tmp_path / "init.toml"),
                            "--token-out", str(tmp_path / "token"), "default/key/k1")
    assert r.stdout == SECRET
    # the token carries the init-data claims: the same policy holds for a bearer
    token = (tmp_path / "token").read_text()
    r = requests.get(trustee.url + "/kbs/v0/resource/default/key/k1", headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200, r.text
    r = trustee.veil_attest("get-resource", "--kbs", trustee.url, "--tee", "sim", "--sim-ca", str(trustee.ca),
                            "--host-data", "00" * 32, "--init-data", str(tmp_path / "init.toml"),
                            "default/key/k1", check=False)
    assert r.returncode != 0 and b"host_data" in r.stderr


def test_reference_values_appraisal(trustee):
    good = "aa" * 48
    trustee.admin("set-reference", "hello", "-",
                  input=json.dumps({"tee": "snp", "values": {"measurement": [good]}}).encode())
    trustee.set_resource("default/key/k1", SECRET)
    trustee.set_policy("default/key/k1", {"allOf": [{"claim": "sim", "equals": True},
                                                    {"claim": "workload", "equals": "hello"}]})
    r = trustee.veil_attest("token", "--kbs", trustee.url, "--tee", "sim", "--sim-ca", str(trustee.ca),
                            "--measurement", good)
    cpu0 = json.loads(r.stdout)["submods"]["cpu0"]
    assert cpu0["ear.appraisal-policy-id"] == "veil:workload:hello"
    assert cpu0["ear.trustworthiness-vector"]["executables"] == 2
    r = trustee.veil_attest("get-resource", "--kbs", trustee.url, "--tee", "sim", "--sim-ca", str(trustee.ca),
                            "--measurement", good, "default/key/k1")
    assert r.stdout == SECRET
    r = trustee.veil_attest("token", "--kbs", trustee.url, "--tee", "sim", "--sim-ca", str(trustee.ca),
                            "--measurement", "bb" * 48)
    cpu0 = json.loads(r.stdout)["submods"]["cpu0"]
    assert cpu0["ear.status"] == "contraindicated"
    r = trustee.veil_attest("get-resource", "--kbs", trustee.url, "--tee", "sim", "--sim-ca", str(trustee.ca),
                            "--measurement", "bb" * 48, "default/key/k1", check=False)
    assert r.returncode != 0 and b"403" in r.stderr


def test_second_instance_on_same_state_refused(trustee, tmp_path):
    import subprocess
    r = subprocess.run([trustee.bin, "serve", "--listen", "127.0.0.1:0", "--state", str(trustee.state),
                        "--insecure-http"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "another veil-trustee holds this state directory" in r.stderr
