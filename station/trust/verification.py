"""The verdict on one card read, with every check it rests on.

Outcomes (ICAO 9303-11 §5–§6):

- ``genuine`` — passive authentication passed, and chip or active authentication proved the
  chip holds the key of a PA-verified DG14 / DG15 — every protection the document advertises
  (see below);
- ``authentic-data-clone-unchecked`` — PA passed, and the document advertises no clone
  protection at all (some foreign passports): the data is what the issuer signed, the chip may
  be a copy;
- ``not-genuine`` — a check failed (``reason`` says which: DG hash mismatch, bad signature,
  untrusted CSCA, revoked DSC, CA/AA failed, malformed SOD…);
- ``unverified`` — no trust store configured, nothing could be verified.

:func:`verify` never raises: anything unexpected is ``not-genuine`` with reason
``verification-error`` — never ``genuine``.

Advertised protection is mandatory. EF.SOD listing DG15 advertises active authentication;
EF.SOD listing DG14 (when the DG14 read carries a chip authentication key, or was not read at
all), or EF.CardAccess announcing chip authentication or PACE-CAM, advertises chip
authentication (ICAO 9303-11 §6.2, BSI TR-03110-1 §3.4: a terminal that skips an available
CA/AA cannot tell the chip from a copy of its files). A clone cannot prove keys it could not
copy, so it withholds the files instead (6A82 to DG14/DG15): an advertised protection whose
file was not read or whose protocol did not run is ``chip-authentication-withheld`` /
``active-authentication-withheld``, never "not performed". A DG15 read but not listed in
EF.SOD advertises nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from station import reasons as E
from station.nfc import tlv
from station.nfc.lds.secinfo import CardAccess
from station.nfc.lds.security import parse_dg14, parse_sod
from station.nfc.proof import ChipProof
from station.trust.certs import Certificate
from station.trust.countries import alpha2
from station.trust.pa import passive_authentication
from station.trust.store import TrustStore
from station.trust.verdict import (
    CLONE_UNCHECKED,
    GENUINE,
    NOT_GENUINE,
    UNVERIFIED,
    Check,
    Revocation,
    Verification,
)


class HasFiles(Protocol):
    @property
    def files(self) -> Mapping[str, bytes]: ...


def verify(chip_data: HasFiles | Mapping[str, bytes], store: TrustStore | None, *,
           chip_authentication: ChipProof | None = None,
           active_authentication: ChipProof | None = None,
           card_access: CardAccess | None = None,
           revocation: Revocation = "prefer",
           now: dt.datetime | None = None) -> Verification:
    """Verify a card read: PA over the files read (``chip_data.files``: "SOD", "DG1"…), then
    fold in the CA/AA results, requiring those the document advertises (EF.SOD's list,
    ``card_access``: EF.CardAccess as the tap read and parsed it). ``revocation``: "require"
    refuses a DSC whose revocation status is unknown (no current CRL of its CSCA); "prefer"
    records it as unknown and goes on. Never raises."""
    try:
        files = chip_data if isinstance(chip_data, Mapping) else chip_data.files
        protocol = getattr(chip_data, "protocol", None)
        result = _verify(files, store, chip_authentication, active_authentication, card_access,
                         revocation, now or dt.datetime.now(dt.UTC))
        return _access_control(result, files, protocol)
    except Exception as exc:  # the service loop must never see an exception from here
        return Verification(NOT_GENUINE, (Check("verification", False, "verification-error",
                                                type(exc).__name__),),
                            "verification-error")


def _access_control(result: Verification, files: Mapping[str, bytes],
                    protocol: str | None) -> Verification:
    """A CCCD (DG1: TD1 issued by VNM) read with BAC is refused: its chip has PACE, so BAC
    means EF.CardAccess was hidden or the read was downgraded (ICAO 9303-11 §4.4)."""

    if protocol != "BAC" or "DG1" not in files:
        return result
    try:
        root = tlv.decode(files["DG1"], trailing=True)
        td1 = any(c.tag == 0x5F1F and len(c.value) == 90 for c in root.children())
    except Exception:  # a DG1 that does not parse is PA's to judge
        return result
    if not (td1 and dg1_issuing_state(files["DG1"]) == "VNM"):
        return result
    check = Check("access-control", False, E.PACE_UNAVAILABLE,
                  "a CCCD was read with BAC: its chip has PACE")
    return Verification(NOT_GENUINE, (*result.checks, check),
                        result.reason if result.outcome == NOT_GENUINE else E.PACE_UNAVAILABLE,
                        result.verified_data_groups)


def _country(files: Mapping[str, bytes], dsc: Certificate, csca: Certificate) -> Check:
    """``csca-country``: the DSC's issuer and subject countryName and the CSCA's equal the
    issuing state DG1 names (ICAO 9303-12 §7.1.1), so a trusted CSCA vouches for its own state's
    documents only (see :mod:`station.trust.countries`)."""

    if "DG1" not in files:
        return Check("csca-country", None, E.NOT_PERFORMED, "DG1 was not read")
    state = dg1_issuing_state(files["DG1"])
    if state is None:  # PA judges the DG1 itself; without its state nothing is scoped
        return Check("csca-country", False, E.CSCA_COUNTRY_MISMATCH,
                     "DG1 names no issuing state")
    want = alpha2(state)
    found = {"DSC issuer": _c(dsc.asn1.issuer), "DSC subject": _c(dsc.asn1.subject),
             "CSCA": _c(csca.asn1.subject)}
    if want is None:
        return Check("csca-country", False, E.CSCA_COUNTRY_MISMATCH,
                     f"issuing state {state} has no country code to match certificates with")
    wrong = [f"{where} C={c or '(none)'}" for where, c in found.items() if c != want]
    if wrong:
        return Check("csca-country", False, E.CSCA_COUNTRY_MISMATCH,
                     f"the document's issuing state is {state} ({want}), but "
                     + ", ".join(wrong))
    return Check("csca-country", True, None, f"{state} = C {want}")


def dg1_issuing_state(dg1: bytes) -> str | None:
    """The issuing state of DG1's MRZ (positions 3-5 in every format, ICAO 9303-3 §4.2), read
    without the check-digit validation of :func:`station.nfc.lds.dg1.parse_dg1`: the signed
    bytes decide whose anchor applies, whatever else the MRZ holds."""

    try:
        root = tlv.decode(dg1, trailing=True)
        mrz = next(c for c in root.children() if c.tag == 0x5F1F).value.decode("ascii")
    except Exception:
        return None
    if root.tag != 0x61 or len(mrz) not in (72, 88, 90):
        return None
    return mrz[2:5].strip("<") or None


def _c(name: Any) -> str:
    value = name.native.get("country_name", "") if hasattr(name, "native") else ""
    return str(value).strip().upper()


def advertised(files: Mapping[str, bytes], card_access: CardAccess | None) -> dict[int, str]:
    """The clone protections a document advertises: {14: why} for chip authentication,
    {15: why} for active authentication (the why is for the check's detail)."""

    out: dict[int, str] = {}
    listed: set[int] = set()
    if "SOD" in files:
        try:
            listed = set(parse_sod(files["SOD"]).dg_hashes)
        except Exception:  # a malformed SOD fails PA; nothing advertised here
            listed = set()
    if 14 in listed:
        if "DG14" not in files:
            out[14] = "EF.SOD lists DG14"
        else:
            try:
                if parse_dg14(files["DG14"]).chip_authentication_keys:
                    out[14] = "EF.SOD lists DG14 with a chip authentication key"
            except Exception:  # an unparsable listed DG14 hides what it holds
                out[14] = "EF.SOD lists DG14"
    infos = None if card_access is None else card_access.infos
    if 14 not in out and infos is not None and (
            infos.chip_authentication or any(p.mapping == "CAM" for p in infos.pace)):
        out[14] = "EF.CardAccess announces chip authentication"
    if 15 in listed:
        out[15] = "EF.SOD lists DG15"
    return out


def _verify(files: Mapping[str, bytes], store: TrustStore | None, ca: ChipProof | None,
            aa: ChipProof | None, card_access: CardAccess | None, revocation: Revocation,
            now: dt.datetime) -> Verification:
    pa = passive_authentication(files, store, now)
    checks = list(pa.checks)
    if revocation == "require":
        # The profile demands a known status (bank): unknown becomes a failure.
        checks = [Check(c.name, False, c.reason, c.detail + "; this profile requires a "
                        "current CRL") if c.name == "dsc-revocation"
                  and c.reason == E.REVOCATION_UNKNOWN else c for c in checks]
    if store is None:
        failed = next((c for c in checks if c.ok is False), None)
        if failed is not None:
            return Verification(NOT_GENUINE, tuple(checks), failed.reason)
        return Verification(UNVERIFIED, tuple(checks), E.NO_TRUST_STORE)
    if pa.dsc is not None and pa.csca is not None:
        checks.append(_country(files, pa.dsc, pa.csca))
    wanted = advertised(files, card_access)
    for proof, dg, name in ((ca, 14, "chip-authentication"),
                            (aa, 15, "active-authentication")):
        if proof is None and dg in wanted:
            withheld = E.CA_WITHHELD if dg == 14 else E.AA_WITHHELD
            why = (f"DG{dg} was not read" if f"DG{dg}" not in files
                   else "the protocol did not run")
            checks.append(Check(name, False, withheld, f"{wanted[dg]}, but {why}"))
        elif proof is None:
            checks.append(Check(name, None, E.NOT_PERFORMED))
        elif not proof.ok:
            code = E.CA_FAILED if proof.kind == "CA" else E.AA_FAILED
            checks.append(Check(name, False, proof.reason or code, proof.detail))
        elif dg not in pa.verified_data_groups:
            # A key the issuer did not sign proves nothing (ICAO 9303-11 §6.2: DG14 must be
            # PA-verified before its key is trusted).
            checks.append(Check(name, False, E.DG_NOT_VERIFIED,
                                f"DG{dg} was not verified by passive authentication"))
        else:
            checks.append(Check(name, True, None, proof.detail))
    failed = next((c for c in checks if c.ok is False), None)
    if failed is not None:
        return Verification(NOT_GENUINE, tuple(checks), failed.reason, pa.verified_data_groups)
    proved = any(c.ok for c in checks
                 if c.name in ("chip-authentication", "active-authentication"))
    return Verification(GENUINE if proved else CLONE_UNCHECKED, tuple(checks), None,
                        pa.verified_data_groups)

