"""`station fleet`: the operator's view of every station, without the web console."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import signal
import threading
import time
from pathlib import Path

from station.commands import Subparsers, load_config

_FILTERS = ("offline", "backlogged", "alarmed", "cert-expiring", "revoked")


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "fleet", help="follow every station's status, heartbeat and alarms (operator)",
        description="The operator console's fleet side. `track` subscribes, as a backend "
                    "identity of the fleet role (python -m provisioning backend operator), to "
                    "every station's retained status (online/offline, Last Will), heartbeat "
                    "and events, and keeps them with the registry's certificate and "
                    "revocation state in the backend store; `list` and `show` read that "
                    "store; `revoke`/`unrevoke` call provisioning's revoke (CRL + registry).")
    p.add_argument("--db", default="ingest.sqlite3",
                   help="the backend store (ingest's --db: a SQLite file or a "
                        "postgresql://… DSN)")
    fsub = p.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")

    track = fsub.add_parser("track", help="run the tracker until interrupted")
    track.add_argument("--registry", type=Path, required=True,
                       help="the station registry (provisioning's registry.json)")
    track.add_argument("--host", help="broker host (default: the configuration's mqtt.host)")
    track.add_argument("--port", type=int, help="broker port (default: the configuration's)")
    track.add_argument("--stale-intervals", type=float, default=3.0,
                       help="a station whose heartbeat is this many intervals late is silent "
                            "(offline without a Last Will; default 3)")
    track.set_defaults(func=run_track)

    ls = fsub.add_parser("list", help="every station with its verdict")
    ls.add_argument("--filter", choices=_FILTERS, action="append",
                    help="only stations that are … (repeatable: all must hold)")
    ls.set_defaults(func=run_list)

    show = fsub.add_parser("show", help="one station: state, heartbeat, recent events")
    show.add_argument("station_id")
    show.add_argument("--events", type=int, default=20)
    show.set_defaults(func=run_show)

    for name, revoked in (("revoke", True), ("unrevoke", False)):
        rv = fsub.add_parser(name, help=f"{name} a station with the operator CA (CRL + "
                             "registry), and say what is left to do")
        rv.add_argument("station_id")
        rv.add_argument("--ca-dir", type=Path, required=True, help="the operator CA directory")
        rv.add_argument("--by", default="cli", help="who does it (kept in the event log)")
        rv.set_defaults(func=run_revoke, revoked=revoked)


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def run_track(args: argparse.Namespace) -> int:
    from station import keys
    from station.ingest.fleet import FleetPolicy, FleetTracker, open_fleet_store

    cfg = load_config(args)
    m = cfg.mqtt
    settings = dataclasses.replace(m, host=args.host or m.host, port=args.port or m.port)
    client_id = (keys.certificate_cn(keys.load_certificate(Path(m.cert_file)))
                 if m.tls and m.cert_file else "operator")
    store = open_fleet_store(args.db)
    tracker = FleetTracker(store, settings, client_id=client_id, registry_path=args.registry,
                           policy=FleetPolicy(stale_after_intervals=args.stale_intervals))
    signal.signal(signal.SIGTERM, _interrupt)
    tracker.start()
    print(f"fleet: tracking on {settings.host}:{settings.port} as {client_id}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        tracker.stop()
        store.close()
    return 0


def run_list(args: argparse.Namespace) -> int:
    from station.ingest.fleet import Filter, FleetPolicy, open_fleet_store

    store = open_fleet_store(args.db)
    policy, now = FleetPolicy(), time.time()
    filters = [Filter(f) for f in args.filter or ()]
    print(f"{'station':<24} {'verdict':<8} {'last seen (UTC)':<19} {'pending':>7} "
          f"{'alarms':>6} {'cert days':>9} version  revoked")
    for row in store.stations():
        if not all(f.matches(row, now, policy) for f in filters):
            continue
        hb = row.heartbeat
        days = row.cert_days_left(now)
        print(f"{row.station_id:<24} {row.verdict(now, policy).value:<8} "
              f"{_when(row.last_seen):<19} {hb.pending if hb else '-':>7} "
              f"{len(hb.alarms) if hb else '-':>6} "
              f"{'-' if days is None else f'{days:.0f}':>9} "
              f"{(hb.version if hb else None) or '-':<8} {row.revoked_at or ''}")
    store.close()
    return 0


def run_show(args: argparse.Namespace) -> int:
    from station.errors import FleetError
    from station.ingest.fleet import FleetPolicy, open_fleet_store

    store = open_fleet_store(args.db)
    try:
        row = store.station(args.station_id)
        if row is None:
            raise FleetError(f"no station {args.station_id!r} in the fleet store")
        now = time.time()
        print(f"station   {row.station_id} ({'registered' if row.registered else 'unknown'})")
        print(f"verdict   {row.verdict(now, FleetPolicy()).value} (status {row.state or '-'} "
              f"since {_when(row.state_at)}, last heartbeat {_when(row.health_at)})")
        print(f"cert      until {row.tls_not_after or '-'}"
              + (f"  REVOKED {row.revoked_at}" if row.revoked else ""))
        if row.heartbeat is not None:
            hb = row.heartbeat
            print(f"outbox    pending {hb.pending}, in flight {hb.in_flight}, oldest "
                  f"{hb.oldest_pending_age_s or 0:.0f} s, expired {hb.expired}, "
                  f"full {hb.outbox_full}, refused {hb.refused}")
            print(f"software  {hb.version or '-'}, up {hb.uptime_s} s")
            for alarm in hb.alarms:
                print(f"alarm     {alarm}")
        for e in store.events(row.station_id, args.events):
            print(f"{_when(e.at)}  {e.kind:<16} {e.detail}")
    finally:
        store.close()
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from station.ingest.fleet import open_fleet_store, set_revoked

    store = open_fleet_store(args.db)
    try:
        done = set_revoked(args.ca_dir, store, args.station_id, revoked=args.revoked,
                           by=args.by)
    finally:
        store.close()
    print(f"{done.station_id} {'revoked' if done.revoked else 'no longer revoked'}; "
          f"CRL {done.crl}")
    print("still to do, in order:")
    for step in done.remaining:
        print(f"  {step}")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
