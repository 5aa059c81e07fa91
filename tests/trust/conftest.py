"""A test PKI (made once per module run) and helpers to build a card's files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.sim import pki
from station.trust.store import TrustStore

DG1 = b"\x61\x5b\x5f\x1f\x58" + b"IDVNM0000000001<<<<<<<<<<<<<<<" * 3 + b"\x00"  # synthetic
DG14 = b"\x6e\x02\x31\x00"  # SecurityInfos without a chip authentication key
DG15 = b"\x6f\x03\x30\x01\x00"


def card_files(signer: pki.Issued, *, hash: str = "sha256", dg15: bool = False,
               **sod_options: object) -> dict[str, bytes]:
    """DG1 and a DG14 without a chip authentication key (so nothing advertises CA) and, with
    ``dg15``, a DG15 listed in EF.SOD (which advertises active authentication)."""
    dgs = {1: DG1, 14: DG14, **({15: DG15} if dg15 else {})}
    sod = pki.build_sod(pki.hash_data_groups(dgs, hash), signer.key, signer.cert, hash,
                        **sod_options)  # type: ignore[arg-type]
    return {f"DG{n}": data for n, data in dgs.items()} | {"SOD": sod}


@pytest.fixture(scope="session")
def test_pki() -> pki.TestPki:
    return pki.make_test_pki()


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory: pytest.TempPathFactory, test_pki: pki.TestPki) -> Path:
    d = tmp_path_factory.mktemp("trust")
    (d / "csca.pem").write_bytes(test_pki.csca.pem)
    (d / "csca.crl").write_bytes(test_pki.crl)
    return d


@pytest.fixture(scope="session")
def store(store_dir: Path) -> TrustStore:
    s = TrustStore.load(store_dir)
    assert not s.problems, s.problems
    return s


@pytest.fixture()
def now() -> Iterator[dt.datetime]:
    yield dt.datetime.now(dt.UTC)
