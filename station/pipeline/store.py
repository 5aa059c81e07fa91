"""The record store the service drives (:class:`station.service.ports.RecordStore`): take the
finished :class:`~station.pipeline.records.Reading` (the service assembled and minimised it),
build the signed, sealed record on the *calling* thread (the service's store worker), commit
it to the outbox, and wake the publisher. The desk is told "done" only after the commit
returned. Nothing here calls back up into the service.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from station import keys, topics
from station.config import Config
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import CommandHandler, Publisher
from station.pipeline.records import Reading, RecordSigner, SignedRecord


class OutboxStore:
    def __init__(self, outbox: Outbox, signer: RecordSigner, publisher: Publisher | None = None
                 ) -> None:
        self.outbox = outbox
        self.signer = signer
        self.publisher = publisher
        self.topic = topics.RECORDS.of(signer.station_id)
        self._lock = threading.Lock()  # sequence allocation and commit are one step

    def store_many(self, readings: Sequence[Reading]) -> list[SignedRecord]:
        """Sign and commit several readings in one transaction (all durable, or none)."""
        with self._lock:
            first = self.outbox.next_seq()
            signed = [self.signer.build(r, first + n) for n, r in enumerate(readings)]
            self.outbox.add_many([(s.record.record_id, s.record.seq, self.topic, s.token,
                                   s.record.outcome) for s in signed])
        if self.publisher is not None:
            self.publisher.notify()
        return signed

    def store(self, reading: Reading) -> str:
        """Sign and commit one reading; its record id."""
        return self.store_many([reading])[0].record.record_id

    def has_room(self) -> bool:
        return self.outbox.has_room()

    def close(self) -> None:
        """Stop publishing (status ``offline``), then close the outbox."""
        if self.publisher is not None:
            self.publisher.stop()
        self.outbox.close()


def from_config(cfg: Config, on_command: CommandHandler | None = None) -> OutboxStore:
    """The station's store from its configuration: keys from ``station.keys``, the outbox
    under ``station.state_dir``, the publisher for ``[mqtt]`` (started). ``on_command``
    receives the backend's ``reload`` and ``profile`` commands (the service applies them)."""
    signing = keys.load_signing_key(cfg.state_path(cfg.keys.signing_key))
    backend = keys.load_backend_seal_key(cfg.state_path(cfg.keys.backend_public_key))
    outbox = Outbox(cfg.state_path(cfg.outbox.path), max_bytes=cfg.outbox.max_bytes,
                    ttl_s=cfg.outbox.ttl_hours * 3600)
    m = cfg.mqtt
    publisher = Publisher(outbox, cfg.station.id, m, window=m.window,
                          on_command=on_command, release=m.release,
                          receipt_timeout_s=m.receipt_timeout_s,
                          max_unreceipted=m.max_unreceipted)
    publisher.start()
    return OutboxStore(outbox, RecordSigner(cfg.station.id, signing, backend), publisher)



