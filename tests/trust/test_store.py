"""The trust store: directory loading, master lists (signer must chain to a loose CSCA), CRLs."""

from __future__ import annotations

from pathlib import Path

from station import reasons as E
from station.sim import pki
from station.trust.store import TrustStore, TrustStoreRef, verify_master_list
from station.trust.verdict import CLONE_UNCHECKED, NOT_GENUINE
from station.trust.verification import verify
from tests.trust.conftest import card_files


def test_loads_pem_der_crl_and_reports_junk(tmp_path: Path, test_pki: pki.TestPki) -> None:
    (tmp_path / "a.pem").write_bytes(test_pki.csca.pem + test_pki.rogue_csca.pem)
    (tmp_path / "dsc.der").write_bytes(test_pki.dsc.der)
    (tmp_path / "list.crl").write_bytes(test_pki.crl)
    (tmp_path / "junk.bin").write_bytes(b"\x30\x03\x02\x01\x01")
    (tmp_path / "trunc.der").write_bytes(test_pki.csca.der[:200])
    (tmp_path / ".hidden").write_bytes(b"ignored")
    s = TrustStore.load(tmp_path)
    assert len(s.cscas) == 2 and len(s.dscs) == 1 and len(s.crls) == 1
    assert {name for name, _ in s.problems} == {"junk.bin", "trunc.der"}
    assert s.crls[0].issuer.fingerprint == s.cscas[0].fingerprint


def test_crl_from_a_non_store_csca_is_ignored(tmp_path: Path, test_pki: pki.TestPki) -> None:
    (tmp_path / "csca.pem").write_bytes(test_pki.csca.pem)
    # A CRL with the genuine CSCA's name, signed by the rogue one (same name).
    (tmp_path / "rogue.crl").write_bytes(pki.make_crl(test_pki.rogue_csca, [test_pki.dsc.serial]))
    s = TrustStore.load(tmp_path)
    assert s.crls == () and s.problems[0][0] == "rogue.crl"
    assert verify(card_files(test_pki.dsc), s).outcome == CLONE_UNCHECKED


def test_master_list_needs_its_signers_csca_in_the_store(tmp_path: Path,
                                                         test_pki: pki.TestPki) -> None:
    # A second country publishes a master list that carries our CSCA.
    other = pki.make_csca(common_name="CSCA XX TEST", country="XX", curve="secp384r1",
                          hash="sha384")
    signer = pki.make_ml_signer(other)
    ml = pki.make_master_list(signer, [test_pki.csca.der, other.der], [other.der])
    (tmp_path / "list.ml").write_bytes(ml)
    s = TrustStore.load(tmp_path)
    assert s.cscas == () and s.master_lists == ()
    assert s.problems[0][0] == "list.ml" and E.UNTRUSTED_CSCA in s.problems[0][1]
    assert verify(card_files(test_pki.dsc), s).reason == E.UNTRUSTED_CSCA
    (tmp_path / "xx.pem").write_bytes(other.pem)
    s = TrustStore.load(tmp_path)
    assert not s.problems
    assert len(s.master_lists) == 1 and len(s.master_lists[0].cscas) == 2
    assert verify(card_files(test_pki.dsc), s).outcome == CLONE_UNCHECKED


def test_master_list_with_tampered_content_is_refused(test_pki: pki.TestPki) -> None:
    from station.trust.certs import parse_certificate

    ml = bytearray(test_pki.master_list)
    # Flip a byte inside the listed CSCA's signature (near the end of the content).
    i = bytes(ml).find(test_pki.csca.der) + len(test_pki.csca.der) - 5
    ml[i] ^= 0x01
    anchors = [parse_certificate(test_pki.csca.der)]
    try:
        verify_master_list(bytes(ml), anchors)
    except E.TrustError as exc:
        assert exc.reason == E.MESSAGE_DIGEST_MISMATCH
    else:
        raise AssertionError("a tampered master list was accepted")
    assert len(verify_master_list(test_pki.master_list, anchors).cscas) == 1


def test_reload_picks_up_new_files(tmp_path: Path, test_pki: pki.TestPki) -> None:
    ref = TrustStoreRef(tmp_path)
    before = ref.current
    assert verify(card_files(test_pki.dsc), before).outcome == NOT_GENUINE
    (tmp_path / "csca.pem").write_bytes(test_pki.csca.pem)
    ref.reload()
    assert verify(card_files(test_pki.dsc), ref.current).outcome == CLONE_UNCHECKED
    assert before.cscas == ()  # the old value is untouched
