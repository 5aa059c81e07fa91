"""The reference ingest backend: what the demo and the integration tests talk to, and the model
for integrators.

It subscribes with a shared subscription (``$share/ingest/stations/+/records``) so several
instances split the load. Three parts, data flowing one way:

- :mod:`~station.ingest.verification` — is this message a record of a registered station,
  signed by it, under its own topic, and (with the backend key) do its sealed fields open?
- :mod:`~station.ingest.store` — is it new, a QoS 1 duplicate (same id, same bytes: stored
  once) or a replay (a used id or sequence number with different bytes: refused)? Kept in
  batched transactions, schema by numbered migrations.
- :mod:`~station.ingest.worker` — the MQTT loop: subscribe, batch, commit, and only after the
  commit the **receipt** on which the station deletes its copy of the citizen data.
"""

from station.ingest.store import Added, IngestStore, IngestStoreError, SqliteStore
from station.ingest.verification import Refused, Verified, Verifier
from station.ingest.worker import (
    FLUSH_INTERVAL_S,
    RECEIPT_BATCH,
    RECONNECT_MAX_S,
    Ingest,
    OnRecord,
    Received,
)

__all__ = [
    "FLUSH_INTERVAL_S",
    "RECEIPT_BATCH",
    "RECONNECT_MAX_S",
    "Added",
    "Ingest",
    "IngestStore",
    "IngestStoreError",
    "OnRecord",
    "Received",
    "Refused",
    "SqliteStore",
    "Verified",
    "Verifier",
]
