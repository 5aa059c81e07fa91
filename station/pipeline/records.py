"""Signed records: what a station sends for one reading.

A record is a **JWS** (RFC 7515, compact serialization) signed with the station's Ed25519 key
whose payload is UTF-8 JSON. The header says ``alg: Ed25519``, the fully specified name RFC 9864
registers and recommends; RFC 8037's polymorphic ``EdDSA`` (deprecated by RFC 9864, same
signature bytes) is still accepted on verification and can be emitted for backends whose JOSE
library predates RFC 9864 (``RecordSigner(alg="EdDSA")``). Any JOSE library verifies it (the tests
verify with joserfc). The citizen fields the profile keeps are **sealed** to the backend's
X25519 public key with HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
AES-256-GCM; ``info`` binds the ciphertext to this station and record id), so the station
cannot read them back from its own outbox. Everything else — ids, sequence, times, profile,
protocol, the verification outcome with each check — stays in clear for routing and audit.

Nothing in the clear part is stable per person or per card (issue 16): the SHA-256 hashes of
the raw data groups, which would link one person's visits across stations and confirm an
identity from a copied QR/MRZ (hash a rebuilt DG1), travel inside the sealed part, where only
the backend reads them; each record's HPKE encapsulation is fresh, so ciphertexts do not link.

Payload (version 2)::

    {"v": 1, "id": "<UUIDv7>", "station": "<station id>", "seq": 42,
     "time": {"wall": "2026-11-23T08:00:00.123Z", "mono_ns": 123456789, "boot": "<boot id>"},
     "profile": "reception", "context": {...},            # non-citizen desk context
     "protocol": "PACE",
     "verification": {"outcome": "authentic", "checks": [{"name": "...", "ok": true}]},
     "sealed": {"alg": "HPKE-Base-X25519-SHA256-AES256GCM", "kid": "<backend key id>",
                "ct": "<base64url(enc || ciphertext)>"}}

A check's ``ok`` is true, false, or null (not a pass: e.g. ``dsc-revocation`` with detail
``revocation-unknown``). The sealed plaintext is ``{"fields": {…the profile's fields…},
"dg_hashes": {"alg": "sha-256", "DG1": "<hex>", …}}`` (``face`` as base64).
Building a record (seal + sign, ~0.15 ms) happens on the caller's thread — the reading
worker — never on the publisher's: the outbox stores the finished token.

The payload is written directly as text in the field order above (the same bytes
``json.dumps(record.to_json(), separators=(",", ":"), ensure_ascii=False)`` gives; a test holds
them equal): the per-station parts are encoded once, the few profile/protocol/outcome strings
and check lists are cached, and only the record's own values are formatted per record. Each
record still gets its own HPKE encapsulation (RFC 9180 base mode: a fresh ephemeral key per
``seal``), its own UUIDv7 and its own signature.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from station.errors import StationError
from station.keys import key_id

RECORD_VERSION = 2
SEAL_ALG = "HPKE-Base-X25519-SHA256-AES256GCM"
_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
_HEADER_TYPE = "station-record+jws"
SIGNING_ALGS = ("Ed25519", "EdDSA")
"""JWS ``alg`` values for an Ed25519 signature: RFC 9864's (what we emit by default) first."""


class RecordError(StationError):
    """A record is malformed, badly signed or cannot be opened (never quotes its content)."""


class BadSignature(RecordError):
    """The record is not signed with Ed25519 by the expected key (forged or altered)."""


_TO_URL_ALPHABET = bytes.maketrans(b"+/", b"-_")
_FROM_URL_ALPHABET = bytes.maketrans(b"-_", b"+/")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Compact JSON, UTF-8 kept: one encoder for every call (``json.dumps`` with options builds a
new encoder each time)."""


def b64url_bytes(data: bytes) -> bytes:
    """Unpadded base64url (RFC 7515 §2), as ASCII bytes."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URL_ALPHABET)


def b64url(data: bytes) -> str:
    return b64url_bytes(data).decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Strict unpadded base64url: any character outside its alphabet (padding, ``+``/``/``,
    whitespace) is a ``ValueError`` — RFC 7515 §2 allows none, and a lenient decoder would let
    two different tokens carry one payload."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    if b"=" in raw or b"+" in raw or b"/" in raw:
        raise ValueError("not unpadded base64url")
    try:
        return binascii.a2b_base64(raw.translate(_FROM_URL_ALPHABET) + b"=" * (-len(raw) % 4),
                                   strict_mode=True)
    except binascii.Error:
        raise ValueError("not unpadded base64url") from None


def uuid7(ms: int | None = None) -> str:
    """A time-ordered UUIDv7 (RFC 9562 §5.7): 48-bit Unix ms, version 7, 74 random bits."""
    if ms is None:
        ms = time.time_ns() // 1_000_000
    rand = bytearray(os.urandom(10))
    rand[0] = 0x70 | (rand[0] & 0x0F)  # version 7 above rand_a's first 4 bits
    rand[2] = 0x80 | (rand[2] & 0x3F)  # variant 10 above rand_b
    h = (ms & 0xFFFF_FFFF_FFFF).to_bytes(6, "big").hex() + rand.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _boot_id() -> str:
    # The monotonic clock only orders events within one boot: say which boot.
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


BOOT_ID = _boot_id()


@dataclass(frozen=True)
class Check:
    """One verification check (``pa.sod_signature``, ``ca``, ``aa`` …): never citizen data."""

    name: str
    ok: bool | None
    """True passed, False failed, None neither (a status the profile tolerates, e.g. an
    unknown revocation status)."""
    detail: str = ""


@dataclass(frozen=True)
class Reading:
    """What one read hands to the pipeline. ``citizen`` is already minimised by the profile
    (:func:`station.service.profiles.minimise`); ``files`` are the raw LDS files read (only their
    hashes leave the station); ``context`` is the profile's non-citizen context."""

    profile: str
    protocol: str
    outcome: str
    checks: tuple[Check, ...] = ()
    citizen: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """A record's clear part, as the station built it or as ingest verified it."""

    record_id: str
    station_id: str
    seq: int
    wall: str
    mono_ns: int
    boot: str
    profile: str
    protocol: str
    outcome: str
    checks: tuple[Check, ...]
    context: Mapping[str, Any]
    sealed_kid: str
    sealed_ct: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "id": self.record_id,
            "station": self.station_id,
            "seq": self.seq,
            "time": {"wall": self.wall, "mono_ns": self.mono_ns, "boot": self.boot},
            "profile": self.profile,
            "context": dict(self.context),
            "protocol": self.protocol,
            "verification": {"outcome": self.outcome,
                             "checks": [_check_json(c) for c in self.checks]},
            "sealed": {"alg": SEAL_ALG, "kid": self.sealed_kid, "ct": b64url(self.sealed_ct)},
        }

    @classmethod
    def from_json(cls, d: Any) -> Record:
        try:
            if d["v"] != RECORD_VERSION:
                raise RecordError(f"unsupported record version {d['v']!r}")
            t, ver, sealed = d["time"], d["verification"], d["sealed"]
            if sealed["alg"] != SEAL_ALG:
                raise RecordError("unsupported sealing algorithm")
            if "dg_hashes" in d:
                raise RecordError("data-group hashes travel sealed, never in clear")
            seq = d["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                raise RecordError("sequence must be a positive integer")
            return cls(
                str(d["id"]), str(d["station"]), seq, str(t["wall"]), int(t["mono_ns"]),
                str(t["boot"]), str(d["profile"]), str(d["protocol"]), str(ver["outcome"]),
                tuple(Check(str(c["name"]), _ok(c["ok"]), str(c.get("detail", "")))
                      for c in ver["checks"]),
                MappingProxyType(dict(d["context"])), str(sealed["kid"]),
                b64url_decode(sealed["ct"]),
            )
        except RecordError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError):
            raise RecordError("record payload does not follow version 1") from None


def _ok(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise RecordError("a check's ok is true, false or null")


def _check_json(c: Check) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "ok": c.ok}
    if c.detail:
        out["detail"] = c.detail
    return out


def seal_info(station_id: str, record_id: str) -> bytes:
    """HPKE ``info``: binds a ciphertext to one station's one record (RFC 9180 §5.1)."""
    return f"station-record/v{RECORD_VERSION} {station_id} {record_id}".encode()


def _sealed_json(citizen: Mapping[str, Any], hashes: Mapping[str, str]) -> bytes:
    fields = {k: {"b64": b64url(bytes(v))} if isinstance(v, bytes | bytearray) else v
              for k, v in citizen.items()}
    return _json({"fields": fields, "dg_hashes": {"alg": "sha-256", **hashes}}).encode()


@functools.lru_cache(maxsize=256)
def _json_str(text: str) -> str:
    """A JSON string literal; profiles, protocols and outcomes repeat, so it is cached."""
    return _json(text)


@functools.lru_cache(maxsize=256)
def _checks_json(checks: tuple[Check, ...]) -> str:
    return _json([_check_json(c) for c in checks])


def _key_id(key: ed25519.Ed25519PublicKey | x25519.X25519PublicKey) -> str:
    return key_id(key)


@dataclass(frozen=True)
class SignedRecord:
    record: Record
    token: bytes
    """The compact JWS, ASCII: what is stored and published."""


class RecordSigner:
    """Builds, seals and signs records for one station. Stateless between calls: the caller
    (the outbox owner) hands the next sequence number."""

    def __init__(self, station_id: str, signing_key: ed25519.Ed25519PrivateKey,
                 backend_key: x25519.X25519PublicKey, *, alg: str = SIGNING_ALGS[0]) -> None:
        if alg not in SIGNING_ALGS:
            raise ValueError(f"an Ed25519 JWS says alg {' or '.join(SIGNING_ALGS)}, not {alg!r}")
        self.station_id = station_id
        self._signing_key = signing_key
        self._backend_key = backend_key
        self.kid = _key_id(signing_key.public_key())
        self.backend_kid = _key_id(backend_key)
        header = {"alg": alg, "kid": self.kid, "typ": _HEADER_TYPE}
        self._header_b64 = b64url(json.dumps(header, separators=(",", ":")).encode())
        # The parts every record of this station repeats, encoded once.
        self._header_dot = self._header_b64.encode("ascii") + b"."
        self._station_json = _json(station_id)
        self._boot_json = _json(BOOT_ID)
        self._backend_kid_json = _json(self.backend_kid)
        self._info_prefix = seal_info(station_id, "")
        self._wall_second: tuple[int, str] = (-1, "")

    def build(self, reading: Reading, seq: int) -> SignedRecord:
        now_ns = time.time_ns()
        mono_ns = time.monotonic_ns()
        ms = now_ns // 1_000_000
        record_id = uuid7(ms)
        sec, milli = divmod(ms, 1000)
        cached_sec, prefix = self._wall_second
        if sec != cached_sec:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
            self._wall_second = (sec, prefix)  # one assignment: safe across threads
        wall = f"{prefix}.{milli:03d}Z"
        hashes = {name: hashlib.sha256(data).hexdigest()
                  for name, data in sorted(reading.files.items()) if name != "alg"}
        sealed = _SUITE.encrypt(_sealed_json(reading.citizen, hashes), self._backend_key,
                                info=self._info_prefix + record_id.encode())
        checks = tuple(reading.checks)
        context = reading.context
        record = Record(
            record_id, self.station_id, seq, wall, mono_ns, BOOT_ID, reading.profile,
            reading.protocol, reading.outcome, checks, context, self.backend_kid, sealed)
        payload = (
            f'{{"v":{RECORD_VERSION},"id":"{record_id}","station":{self._station_json},'
            f'"seq":{seq},"time":{{"wall":"{wall}","mono_ns":{mono_ns},'
            f'"boot":{self._boot_json}}},"profile":{_json_str(reading.profile)},'
            f'"context":{_json(dict(context)) if context else "{}"},'
            f'"protocol":{_json_str(reading.protocol)},'
            f'"verification":{{"outcome":{_json_str(reading.outcome)},'
            f'"checks":{_checks_json(checks)}}},'
            f'"sealed":{{"alg":"{SEAL_ALG}","kid":{self._backend_kid_json},'
            f'"ct":"{b64url(sealed)}"}}}}')
        signing_input = self._header_dot + b64url_bytes(payload.encode())
        signature = self._signing_key.sign(signing_input)
        return SignedRecord(record, signing_input + b"." + b64url_bytes(signature))


def parse_unverified(token: bytes) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """Split a compact JWS: (header, payload, signing input, signature). Nothing is trusted."""
    try:
        parts = token.split(b".")
        if len(parts) != 3:
            raise ValueError
        header = dict(_header(parts[0]) if len(parts[0]) <= _CACHED_HEADER_MAX
                      else _decode_header(parts[0]))
        return header, b64url_decode(parts[1]), parts[0] + b"." + parts[1], b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise RecordError("not a compact JWS") from None


_CACHED_HEADER_MAX = 512
"""Headers up to this size (ours are ~120 bytes) are decoded once and kept; the cache holds
what is parsed before any signature is checked, so an unsigned flood of large distinct headers
must not fill it."""


def _decode_header(encoded: bytes) -> Mapping[str, Any]:
    """A JWS header; ValueError when it is not a JSON object."""
    header = json.loads(b64url_decode(encoded))
    if not isinstance(header, dict):
        raise ValueError
    return MappingProxyType(header)


_header = functools.lru_cache(maxsize=4096)(_decode_header)
""":func:`_decode_header`, once per header: a station's records all carry the same one
(ingest meets each header thousands of times)."""


def verify(token: bytes, public_key: ed25519.Ed25519PublicKey) -> Record:
    """Check the Ed25519 signature with ``public_key`` and return the record's clear part."""
    header, payload, signing_input, signature = parse_unverified(token)
    # RFC 8725 §3.1: the algorithm is fixed by the verifier, never taken from the token.
    # The key is Ed25519, so only the two names for an Ed25519 signature are accepted.
    if header.get("alg") not in SIGNING_ALGS or set(header.get("crit", ())):
        raise BadSignature("record is not signed with Ed25519")
    try:
        public_key.verify(signature, signing_input)
    except InvalidSignature:
        raise BadSignature("bad signature") from None
    try:
        body = json.loads(payload)
    except ValueError:
        raise RecordError("record payload is not JSON") from None
    return Record.from_json(body)


@dataclass(frozen=True, repr=False)
class Opened:
    """A record's sealed part, opened by the backend."""

    citizen: dict[str, Any]
    """The profile's fields (bytes fields as bytes)."""
    dg_hashes: Mapping[str, str]
    """SHA-256 (hex) of each raw file read, by name ("DG1", "SOD", …)."""

    def __repr__(self) -> str:
        return f"Opened(fields={sorted(self.citizen)}, files={sorted(self.dg_hashes)})"


def open_sealed(record: Record, backend_key: x25519.X25519PrivateKey) -> Opened:
    """Backend side: decrypt the sealed part — the citizen fields (bytes fields come back as
    bytes) and the data-group hashes, which must be SHA-256 hex values."""
    try:
        plain = _SUITE.decrypt(record.sealed_ct, backend_key,
                               info=seal_info(record.station_id, record.record_id))
        data = json.loads(plain)
    except Exception:  # the library raises InvalidTag or ValueError; say only what failed
        raise RecordError("sealed fields cannot be opened with this backend key") from None
    try:
        fields, hashes = data["fields"], dict(data["dg_hashes"])
        if hashes.pop("alg") != "sha-256":
            raise RecordError("unsupported data-group hash")
        if not isinstance(fields, dict) or not all(
                isinstance(k, str) and isinstance(h, str) and _SHA256_HEX.fullmatch(h)
                for k, h in hashes.items()):
            raise ValueError
    except RecordError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RecordError("sealed part does not follow version 2") from None
    citizen = {k: b64url_decode(v["b64"]) if isinstance(v, dict) and set(v) == {"b64"} else v
               for k, v in fields.items()}
    return Opened(citizen, MappingProxyType(hashes))
