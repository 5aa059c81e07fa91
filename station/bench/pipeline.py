"""`station bench pipeline`: signed records → SQLite outbox → MQTT, against raw paho QoS 1.

All figures come from one run on one private Mosquitto (loopback):

- **raw paho QoS 1**: the reference ceiling — ~1.2 KB messages published as fast as PUBACKs
  return, no signing, no store;
- **live end to end**: a producer *process* builds, seals, signs and commits records in small
  group commits while this process publishes them from the outbox and commits the acks —
  records acknowledged per second; the producer also measures **tap-to-durable** latency
  (record built → its transaction committed with ``synchronous=FULL``);
- **backlog drain**: N records already in the outbox drained by a fresh publisher process —
  records per second and that process's peak RSS.
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


def produce(work: Path, count: int, group: int) -> dict[str, float]:
    """Producer process: build + seal + sign, commit in small groups; latency per record."""
    from station.pipeline.outbox import Outbox
    from station.pipeline.publisher import records_topic

    signer = _signer(work)
    outbox = Outbox(work / "outbox.sqlite3", max_bytes=4 << 30)
    topic = records_topic(signer.station_id)
    latencies: list[float] = []
    seq = outbox.next_seq()
    t0 = time.perf_counter()
    done = 0
    while done < count:
        batch = []
        built: list[float] = []
        for _ in range(min(group, count - done)):
            built.append(time.perf_counter())
            s = signer.build(_reading(seq), seq)
            batch.append((s.record.record_id, seq, topic, s.token, s.record.outcome))
            seq += 1
        outbox.add_many(batch)
        end = time.perf_counter()
        latencies += [end - b for b in built]
        done += len(batch)
    elapsed = time.perf_counter() - t0
    outbox.close()
    latencies.sort()
    return {"rate": count / elapsed,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            "token_bytes": float(len(s.token))}


def drain(work: Path, port: int, count: int) -> dict[str, float]:
    """Drain process: publish an existing backlog; rate and this process's peak RSS."""
    import resource

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
    return {"rate": count / elapsed,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


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
    code = (f"import json,sys; from pathlib import Path; from station.bench import pipeline as p;"
            f"print(json.dumps(p.{fn}(Path(sys.argv[1]), *map(int, sys.argv[2:]))))")
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

        progress(f"raw paho QoS 1: {args.raw} messages")
        raw = _raw_paho(broker.port, args.raw, 1200)

        progress(f"live end to end: {args.live} records (producer process + publisher)")
        live_dir = work / "live"
        live_dir.mkdir()
        for f in ("signing.pem", "seal.pub.pem"):
            (live_dir / f).write_bytes((work / f).read_bytes())
            (live_dir / f).chmod(0o600)
        Outbox(live_dir / "outbox.sqlite3").close()
        outbox = Outbox(live_dir / "outbox.sqlite3", max_bytes=4 << 30)
        publisher = Publisher(outbox, "bench-desk", BrokerSettings("127.0.0.1", broker.port),
                              require_subscriber=False)
        publisher.start()
        publisher.wait_connected(10)
        t0 = time.perf_counter()
        prod = _child("produce", live_dir, args.live, 16)
        while publisher.stats().acked < args.live:
            time.sleep(0.005)
        live_rate = args.live / (time.perf_counter() - t0)
        publisher.stop()
        outbox.close()

        progress(f"building a backlog of {args.backlog} signed records")
        _child("produce", work, args.backlog, 1000)
        progress("draining the backlog (fresh publisher process)")
        dr = _child("drain", work, broker.port, args.backlog)

    ratio = dr["rate"] / raw
    rows = [
        ("raw paho QoS 1 (reference)", f"{raw:,.0f}/s", "", ""),
        ("live: sign+seal+commit+publish+ack", f"{live_rate:,.0f}/s", "",
         f"producer alone {prod['rate']:,.0f}/s"),
        ("tap-to-durable", "", f"p50 {prod['p50_ms']:.2f} ms / p99 {prod['p99_ms']:.2f} ms",
         "group commit of ≤16"),
        (f"drain {args.backlog:,} backlog", f"{dr['rate']:,.0f}/s", f"{ratio:.2f}× raw",
         f"peak RSS {dr['rss_mb']:.0f} MB"),
    ]
    return BenchResult(
        "pipeline", ("what", "rate", "figure", "note"), rows,
        figures={"raw_paho_qos1_per_s": raw, "live_per_s": live_rate,
                 "tap_to_durable_p99_ms": prod["p99_ms"], "drain_per_s": dr["rate"],
                 "drain_vs_raw": ratio, "drain_peak_rss_mb": dr["rss_mb"],
                 "token_bytes": prod["token_bytes"]},
        goals=(Goal("live_per_s", 5000, True), Goal("drain_vs_raw", 0.6, True),
               Goal("drain_peak_rss_mb", 60), Goal("tap_to_durable_p99_ms", 10)),
        notes=("Mosquitto announces ReceiveMaximum 20: the publisher keeps at most 20 in flight; "
               "raw paho ignores it",),
    )
