"""Broker connection settings and the one place that builds paho MQTT 5 clients."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BrokerSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    keepalive_s: int = 30


def make_client(client_id: str, settings: BrokerSettings) -> Any:
    """A paho MQTT 5 client (callback API v2), TLS/mTLS configured from ``settings``.

    paho's own in-flight limit rescans its list on every PUBACK; it is switched off (0) and the
    window is enforced by the caller.
    """
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    if settings.tls:
        ctx = ssl.create_default_context(cafile=settings.ca_file or None)
        if settings.cert_file:
            ctx.load_cert_chain(settings.cert_file, settings.key_file or None)
        client.tls_set_context(ctx)
    return client
