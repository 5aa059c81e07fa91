"""Distinguished-name comparison (RFC 5280 §7.1), and the one real-document relaxation.

- :func:`same_name` is RFC 5280 §7.1: the same RDNs in the same order; within an RDN the
  attributes form a set; string values compared after RFC 4518 preparation (case folded,
  insignificant whitespace removed, PrintableString vs UTF8String irrelevant). asn1crypto's
  ``Name.__eq__`` implements exactly that; this wrapper makes a value that preparation refuses
  (prohibited code points) an ordinary "no match" instead of an exception, falling back to the
  encodings being byte-equal.
- :func:`same_rdns_in_any_order` also accepts the same RDNs in another order. RFC 5280 does not:
  it is for *finding* a SignerInfo's certificate only (a Malaysian EF.SOD in gmrtd's public test
  data names its DSC's issuer with C, O, ST, L, OU, CN where the DSC says C, ST, L, O, OU, CN;
  gmrtd compares such names as sets too). Finding a certificate proves nothing: its key must
  still verify the SOD's signature, and a CSCA must verify the certificate — chain building
  (issuer ↔ subject) stays strict §7.1.
"""

from __future__ import annotations

from collections import Counter

from asn1crypto import x509

_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, UnicodeError)


def same_name(a: x509.Name, b: x509.Name) -> bool:
    """RFC 5280 §7.1 name matching; never raises."""
    try:
        return bool(a == b)
    except _ERRORS:
        return _same_bytes(a, b)


def _same_bytes(a: x509.Name, b: x509.Name) -> bool:
    try:
        return bool(a.dump() == b.dump())
    except _ERRORS:
        return False


def _rdn_key(rdn: x509.RelativeDistinguishedName) -> frozenset[tuple[str, str]]:
    """One RDN as a set of (attribute type, prepared value)."""
    return frozenset((atv["type"].dotted, atv.prepped_value) for atv in rdn)


def same_rdns_in_any_order(a: x509.Name, b: x509.Name) -> bool:
    """The same multiset of RDNs (each compared per §7.1), in any order; never raises."""
    if same_name(a, b):
        return True
    try:
        return Counter(_rdn_key(r) for r in a.chosen) == Counter(_rdn_key(r) for r in b.chosen)
    except _ERRORS:
        return False
