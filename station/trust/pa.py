"""Passive authentication (ICAO 9303-11 §5.1): is the data on the chip what the issuer signed?

Steps, each recorded as a :class:`Check`:

1. ``sod``: EF.SOD is tag 77 around CMS SignedData over an LDSSecurityObject (v0/v1);
2. ``dsc``: the Document Signer certificate, from the SOD or the store;
3. ``sod-signature``: content-type and message-digest attributes, signature by the DSC;
4. ``dsc-issuer``: a CSCA in the store verifies the DSC's signature (signatures and key
   identifiers, never names alone); the CSCA is a CA for certificate signing;
5. ``dsc-validity`` and ``dsc-key-usage`` (digitalSignature);
6. ``dsc-revocation``: ok (a current CRL of that CSCA does not list it), ``revoked`` (a CRL of
   that CSCA lists it, current or not) or ``revocation-unknown`` (no CRL of that CSCA, or only
   ones past their nextUpdate: not a pass, see ``verify(revocation=…)``);
7. ``dg-hashes``: every data group read that the SOD lists hashes to the SOD's value;
   ``dg-not-in-sod`` (not a pass, not a failure) names those read that it does not list —
   they are unverified and stay out of ``verified_data_groups``.

Without a store, steps 4–6 are "not performed" and the hash comparison still runs (a mismatch
is evidence against the card either way).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from station import reasons as E
from station.nfc.lds.security import (
    LDS_SECURITY_OBJECT_CONTENT_TYPES,
    parse_lds_security_object,
    sod_content_info,
)
from station.nfc.publickey import digest
from station.reasons import TrustError
from station.trust.certs import Certificate
from station.trust.signeddata import find_signer, open_signed_data, verify_signer
from station.trust.store import TrustStore
from station.trust.verdict import Check


@dataclass(frozen=True)
class PaResult:
    checks: tuple[Check, ...]
    verified_data_groups: frozenset[int]
    """Data groups read whose hash matched a valid, trusted EF.SOD (empty on any failure)."""
    dsc: Certificate | None = None
    unverified_data_groups: frozenset[int] = frozenset()
    """Data groups read that EF.SOD does not list: neither verified nor a failure."""
    csca: Certificate | None = None
    """The store's CSCA whose key verified the DSC (None when none did)."""


def revocation_status(store: TrustStore, csca: Certificate, now: dt.datetime) -> Check:
    """A DSC not listed: ok only if a CRL of its CSCA is current (RFC 5280 §5.1.2.5: after
    nextUpdate a CRL says nothing about revocations since; ICAO 9303-12 §7.1.4 requires the
    field). No CRL, or only stale ones, is unknown — never silently ok."""
    crls = store.crls_for(csca)
    if not crls:
        return Check("dsc-revocation", None, E.REVOCATION_UNKNOWN, "no CRL for this CSCA")
    current = [c for c in crls if c.next_update is not None and c.next_update >= now]
    if not current:
        latest = max(crls, key=lambda c: c.this_update)
        when = ("has no nextUpdate" if latest.next_update is None
                else f"expired {latest.next_update:%Y-%m-%d}")
        return Check("dsc-revocation", None, E.REVOCATION_UNKNOWN,
                     f"the CRL of this CSCA ({latest.source}) {when}")
    best = max(current, key=lambda c: c.this_update)
    return Check("dsc-revocation", True, None,
                 f"not in {best.source} (next update {best.next_update:%Y-%m-%d})")


def _dg_number(name: str) -> int | None:
    if name.startswith("DG") and name[2:].isdigit():
        n = int(name[2:])
        return n if 1 <= n <= 16 else None
    return None


def passive_authentication(files: Mapping[str, bytes], store: TrustStore | None,
                           now: dt.datetime) -> PaResult:
    checks: list[Check] = []

    def fail(name: str, exc: TrustError) -> PaResult:
        checks.append(Check(name, False, exc.reason, exc.detail))
        return PaResult(tuple(checks), frozenset())

    raw = files.get("SOD")
    if raw is None:
        return fail("sod", TrustError(E.MALFORMED_SOD, "EF.SOD was not read"))
    try:
        sd = open_signed_data(sod_content_info(raw), LDS_SECURITY_OBJECT_CONTENT_TYPES)
        lso = parse_lds_security_object(sd.content)
    except TrustError as exc:
        return fail("sod", exc)
    checks.append(Check("sod", True, None, f"LDS security object v{lso.version}, "
                                           f"{lso.hash_algorithm}, "
                                           f"{len(lso.dg_hashes)} data groups"))

    # Data-group hashes first: they need no trust anchor. A data group the SOD does not list
    # is *unverified*, not evidence against the others (BSI TR-03105 / ETSI test passports
    # carry a DG15 their SOD omits): it is reported on its own and left out of
    # ``verified_data_groups``. A listed one whose hash differs is a failure.
    matched: set[int] = set()
    unlisted: set[int] = set()
    mismatch: TrustError | None = None
    for name in sorted(files):
        number = _dg_number(name)
        if number is None:
            continue
        expected = lso.dg_hashes.get(number)
        if expected is None:
            unlisted.add(number)
        elif digest(lso.hash_algorithm, files[name]) != expected:
            mismatch = mismatch or TrustError(E.DG_HASH_MISMATCH,
                                              f"DG{number} does not match its hash in EF.SOD")
        else:
            matched.add(number)
    dg_checks = [Check("dg-hashes", False, mismatch.reason, mismatch.detail) if mismatch
                 else Check("dg-hashes", True, None,
                            "DG" + ", DG".join(str(n) for n in sorted(matched))
                            if matched else "no listed data group read")]
    if unlisted:
        dg_checks.append(Check("dg-not-in-sod", None, E.DG_NOT_IN_SOD,
                               "DG" + ", DG".join(str(n) for n in sorted(unlisted))
                               + " read but not listed in EF.SOD: unverified"))
    unverified = frozenset(unlisted)

    pool = store.dscs if store is not None else ()
    try:
        dsc, where = find_signer(sd, pool)
    except TrustError as exc:
        checks.extend(dg_checks)
        return fail("dsc", exc)
    checks.append(Check("dsc", True, None, f"serial {dsc.serial:X} from the "
                                           f"{'SOD' if where == 'sod' else 'store'}, "
                                           f"{dsc.key.description}"))
    try:
        algorithm = verify_signer(sd, dsc)
    except TrustError as exc:
        checks.extend(dg_checks)
        return fail("sod-signature", exc)
    checks.append(Check("sod-signature", True, None, algorithm))

    if store is None:
        for name in ("dsc-issuer", "dsc-validity", "dsc-key-usage", "dsc-revocation"):
            checks.append(Check(name, None, E.NO_TRUST_STORE))
        checks.extend(dg_checks)
        return PaResult(tuple(checks), frozenset(), dsc, unverified)

    ok = True
    try:
        csca, cert_alg = store.issuer_of(dsc)
        if not csca.is_ca or (csca.key_usage and "key_cert_sign" not in csca.key_usage):
            raise TrustError(E.KEY_USAGE, "the issuing certificate is not a CSCA for "
                                          "certificate signing")
        # The CSCA had to be valid when it issued the DSC (ICAO 9303-12 §5).
        csca.valid_at(dsc.not_before)
        checks.append(Check("dsc-issuer", True, None, f"{csca.key.description}, {cert_alg}"))
    except TrustError as exc:
        checks.append(Check("dsc-issuer", False, exc.reason, exc.detail))
        csca = None
        ok = False
    try:
        dsc.valid_at(now)
        checks.append(Check("dsc-validity", True, None,
                            f"{dsc.not_before:%Y-%m-%d}..{dsc.not_after:%Y-%m-%d}"))
    except TrustError as exc:
        checks.append(Check("dsc-validity", False, exc.reason, exc.detail))
        ok = False
    if dsc.key_usage and "digital_signature" not in dsc.key_usage:
        checks.append(Check("dsc-key-usage", False, E.KEY_USAGE,
                            "the DSC's key usage lacks digitalSignature"))
        ok = False
    else:
        checks.append(Check("dsc-key-usage", True))
    if csca is None:
        checks.append(Check("dsc-revocation", None, E.NOT_PERFORMED))
    else:
        crl = store.revoked_by(dsc, csca)
        if crl is not None:
            checks.append(Check("dsc-revocation", False, E.REVOKED,
                                f"DSC serial {dsc.serial:X} is listed in {crl.source}"))
            ok = False
        else:
            checks.append(revocation_status(store, csca, now))
    checks.extend(dg_checks)
    verified = frozenset(matched) if ok and mismatch is None else frozenset()
    return PaResult(tuple(checks), verified, dsc, unverified, csca)
