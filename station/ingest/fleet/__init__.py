"""The operator console's fleet side: which stations are online, silent, backlogged, alarmed,
near certificate expiry or revoked, and the commands and revocations an operator sends.

Data flows one way, as in ingest:

- :mod:`~station.ingest.fleet.model` — what a station's status, heartbeat and command answers
  say, parsed into bounded values, and the verdicts and filters the console shows;
- :mod:`~station.ingest.fleet.store` — the fleet's tables in the backend store (SQLite or
  PostgreSQL, the same numbered migrations as ingest's);
- :mod:`~station.ingest.fleet.tracker` — the MQTT side: subscribes as the ``fleet`` role,
  writes the store, sends commands, notices silence;
- :mod:`~station.ingest.fleet.revoke` — provisioning's revoke, and what is left to do by hand.

Nothing here touches a record: the ``fleet`` role cannot subscribe to ``records``, and the
tables hold counters, states, short texts the stations write about themselves, and for
commands their name, sender and answer, never their arguments.
"""

from station.ingest.fleet.model import (
    CommandReply,
    CommandSent,
    Filter,
    FleetEvent,
    FleetPolicy,
    Heartbeat,
    StationRow,
    Status,
    Verdict,
)
from station.ingest.fleet.revoke import REMAINING, Revocation, set_revoked
from station.ingest.fleet.store import FleetStore, open_fleet_store
from station.ingest.fleet.tracker import FleetTracker, fleet_topics

__all__ = [
    "REMAINING",
    "CommandReply",
    "CommandSent",
    "Filter",
    "FleetEvent",
    "FleetPolicy",
    "FleetStore",
    "FleetTracker",
    "Heartbeat",
    "Revocation",
    "StationRow",
    "Status",
    "Verdict",
    "fleet_topics",
    "open_fleet_store",
    "set_revoked",
]
