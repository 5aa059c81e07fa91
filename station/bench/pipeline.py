"""`station bench pipeline`: signed records → SQLite outbox → MQTT, against raw paho QoS 1.

All figures come from one run on one private Mosquitto (loopback):

- **raw paho QoS 1**: the reference ceiling — messages of the records' size published as fast
  as PUBACKs return, no signing, no store;
- **seal + sign alone**: one process building records and nothing else;
- **live end to end**: ``--builders`` builder processes seal and sign in parallel and feed a
  writer process that commits what has arrived, in sequence order, one transaction per turn
  (group commit), while this process publishes from the outbox and commits the acks — records
  acknowledged per second from the builders' start to the last ack commit;
- **tap-to-durable**: the store worker's path (build, then commit that record with
  ``synchronous=FULL``) at a paced ``--tap-rate`` while the publisher drains the same outbox —
  record built → its transaction committed; the saturated live run's queueing latency is shown
  beside it;
- **backlog drain**: N records already in the outbox drained by a fresh publisher process —
  records per second and that process's own peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from station.bench import BenchResult, Goal, Progress

DESCRIPTION = "records: live end-to-end rate, backlog drain vs raw paho QoS 1, RSS, latency"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backlog", type=int, default=100_000,
                        help="records in the backlog drain (default 100000)")
    parser.add_argument("--live", type=int, default=20_000,
                        help="records in the live end-to-end run (default 20000)")
    parser.add_argument("--raw", type=int, default=50_000,
                        help="messages in the raw paho QoS 1 reference (default 50000)")
    parser.add_argument("--tap-rate", type=int, default=200,
                        help="taps per second offered in the tap-to-durable run (default 200)")
    parser.add_argument("--builders", type=int, default=2,
                        help="builder processes sealing and signing in parallel (default 2)")


def _reading(n: int) -> Any:
    from station.pipeline.records import Check, Reading

    # A reception profile's minimal fields and the hashes of six files (~1.2 KB token).
    return Reading(
        "reception", "PACE", "authentic",
        (Check("passive_authentication", True), Check("chip_authentication", True)),
        {"id_number": f"0010990{n % 100000:05d}", "full_name": "Nguyễn Văn An",
         "date_of_birth": "1990-01-01", "sex": "Nam",
         "place_of_residence": "Số 1 Đường Lê Lợi, Phường Bến Nghé, Quận 1, TP Hồ Chí Minh"},
        {name: n.to_bytes(4, "big") + name.encode() for name in
         ("COM", "SOD", "DG1", "DG13", "DG14", "DG15")})


def _signer(work: Path) -> Any:
    from station import keys
    from station.pipeline.records import RecordSigner

    return RecordSigner("bench-desk", keys.load_signing_key(work / "signing.pem"),
                        keys.load_backend_seal_key(work / "seal.pub.pem"))


def _peak_rss_mb() -> float:
    """This process's own peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux carries the parent's
    high-water mark across vfork + exec, so a child started by ``subprocess`` reports its
    parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


Built = tuple[int, str, bytes, str, float]
"""(seq, record id, token, outcome, monotonic time the record was finished)"""


def _builder(work: Path, first: int, stripe: int, stride: int, count: int,
             out: Any, ready: Any, go: Any, chunk: int) -> None:
    """Builder process: seal + sign the sequence numbers ``first + stripe + k·stride``."""
    signer = _signer(work)
    signer.build(_reading(0), 1)  # warm up outside the measurement
    ready.release()
    go.wait()
    batch: list[Built] = []
    for seq in range(first + stripe, first + count, stride):
        s = signer.build(_reading(seq), seq)
        batch.append((seq, s.record.record_id, s.token, s.record.outcome, time.monotonic()))
        if len(batch) >= chunk:
            out.put(batch)
            batch = []
    if batch:
        out.put(batch)


def produce(work: Path, count: int, builders: int = 2, chunk: int = 4) -> dict[str, float]:
    """Writer process: ``builders`` builder processes seal and sign in parallel; this process
    commits what has arrived, in sequence order, in one transaction per turn (group commit:
    a record counts as stored only when its transaction committed). Tap-to-durable latency is
    measured from the moment a record was finished (CLOCK_MONOTONIC is system-wide) to the end
    of its commit."""
    import multiprocessing as mp

    from station.pipeline.outbox import Outbox
    from station.pipeline.publisher import records_topic

    outbox = Outbox(work / "outbox.sqlite3", max_bytes=4 << 30)
    topic = records_topic("bench-desk")
    first = outbox.next_seq()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    ready = ctx.Semaphore(0)
    go = ctx.Event()
    procs = [ctx.Process(target=_builder, args=(work, first, i, builders, count, queue, ready,
                                                go, chunk)) for i in range(builders)]
    for p in procs:
        p.start()
    for _ in procs:  # every builder has imported and warmed up: start them together
        ready.acquire(timeout=60)
    latencies: list[float] = []
    waiting: dict[int, Built] = {}
    next_seq = first
    commits = 0
    token_bytes = 0
    t0 = time.perf_counter()
    started = time.monotonic()
    go.set()
    while next_seq < first + count:
        for item in queue.get(timeout=60):
            waiting[item[0]] = item
        while True:
            try:
                for item in queue.get_nowait():
                    waiting[item[0]] = item
            except Exception:  # queue.Empty from the multiprocessing queue
                break
        rows = []
        while next_seq in waiting:
            rows.append(waiting.pop(next_seq))
            next_seq += 1
        if rows:
            outbox.add_many([(r[1], r[0], topic, r[2], r[3]) for r in rows])
            done = time.monotonic()
            latencies += [done - r[4] for r in rows]
            commits += 1
            token_bytes = len(rows[-1][2])
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join(10)
    outbox.close()
    latencies.sort()
    return {"rate": count / elapsed,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            "per_commit": count / max(commits, 1), "started": started,
            "token_bytes": float(token_bytes)}


def tap_latency(work: Path, count: int, per_s: int) -> dict[str, float]:
    """The store worker's own path at a paced load (``per_s`` taps per second) while the
    publisher drains the same outbox: build, then commit that one record (its own
    ``synchronous=FULL`` transaction). Latency = record built → transaction committed."""
    from station.pipeline.outbox import Outbox
    from station.pipeline.publisher import records_topic

    signer = _signer(work)
    outbox = Outbox(work / "outbox.sqlite3", max_bytes=4 << 30)
    topic = records_topic(signer.station_id)
    seq = outbox.next_seq()
    latencies: list[float] = []
    due = time.monotonic()
    for _ in range(count):
        due += 1 / per_s
        s = signer.build(_reading(seq), seq)
        built = time.perf_counter()
        outbox.add(s.record.record_id, seq, topic, s.token, s.record.outcome)
        latencies.append(time.perf_counter() - built)
        seq += 1
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    outbox.close()
    latencies.sort()
    return {"p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            "max_ms": latencies[-1] * 1000}


def build_alone(work: Path, count: int) -> dict[str, float]:
    """One process building records and nothing else (the cost of seal + sign)."""
    signer = _signer(work)
    t0 = time.perf_counter()
    for seq in range(1, count + 1):
        token = signer.build(_reading(seq), seq).token
    return {"rate": count / (time.perf_counter() - t0), "token_bytes": float(len(token))}


def drain(work: Path, port: int, count: int) -> dict[str, float]:
    """Drain process: publish an existing backlog; rate and this process's peak RSS."""
    from station.pipeline.mqtt import BrokerSettings
    from station.pipeline.outbox import Outbox
    from station.pipeline.publisher import Publisher

    outbox = Outbox(work / "outbox.sqlite3", max_bytes=4 << 30)
    publisher = Publisher(outbox, "bench-desk", BrokerSettings("127.0.0.1", port),
                          require_subscriber=False)
    t0 = time.perf_counter()
    publisher.start()
    while publisher.stats().acked < count:
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    publisher.stop()
    outbox.close()
    return {"rate": count / elapsed, "rss_mb": _peak_rss_mb()}


def _raw_paho(port: int, count: int, size: int) -> float:
    from station.pipeline.mqtt import BrokerSettings, make_client

    client = make_client("bench-raw", BrokerSettings("127.0.0.1", port))
    done = threading.Event()
    acked = 0

    def on_publish(c: Any, u: Any, mid: int, rc: Any, p: Any) -> None:
        nonlocal acked
        acked += 1
        if acked >= count:
            done.set()

    connected = threading.Event()
    client.on_publish = on_publish
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    connected.wait(10)
    payload = b"x" * size
    t0 = time.perf_counter()
    for _ in range(count):
        client.publish("stations/bench-raw/records", payload, qos=1)
    done.wait(120)
    elapsed = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    return count / elapsed


def _child(fn: str, *args: object) -> dict[str, float]:
    code = ("import json,sys; from pathlib import Path; from station.bench import pipeline as p;"
            f"print(json.dumps(p.{fn}(Path(sys.argv[1]), *map(int, sys.argv[2:]))))\n")
    code = f"if __name__ == '__main__':\n    {code}"
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                         text=True, check=True, timeout=900)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace, progress: Progress) -> BenchResult:
    from station import keys
    from station.pipeline.mqtt import BrokerSettings
    from station.pipeline.outbox import Outbox
    from station.pipeline.publisher import Publisher
    from station.testing.mosquitto import MosquittoBroker

    with tempfile.TemporaryDirectory(prefix="station-bench-") as tmp, MosquittoBroker() as broker:
        work = Path(tmp)
        keys.save_private_key(keys.generate_signing_key(), work / "signing.pem")
        keys.save_public(keys.public_pem(keys.generate_seal_key().public_key()),
                         work / "seal.pub.pem")

        progress("seal + sign alone, one process")
        alone = _child("build_alone", work, min(args.live, 5000))
        progress(f"raw paho QoS 1: {args.raw} messages")
        # The reference publishes messages of the records' own size.
        raw = _raw_paho(broker.port, args.raw, int(alone["token_bytes"]))

        progress(f"live end to end: {args.live} records ({args.builders} builder processes → "
                 "writer process → publisher)")
        live_dir = work / "live"
        live_dir.mkdir()
        for f in ("signing.pem", "seal.pub.pem"):
            (live_dir / f).write_bytes((work / f).read_bytes())
            (live_dir / f).chmod(0o600)
        Outbox(live_dir / "outbox.sqlite3").close()
        outbox = Outbox(live_dir / "outbox.sqlite3", max_bytes=4 << 30)
        last_ack = [0.0]

        def on_ack(_rid: str, ok: bool) -> None:
            if ok:
                last_ack[0] = time.monotonic()

        publisher = Publisher(outbox, "bench-desk", BrokerSettings("127.0.0.1", broker.port),
                              require_subscriber=False, on_ack=on_ack)
        publisher.start()
        publisher.wait_connected(10)
        prod = _child("produce", live_dir, args.live, args.builders)
        while publisher.stats().acked < args.live:
            time.sleep(0.005)
        # From the builders' start (after their imports) to the last PUBACK's ack commit.
        live_rate = args.live / (last_ack[0] - prod["started"])
        taps = max(100, min(args.live // 4, 5000))
        progress(f"tap-to-durable: {taps} taps at {args.tap_rate}/s while publishing")
        tap = _child("tap_latency", live_dir, taps, args.tap_rate)
        while publisher.stats().acked < args.live + taps:
            time.sleep(0.005)
        publisher.stop()
        outbox.close()

        progress(f"building a backlog of {args.backlog} signed records")
        _child("produce", work, args.backlog, args.builders, 64)
        progress("draining the backlog (fresh publisher process)")
        dr = _child("drain", work, broker.port, args.backlog)

    ratio = dr["rate"] / raw
    rows = [
        ("raw paho QoS 1 (reference)", f"{raw:,.0f}/s", "", ""),
        ("seal + sign, one process alone", f"{alone['rate']:,.0f}/s", "", ""),
        ("live: sign+seal+commit+publish+ack", f"{live_rate:,.0f}/s",
         f"{live_rate / raw:.2f}× raw",
         f"{args.builders} builders; writer alone {prod['rate']:,.0f}/s"),
        ("tap-to-durable (built → committed)", f"{args.tap_rate}/s taps",
         f"p50 {tap['p50_ms']:.2f} ms / p99 {tap['p99_ms']:.2f} ms",
         f"one FULL commit per tap, publisher draining; max {tap['max_ms']:.1f} ms"),
        ("  same, saturated live run", "",
         f"p50 {prod['p50_ms']:.1f} ms / p99 {prod['p99_ms']:.1f} ms",
         f"queueing; group commit {prod['per_commit']:.1f} records/commit"),
        (f"drain {args.backlog:,} backlog", f"{dr['rate']:,.0f}/s", f"{ratio:.2f}× raw",
         f"peak RSS {dr['rss_mb']:.0f} MB"),
    ]
    return BenchResult(
        "pipeline", ("what", "rate", "figure", "note"), rows,
        figures={"raw_paho_qos1_per_s": raw, "live_per_s": live_rate,
                 "tap_to_durable_p99_ms": tap["p99_ms"], "drain_per_s": dr["rate"],
                 "drain_vs_raw": ratio, "drain_peak_rss_mb": dr["rss_mb"],
                 "token_bytes": prod["token_bytes"], "build_alone_per_s": alone["rate"],
                 "tap_to_durable_p50_ms": tap["p50_ms"],
                 "saturated_p99_ms": prod["p99_ms"], "live_vs_raw": live_rate / raw,
                 "builders": float(args.builders)},
        goals=(Goal("live_per_s", 5000, True), Goal("drain_vs_raw", 0.6, True),
               Goal("drain_peak_rss_mb", 60), Goal("tap_to_durable_p99_ms", 10)),
        notes=("Mosquitto announces ReceiveMaximum 20: the publisher keeps at most 20 in flight; "
               "raw paho ignores it",
               "the machine is shared: compare the ratios to the raw reference of the same run",
               "peak RSS is the drain process's own VmHWM"),
    )
