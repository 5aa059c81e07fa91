"""`station bench ingest`: the backend's store path on SQLite and on PostgreSQL, against its
own verify + unseal ceiling measured in the same run.

Records are built first (not timed): ``--stations`` stations, each with its own Ed25519 key,
``--records`` signed, sealed records in all. Then, in one process each, without MQTT:

- **verify + unseal alone**: :class:`~station.ingest.verification.Verifier` on every token —
  the CPU ceiling of one ingest worker;
- **SQLite / PostgreSQL store path**: verify + unseal + insert, one
  :meth:`~station.ingest.store.IngestStore.add_many` and one commit per
  :data:`~station.ingest.worker.RECEIPT_BATCH` records, as a worker does (``synchronous=FULL``;
  PostgreSQL with fsync on, on a private server started for the run);
- **re-delivery** on PostgreSQL: the same records again (every one a duplicate: the no-op path);
- **2 processes on PostgreSQL**: two workers splitting the records, wall clock from the first
  start to the last commit, against one.

Records per second and CPU µs per record; ratios are against the ceiling of the same run. The
broker, receipts and the MQTT loop are not in these figures: ``station bench fleet`` measures
them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from station import topics
from station.bench import BenchResult, Goal, Progress, self_cpu_s

DESCRIPTION = "ingest: store path on SQLite and PostgreSQL vs the verify+unseal ceiling"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=4000,
                        help="records in each run (default 4000)")
    parser.add_argument("--stations", type=int, default=20,
                        help="stations the records come from, each its own key (default 20)")


def _prepare(work: Path, records: int, stations: int) -> None:
    """Keys and tokens on disk, so every child process measures the same bytes."""
    from station import keys
    from station.pipeline.records import Check, Reading, RecordSigner

    backend = keys.generate_seal_key()
    keys.save_private_key(backend, work / "backend.pem")
    signers = []
    registry: dict[str, str] = {}
    for n in range(stations):
        sk = keys.generate_signing_key()
        sid = f"desk-{n:04d}"
        registry[sid] = keys.public_pem(sk.public_key()).decode()
        signers.append(RecordSigner(sid, sk, backend.public_key()))
    lines = []
    for i in range(records):
        signer = signers[i % stations]
        reading = Reading("hospital", "PACE", "genuine", (Check("passive_authentication", True),),
                          {"id_number": f"0010990{i:05d}", "full_name": "Nguyễn Văn An",
                           "date_of_birth": "01/02/1990", "sex": "Nam"},
                          {"DG1": i.to_bytes(4, "big"), "DG13": b"x" * 400})
        token = signer.build(reading, i // stations + 1).token.decode()
        lines.append(f"{signer.station_id} {token}")
    (work / "tokens.txt").write_text("\n".join(lines) + "\n")
    (work / "registry.json").write_text(json.dumps(registry))


def _load(work: Path) -> tuple[Any, list[tuple[str, bytes]]]:
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from station import keys
    from station.ingest.verification import Verifier

    registry = json.loads((work / "registry.json").read_text())
    stations: dict[str, ed25519.Ed25519PublicKey] = {}
    for sid, pem in registry.items():
        key = load_pem_public_key(pem.encode())
        assert isinstance(key, ed25519.Ed25519PublicKey)
        stations[sid] = key
    verifier = Verifier(stations, keys.load_seal_private_key(work / "backend.pem"))
    pairs = [line.split(" ") for line in (work / "tokens.txt").read_text().splitlines()]
    return verifier, [(topics.RECORDS.of(sid), tok.encode()) for sid, tok in pairs]


def measure(work: Path, target: str, part: int = 0, parts: int = 1,
            again: bool = False) -> dict[str, float]:
    """One worker's run: ``target`` "verify" (no store), a SQLite path or a DSN; records
    ``part`` of ``parts``. ``again``: run the whole set twice, time only the second pass."""
    from station.ingest.stores import open_store
    from station.ingest.verification import Verified
    from station.ingest.worker import RECEIPT_BATCH

    verifier, messages = _load(work)
    messages = messages[part::parts]
    store = None if target == "verify" else open_store(target)

    def one_pass() -> int:
        added = 0
        batch: list[Verified] = []
        for n, (topic, token) in enumerate(messages, start=1):
            v = verifier.check(topic, token)
            if not isinstance(v, Verified):
                raise RuntimeError(f"bench record refused: {v}")
            if store is not None:
                batch.append(v)
                if n % RECEIPT_BATCH == 0 or n == len(messages):
                    added += len(store.add_many(batch))  # the worker's one call per batch
                    store.commit()
                    batch = []
        return added

    if again:
        one_pass()
    t0, c0 = time.monotonic(), self_cpu_s()  # monotonic: comparable across the processes
    one_pass()
    elapsed, cpu = time.monotonic() - t0, self_cpu_s() - c0
    if store is not None:
        store.close()
    return {"records": len(messages), "seconds": elapsed, "start": t0,
            "rps": len(messages) / elapsed, "cpu_us": cpu / len(messages) * 1e6}


def _child(work: Path, target: str, part: int = 0, parts: int = 1,
           again: bool = False) -> subprocess.Popen[str]:
    code = ("import json,sys; from pathlib import Path; from station.bench import ingest as b;"
            "print(json.dumps(b.measure(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), "
            "int(sys.argv[4]), sys.argv[5] == '1')))")
    return subprocess.Popen([sys.executable, "-c", code, str(work), target, str(part),
                             str(parts), "1" if again else "0"], stdout=subprocess.PIPE,
                            text=True)


def _result(proc: subprocess.Popen[str]) -> dict[str, float]:
    out, _ = proc.communicate(timeout=900)
    if proc.returncode != 0:
        raise RuntimeError("bench child failed")
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def ceiling(records: int, stations: int) -> dict[str, float]:
    """The verify + unseal ceiling alone, in a process of its own: records/s and CPU µs per
    record of one worker's checks (the fleet benchmark measures it in its own run too)."""
    with tempfile.TemporaryDirectory(prefix="station-bench-ceiling-") as tmp:
        _prepare(Path(tmp), records, stations)
        return _result(_child(Path(tmp), "verify"))


def run(args: argparse.Namespace, progress: Progress) -> BenchResult:
    from station.testing.postgres import PostgresServer, PostgresUnavailable

    rows: list[list[Any]] = []
    notes: list[str] = []
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="station-bench-ingest-") as tmp:
        work = Path(tmp)
        progress(f"building {args.records} records from {args.stations} stations")
        _prepare(work, args.records, args.stations)
        progress("verify + unseal alone")
        ceiling = _result(_child(work, "verify"))
        figures["ceiling_rps"] = ceiling["rps"]
        rows.append(["verify + unseal alone (ceiling)", round(ceiling["rps"]),
                     round(ceiling["cpu_us"]), "1.00"])
        progress("SQLite store path")
        lite = _result(_child(work, str(work / "ingest.sqlite3")))
        figures["sqlite_rps"] = lite["rps"]
        figures["sqlite_vs_ceiling"] = lite["rps"] / ceiling["rps"]
        rows.append(["SQLite: verify + unseal + store", round(lite["rps"]),
                     round(lite["cpu_us"]), f"{figures['sqlite_vs_ceiling']:.2f}"])
        server = PostgresServer()
        try:
            server.start()
        except PostgresUnavailable as exc:
            notes.append(f"PostgreSQL rows skipped: {exc}")
        else:
            try:
                progress("PostgreSQL store path")
                one = _result(_child(work, server.create_database("bench_one")))
                figures["postgres_rps"] = one["rps"]
                figures["postgres_vs_ceiling"] = one["rps"] / ceiling["rps"]
                rows.append(["PostgreSQL: verify + unseal + store", round(one["rps"]),
                             round(one["cpu_us"]), f"{figures['postgres_vs_ceiling']:.2f}"])
                progress("PostgreSQL re-delivery (all duplicates)")
                dup = _result(_child(work, server.create_database("bench_dup"), again=True))
                figures["postgres_redelivery_rps"] = dup["rps"]
                rows.append(["PostgreSQL: re-delivery (every record a duplicate)",
                             round(dup["rps"]), round(dup["cpu_us"]),
                             f"{dup['rps'] / ceiling['rps']:.2f}"])
                progress("PostgreSQL, 2 worker processes")
                dsn = server.create_database("bench_two")
                procs = [_child(work, dsn, p, 2) for p in (0, 1)]
                two = [_result(p) for p in procs]
                start = min(r["start"] for r in two)
                end = max(r["start"] + r["seconds"] for r in two)
                rps2 = sum(r["records"] for r in two) / (end - start)
                figures["postgres_2_workers_rps"] = rps2
                figures["two_vs_one_worker"] = rps2 / one["rps"]
                rows.append(["PostgreSQL: 2 worker processes (wall clock)", round(rps2),
                             round(sum(r["cpu_us"] for r in two) / 2),
                             f"{rps2 / ceiling['rps']:.2f}"])
            finally:
                server.close()
    notes += [
        "ratio = records/s against verify + unseal alone in the same run; CPU µs per record is "
        "the worker process's own (the database server's CPU is not counted)",
        "no MQTT, no receipts: the store path only (station bench fleet has the rest)",
        f"two_vs_one_worker = {figures.get('two_vs_one_worker', float('nan')):.2f} on this "
        "machine's cores, shared with the database server and whatever else runs",
    ]
    return BenchResult(
        "ingest", ("run", "records/s", "CPU µs/record", "vs ceiling"), rows, figures,
        goals=(Goal("postgres_vs_ceiling", 0.6, higher_is_better=True),),
        notes=notes)
