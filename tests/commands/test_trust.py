"""`station trust import/list`, and `station read --trust` on the virtual chip through pcscd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from station.cli import main
from station.sim import issuer, pki
from station.sim.chip import CccdChip, ChipOptions
from station.sim.citizens import generate
from station.sim.vpcd import VpcdLink
from station.testing.pcscd import PcscdTestbed


@pytest.fixture()
def pki_dir(tmp_path: Path) -> Path:
    out = tmp_path / "pki"
    pki.write_pki(issuer.test_pki(), out)
    return out


def test_import_then_list(tmp_path: Path, pki_dir: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    # The master list alone is refused: its signer's CSCA is not in the store yet.
    assert main(["trust", "--path", str(store), "import", str(pki_dir / "masterlist.ml")]) == 1
    assert "nothing imported" in capsys.readouterr().out
    assert not store.exists()
    # A DSC whose CSCA is only the rogue one is refused too.
    assert main(["trust", "--path", str(store), "import", str(pki_dir / "csca.pem"),
                 str(pki_dir / "forged" / "dsc-untrusted.pem")]) == 1
    capsys.readouterr()
    assert main(["trust", "--path", str(store), "import", str(pki_dir / "csca.pem"),
                 str(pki_dir / "masterlist.ml"), str(pki_dir / "csca.crl")]) == 0
    assert "1 CSCA certificate(s), 1 master list(s) with 1 CSCA(s)" in capsys.readouterr().out
    assert main(["trust", "--path", str(store), "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert len(listing["cscas"]) == 1  # the master list's entry is the same certificate
    assert listing["master_lists"][0]["cscas"] == 1
    assert listing["crls"][0]["revoked"] == 1
    assert listing["problems"] == []


@pytest.mark.parametrize("signer,outcome,reason", [
    ("good", "authentic-data-clone-unchecked", None),
    ("untrusted", "not-genuine", "untrusted-csca"),
])
def test_read_with_trust(pcscd: PcscdTestbed, pki_dir: Path, capsys: pytest.CaptureFixture[str],
                         signer: str, outcome: str, reason: str | None) -> None:
    c = generate(41)
    options = ChipOptions()
    image = issuer.issue(c, options, signer=signer)  # type: ignore[arg-type]
    link = VpcdLink(CccdChip(image, options), pcscd.slot_port(1))
    link.insert()
    try:
        code = main(["read", "--reader", pcscd.readers[1], "--can", c.can, "--json",
                     "--trust", str(pki_dir / "trust"), "--timeout", "10"])
    finally:
        link.remove()
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verification"]["outcome"] == outcome, out["verification"]
    assert out["verification"]["reason"] == reason
    names = [c["name"] for c in out["verification"]["checks"]]
    assert "dg-hashes" in names and "dsc-issuer" in names


def test_bench_trust_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "trust", "--count", "2"]) == 0
    out = capsys.readouterr().out
    assert "passive authentication" in out and "PA + CA" in out
