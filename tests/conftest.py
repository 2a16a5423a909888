"""Shared pytest fixtures: where the built binaries and test data are."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def build_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("VEIL_BUILD", ROOT / "build"))


@pytest.fixture(scope="session")
def build():
    d = build_dir()
    if not (d / "cmd" / "veil-trustee" / "veil-trustee").exists():
        pytest.fail(f"veil is not built in {d}: run `make build` first")
    return d


@pytest.fixture(scope="session")
def trustee_bin(build):
    return build / "cmd" / "veil-trustee" / "veil-trustee"


@pytest.fixture(scope="session")
def veil_bin(build):
    return build / "cmd" / "veil" / "veil"


@pytest.fixture(scope="session")
def data_dir():
    return ROOT / "tests" / "data"
