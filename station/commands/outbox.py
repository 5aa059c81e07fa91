"""`station outbox`: inspect and maintain the durable outbox (metadata only, never citizen
data: payloads are sealed and are never printed)."""

from __future__ import annotations

import argparse
import json
import time

from station.commands import Subparsers, load_config


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "outbox", help="inspect the outbox",
        description="status: counts by state (pending = not delivered yet, delivered = the "
                    "broker took it and the backend's receipt has not come yet, acked = the "
                    "backend has it and its citizen data is deleted), age of the oldest record "
                    "not yet acknowledged, size against the cap, TTL and quarantine alarms. "
                    "list: the newest records' ids, sequence, state, outcome and size. purge "
                    "--acked: delete the audit rows of acknowledged records (others are never "
                    "purged). No citizen data is shown.")
    p.add_argument("action", nargs="?", default="status", choices=("status", "list", "purge"),
                   help="what to do (default: status)")
    p.add_argument("--path", help="outbox file (default: from the configuration)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--limit", type=int, default=50, help="list: how many rows (default 50)")
    p.add_argument("--state", choices=("pending", "delivered", "acked"),
                   help="list: only this state")
    p.add_argument("--acked", action="store_true",
                   help="purge: delete acknowledged audit rows (required, to be explicit)")
    p.add_argument("--older-than-hours", type=float, default=0.0,
                   help="purge: only rows acknowledged at least this long ago")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from station.errors import StoreError
    from station.pipeline.outbox import Outbox

    cfg = load_config(args)
    path = Path(args.path) if args.path else cfg.state_path(cfg.outbox.path)
    if not path.exists():
        raise StoreError(f"no outbox at {path}")
    if args.action == "purge" and not args.acked:
        raise StoreError("purge needs --acked (only acknowledged records can be purged)")
    box = Outbox(path, max_bytes=cfg.outbox.max_bytes, ttl_s=cfg.outbox.ttl_hours * 3600)
    try:
        if args.action == "status":
            st = box.status()
            box.check_ttl()
            doc = {**st.to_json(), "alarms": box.alarms}
            if args.json:
                print(json.dumps(doc))
            else:
                age = st.oldest_pending_age_s
                print(f"pending      {st.pending}")
                print(f"delivered    {st.delivered}  (awaiting the backend's receipt)")
                print(f"acked        {st.acked}")
                print(f"oldest       {'-' if age is None else f'{age / 3600:.1f} h'}")
                print(f"past TTL     {st.expired}")
                print(f"size         {st.used_bytes >> 10} KiB of {st.max_bytes >> 20} MiB"
                      + (" (FULL: new reads refused)" if st.full else ""))
                print(f"last seq     {st.last_seq}")
                for a in box.alarms:
                    print(f"ALARM        {a}")
            return 1 if box.alarms else 0
        if args.action == "list":
            rows = box.entries(args.limit, args.state)
            if args.json:
                print(json.dumps([r.__dict__ for r in rows]))
            else:
                print(f"{'seq':>8}  {'state':<9}  {'created (UTC)':<19}  {'outcome':<11}  "
                      f"{'bytes':>6}  id")
                for r in rows:
                    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.created_at))
                    print(f"{r.seq:>8}  {r.state:<9}  {when:<19}  {r.outcome or '-':<11}  "
                          f"{r.size:>6}  {r.id}")
            return 0
        n = box.purge_acked(args.older_than_hours * 3600)
        print(json.dumps({"purged": n}) if args.json else f"purged {n} acknowledged record(s)")
        return 0
    finally:
        box.close()
