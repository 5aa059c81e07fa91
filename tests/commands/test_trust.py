"""`station trust import/list`, and `station read --trust` on the virtual chip through pcscd."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from station.cli import main
from station.sim import issuer, pki
from station.sim.chip import CardImage, CccdChip, ChipOptions
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


def test_import_never_replaces_a_different_file_of_the_same_name(
        tmp_path: Path, pki_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    assert main(["trust", "--path", str(store), "import", str(pki_dir / "csca.der")]) == 0
    capsys.readouterr()
    # Another state's CSCA, shipped as "csca.der" too: it used to silently replace ours.
    other = pki.make_csca(country="FR", common_name="CSCA FR TEST", curve="secp384r1",
                          hash="sha384")
    theirs = tmp_path / "fr" / "csca.der"
    theirs.parent.mkdir()
    theirs.write_bytes(other.der)
    assert main(["trust", "--path", str(store), "import", str(theirs)]) == 0
    out = capsys.readouterr().out
    assert "kept both" in out
    assert (store / "csca.der").read_bytes() == issuer.test_pki().csca.der
    assert main(["trust", "--path", str(store), "list", "--json"]) == 0
    subjects = {c["subject"] for c in json.loads(capsys.readouterr().out)["cscas"]}
    assert len(subjects) == 2
    # The same file again is already there: nothing is added.
    assert main(["trust", "--path", str(store), "import", str(pki_dir / "csca.der")]) == 0
    assert "already present" in capsys.readouterr().out
    assert len(list(store.iterdir())) == 2


def _read_json(pcscd: PcscdTestbed, image: CardImage, options: ChipOptions, trust: Path,
               capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    link = VpcdLink(CccdChip(image, options), pcscd.slot_port(1))
    link.insert()
    try:
        code = main(["read", "--reader", pcscd.readers[1], "--can", image.can, "--json",
                     "--trust", str(trust), "--timeout", "10"])
    finally:
        link.remove()
    assert code == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def _check(out: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in out["verification"]["checks"] if c["name"] == name)
    return found


@pytest.mark.parametrize("signer,outcome,reason", [
    ("good", "genuine", None),
    ("untrusted", "not-genuine", "untrusted-csca"),
])
def test_read_with_trust(pcscd: PcscdTestbed, pki_dir: Path, capsys: pytest.CaptureFixture[str],
                         signer: str, outcome: str, reason: str | None) -> None:
    options = ChipOptions()
    image = issuer.issue(generate(41), options, signer=signer)  # type: ignore[arg-type]
    out = _read_json(pcscd, image, options, pki_dir / "trust", capsys)
    assert out["verification"]["outcome"] == outcome, out["verification"]
    assert out["verification"]["reason"] == reason
    names = [c["name"] for c in out["verification"]["checks"]]
    assert "dg-hashes" in names and "dsc-issuer" in names
    for name in ("chip-authentication", "active-authentication"):
        # Under a rogue CSCA the chip's keys are not the issuer's: the proofs count for nothing.
        assert _check(out, name)["ok"] is (signer == "good")
    assert out["card_security"] is None  # the virtual CCCD has no EF.CardSecurity


@pytest.mark.parametrize("forgery,reason,failed", [
    ("clone", "chip-authentication-failed", ("chip-authentication", "active-authentication")),
    ("aa-mismatch", "active-authentication-failed", ("active-authentication",)),
    ("ca-only-clone", "chip-authentication-failed", ("chip-authentication",)),
])
def test_clones_are_not_genuine(pcscd: PcscdTestbed, pki_dir: Path,
                                capsys: pytest.CaptureFixture[str], forgery: str, reason: str,
                                failed: tuple[str, ...]) -> None:
    options = ChipOptions(aa=None) if forgery == "ca-only-clone" else ChipOptions()
    image = issuer.issue(generate(42), options)
    if forgery == "aa-mismatch":
        forged = replace(image, aa_key=issuer.new_chip_keys(options)[1])
    else:
        forged = issuer.clone(image, options)
    out = _read_json(pcscd, forged, options, pki_dir / "trust", capsys)
    v = out["verification"]
    assert v["outcome"] == "not-genuine" and v["reason"] == reason, v
    assert _check(out, "dg-hashes")["ok"] is True  # the data itself is the issuer's
    for name in ("chip-authentication", "active-authentication"):
        if name in failed:
            assert _check(out, name)["ok"] is False
    # The files are still all there: a clone's data is reported, never called genuine.
    assert {"DG1", "DG13", "DG14", "SOD"} <= set(out["files"])


def test_ca_with_a_dg14_outside_the_sod_is_not_trusted(
        pcscd: PcscdTestbed, pki_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    options = ChipOptions(aa=None)
    image = issuer.issue(generate(43), options)
    dgs = {fid - 0x0100: data for fid, data in image.app_files.items()
           if 0x0101 <= fid <= 0x0110 and fid != 0x010E}
    dsc = issuer.test_pki().dsc
    files = dict(image.app_files)
    files[0x011D] = pki.build_sod(pki.hash_data_groups(dgs, "sha256"), dsc.key, dsc.der)
    out = _read_json(pcscd, replace(image, app_files=files), options, pki_dir / "trust", capsys)
    v = out["verification"]
    assert v["outcome"] == "not-genuine", v
    # The chip did prove it holds DG14's key, but DG14 is not signed: the proof is worthless.
    ca_check = _check(out, "chip-authentication")
    assert ca_check["ok"] is False and ca_check["reason"] == "dg-not-verified"


def test_bench_trust_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "trust", "--count", "2"]) == 0
    out = capsys.readouterr().out
    assert "passive authentication" in out and "PA + CA" in out
