"""Runs every cmocka unit-test program of the build, one pytest test each,
so that the suite ends with a single summary that counts everything."""
import os
import subprocess

import pytest

from conftest import ROOT, build_dir

UNIT_DIR = build_dir() / "tests" / "unit"
PROGRAMS = sorted(p for p in UNIT_DIR.glob("test_*") if p.is_file() and os.access(p, os.X_OK)) \
    if UNIT_DIR.exists() else []


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_unit_program(prog):
    env = dict(os.environ, VEIL_TEST_DATA=str(ROOT / "tests" / "data"))
    r = subprocess.run([str(prog)], env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail(f"{prog.name} failed (exit {r.returncode}):\n{r.stdout}\n{r.stderr}")


def test_unit_programs_were_built():
    assert PROGRAMS, f"no unit test programs under {UNIT_DIR}"
