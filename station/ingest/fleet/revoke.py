"""Revoking a station from the console: provisioning's own revoke (the CA's CRL and the
registry's ``revoked_at``, :meth:`provisioning.ca.OperatorCa.set_revoked`), then the fleet
store brought in line at once.

What this does not do, and the console says so (:data:`REMAINING`): the running broker keeps
its access list and CRL until the operator regenerates them and restarts it, and a running
ingest keeps the registry it loaded until restarted (README, "Revoking a stolen desk"). Until
then the station's open connection keeps working. Doing it here would need the console to
hold the broker's configuration directory and root on its host; it holds the CA directory
(``ca.key``) only, which already makes the console's host as sensitive as the CA's.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from provisioning import registry
from provisioning.ca import OperatorCa
from station.errors import CommandRefused, StationError
from station.ingest.fleet.store import FleetStore
from station.log import event

log = logging.getLogger(__name__)

REMAINING = (
    "python -m provisioning --dir CA_DIR mosquitto --out /etc/mosquitto   "
    "(access list without the station, the new CRL)",
    "systemctl restart mosquitto   (drops its open connection; a reload re-reads only the CRL)",
    "systemctl restart station-ingest   (ingest reloads the registry and refuses its records)",
)
"""The steps left to the operator after a revoke from the console, in order."""


@dataclass(frozen=True)
class Revocation:
    station_id: str
    revoked: bool
    revoked_at: str | None
    crl: Path
    remaining: tuple[str, ...] = REMAINING


def set_revoked(ca_dir: Path, store: FleetStore, station_id: str, *, revoked: bool,
                by: str, now: dt.datetime | None = None) -> Revocation:
    """Revoke (or unrevoke) ``station_id`` with the CA in ``ca_dir``; CommandRefused when the
    station is unknown to the registry or the CA cannot be used."""
    try:
        ca = OperatorCa(ca_dir)
        ca.set_revoked(station_id, revoked, now=now)
    except (StationError, OSError) as exc:  # unknown station, CA key missing or unsafe
        raise CommandRefused(f"revoke {station_id}: {exc}") from exc
    entries = registry.load(ca.paths.registry)
    store.record_event(station_id, "revoke-requested" if revoked else "unrevoke-requested",
                       f"by {by[:64]}")
    store.sync_registry(entries)
    event(log, "fleet.revoked" if revoked else "fleet.unrevoked", station=station_id,
          by=by[:64])
    return Revocation(station_id, revoked, entries[station_id].revoked_at, ca.paths.crl)
