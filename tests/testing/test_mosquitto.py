"""The TLS broker fixture really enforces mTLS and the ACL (as root too)."""

from __future__ import annotations

import threading

from station.pipeline.mqtt import make_client
from station.testing.mosquitto import MosquittoBroker


def _publish(broker: MosquittoBroker, cn: str, topic: str) -> int:
    """Publish QoS 1 and return the PUBACK reason code value."""
    settings = broker.settings(cn)
    client = make_client(f"t-{cn}", settings)
    done = threading.Event()
    result: list[int] = []

    def on_publish(c: object, u: object, mid: int, rc: object, props: object) -> None:
        result.append(int(getattr(rc, "value", 0)))
        done.set()

    client.on_publish = on_publish
    client.connect(settings.host, settings.port)
    client.loop_start()
    try:
        client.publish(topic, b"x", qos=1)
        assert done.wait(10), broker.log_tail()
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0]


def test_tls_broker_acl(tls_broker: MosquittoBroker) -> None:
    assert _publish(tls_broker, "desk-1", "stations/desk-1/records") < 0x80
    assert _publish(tls_broker, "desk-1", "stations/desk-2/records") == 0x87  # not authorized
