"""Attacks on the verification layer (issue 16), each through the real reading path: the virtual
chip on pcscd + vpcd, read by `station read --json` or the service's chip reader, verified
against a trust store on disk. Each of these read `genuine` or `authentic-data-clone-unchecked`
before the rule it tests was added."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from station.cli import main
from station.errors import PaceUnavailable, TagLost
from station.service.chip import PcscChipReader
from station.service.readings import DeskKeys
from station.service.verify import TrustVerifier
from station.sim import issuer, pki
from station.sim.chip import CardImage, CccdChip, ChipOptions
from station.sim.citizens import Citizen, generate
from station.sim.vpcd import VpcdLink
from station.testing.pcscd import PcscdTestbed
from station.trust.store import TrustStoreRef
from tests.taps import put_back

DG14, DG15, CARD_ACCESS = 0x010E, 0x010F, 0x011C
FILES = ("COM", "SOD", "DG1", "DG14", "DG15")


@pytest.fixture(scope="module")
def citizen() -> Citizen:
    return generate(1616)


@pytest.fixture(scope="module")
def image(citizen: Citizen) -> CardImage:
    return issuer.issue(citizen)


@pytest.fixture(scope="module")
def trust_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("trust")
    pki = issuer.test_pki()
    (d / "csca.pem").write_bytes(pki.csca.pem)
    (d / "csca.crl").write_bytes(pki.crl)
    return d


def _insert(pcscd: PcscdTestbed, image: CardImage, options: ChipOptions,
            drop_after: int | None = None) -> VpcdLink:
    link = VpcdLink(CccdChip(image, options), pcscd.slot_port(0))
    link.drop_after = drop_after
    link.insert()
    return link


def _tap_again(pcscd: PcscdTestbed, image: CardImage, options: ChipOptions) -> VpcdLink:
    """Put the card back until pcscd sees it (see :func:`tests.taps.put_back`)."""
    return put_back(pcscd, lambda: _insert(pcscd, image, options))


@pytest.fixture()
def card(pcscd: PcscdTestbed, image: CardImage) -> Iterator[Any]:
    links: list[VpcdLink] = []

    def put(options: ChipOptions, image_: CardImage = image) -> VpcdLink:
        link = _insert(pcscd, image_, options)
        links.append(link)
        return link

    yield put
    for link in links:
        link.remove()


def read_json(pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str], trust: Path,
              *key: str) -> dict[str, Any]:
    code = main(["read", "--reader", pcscd.readers[0], *key, "--json", "--trust", str(trust),
                 "--timeout", "10"])
    out = capsys.readouterr().out
    assert code == 0, out
    result: dict[str, Any] = json.loads(out)
    return result


def check(verification: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in verification["checks"] if c["name"] == name)
    return found


# --- attack 1: a clone withholding DG14 / DG15 ----------------------------------------------------


def test_the_genuine_card_is_genuine(pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str],
                                     trust_dir: Path, citizen: Citizen, card: Any) -> None:
    card(ChipOptions())
    v = read_json(pcscd, capsys, trust_dir, "--can", citizen.can)["verification"]
    assert v["outcome"] == "genuine", v
    assert check(v, "chip-authentication")["ok"] is True
    assert check(v, "active-authentication")["ok"] is True


@pytest.mark.parametrize(("offers", "withheld", "reasons"), [
    (ChipOptions(aa=None), {DG14}, {"chip-authentication-withheld"}),
    (ChipOptions(ca_cipher=None), {DG15}, {"active-authentication-withheld"}),
    (ChipOptions(), {DG14, DG15},
     {"chip-authentication-withheld", "active-authentication-withheld"}),
], ids=["DG14", "DG15", "both"])
def test_a_clone_answering_6a82_to_advertised_files_is_not_genuine(
        pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str], trust_dir: Path,
        citizen: Citizen, card: Any, offers: ChipOptions, withheld: set[int],
        reasons: set[str]) -> None:
    # The attacker copied every signed file (PA passes) but cannot copy the chip's keys: the
    # clone hides the files whose keys it would have to prove (the card offers only those, so
    # no other proof fails and gives it away).
    clone = issuer.clone(issuer.issue(citizen, offers), offers)
    card(replace(offers, withheld=frozenset(withheld)), clone)
    out = read_json(pcscd, capsys, trust_dir, "--can", citizen.can)
    v = out["verification"]
    assert v["outcome"] == "not-genuine", v
    assert v["reason"] in reasons
    failed = {c["reason"] for c in v["checks"] if c["ok"] is False}
    assert failed == reasons
    assert check(v, "dg-hashes")["ok"] is True  # the copied data itself is what was signed


def test_a_clone_withholding_dg15_on_a_resumed_read_is_not_genuine(
        pcscd: PcscdTestbed, trust_dir: Path, citizen: Citizen) -> None:
    # The card leaves the field mid-read and comes back: the rule holds across taps.
    offers = ChipOptions(ca_cipher=None)
    clone = issuer.clone(issuer.issue(citizen, offers), offers)
    options = replace(offers, withheld=frozenset({DG15}))
    keys, _ = DeskKeys.from_qr(citizen.payload())
    reader = PcscChipReader(FILES)
    link = _insert(pcscd, clone, options, drop_after=14)
    try:
        with pytest.raises(TagLost):
            reader.read(pcscd.readers[0], keys, lambda f: None, threading.Event())
    finally:
        link.remove()
    link = _tap_again(pcscd, clone, options)
    try:
        reading, _ = reader.read(pcscd.readers[0], keys, lambda f: None, threading.Event())
    finally:
        link.remove()
    assert reading.taps == 2
    assert "DG15" in reading.chip.skipped
    _outcome, verified = TrustVerifier(TrustStoreRef(trust_dir)).verify(reading)
    result = verified.verification  # type: ignore[attr-defined]
    assert result.outcome == "not-genuine"
    assert result.reason == "active-authentication-withheld"


# --- attack 5: BAC downgrade of a CCCD ----------------------------------------------------------


def test_a_cccd_hiding_ef_cardaccess_is_refused_not_read_by_bac(
        pcscd: PcscdTestbed, citizen: Citizen, image: CardImage, card: Any) -> None:
    # EF.CardAccess answers 6A82: the desk had the MRZ key from the QR and used to fall back
    # to BAC, whose session an eavesdropper can brute-force offline.
    card(ChipOptions(withheld=frozenset({CARD_ACCESS})), image)
    keys, _ = DeskKeys.from_qr(citizen.payload())
    with pytest.raises(PaceUnavailable) as exc:
        PcscChipReader(FILES).read(pcscd.readers[0], keys, lambda f: None, threading.Event())
    assert exc.value.reason == "pace-unavailable"


def test_a_cccd_read_by_bac_with_its_mrz_key_is_not_genuine(
        pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str], trust_dir: Path,
        citizen: Citizen, image: CardImage, card: Any) -> None:
    # `station read --mrz-key` does not know the document beforehand: DG1 says CCCD, so a BAC
    # read of it is refused by the verification.
    card(ChipOptions(withheld=frozenset({CARD_ACCESS})), image)
    mrz_key = f"{citizen.document_number},{citizen.mrz_birth},{citizen.mrz_expiry}"
    out = read_json(pcscd, capsys, trust_dir, "--mrz-key", mrz_key)
    assert out["protocol"] == "BAC"
    v = out["verification"]
    assert (v["outcome"], v["reason"]) == ("not-genuine", "pace-unavailable"), v
    assert check(v, "access-control")["ok"] is False


def test_station_read_with_a_qr_refuses_a_chip_without_pace(
        pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str], trust_dir: Path,
        citizen: Citizen, image: CardImage, card: Any) -> None:
    card(ChipOptions(withheld=frozenset({CARD_ACCESS})), image)
    code = main(["read", "--reader", pcscd.readers[0], "--qr", citizen.qr_text(), "--json",
                 "--trust", str(trust_dir), "--timeout", "10"])
    captured = capsys.readouterr()
    assert code == 1
    v = json.loads(captured.out)["verification"]
    assert (v["outcome"], v["reason"]) == ("not-genuine", "pace-unavailable")
    assert "pace-unavailable" in captured.err


# --- attack 2: any CSCA vouching for any country ------------------------------------------------


def test_a_vnm_document_signed_under_another_states_csca_is_not_genuine(
        pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        citizen: Citizen, card: Any) -> None:
    # The lodging desk trusts many states; one of them (its CSCA legitimately in the store)
    # issues a DSC and signs a card whose DG1 says VNM. Its DSC even names itself VN.
    other = pki.make_csca(country="FR", common_name="CSCA FR TEST", curve="secp384r1",
                          hash="sha384")
    dsc = pki.make_dsc(other, common_name="DS FR TEST")
    (tmp_path / "csca-vn.pem").write_bytes(issuer.test_pki().csca.pem)
    (tmp_path / "csca-fr.pem").write_bytes(other.pem)
    card(ChipOptions(), issuer.issue(citizen, signer=dsc))
    v = read_json(pcscd, capsys, tmp_path, "--can", citizen.can)["verification"]
    assert (v["outcome"], v["reason"]) == ("not-genuine", "csca-country-mismatch"), v
    assert check(v, "dsc-issuer")["ok"] is True  # the chain itself is sound
    assert "FR" in check(v, "csca-country")["detail"]


def test_the_genuine_card_names_its_state(pcscd: PcscdTestbed,
                                          capsys: pytest.CaptureFixture[str], trust_dir: Path,
                                          citizen: Citizen, card: Any) -> None:
    card(ChipOptions())
    v = read_json(pcscd, capsys, trust_dir, "--can", citizen.can)["verification"]
    assert check(v, "csca-country") == {"name": "csca-country", "ok": True, "reason": None,
                                        "detail": "VNM = C VN"}


# --- attack 3: a master list signed by a Document Signer ----------------------------------------


def test_a_master_list_signed_by_a_document_signer_adds_no_csca(
        pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        citizen: Citizen, card: Any) -> None:
    # Anyone holding a DSC key of a trusted CSCA (every issuing office has one) "publishes" a
    # master list carrying a CSCA of their own, then signs cards under it.
    good = issuer.test_pki()
    rogue = pki.make_csca(common_name="CSCA VN TEST")  # Vietnam's name, the attacker's key
    rogue_dsc = pki.make_dsc(rogue, common_name="DS VN TEST 1")
    ml = tmp_path / "masterlist.ml"
    ml.write_bytes(pki.make_master_list(good.dsc, [rogue.der], [good.csca.der]))
    store = tmp_path / "trust"
    store.mkdir()
    (store / "csca.pem").write_bytes(good.csca.pem)
    (store / "csca.crl").write_bytes(good.crl)

    assert main(["trust", "--path", str(store), "import", str(ml)]) == 1
    out = capsys.readouterr().out
    assert "not-master-list-signer" in out and "nothing imported" in out
    assert not (store / "masterlist.ml").exists()

    # Dropped into the directory by hand, it is reported unusable and vouches for nothing.
    (store / "masterlist.ml").write_bytes(ml.read_bytes())
    assert main(["trust", "--path", str(store), "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["master_lists"] == []
    assert [p["file"] for p in listing["problems"]] == ["masterlist.ml"]
    assert "not-master-list-signer" in listing["problems"][0]["problem"]
    card(ChipOptions(), issuer.issue(citizen, signer=rogue_dsc))
    v = read_json(pcscd, capsys, store, "--can", citizen.can)["verification"]
    assert (v["outcome"], v["reason"]) == ("not-genuine", "untrusted-csca"), v


def test_a_master_list_by_its_signer_still_counts(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    good = issuer.test_pki()
    (tmp_path / "csca.pem").write_bytes(good.csca.pem)
    ml = tmp_path.parent / f"{tmp_path.name}-ml.ml"
    ml.write_bytes(good.master_list)
    assert main(["trust", "--path", str(tmp_path), "import", str(ml)]) == 0
    assert "1 master list(s) with 1 CSCA(s)" in capsys.readouterr().out


# --- attack 4: revocation failing open ----------------------------------------------------------


def _store_with(tmp_path: Path, crl: bytes | None) -> Path:
    d = tmp_path / "trust"
    d.mkdir()
    (d / "csca.pem").write_bytes(issuer.test_pki().csca.pem)
    if crl is not None:
        (d / "csca.crl").write_bytes(crl)
    return d


def _stale_crl(revoked: tuple[int, ...] = ()) -> bytes:
    # Its nextUpdate passed a year ago.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return pki.make_crl(issuer.test_pki().csca, revoked,
                        this_update=now - dt.timedelta(days=400), days=35)


@pytest.mark.parametrize("crl", ["none", "stale"])
@pytest.mark.parametrize("setting", ["prefer", "require"])
def test_a_dsc_without_a_current_crl_has_an_unknown_status(
        pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        citizen: Citizen, card: Any, crl: str, setting: str) -> None:
    # The revoked DSC signs the card; the store has no CRL, or one a year out of date.
    store = _store_with(tmp_path, None if crl == "none" else _stale_crl())
    card(ChipOptions(), issuer.issue(citizen, signer=issuer.test_pki().revoked_dsc))
    v = read_json(pcscd, capsys, store, "--can", citizen.can, "--revocation",
                  setting)["verification"]
    status = check(v, "dsc-revocation")
    assert status["reason"] == "revocation-unknown", status
    assert ("expired" in status["detail"]) == (crl == "stale")
    if setting == "require":
        assert status["ok"] is False
        assert (v["outcome"], v["reason"]) == ("not-genuine", "revocation-unknown")
    else:
        assert status["ok"] is None  # recorded, not a pass
        assert v["outcome"] == "genuine"


def test_a_stale_crl_that_lists_the_dsc_still_revokes_it(
        pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        citizen: Citizen, card: Any) -> None:
    revoked = issuer.test_pki().revoked_dsc
    store = _store_with(tmp_path, _stale_crl((revoked.serial,)))
    card(ChipOptions(), issuer.issue(citizen, signer=revoked))
    v = read_json(pcscd, capsys, store, "--can", citizen.can)["verification"]
    assert (v["outcome"], v["reason"]) == ("not-genuine", "revoked")


def test_the_bank_profile_refuses_an_unknown_revocation_status(
        pcscd: PcscdTestbed, tmp_path: Path, citizen: Citizen, image: CardImage,
        card: Any) -> None:
    from station.config import ProfileSection
    from station.errors import ConfigError
    from station.service.profiles import build
    from station.trust.verdict import Outcome

    bank = build("bank", ProfileSection())
    assert bank.revocation == "require"
    with pytest.raises(ConfigError, match="revocation"):
        build("bank", ProfileSection(revocation="prefer"))
    assert build("reception", ProfileSection()).revocation == "prefer"

    card(ChipOptions(), image)
    keys, _ = DeskKeys.from_qr(citizen.payload())
    reading, _ = PcscChipReader(bank.files).read(pcscd.readers[0], keys, lambda f: None,
                                                 threading.Event())
    no_crl = _store_with(tmp_path, None)
    outcome, _ = TrustVerifier(TrustStoreRef(no_crl), revocation=bank.revocation).verify(reading)
    assert outcome is Outcome.INVALID
    outcome, verified = TrustVerifier(TrustStoreRef(no_crl)).verify(reading)
    assert outcome is Outcome.GENUINE  # a desk that only prefers a CRL takes it, recorded:
    from station.pipeline.records import Check as RecordCheck
    from station.service.records import reading_of

    record = reading_of(build("reception", ProfileSection()), verified, outcome)
    assert RecordCheck("dsc-revocation", None, "revocation-unknown") in record.checks
    (no_crl / "csca.crl").write_bytes(issuer.test_pki().crl)  # current
    outcome, _ = TrustVerifier(TrustStoreRef(no_crl), revocation=bank.revocation).verify(reading)
    assert outcome is Outcome.GENUINE


# --- attack 6: linkable records -----------------------------------------------------------------


def test_the_record_payload_carries_no_data_group_hash(
        pcscd: PcscdTestbed, trust_dir: Path, citizen: Citizen, image: CardImage,
        card: Any) -> None:
    # The broker operator holds every token: a per-card hash in clear would link one person's
    # visits across stations, and a DG1 rebuilt from a copied QR/MRZ would confirm an identity.
    import base64
    import hashlib

    from station import keys
    from station.config import ProfileSection
    from station.pipeline.records import RecordSigner, b64url_decode, open_sealed
    from station.service.profiles import build
    from station.service.records import reading_of

    card(ChipOptions(), image)
    keys_, _ = DeskKeys.from_qr(citizen.payload())
    profile = build("reception", ProfileSection())
    reading, _ = PcscChipReader(profile.files).read(pcscd.readers[0], keys_, lambda f: None,
                                                    threading.Event())
    outcome, verified = TrustVerifier(TrustStoreRef(trust_dir)).verify(reading)
    backend = keys.generate_seal_key()
    signer = RecordSigner("desk-1", keys.generate_signing_key(), backend.public_key())
    signed = signer.build(reading_of(profile, verified, outcome), 1)
    payload = b64url_decode(signed.token.split(b".")[1])
    assert reading.chip.files
    for name, raw in reading.chip.files.items():
        for algorithm in ("sha1", "sha224", "sha256", "sha384", "sha512"):
            d = hashlib.new(algorithm, raw).digest()
            for form in (d.hex(), d.hex().upper(), base64.b64encode(d).decode(),
                         base64.urlsafe_b64encode(d).decode().rstrip("=")):
                assert form.encode() not in payload, (name, algorithm)
    for secret in (citizen.document_number, citizen.id_number, citizen.can):
        assert secret.encode() not in payload
    # The backend still gets them, sealed.
    opened = open_sealed(signed.record, backend)
    assert opened.dg_hashes["DG1"] == hashlib.sha256(reading.chip.files["DG1"]).hexdigest()
