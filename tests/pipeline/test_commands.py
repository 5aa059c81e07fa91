"""The commands topic on real Mosquitto: ``reload``/``profile`` reach the service's callback,
``ping``/``purge_acked`` are answered by the publisher, every command gets a reply event."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from station.pipeline.mqtt import make_client
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Command, Publisher
from station.testing.mosquitto import MosquittoBroker
from station.testing.wait import wait_until


def test_commands_reach_the_callback(tmp_path: Path, broker: MosquittoBroker) -> None:
    seen: list[Command] = []

    def handler(cmd: Command) -> tuple[bool, str]:
        seen.append(cmd)
        if cmd.name == "profile" and cmd.args.get("name") == "broken":
            raise RuntimeError("handler bug")
        return True, f"{cmd.name} applied"

    outbox = Outbox(tmp_path / "outbox.sqlite3")
    publisher = Publisher(outbox, "desk-9", broker.settings(), on_command=handler)
    backend = make_client("backend", broker.settings())
    replies: list[dict[str, Any]] = []
    subscribed = threading.Event()
    backend.on_message = lambda c, u, m: replies.append(json.loads(m.payload))
    backend.on_subscribe = lambda *a: subscribed.set()
    backend.connect(broker.settings().host, broker.port)
    backend.loop_start()
    try:
        backend.subscribe("stations/desk-9/events/command", qos=1)
        assert subscribed.wait(5)
        publisher.start()
        assert publisher.wait_connected(5)
        assert wait_until(lambda: publisher.stats().connects == 1, 5)
        topic = "stations/desk-9/commands"

        def send(body: dict[str, Any]) -> None:
            backend.publish(topic, json.dumps(body).encode(), qos=1)

        # The publisher subscribes in on_connect: ping until its subscription is in place.
        for _ in range(25):
            send({"cmd": "ping", "id": "p0"})
            if wait_until(lambda: any(r["id"] == "p0" for r in replies), 0.2):
                break
        assert any(r["id"] == "p0" and r["message"] == "pong" for r in replies)
        send({"cmd": "reload", "id": "c1"})
        send({"cmd": "profile", "id": "c2", "args": {"name": "hospital"}})
        send({"cmd": "profile", "id": "c3", "args": {"name": "broken"}})
        send({"cmd": "format_disk", "id": "c4"})
        assert wait_until(lambda: {r["id"] for r in replies} >= {"c1", "c2", "c3", "c4"}, 5)
    finally:
        publisher.stop()
        backend.disconnect()
        backend.loop_stop()
        outbox.close()
    assert [(c.name, c.id, c.args) for c in seen] == [
        ("reload", "c1", {}), ("profile", "c2", {"name": "hospital"}),
        ("profile", "c3", {"name": "broken"})]
    by_id = {r["id"]: r for r in replies}
    assert by_id["c1"] == {"id": "c1", "cmd": "reload", "ok": True, "message": "reload applied"}
    assert by_id["c2"]["ok"] and by_id["c2"]["message"] == "profile applied"
    assert by_id["c3"]["ok"] is False and by_id["c3"]["message"] == "RuntimeError"
    assert by_id["c4"]["ok"] is False and by_id["c4"]["message"] == "unsupported"
