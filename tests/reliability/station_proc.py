"""A station process for the kill -9 campaign: stores records as fast as it can (one commit per
record, like taps) while its publisher drains them, printing ``committed <seq>`` after each
commit returned. Run: python station_proc.py DIR BROKER_PORT. Records a killed run left
delivered (PUBACKed, no receipt yet) are re-sent after a short receipt timeout."""

from __future__ import annotations

import sys
from pathlib import Path

from station import keys
from station.pipeline.mqtt import BrokerSettings
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Publisher
from station.pipeline.records import Check, Reading, RecordSigner
from station.pipeline.store import OutboxStore


def main() -> None:
    work, port = Path(sys.argv[1]), int(sys.argv[2])
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 10**9
    signer = RecordSigner("desk-k", keys.load_signing_key(work / "signing.pem"),
                          keys.load_backend_seal_key(work / "backend-seal.pub.pem"))
    outbox = Outbox(work / "outbox.sqlite3")
    publisher = Publisher(outbox, "desk-k", BrokerSettings("127.0.0.1", port), window=20,
                          receipt_timeout_s=2.0)
    publisher.start()
    store = OutboxStore(outbox, signer, publisher)
    n = 0
    while n < limit:
        n += 1
        reading = Reading("reception", "PACE", "authentic", (Check("pa", True),),
                          {"id_number": f"0790990{n % 100000:05d}", "full_name": "Phạm Quốc Dũng"},
                          {"DG1": n.to_bytes(4, "big")})
        (signed,) = store.store_many([reading])
        print(f"committed {signed.record.seq}", flush=True)
    # Drain mode (limit given): wait until the backend has receipted everything, then exit.
    import time

    deadline = time.monotonic() + 30
    while (sum(n for k, n in outbox.counts().items() if k != "acked")
           and time.monotonic() < deadline):
        time.sleep(0.05)
    store.close()
    print("drained", flush=True)


if __name__ == "__main__":
    main()
