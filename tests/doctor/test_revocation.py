"""`station doctor` warns for every CSCA without a CRL and every stale CRL (issue 16)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from station import config
from station.doctor import Context
from station.doctor.checks import check_revocation
from station.sim import pki


def _ctx(tmp_path: Path, trust: Path) -> Context:
    path = tmp_path / "station.toml"
    path.write_text(f'[trust]\npath = "{trust}"\n')
    return Context(config.load(path))


def test_a_warning_per_csca_without_a_current_crl(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    vn = pki.make_csca(common_name="CSCA VN TEST")
    fr = pki.make_csca(country="FR", common_name="CSCA FR TEST", curve="secp384r1",
                       hash="sha384")
    jp = pki.make_csca(country="JP", common_name="CSCA JP TEST", curve="secp384r1",
                       hash="sha384")
    trust = tmp_path / "trust"
    trust.mkdir()
    for name, c in (("vn", vn), ("fr", fr), ("jp", jp)):
        (trust / f"{name}.pem").write_bytes(c.pem)
    (trust / "vn.crl").write_bytes(pki.make_crl(vn, this_update=now - dt.timedelta(days=1)))
    stale = now - dt.timedelta(days=400)
    (trust / "fr.crl").write_bytes(pki.make_crl(fr, this_update=stale, days=35))
    findings = check_revocation(_ctx(tmp_path, trust))
    assert [f.status for f in findings] == ["warn", "warn"]
    details = " | ".join(f.detail for f in findings)
    assert "no CRL for CSCA" in details and "CSCA JP TEST" in details
    assert "fr.crl of CSCA" in details
    assert f"expired {stale + dt.timedelta(days=35):%Y-%m-%d}" in details
    assert all(f.fix for f in findings)

    (trust / "fr.crl").write_bytes(pki.make_crl(fr))
    (trust / "jp.crl").write_bytes(pki.make_crl(jp))
    findings = check_revocation(_ctx(tmp_path, trust))
    assert [(f.status, f.detail) for f in findings] == [
        ("ok", "3 CSCA(s), each with a current CRL")]


def test_a_master_list_signed_by_a_document_signer_is_reported_unusable(tmp_path: Path) -> None:
    from station.doctor.checks import check_trust
    from station.sim import issuer

    good = issuer.test_pki()
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "csca.pem").write_bytes(good.csca.pem)
    (trust / "rogue.ml").write_bytes(pki.make_master_list(good.dsc, [good.rogue_csca.der]))
    (finding,) = check_trust(_ctx(tmp_path, trust))
    assert finding.status == "warn"
    assert "rogue.ml" in finding.detail and "not-master-list-signer" in finding.detail
