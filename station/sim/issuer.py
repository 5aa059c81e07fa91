"""The card issuer: turns a synthetic citizen into the contents of a CCCD chip.

:func:`issue` encodes the LDS files (``station.sim.lds``), makes the chip's Chip Authentication
and Active Authentication keys, and signs EF.SOD with a Document Signer of the test PKI
(``station.sim.pki``, the trust helper's). Forgery knobs for tests: sign with the DSC of a rogue
CSCA (``signer="untrusted"``), change a data group after signing (``corrupt_dg``), or
:func:`clone` a card: the same files, other chip keys (so CA and AA fail while PA passes).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from station.nfc import tlv
from station.sim import lds, pki
from station.sim.chip import EF_CARD_ACCESS, EF_COM, EF_SOD, CardImage, ChipOptions
from station.sim.citizens import Citizen


@functools.cache
def test_pki() -> pki.TestPki:
    """One issuer PKI per process (generating it costs a few key pairs)."""
    return pki.make_test_pki()


def _signer(signer: Literal["good", "untrusted"] | pki.Issued) -> pki.Issued:
    if signer == "good":
        return test_pki().dsc
    if signer == "untrusted":
        return test_pki().untrusted_dsc
    return signer


def new_chip_keys(options: ChipOptions) -> tuple[
        ec.EllipticCurvePrivateKey | None, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None]:
    ca_key = (ec.generate_private_key(lds.ec_curve(options.ca_curve))
              if options.ca_cipher is not None else None)
    aa_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None
    if options.aa == "rsa":
        aa_key = rsa.generate_private_key(65537, options.rsa_bits)
    elif options.aa == "ecdsa":
        aa_key = ec.generate_private_key(ec.BrainpoolP256R1())
    return ca_key, aa_key


def dg3_placeholder() -> bytes:
    """DG3 with no finger images (the chip never serves it: 6982 without terminal
    authentication), present so EF.COM and EF.SOD list it as on real cards."""
    return tlv.encode(0x63, tlv.encode(0x7F61, tlv.encode(0x02, b"\x00")))


def encode_data_groups(citizen: Citizen, options: ChipOptions,
                       ca_key: ec.EllipticCurvePrivateKey | None,
                       aa_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None,
                       face_size: tuple[int, int] = (240, 320)) -> dict[int, bytes]:
    sex: Literal["M", "F"] = "M" if citizen.sex == "Nam" else "F"
    face = lds.face_image(citizen.seed if citizen.seed is not None else
                          int(citizen.id_number), options.face_format, face_size)
    dgs = {
        1: lds.dg1(citizen.mrz()),
        2: lds.dg2(face, options.face_format, face_size, sex),
        3: dg3_placeholder(),
        13: lds.dg13(
            id_number=citizen.id_number, full_name=citizen.full_name,
            birth=citizen.birth.strftime("%d/%m/%Y"), sex=citizen.sex,
            nationality=citizen.nationality, ethnicity=citizen.ethnicity,
            religion=citizen.religion, hometown=citizen.hometown, residence=citizen.residence,
            identification_marks=citizen.identification_marks,
            issued=citizen.issued.strftime("%d/%m/%Y"), expiry=citizen.expiry_text(),
            father=citizen.father, mother=citizen.mother, spouse=citizen.spouse,
            old_id=citizen.old_id, identifier=citizen.card_identifier,
        ),
    }
    if ca_key is not None and options.ca_cipher is not None:
        dgs[14] = lds.dg14(ca_key.public_key(), options.ca_cipher,
                           options.pace, aa_ecdsa=options.aa == "ecdsa")
    if aa_key is not None:
        dgs[15] = lds.dg15(aa_key.public_key())
    return dgs


def issue(citizen: Citizen, options: ChipOptions | None = None, *,
          signer: Literal["good", "untrusted"] | pki.Issued = "good",
          corrupt_dg: int | None = None, hash: str = "sha256",
          face_size: tuple[int, int] = (240, 320),
          unlisted: frozenset[int] = frozenset()) -> CardImage:
    """The chip contents of ``citizen``'s card: files, SOD, and keys.

    ``unlisted`` data groups are on the chip but not in EF.SOD (as DG15 on BSI TR-03105 and
    ETSI test passports)."""
    options = options or ChipOptions()
    ca_key, aa_key = new_chip_keys(options)
    dgs = encode_data_groups(citizen, options, ca_key, aa_key, face_size)
    dsc = _signer(signer)
    listed = {n: raw for n, raw in dgs.items() if n not in unlisted}
    sod = pki.build_sod(pki.hash_data_groups(listed, hash), dsc.key, dsc.der, hash)
    if corrupt_dg is not None:
        # After signing: the data group no longer matches its hash in EF.SOD.
        raw = bytearray(dgs[corrupt_dg])
        raw[-1] ^= 0x01
        dgs[corrupt_dg] = bytes(raw)
    app: dict[int, bytes] = {EF_COM: lds.ef_com(sorted(dgs)), EF_SOD: sod}
    app.update({0x0100 + n: content for n, content in dgs.items()})
    mf = {EF_CARD_ACCESS: lds.ef_card_access(options.pace, options.ca_cipher)}
    return CardImage(mf, app, citizen.can, citizen.mrz_information, ca_key, aa_key)


def clone(image: CardImage, options: ChipOptions | None = None) -> CardImage:
    """A clone: every file copied bit for bit (so passive authentication passes) but the chip's
    private keys are new ones — the attacker cannot read them out of the genuine chip — so Chip
    and Active Authentication fail."""
    ca_key, aa_key = new_chip_keys(options or ChipOptions())
    return replace(image, ca_key=ca_key if image.ca_key is not None else None,
                   aa_key=aa_key if image.aa_key is not None else None)
