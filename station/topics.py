"""The MQTT topics between a station and the backend, and who may use each: the one table the
publisher (:mod:`station.pipeline.publisher`), ingest (:mod:`station.ingest.worker`) and the
broker's access list (:mod:`provisioning.mosquitto`) are built from.

Every topic lives under ``stations/<station id>/``. A topic is written by one side and read by
the other:

- written by the station: ``records`` (QoS 1, in sequence order), ``status`` (retained,
  ``offline`` is the Last Will), ``health`` (heartbeat), ``events/…`` (answers to commands);
- written by the backend: ``commands`` and ``receipts`` (a station that could write its own
  receipts could make itself delete undelivered citizen data).

A station may write only its own topics that it writes and subscribe only to its own topics
that the backend writes. Backend identities write the backend's topics of any station and read
the whole tree (:data:`BACKEND_READS`, the shared subscription included); the operator
console's fleet tracker reads every station's topics but its records (:data:`FLEET_READS`) and
writes commands only (:data:`FLEET_WRITES`).

To add a topic, add a :class:`Topic` to :data:`TOPICS`; its grants follow everywhere.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

ROOT = "stations"


class Side(enum.Enum):
    STATION = "station"
    BACKEND = "backend"


@dataclass(frozen=True)
class Topic:
    leaf: str
    """Below ``stations/<id>/``."""
    writer: Side
    subtree: bool = False
    """The writer publishes below the leaf (``events/command``), so grants cover ``leaf/#``."""

    def of(self, station_id: str, *below: str) -> str:
        """One station's topic (``below``: under a subtree topic, ``EVENTS.of(id, "command")``)."""
        if below and not self.subtree:
            raise ValueError(f"{self.leaf} has no subtopics")
        return "/".join((ROOT, station_id, self.leaf, *below))

    def filter(self, station_id: str = "+") -> str:
        """The subscription filter (and ACL topic) of one station's, or by default every
        station's, topic."""
        return self.of(station_id) + ("/#" if self.subtree else "")

    @property
    def reader(self) -> Side:
        return Side.BACKEND if self.writer is Side.STATION else Side.STATION


RECORDS = Topic("records", Side.STATION)
STATUS = Topic("status", Side.STATION)
HEALTH = Topic("health", Side.STATION)
EVENTS = Topic("events", Side.STATION, subtree=True)
COMMANDS = Topic("commands", Side.BACKEND)
RECEIPTS = Topic("receipts", Side.BACKEND)

TOPICS: tuple[Topic, ...] = (RECORDS, STATUS, HEALTH, EVENTS, COMMANDS, RECEIPTS)


def written_by(side: Side) -> tuple[Topic, ...]:
    return tuple(t for t in TOPICS if t.writer is side)


def shared(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription: each message goes to one member of ``group``."""
    return f"$share/{group}/{topic_filter}"


INGEST_GROUP = "ingest"
SHARED_RECORDS = shared(INGEST_GROUP, RECORDS.filter())
"""What ingest workers subscribe to: every station's records, split across the workers."""

FLEET_READS: tuple[Topic, ...] = tuple(t for t in written_by(Side.STATION) if t is not RECORDS)
"""What the operator console's fleet tracker reads of every station: its own account of itself
(status and Last Will, heartbeat, command answers), never its records."""
FLEET_WRITES: tuple[Topic, ...] = (COMMANDS,)
"""What the fleet tracker writes: commands, never receipts (a forged receipt makes a station
delete citizen data the backend never stored)."""

TREE = f"{ROOT}/#"
BACKEND_READS: tuple[str, ...] = (TREE, shared("+", TREE))
"""Subscription filters a backend identity may use (the broker matches a client's filter
against these patterns)."""


def record_station(topic: str) -> str | None:
    """The station id of a ``stations/<id>/records`` topic, else ``None``."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != ROOT or parts[2] != RECORDS.leaf or not parts[1]:
        return None
    return parts[1]
