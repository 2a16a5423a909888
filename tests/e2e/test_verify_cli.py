"""`veil-trustee verify` against the real evidence in tests/data: exit 0 with
the claims when it verifies, exit 1 naming the failed check otherwise.
Expected values come from the vectors' README and from the bytes themselves."""
import json
import struct
import subprocess

import pytest

# 2025-06-01: inside the validity of every certificate in the vectors
# (the sample VLEK expired on 2025-12-10).
AT = "1748736000"


def verify(trustee_bin, *args):
    r = subprocess.run([str(trustee_bin), "verify", *args], capture_output=True, text=True, timeout=60)
    return r.returncode, (json.loads(r.stdout) if r.returncode == 0 else None), r.stderr


def test_snp_vcek_report(trustee_bin, data_dir):
    raw = (data_dir / "snp/test-report.bin").read_bytes()
    rc, claims, err = verify(trustee_bin, "--tee", "snp", "--evidence", str(data_dir / "snp/test-report.bin"),
                             "--vcek", str(data_dir / "snp/test-vcek.der"), "--at", AT)
    assert rc == 0, err
    assert (claims["reported_tcb_bootloader"], claims["reported_tcb_snp"], claims["reported_tcb_microcode"]) == (3, 8, 115)
    assert claims["measurement"] == raw[0x90:0x90 + 48].hex()
    assert claims["report_data"] == raw[0x50:0x90].hex()
    assert claims["chip_id"] == raw[0x1A0:0x1E0].hex()
    assert claims["version"] == struct.unpack_from("<I", raw, 0)[0] == 2
    assert claims["signing_key"] == "vcek" and claims["product"] == "Milan"
    assert "sim" not in claims


def test_snp_vlek_report_and_expiry(trustee_bin, data_dir):
    args = ["--tee", "snp", "--evidence", str(data_dir / "snp/test-vlek-report.bin"),
            "--vcek", str(data_dir / "snp/test-vlek.der")]
    rc, claims, err = verify(trustee_bin, *args, "--at", AT)
    assert rc == 0, err
    assert claims["signing_key"] == "vlek" and claims["version"] == 3
    rc, _, err = verify(trustee_bin, *args)  # today: the VLEK has expired
    assert rc == 1 and "expired" in err


def test_snp_tampered_and_wrong_binding(trustee_bin, data_dir, tmp_path):
    raw = bytearray((data_dir / "snp/test-report.bin").read_bytes())
    raw[0x90] ^= 1  # measurement
    (tmp_path / "r.bin").write_bytes(raw)
    rc, _, err = verify(trustee_bin, "--tee", "snp", "--evidence", str(tmp_path / "r.bin"),
                        "--vcek", str(data_dir / "snp/test-vcek.der"), "--at", AT)
    assert rc == 1 and "signature" in err
    rc, _, err = verify(trustee_bin, "--tee", "snp", "--evidence", str(data_dir / "snp/test-report.bin"),
                        "--vcek", str(data_dir / "snp/test-vcek.der"), "--at", AT, "--report-data", "00" * 64)
    assert rc == 1 and "report_data" in err


@pytest.mark.parametrize("bad", ["test-vcek-invalid-legacy.der", "test-vcek-invalid-new.der", "test-vlek.der"])
def test_snp_wrong_or_invalid_vcek(trustee_bin, data_dir, bad):
    rc, _, err = verify(trustee_bin, "--tee", "snp", "--evidence", str(data_dir / "snp/test-report.bin"),
                        "--vcek", str(data_dir / "snp" / bad), "--at", AT)
    assert rc == 1 and err.startswith("veil-trustee verify: snp:"), err


def test_tdx_quotes(trustee_bin, data_dir):
    q4 = str(data_dir / "tdx/tdx_quote_4.dat")
    rc, _, err = verify(trustee_bin, "--tee", "tdx", "--evidence", q4, "--at", AT)
    assert rc == 1 and "debug" in err  # this TD has the DEBUG attribute
    rc, claims, err = verify(trustee_bin, "--tee", "tdx", "--evidence", q4, "--at", AT, "--allow-debug")
    assert rc == 0, err
    raw = (data_dir / "tdx/tdx_quote_4.dat").read_bytes()
    body = raw[48:48 + 584]
    assert claims["mrtd"] == body[136:184].hex() and claims["rtmr0"] == body[328:376].hex()
    assert claims["td_attributes_debug"] is True
    rc, claims, err = verify(trustee_bin, "--tee", "tdx", "--evidence", str(data_dir / "tdx/tdx_quote_5.dat"), "--at", AT)
    assert rc == 0, err
    assert claims["quote_version"] == 5


def test_tdx_collateral_fmspc_mismatch(trustee_bin, data_dir):
    rc, _, err = verify(trustee_bin, "--tee", "tdx", "--evidence", str(data_dir / "tdx/tdx_quote_5.dat"),
                        "--collateral", str(data_dir / "tdx"), "--at", AT)
    assert rc == 1 and "FMSPC mismatch" in err


def test_tpm_and_azure(trustee_bin, data_dir):
    rc, claims, err = verify(trustee_bin, "--tee", "tpm", "--evidence", str(data_dir / "tpm/tpm_evidence.json"))
    assert rc == 0, err
    assert len(claims["ak_public_sha256"]) == 64 and claims["pcr_bank"] == "sha256"
    rc, claims, err = verify(trustee_bin, "--tee", "az-snp-vtpm", "--evidence", str(data_dir / "azure/evidence-v1.json"),
                             "--at", AT)
    assert rc == 0, err
    assert claims["tee"] == "az-snp-vtpm" and len(claims["measurement"]) == 96


def test_unknown_tee_and_garbage(trustee_bin, tmp_path):
    (tmp_path / "e.json").write_text("{}")
    rc, _, err = verify(trustee_bin, "--tee", "sgx", "--evidence", str(tmp_path / "e.json"))
    assert rc == 1 and "unknown TEE" in err
    (tmp_path / "g.bin").write_bytes(b"\x00" * 100)
    rc, _, err = verify(trustee_bin, "--tee", "snp", "--evidence", str(tmp_path / "g.bin"))
    assert rc == 1 and "snp" in err
