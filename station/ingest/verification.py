"""What ingest checks about one message before it is stored: no database, no network.

In order, each failure naming its reason (the rejection vocabulary operators see):

1. ``topic`` — not ``stations/{id}/records``;
2. ``unknown_station`` — the station id taken from the *topic* (the broker's ACL guarantees who
   may publish there) is not in the registry;
   ``revoked_station`` — the operator revoked it (``python -m provisioning revoke``): its
   records are refused from then on, whatever they carry;
3. ``bad_signature`` — the JWS is not signed by that station's Ed25519 key (forged or altered);
4. ``malformed`` — signed, but not a record, or one no store can hold as it is: an id that is
   not a UUID (the primary key's index entry has a size limit), a clear text field (time,
   profile, outcome) with a NUL character, which PostgreSQL's text refuses, or a sequence
   number beyond a signed 64-bit integer. A station's own key can sign such a
   record; stored, it would fail the whole batch it shares with other stations' records, again
   on every re-send — so it is refused alone, before the store;
5. ``station_mismatch`` — the signed payload names another station (a record re-published
   under another station's topic);
6. ``unsealable`` — this backend holds the sealing key and the sealed fields do not open.

Dedupe and replay (``replay``) need the store: :mod:`station.ingest.store`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from station import topics
from station.pipeline.records import BadSignature, Record, RecordError, open_sealed, verify

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""A record id as :func:`~station.pipeline.records.uuid7` writes it."""
_MAX_SEQ = 2 ** 63 - 1
"""The stores' sequence column is a signed 64-bit integer (SQLite INTEGER, PostgreSQL bigint)."""


@dataclass(frozen=True)
class Verified:
    """A message that passed every check: its record, the exact bytes received (kept for the
    dedupe comparison and the audit) and the opened citizen fields (None without a backend
    key)."""

    record: Record
    token: bytes
    citizen: Mapping[str, Any] | None
    dg_hashes: Mapping[str, str] | None = None
    """The sealed SHA-256 of each file read (checked to be SHA-256 values); None without the
    backend key. Sealed since record version 2: in clear they would link a person's visits."""


@dataclass(frozen=True)
class Refused:
    """A message that failed a check; ``reason`` is one of the module's reasons, never
    content."""

    reason: str


class Verifier:
    def __init__(self, stations: Mapping[str, ed25519.Ed25519PublicKey],
                 backend_key: x25519.X25519PrivateKey | None = None,
                 revoked: frozenset[str] = frozenset()) -> None:
        self.stations = dict(stations)
        self.backend_key = backend_key
        self.revoked = revoked

    def check(self, topic: str, token: bytes) -> Verified | Refused:
        station_id = topics.record_station(topic)
        if station_id is None:
            return Refused("topic")
        if station_id in self.revoked:
            return Refused("revoked_station")
        key = self.stations.get(station_id)
        if key is None:
            return Refused("unknown_station")
        try:
            record = verify(token, key)
        except BadSignature:
            return Refused("bad_signature")
        except RecordError:
            return Refused("malformed")
        if (record.seq > _MAX_SEQ or not _UUID.fullmatch(record.record_id)
                or any("\x00" in f for f in (record.wall, record.profile, record.outcome))):
            return Refused("malformed")
        if record.station_id != station_id:
            return Refused("station_mismatch")
        if self.backend_key is None:
            return Verified(record, token, None)
        try:
            opened = open_sealed(record, self.backend_key)
        except RecordError:
            return Refused("unsealable")
        return Verified(record, token, opened.citizen, opened.dg_hashes)
