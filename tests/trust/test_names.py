"""RFC 5280 §7.1 name matching, and the RDN-order relaxation used only to find a signer."""

from __future__ import annotations

from asn1crypto import x509

from station.trust.names import same_name, same_rdns_in_any_order


def _name(*rdns: list[tuple[str, str, str]]) -> x509.Name:
    """RDNs, each a list of (type, string class, value)."""
    classes = {"printable": x509.PrintableString, "utf8": x509.UTF8String}
    seq = x509.RDNSequence([
        x509.RelativeDistinguishedName([
            {"type": t, "value": x509.DirectoryString(
                name="printable_string" if cls == "printable" else "utf8_string",
                value=classes[cls](v))}
            for t, cls, v in rdn])
        for rdn in rdns])
    return x509.Name(name="", value=seq)


C = [("country_name", "printable", "MY")]
ORG = [("organization_name", "utf8", "Jabatan Imigresen Malaysia")]
CN = [("common_name", "utf8", "Malaysia Country Signer")]


def test_same_rdns_same_order_match() -> None:
    assert same_name(_name(C, ORG, CN), _name(C, ORG, CN))


def test_case_whitespace_and_string_type_are_insignificant() -> None:
    # RFC 5280 §7.1 / RFC 4518: caseIgnoreMatch after insignificant-space handling; a
    # PrintableString and a UTF8String with the same characters are the same value.
    loose = _name(C, [("organization_name", "printable", "  JABATAN  Imigresen malaysia ")], CN)
    assert same_name(_name(C, ORG, CN), loose)


def test_another_value_does_not_match() -> None:
    other = _name(C, [("organization_name", "utf8", "Jabatan Imigresen Malaysiaa")], CN)
    assert not same_name(_name(C, ORG, CN), other)
    assert not same_rdns_in_any_order(_name(C, ORG, CN), other)


def test_rdn_order_matters_for_rfc5280_but_not_for_finding_a_signer() -> None:
    # The MY EF.SOD in gmrtd's public test data: its SignerInfo lists the issuer's RDNs in
    # another order than the DSC's issuer field.
    a, b = _name(C, ORG, CN), _name(C, CN, ORG)
    assert not same_name(a, b)
    assert same_rdns_in_any_order(a, b)


def test_attributes_inside_one_rdn_are_a_set() -> None:
    assert same_name(_name(C, ORG + CN), _name(C, CN + ORG))


def test_rdn_counts_must_agree() -> None:
    assert not same_rdns_in_any_order(_name(C, ORG, CN), _name(C, ORG, CN, CN))
    assert not same_rdns_in_any_order(_name(C, ORG, CN), _name(C, ORG))


def test_bmp_string_equals_utf8_string_with_the_same_text() -> None:
    bmp = x509.Name(name="", value=x509.RDNSequence([x509.RelativeDistinguishedName([
        {"type": "common_name",
         "value": x509.DirectoryString(name="bmp_string",
                                       value=x509.BMPString("Malaysia Country Signer"))}])]))
    assert same_name(bmp, _name(CN))
