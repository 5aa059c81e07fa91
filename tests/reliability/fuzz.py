"""Fuzz targets for every parser that meets untrusted bytes, and a small mutation fuzzer.

A *target* takes raw bytes and feeds them to one parser (APDUs, secure messaging, BER-TLV, the
LDS files, the MRZ, the CCCD QR payload, the configuration file). The contract under test:
bad input raises only the typed errors of :mod:`station.errors` (a :class:`StationError`);
anything else — ``IndexError``, ``ValueError``, ``RecursionError``, … — is a *crasher*.

Three drivers share these targets: hypothesis (``tests/reliability/test_fuzz.py``), the
deterministic mutation fuzzer below (:func:`campaign`, used by ``make reliability``), and
atheris when it is installed (``python -m tests.reliability.fuzz atheris TARGET -runs=N``).
Crashers are kept in ``tests/reliability/corpus/<target>/`` and replayed by the tests.

All seed inputs are synthetic (``station.sim``); nothing here comes from a real card.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import random
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from station.errors import StationError, TagLost

Target = Callable[[bytes], object]


# --- the targets ----------------------------------------------------------------------------


def _apdu_command(data: bytes) -> object:
    from station.nfc.apdu import CommandApdu

    cmd = CommandApdu.decode(data)
    # A decoded command must encode back to something that decodes to the same command.
    again = CommandApdu.decode(cmd.encode())
    if (again.cla, again.ins, again.data) != (cmd.cla, cmd.ins, cmd.data):
        raise AssertionError("CommandApdu encode/decode round trip changed the command")
    return cmd


class ScriptedTransport:
    """A transport whose answers come from the fuzz input: a length byte, then that many
    bytes, per answer; when the input runs out the card "leaves the field"."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def transmit(self, apdu: bytes) -> bytes:
        if self._pos >= len(self._data):
            raise TagLost("scripted card has no more answers")
        n = self._data[self._pos]
        answer = self._data[self._pos + 1 : self._pos + 1 + n]
        self._pos += 1 + n
        return answer


def _apdu_transceive(data: bytes) -> object:
    from station.nfc.apdu import CommandApdu, transceive

    return transceive(ScriptedTransport(data), CommandApdu(0x00, 0xB0, 0, 0, le=0))


def _read_file(data: bytes) -> object:
    from station.nfc.files import read_file

    return read_file(ScriptedTransport(data), 0x0101, "DG1")


@cache
def _session_keys() -> tuple[object, object]:
    from station.nfc.crypto import SessionKeys

    return (SessionKeys.derive(b"\x11" * 16, "AES", 128),
            SessionKeys.derive(b"\x22" * 16, "3DES"))


def _keys(data: bytes) -> tuple[object, bytes]:
    """Pick the cipher from the first byte; the rest is the message."""
    aes, des = _session_keys()
    return (aes if data[:1] < b"\x80" else des), data[1:]


def _sm_response_raw(data: bytes) -> object:
    from station.nfc.crypto import SessionKeys
    from station.nfc.sm import unprotect_response

    keys, msg = _keys(data)
    assert isinstance(keys, SessionKeys)
    return unprotect_response(keys, 1, msg)


def _macd_body(keys: object, ssc: int, covered: bytes, header: bytes = b"") -> bytes:
    """``covered`` followed by a DO'8E' holding the right MAC over it, so the fuzzer gets past
    the MAC check into the data-object parsing and decryption."""
    from station.nfc.crypto import SessionKeys, pad
    from station.nfc.sm import ssc_bytes

    assert isinstance(keys, SessionKeys)
    sscb = ssc_bytes(keys, ssc)
    head = pad(header, keys.block) if header else b""
    mac = keys.mac(pad(sscb + head + covered, keys.block))
    return covered + b"\x8e\x08" + mac


def _sm_response_macd(data: bytes) -> object:
    from station.nfc.crypto import SessionKeys
    from station.nfc.sm import unprotect_response

    keys, msg = _keys(data)
    assert isinstance(keys, SessionKeys)
    return unprotect_response(keys, 7, _macd_body(keys, 7, msg[2:]) + msg[:2].ljust(2, b"\x90"))


def _sm_encrypted_response(data: bytes) -> object:
    """A correctly MACed DO'87' whose *plaintext* is the fuzz input (bad padding, any length
    of blocks): exercises the decryption and unpadding path."""
    from station.nfc.crypto import SessionKeys
    from station.nfc.sm import unprotect_response

    keys, plain = _keys(data)
    assert isinstance(keys, SessionKeys)
    plain = plain[: 16 * 16]
    plain += b"\x00" * (-len(plain) % keys.block)
    if not plain:
        plain = b"\x00" * keys.block
    crypt = keys.encrypt(_ssc(keys, 9), plain)
    do87 = b"\x87" + _len(1 + len(crypt)) + b"\x01" + crypt
    body = _macd_body(keys, 9, do87 + b"\x99\x02\x90\x00")
    return unprotect_response(keys, 9, body + b"\x90\x00")


def _ssc(keys: object, n: int) -> bytes:
    from station.nfc.crypto import SessionKeys
    from station.nfc.sm import ssc_bytes

    assert isinstance(keys, SessionKeys)
    return ssc_bytes(keys, n)


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x81, n))
    return b"\x82" + n.to_bytes(2, "big")


def _sm_command_macd(data: bytes) -> object:
    """Card side (the virtual chip): a protected command with a valid MAC over fuzzed DOs."""
    from station.nfc.crypto import SessionKeys
    from station.nfc.sm import unprotect_command

    keys, msg = _keys(data)
    assert isinstance(keys, SessionKeys)
    header = bytes((0x0C, 0xB0, 0x00, 0x00))
    body = _macd_body(keys, 3, msg, header)
    raw = header + (bytes((len(body),)) + body + b"\x00" if len(body) < 256
                    else b"\x00" + len(body).to_bytes(2, "big") + body + b"\x00\x00")
    return unprotect_command(keys, 3, raw)


def _tlv(data: bytes) -> object:
    from station.nfc import tlv

    def walk(objs: Iterable[tlv.Tlv], depth: int) -> int:
        n = 0
        for o in objs:
            n += 1
            if o.constructed and depth < 64:
                n += walk(o.children(), depth + 1)
            # Re-encoding a decoded object yields a decodable object with the same value.
            again = tlv.decode(o.encode())
            if (again.tag, again.value) != (o.tag, o.value):
                raise AssertionError("TLV encode/decode round trip changed the object")
        return n

    return walk(tlv.decode_all(data), 0)


def _lds(name: str) -> Target:
    def target(data: bytes) -> object:
        from station.nfc.lds import com, dg1, dg2, dg13, secinfo, security

        parsers: dict[str, Callable[[bytes], object]] = {
            "com": com.parse_com, "dg1": dg1.parse_dg1, "dg2": dg2.parse_dg2,
            "dg13": dg13.parse_dg13, "dg14": security.parse_dg14, "dg15": security.parse_dg15,
            "sod": security.parse_sod, "card_access": secinfo.parse_security_infos,
        }
        result = parsers[name](data)
        if isinstance(result, dg2.Face):
            return result.image().size  # the image decoder meets the same untrusted bytes
        to_json = getattr(result, "to_json", None)
        return to_json() if callable(to_json) else result

    target.__name__ = f"_lds_{name}"
    return target


def _chip_data(data: bytes) -> object:
    """The whole-read parse: the fuzz input is split into EF.COM, DG1, DG13 and EF.SOD."""
    from station.nfc.lds.chip import ChipData

    parts = data.split(b"\xff\xfe", 3)
    names = ("COM", "DG1", "DG13", "SOD")
    return ChipData.from_files("PACE", dict(zip(names, parts, strict=False))).to_json()


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _mrz(data: bytes) -> object:
    from station.mrz.parse import parse_mrz

    text = _text(data[1:])
    mrz = parse_mrz(text, correct=bool(data[:1] and data[0] & 1))
    return mrz.to_json(), mrz.key_information


def _qr(data: bytes) -> object:
    from station.qr import cccd

    payload = cccd.parse(_text(data), today=dt.date(2026, 1, 1))
    # A payload that parsed must format back to something that parses to the same payload.
    again = cccd.parse(payload.format(), today=dt.date(2026, 1, 1))
    if again.id_number != payload.id_number:
        raise AssertionError("CCCD payload format/parse round trip changed the ID")
    return payload.to_json(), payload.chip_keys().mrz_information


@cache
def _config_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="station-fuzz-config-"))


def _config(data: bytes) -> object:
    from station import config

    path = _config_dir() / "station.toml"
    path.write_bytes(data)
    return config.load(path)


# --- trust: passive authentication, master lists, CRLs, DG14 chip-authentication keys --------
#
# Beyond "typed errors only", these targets hold the security property: a mutated input is never
# accepted as the original unless what the signatures cover is unchanged. The fixed material
# (files, trust store) comes from the synthetic issuer (``station.sim.issuer.test_pki``).


class Forged(AssertionError):
    """A mutated trust input was accepted as genuine (a crasher, and a security bug)."""


@cache
def _trust_fixture() -> tuple[dict[str, bytes], object, object]:
    """(files of a synthetic card minus its SOD, its trust store, the issuer's PKI)."""
    from station.sim import issuer
    from station.sim.chip import ChipOptions
    from station.sim.citizens import generate
    from station.trust.store import TrustStore

    image = issuer.issue(generate(7), ChipOptions())
    names = {0x0101: "DG1", 0x010D: "DG13", 0x010E: "DG14", 0x010F: "DG15", 0x011D: "SOD"}
    files = {n: image.app_files[f] for f, n in names.items()}
    pki = issuer.test_pki()
    root = Path(tempfile.mkdtemp(prefix="station-fuzz-trust-"))
    (root / "csca.pem").write_bytes(pki.csca.pem)
    (root / "csca.crl").write_bytes(pki.crl)
    return files, TrustStore.load(root), pki


def _sod_signed_parts(data: bytes) -> tuple[bytes, ...] | None:
    """What the signatures over an EF.SOD cover: the LDS security object, the signed
    attributes, the signature and the certificates (None if it does not even parse)."""
    from asn1crypto import cms

    from station.nfc import tlv

    try:
        sd = cms.ContentInfo.load(tlv.decode(data, trailing=True).value)["content"]
        si = sd["signer_infos"][0]
        return (bytes(sd["encap_content_info"]["content"].contents),
                si["signed_attrs"].dump(), bytes(si["signature"].native),
                b"".join(c.dump() for c in sd["certificates"]))
    except Exception:
        return None


def _trust_pa(data: bytes) -> object:
    """EF.SOD through :func:`station.trust.verification.verify` with the card's other files and
    chip- and active-authentication proofs that passed (the card advertises both): the seed is
    ``genuine``. verify never raises; an
    internal error ("verification-error") is a crasher, and so is ``genuine`` for a SOD whose
    signed parts differ from the seed's."""
    from station.nfc.proof import ChipProof
    from station.trust.store import TrustStore
    from station.trust.verdict import GENUINE
    from station.trust.verification import verify

    files, store, _ = _trust_fixture()
    assert isinstance(store, TrustStore)
    v = verify({**files, "SOD": data}, store, chip_authentication=ChipProof("CA", True),
               active_authentication=ChipProof("AA", True))
    if v.reason == "verification-error":
        raise AssertionError(f"verify hit an internal error: {v.checks[0].detail}")
    if v.outcome == GENUINE and data != files["SOD"] and (
            _sod_signed_parts(data) != _sod_signed_parts(files["SOD"])):
        raise Forged("a mutated EF.SOD verified as genuine")
    return v.outcome


@cache
def _anchors() -> list[object]:
    from station.trust.certs import parse_certificate

    _, _, pki = _trust_fixture()
    return [parse_certificate(pki.csca.der, "csca")]  # type: ignore[attr-defined]


def _trust_master_list(data: bytes) -> object:
    """A CSCA master list verified against the issuer's CSCA: typed errors only, and a list
    that verifies names exactly the CSCAs of the seed (nobody slips an anchor in)."""
    from station.trust.store import verify_master_list

    _, _, pki = _trust_fixture()
    ml = verify_master_list(data, _anchors(), "fuzz")  # type: ignore[arg-type]
    if data != pki.master_list and (  # type: ignore[attr-defined]
            sorted(c.fingerprint for c in ml.cscas) != sorted(c.fingerprint  # type: ignore[attr-defined]
                                                              for c in _anchors())):
        raise Forged("a mutated master list verified with other CSCAs")
    return len(ml.cscas)


def _trust_crl(data: bytes) -> object:
    """A CRL verified by the issuer's CSCA: typed errors only, and one that verifies revokes
    exactly what the seed revokes."""
    from station.trust.certs import parse_crl

    _, store, pki = _trust_fixture()
    crl = parse_crl(data, _anchors(), "fuzz")  # type: ignore[arg-type]
    seed = store.crls[0]  # type: ignore[attr-defined]
    if data != pki.crl and (crl.revoked, crl.this_update) != (  # type: ignore[attr-defined]
            seed.revoked, seed.this_update):
        raise Forged("a mutated CRL verified with another revocation list")
    return len(crl.revoked)


def _trust_certificate(data: bytes) -> object:
    from station.trust.certs import parse_certificate

    return parse_certificate(data, "fuzz").to_json()


def _dg14_ca(data: bytes) -> object:
    """DG14's chip-authentication infos as the reader uses them before any APDU: parse, choose
    the key and protocol, and agree on an ephemeral key with the chip's public key. Inputs are
    capped at 4 KiB: a DH modulus of tens of kilobytes is a denial of service to bound
    elsewhere (the file read limit), not a parser bug."""
    from station.nfc import ca
    from station.nfc.lds.security import parse_dg14

    option = ca.choose(parse_dg14(data[:4096]))
    if option is None:
        return None
    return len(ca.agree(option.key.public_key).public)


TARGETS: dict[str, Target] = {
    "apdu_command": _apdu_command,
    "apdu_transceive": _apdu_transceive,
    "read_file": _read_file,
    "sm_response": _sm_response_raw,
    "sm_response_macd": _sm_response_macd,
    "sm_encrypted_response": _sm_encrypted_response,
    "sm_command_macd": _sm_command_macd,
    "tlv": _tlv,
    **{f"lds_{n}": _lds(n) for n in ("com", "dg1", "dg2", "dg13", "dg14", "dg15", "sod",
                                      "card_access")},
    "chip_data": _chip_data,
    "mrz": _mrz,
    "qr_cccd": _qr,
    "config": _config,
    "trust_pa": _trust_pa,
    "trust_master_list": _trust_master_list,
    "trust_crl": _trust_crl,
    "trust_certificate": _trust_certificate,
    "dg14_ca": _dg14_ca,
}


# --- seeds ----------------------------------------------------------------------------------


def _t(tag: int, value: bytes) -> bytes:
    tb = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    return tb + _len(len(value)) + value


_PACE_INFO = _t(0x30, _t(0x06, bytes.fromhex("04007F00070202040204")) + _t(0x02, b"\x02")
                + _t(0x02, b"\x0d"))
_CA_INFO = _t(0x30, _t(0x06, bytes.fromhex("04007F00070202030202")) + _t(0x02, b"\x01"))
_UTF8_OID = bytes.fromhex("060628D316010008")


def _dg13_seed() -> bytes:
    def field_(n: int, value: bytes) -> bytes:
        return _t(0x30, _t(0x02, bytes((n,))) + value)

    body = (field_(1, _t(0x13, b"001099012345")) + field_(2, _t(0x0C, "Nguyễn Văn Thử".encode()))
            + field_(3, _t(0x13, b"01/02/1990")) + field_(4, _t(0x0C, "Nữ".encode()))
            + field_(13, _t(0x30, _t(0x0C, "Nguyễn Văn Mẫu".encode()))))
    return _t(0x6D, _t(0x30, _t(0x02, b"\x01") + _UTF8_OID + body))


def _dg2_seed() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (8, 8), 128).save(out, "JPEG", quality=50)
    record = b"FAC\x00010\x00" + b"\x00" * 38 + out.getvalue()
    return _t(0x75, _t(0x7F61, _t(0x02, b"\x01") + _t(0x7F60, _t(0xA1, b"")
                                                      + _t(0x5F2E, record))))


@cache
def _sod_seed() -> bytes:
    from station.sim.pki import build_sod, make_csca, make_dsc

    dsc = make_dsc(make_csca(curve="brainpoolP256r1"))
    return build_sod({1: b"\x01" * 32, 13: b"\x0d" * 32}, dsc.key, dsc.cert)


def _trust_seed(what: str) -> bytes:
    files, _, pki = _trust_fixture()
    if what in files:
        return files[what]
    if what in ("csca", "dsc"):
        return bytes(getattr(pki, what).der)
    return bytes(getattr(pki, what))


@cache
def seeds(name: str) -> tuple[bytes, ...]:
    """Valid (synthetic) inputs of a target, the starting points of mutation."""
    from station.sim.citizens import dg1, ef_com, skeleton_citizen, td1_mrz

    citizen = skeleton_citizen(7)
    mrz = td1_mrz(citizen)
    qr = "001099012345|123456789|Nguyễn Văn Thử|01021999|Nam|Số 1, Phố Thử, Hà Nội|01022021"
    table: dict[str, tuple[bytes, ...]] = {
        "apdu_command": (bytes.fromhex("00A4020C020101"), bytes.fromhex("00B0000000"),
                         bytes.fromhex("00B00000000100"), bytes.fromhex("0CB0000000000E97020100")),
        "apdu_transceive": (b"\x04\x01\x02\x90\x00",
                            b"\x02\x61\x10\x12" + b"\x00" * 16 + b"\x90\x00",
                            b"\x02\x6c\x05\x07abcde\x90\x00"),
        # Header read by short EF identifier (it selects the file too), then the body.
        "read_file": (b"\x06\x61\x04\x5f\x1f\x90\x00\x04\x01\x02\x90\x00",),
        "sm_response": (b"\x00" + _macd_body(_session_keys()[0], 1, b"\x99\x02\x90\x00")
                        + b"\x90\x00", b"\x80\x6a\x82"),
        "sm_response_macd": (b"\x00\x90\x00\x99\x02\x90\x00", b"\x81\x90\x00\x99\x02\x6a\x82"),
        "sm_encrypted_response": (b"\x00hello\x80", b"\x81" + b"\x80" + b"\x00" * 7),
        "sm_command_macd": (b"\x00\x97\x01\x00", b"\x81\x87\x09\x01" + b"\x00" * 8),
        "tlv": (_PACE_INFO, _t(0x31, _PACE_INFO + _CA_INFO), _dg13_seed()),
        "lds_com": (ef_com(b"\x61\x6d\x6e"),),
        "lds_dg1": (dg1(mrz),),
        "lds_dg2": (_dg2_seed(),),
        "lds_dg13": (_dg13_seed(),),
        "lds_dg14": (_t(0x6E, _t(0x31, _CA_INFO)),),
        "lds_dg15": (_t(0x6F, _t(0x30, _t(0x30, b"") + _t(0x03, b"\x00\x04"))),),
        "lds_sod": (_sod_seed(),),
        "lds_card_access": (_t(0x31, _PACE_INFO), _t(0x31, _PACE_INFO + _CA_INFO)),
        "chip_data": (ef_com(b"\x61") + b"\xff\xfe" + dg1(mrz) + b"\xff\xfe" + _dg13_seed(),),
        "mrz": (b"\x00" + mrz.encode(), b"\x01" + mrz.encode()),
        "qr_cccd": (qr.encode(),),
        "trust_pa": (_trust_seed("SOD"),),
        "trust_master_list": (_trust_seed("master_list"),),
        "trust_crl": (_trust_seed("crl"),),
        "trust_certificate": (_trust_seed("csca"), _trust_seed("dsc")),
        "dg14_ca": (_trust_seed("DG14"), _t(0x6E, _t(0x31, _CA_INFO))),
        "config": (b'[station]\nstate_dir = "/var/lib/station"\n[mqtt]\nport = 8883\n',
                   b"[outbox]\nmax_bytes = 1000\n", b"[reader]\nname = 'Virtual PCD'\n"),
    }
    return table[name]


# --- running --------------------------------------------------------------------------------


def run_one(name: str, data: bytes) -> BaseException | None:
    """Feed ``data`` to target ``name``: None when it parsed or raised a typed station error,
    else the uncaught exception (a crasher)."""
    try:
        TARGETS[name](data)
    except StationError:
        return None
    except Exception as exc:  # the point: everything that is not a StationError is a bug
        return exc
    return None


_INTERESTING = (b"\x00", b"\xff", b"\x7f", b"\x80", b"\x81", b"\x82", b"\x83", b"\x84",
                b"\x90\x00", b"\x61\x00", b"\x6c\x00", b"\x8e\x08", b"\x87", b"\x99\x02",
                b"\x30\x80", b"\x1f\xff\xff\xff\x7f", b"<", b"|", b"\n", "ữ".encode())


def mutate(rng: random.Random, data: bytes, pool: tuple[bytes, ...] = ()) -> bytes:
    """One to four byte-level mutations (flip, insert, delete, splice, interesting values)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 2:
            buf[pos:pos] = rng.choice(_INTERESTING)
        elif op == 3 and buf:
            end = min(len(buf), pos + rng.randint(1, 16))
            del buf[pos:end]
        elif op == 4 and buf:
            start = rng.randrange(len(buf))
            chunk = buf[start : start + rng.randint(1, 32)]
            buf[pos:pos] = chunk
        elif op == 5 and pool:
            other = rng.choice(pool)
            cut = rng.randrange(len(other) + 1)
            buf[pos:] = other[cut:]
        elif op == 6:
            del buf[pos:]
    return bytes(buf[:70_000])


@dataclass
class FuzzReport:
    target: str
    runs: int = 0
    typed_errors: int = 0
    crashers: list[tuple[bytes, str]] = field(default_factory=list)


def campaign(name: str, runs: int, *, seed: int = 0, extra: Iterable[bytes] = ()) -> FuzzReport:
    """Deterministic mutation fuzzing of one target: ``runs`` inputs from its seeds (and
    ``extra``, e.g. the regression corpus). Crashers are collected, not raised."""
    rng = random.Random(f"{name}:{seed}")
    pool = tuple(seeds(name)) + tuple(extra)
    report = FuzzReport(name)
    seen: set[str] = set()
    for i in range(runs):
        data = pool[i] if i < len(pool) else mutate(rng, rng.choice(pool), pool)
        report.runs += 1
        exc = run_one(name, data)
        if exc is None:
            try:
                TARGETS[name](data)
            except StationError:
                report.typed_errors += 1
            continue
        kind = f"{type(exc).__name__}: {exc}"[:200]
        if kind not in seen:
            seen.add(kind)
            report.crashers.append((data, kind))
    return report


def corpus_name(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16] + ".bin"


# --- atheris --------------------------------------------------------------------------------


def _atheris_main(argv: list[str]) -> None:  # pragma: no cover - run in a subprocess
    import atheris  # type: ignore[import-untyped, import-not-found, unused-ignore]

    name = argv[0]
    target = TARGETS[name]

    def one(data: bytes) -> None:
        with contextlib.suppress(StationError):
            target(data)

    with atheris.instrument_imports():
        import station.config
        import station.mrz.parse
        import station.nfc.apdu
        import station.nfc.ca
        import station.nfc.files
        import station.nfc.lds.chip
        import station.nfc.lds.secinfo
        import station.nfc.sm
        import station.nfc.tlv
        import station.qr.cccd
        import station.trust.certs
        import station.trust.pa
        import station.trust.store  # noqa: F401
    atheris.Setup([sys.argv[0], *argv[1:]], one)
    atheris.Fuzz()


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) >= 3 and sys.argv[1] == "atheris":
        _atheris_main(sys.argv[2:])
    else:
        print("usage: python -m tests.reliability.fuzz atheris TARGET [libFuzzer flags]",
              file=sys.stderr)
        sys.exit(2)
