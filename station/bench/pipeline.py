"""`station bench pipeline`: signed records → SQLite outbox → MQTT, against raw paho QoS 1.

All figures come from one run on one private Mosquitto (loopback):

- **raw paho QoS 1**: the reference ceiling — messages of the records' size published as fast
  as PUBACKs return, no signing, no store;
- **seal + sign alone**: one process building records and nothing else;
- **live end to end**: ``--builders`` builder processes seal and sign in parallel and feed a
  writer process that commits what has arrived, in sequence order, at most one transaction per
  ``--group-ms`` (group commit sized by time), while this process publishes from the outbox and
  commits the PUBACKs (``delivered``) — records delivered per second from the builders' start to
  the last PUBACK's commit; each role's CPU time per record is shown (what sizes the pipeline on
  2 cores);
- **tap-to-durable**: the store worker's own path — :class:`OutboxStore` sharing the outbox with
  the running publisher in one process, as ``station run`` does: build, then commit that record
  with ``synchronous=FULL`` — at a paced ``--tap-rate``; record built → its transaction
  committed (and tap → durable, build included); the saturated live run's queueing latency is
  shown beside it;
- **backlog drain**: N records already in the outbox drained by a fresh publisher process —
  records per second and that process's own peak RSS (VmHWM).

No backend runs: a record counts when its PUBACK is recorded in the outbox (``delivered``,
:attr:`PublisherStats.delivered`), which is what the pipeline's rate targets are defined on.
The backend's receipt (which releases the payload in ``release = "receipt"`` mode) is not part of
these figures; the publishers here never time out waiting for it and are not held back by the
unreceipted cap (:data:`NO_BACKEND`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from station import topics
from station.bench import BenchResult, Goal, Progress

DESCRIPTION = "records: live end-to-end rate, backlog drain vs raw paho QoS 1, RSS, latency"

NO_BACKEND: dict[str, Any] = {"require_subscriber": False, "receipt_timeout_s": 86400.0,
                              "max_unreceipted": 0}
"""Publisher options without a backend: nobody subscribes (PUBACK 0x10 is fine), nobody sends
receipts (no re-send, no cap on unreceipted records)."""


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
    parser.add_argument("--group-ms", type=float, default=5.0,
                        help="the writer commits at most once per this many ms (default 5)")
    parser.add_argument("--receive-maximum", type=int, default=100,
                        help="Mosquitto's max_inflight_messages, announced as ReceiveMaximum: "
                             "the publisher's window (stock Mosquitto: 20; default 100)")


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


def _signer(work: Path, cls: Any = None) -> Any:
    from station import keys
    from station.pipeline.records import RecordSigner

    return (cls or RecordSigner)("bench-desk", keys.load_signing_key(work / "signing.pem"),
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
    """Builder process: seal + sign the sequence numbers ``first + stripe + k·stride``; hands
    them over every ``chunk`` records or 2 ms, whichever comes first; says its CPU time last."""
    signer = _signer(work)
    signer.build(_reading(0), 1)  # warm up outside the measurement
    ready.release()
    go.wait()
    cpu0 = time.process_time()
    batch: list[Built] = []
    handed = time.monotonic()
    for seq in range(first + stripe, first + count, stride):
        s = signer.build(_reading(seq), seq)
        now = time.monotonic()
        batch.append((seq, s.record.record_id, s.token, s.record.outcome, now))
        if len(batch) >= chunk or now - handed >= 0.002:
            out.put(batch)
            batch = []
            handed = now
    if batch:
        out.put(batch)
    out.put(time.process_time() - cpu0)


def produce(work: Path, count: int, builders: int = 2, chunk: int = 64,
            group_us: int = 5000) -> dict[str, float]:
    """Writer process: ``builders`` builder processes seal and sign in parallel; this process
    commits what has arrived, in sequence order, at most once per ``group_us`` (group commit:
    a record counts as stored only when its transaction committed). Tap-to-durable latency is
    measured from the moment a record was finished (CLOCK_MONOTONIC is system-wide) to the end
    of its commit."""
    import multiprocessing as mp
    import queue as queue_mod

    from station.pipeline.outbox import Outbox

    outbox = Outbox(work / "outbox.sqlite3", max_bytes=4 << 30)
    topic = topics.RECORDS.of("bench-desk")
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
    builder_cpu = 0.0
    group_s = group_us / 1e6
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    started = time.monotonic()
    last_commit = started
    go.set()

    def take(item: Any) -> None:
        nonlocal builder_cpu
        if isinstance(item, float):
            builder_cpu += item
        else:
            for built in item:
                waiting[built[0]] = built

    while next_seq < first + count:
        take(queue.get(timeout=60))
        deadline = last_commit + group_s
        while True:  # gather until the group's time is up (and whatever is already there)
            try:
                take(queue.get(timeout=max(0.0, deadline - time.monotonic())) if
                     time.monotonic() < deadline else queue.get_nowait())
            except queue_mod.Empty:
                break
        rows = []
        while next_seq in waiting:
            rows.append(waiting.pop(next_seq))
            next_seq += 1
        if rows:
            outbox.add_many([(r[1], r[0], topic, r[2], r[3]) for r in rows])
            done = last_commit = time.monotonic()
            latencies += [done - r[4] for r in rows]
            commits += 1
            token_bytes = len(rows[-1][2])
    elapsed = time.perf_counter() - t0
    writer_cpu = time.process_time() - cpu0
    while builder_cpu == 0.0 or any(p.is_alive() for p in procs):
        try:
            take(queue.get(timeout=10))
        except queue_mod.Empty:
            break
    for p in procs:
        p.join(10)
    outbox.close()
    latencies.sort()
    return {"rate": count / elapsed,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            "per_commit": count / max(commits, 1), "started": started,
            "token_bytes": float(token_bytes),
            "builder_cpu_ms_per_1k": builder_cpu / count * 1e6,
            "writer_cpu_ms_per_1k": writer_cpu / count * 1e6}


def tap_latency(work: Path, outbox: Any, publisher: Any, count: int,
                per_s: int) -> dict[str, float]:
    """The store worker's own path at a paced load (``per_s`` taps per second):
    :meth:`OutboxStore.store` on the outbox the running ``publisher`` drains, in its
    process — build, then commit that one record in its own ``synchronous=FULL`` transaction.
    Latency = record built → transaction committed; ``tap_*`` = the whole call, build
    included."""
    from station.pipeline.records import Reading, RecordSigner, SignedRecord
    from station.pipeline.store import OutboxStore

    class StampedSigner(RecordSigner):
        built = 0.0

        def build(self, reading: Reading, seq: int) -> SignedRecord:
            signed = super().build(reading, seq)
            self.built = time.perf_counter()
            return signed

    import gc

    signer = _signer(work, StampedSigner)
    store = OutboxStore(outbox, signer, publisher)
    latencies: list[float] = []
    whole: list[float] = []
    pauses: list[float] = []
    began = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:  # a full collection stops every thread of the process
            if phase == "start":
                began[0] = time.perf_counter()
            else:
                pauses.append(time.perf_counter() - began[0])

    gc.callbacks.append(on_gc)
    due = time.monotonic()
    for n in range(count):
        due += 1 / per_s
        reading = _reading(n)
        t0 = time.perf_counter()
        store.store(reading)
        done = time.perf_counter()
        latencies.append(done - signer.built)
        whole.append(done - t0)
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    gc.callbacks.remove(on_gc)
    latencies.sort()
    whole.sort()
    return {"gc2_count": float(len(pauses)), "gc2_max_ms": max(pauses, default=0.0) * 1000,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            "max_ms": latencies[-1] * 1000,
            "tap_p50_ms": whole[len(whole) // 2] * 1000,
            "tap_p99_ms": whole[int(len(whole) * 0.99)] * 1000}


def build_alone(work: Path, count: int) -> dict[str, float]:
    """One process building records and nothing else (the cost of seal + sign)."""
    signer = _signer(work)
    t0 = time.perf_counter()
    for seq in range(1, count + 1):
        token = signer.build(_reading(seq), seq).token
    return {"rate": count / (time.perf_counter() - t0), "token_bytes": float(len(token))}


def drain(work: Path, port: int, count: int, window: int = 100) -> dict[str, float]:
    """Drain process: publish an existing backlog; rate and this process's peak RSS."""
    from station.pipeline.mqtt import BrokerSettings
    from station.pipeline.outbox import Outbox
    from station.pipeline.publisher import Publisher

    outbox = Outbox(work / "outbox.sqlite3", max_bytes=4 << 30)
    publisher = Publisher(outbox, "bench-desk", BrokerSettings("127.0.0.1", port),
                          window=window, **NO_BACKEND)
    t0 = time.perf_counter()
    publisher.start()
    while publisher.stats().delivered < count:
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    publisher.stop()
    outbox.close()
    return {"rate": count / elapsed, "rss_mb": _peak_rss_mb()}


def _raw_paho(port: int, count: int, size: int) -> tuple[float, float]:
    """Raw paho QoS 1 rate, and this process's CPU ms per 1k messages meanwhile."""
    import resource

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
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for _ in range(count):
        client.publish(topics.RECORDS.of("bench-raw"), payload, qos=1)
    done.wait(120)
    elapsed = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    client.disconnect()
    client.loop_stop()
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    return count / elapsed, cpu / count * 1e6


def _child(fn: str, *args: object) -> dict[str, float]:
    code = ("import json,sys; from pathlib import Path; from station.bench import pipeline as p;"
            f"print(json.dumps(p.{fn}(Path(sys.argv[1]), *map(int, sys.argv[2:]))))\n")
    code = f"if __name__ == '__main__':\n    {code}"
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                         text=True, check=True, timeout=900)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace, progress: Progress) -> BenchResult:
    import resource

    from station import keys
    from station.pipeline.mqtt import BrokerSettings
    from station.pipeline.outbox import Outbox
    from station.pipeline.publisher import Publisher
    from station.testing.mosquitto import MosquittoBroker

    window = args.receive_maximum or 65535  # 0: Mosquitto announces no limit
    with (tempfile.TemporaryDirectory(prefix="station-bench-") as tmp,
          MosquittoBroker(receive_maximum=args.receive_maximum) as broker):
        work = Path(tmp)
        keys.save_private_key(keys.generate_signing_key(), work / "signing.pem")
        keys.save_public(keys.public_pem(keys.generate_seal_key().public_key()),
                         work / "seal.pub.pem")

        progress("seal + sign alone, one process")
        alone = _child("build_alone", work, min(args.live, 5000))
        progress(f"raw paho QoS 1: {args.raw} messages")
        # The reference publishes messages of the records' own size.
        raw, raw_cpu = _raw_paho(broker.port, args.raw, int(alone["token_bytes"]))

        progress(f"live end to end: {args.live} records ({args.builders} builder processes → "
                 "writer process → publisher)")
        live_dir = work / "live"
        live_dir.mkdir()
        for f in ("signing.pem", "seal.pub.pem"):
            (live_dir / f).write_bytes((work / f).read_bytes())
            (live_dir / f).chmod(0o600)
        Outbox(live_dir / "outbox.sqlite3").close()
        outbox = Outbox(live_dir / "outbox.sqlite3", max_bytes=4 << 30)
        publisher = Publisher(outbox, "bench-desk", BrokerSettings("127.0.0.1", broker.port),
                              window=window, **NO_BACKEND)
        publisher.start()
        publisher.wait_connected(10)
        window = publisher.stats().window
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        last_delivered = [0.0]

        def watch(target: int = args.live) -> None:
            # The producer's processes take a while to exit after their last commit: time the
            # last PUBACK's recorded commit here (to within the 2 ms poll), not their return.
            while publisher.stats().delivered < target:
                time.sleep(0.002)
            last_delivered[0] = time.monotonic()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        prod = _child("produce", live_dir, args.live, args.builders, 64,
                      int(args.group_ms * 1000))
        watcher.join()
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        publisher_cpu = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime)
        # From the builders' start (after their imports) to the last PUBACK's recorded commit.
        live_rate = args.live / (last_delivered[0] - prod["started"])
        publisher.stop()
        outbox.close()
        taps = max(100, min(args.live // 4, 5000))
        progress(f"tap-to-durable: {taps} taps at {args.tap_rate}/s, store worker beside the "
                 "publisher")
        # As in ``station run``: one process, one outbox shared by the store and the publisher.
        outbox = Outbox(live_dir / "outbox.sqlite3", max_bytes=4 << 30)
        publisher = Publisher(outbox, "bench-desk", BrokerSettings("127.0.0.1", broker.port),
                              window=window, **NO_BACKEND)
        publisher.start()
        publisher.wait_connected(10)
        tap = tap_latency(live_dir, outbox, publisher, taps, args.tap_rate)
        while publisher.stats().delivered < taps:
            time.sleep(0.005)
        publisher.stop()
        outbox.close()

        progress(f"building a backlog of {args.backlog} signed records")
        _child("produce", work, args.backlog, args.builders, 64)
        progress("draining the backlog (fresh publisher process)")
        dr = _child("drain", work, broker.port, args.backlog, window)

    ratio = dr["rate"] / raw
    publisher_ms = publisher_cpu / args.live * 1e6
    load = os.getloadavg()[0]
    rows = [
        ("raw paho QoS 1 (reference)", f"{raw:,.0f}/s", f"CPU {raw_cpu:.0f} ms per 1k",
         "no window, no store, no crypto"),
        ("seal + sign, one process alone", f"{alone['rate']:,.0f}/s", "", ""),
        ("live: sign+seal+commit+publish+ack", f"{live_rate:,.0f}/s",
         f"{live_rate / raw:.2f}× raw",
         f"{args.builders} builders; window {window}; writer alone {prod['rate']:,.0f}/s"),
        ("  CPU per 1k records", "",
         f"build {prod['builder_cpu_ms_per_1k']:.0f} ms, write "
         f"{prod['writer_cpu_ms_per_1k']:.0f} ms, publish {publisher_ms:.0f} ms",
         "builders summed; publisher = its whole process (paho thread incl.)"),
        ("tap-to-durable (built → committed)", f"{args.tap_rate}/s taps",
         f"p50 {tap['p50_ms']:.2f} ms / p99 {tap['p99_ms']:.2f} ms",
         f"one FULL commit per tap beside the publisher; max {tap['max_ms']:.1f} ms; "
         f"{tap['gc2_count']:.0f} full GCs (max {tap['gc2_max_ms']:.1f} ms)"),
        ("  tap → durable, build included", "",
         f"p50 {tap['tap_p50_ms']:.2f} ms / p99 {tap['tap_p99_ms']:.2f} ms", ""),
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
                 "tap_to_durable_p50_ms": tap["p50_ms"], "tap_whole_p99_ms": tap["tap_p99_ms"],
                 "saturated_p99_ms": prod["p99_ms"], "live_vs_raw": live_rate / raw,
                 "builders": float(args.builders), "window": float(window),
                 "builder_cpu_ms_per_1k": prod["builder_cpu_ms_per_1k"],
                 "writer_cpu_ms_per_1k": prod["writer_cpu_ms_per_1k"],
                 "publisher_cpu_ms_per_1k": publisher_ms, "raw_cpu_ms_per_1k": raw_cpu,
                 "load_1min": load},
        goals=(Goal("live_per_s", 5000, True), Goal("drain_vs_raw", 0.6, True),
               Goal("drain_peak_rss_mb", 60), Goal("tap_to_durable_p99_ms", 10)),
        notes=(f"Mosquitto runs with max_inflight_messages {args.receive_maximum}, which 2.0.11 "
               f"announces as ReceiveMaximum (stock: 20); the publisher keeps at most {window} "
               "in flight, raw paho ignores the limit",
               f"the machine is shared (1-min load {load:.1f} at the end): compare the ratios to "
               "the raw reference of the same run",
               "peak RSS is the drain process's own VmHWM",
               "no backend runs: a record counts once its PUBACK is recorded (delivered); the "
               "backend's receipt that releases the payload is not measured here"),
    )
