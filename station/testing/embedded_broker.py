"""A small pure-Python MQTT 5 broker for ``station demo`` when Mosquitto is not installed.

Loopback only, anonymous, one asyncio event loop on a daemon thread of the calling process.
It implements what the station and the reference ingest use, per MQTT 5.0 (OASIS 2019):

- CONNECT/CONNACK (§3.1/§3.2) with ReceiveMaximum (announced, and the client's honoured when
  delivering), MaximumQoS 1, no topic aliases, assigned client ids, session takeover (0x8E);
- PUBLISH QoS 0 and 1 with PUBACK reason codes (§3.4.2.1): 0x00 success, 0x10 no matching
  subscribers, 0x87 not authorized (the optional ``authorize`` hook); QoS 2 is refused with
  DISCONNECT 0x9B as MaximumQoS 1 announces;
- SUBSCRIBE/SUBACK and UNSUBSCRIBE/UNSUBACK with ``+``/``#`` wildcards (§4.7), No Local,
  Retain As Published, Retain Handling, and shared subscriptions ``$share/{group}/{filter}``
  (§4.8.2: each message goes to one member of the group, connected members first);
- retained messages (§3.3.1.3: an empty payload clears), Last Will (§3.1.2.5: published when a
  connection ends without DISCONNECT 0x00 — Will Delay is not implemented, it is sent at once),
  PINGREQ/PINGRESP, keep-alive (closed after 1.5 × keep-alive of silence, §3.1.2.10);
- sessions: clean start false + Session Expiry Interval keeps subscriptions, unacknowledged
  QoS 1 messages (re-sent with DUP on reconnect) and QoS 1 messages queued while away, until the
  interval passes (§3.1.2.11); ``session present`` in CONNACK says so.

Not implemented: QoS 2, TLS, authentication, Will Delay, message expiry, subscription
identifiers, persistence across broker restarts. It is a demo fallback, not a product broker:
the station works with any MQTT 5 broker and is tested against Mosquitto.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from station.pipeline.mqtt import BrokerSettings

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT, AUTH = 12, 13, 14, 15

# Property identifiers (§2.2.2.2) and their value types.
_BYTE, _U16, _U32, _VARINT, _UTF8, _BIN, _PAIR = range(7)
_PROPERTY_TYPES = {
    0x01: _BYTE, 0x02: _U32, 0x03: _UTF8, 0x08: _UTF8, 0x09: _BIN, 0x0B: _VARINT, 0x11: _U32,
    0x12: _UTF8, 0x13: _U16, 0x15: _UTF8, 0x16: _BIN, 0x17: _BYTE, 0x18: _U32, 0x19: _BYTE,
    0x1A: _UTF8, 0x1C: _UTF8, 0x1F: _UTF8, 0x21: _U16, 0x22: _U16, 0x23: _U16, 0x24: _BYTE,
    0x25: _BYTE, 0x26: _PAIR, 0x27: _U32, 0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}
SESSION_EXPIRY, RECEIVE_MAXIMUM, TOPIC_ALIAS, ASSIGNED_CLIENT_ID = 0x11, 0x21, 0x23, 0x12
NEVER_EXPIRES = 0xFFFFFFFF

SUCCESS, NO_MATCHING_SUBSCRIBERS, NOT_AUTHORIZED = 0x00, 0x10, 0x87
DISCONNECT_WITH_WILL, MALFORMED, PROTOCOL_ERROR = 0x04, 0x81, 0x82
SESSION_TAKEN_OVER, QOS_NOT_SUPPORTED, TOPIC_FILTER_INVALID = 0x8E, 0x9B, 0x8F
TOPIC_NAME_INVALID, UNSUPPORTED_PROTOCOL = 0x90, 0x84

Authorize = Callable[[str, str], bool]
"""authorize(client_id, topic) → may this client publish there?"""


class MalformedPacket(Exception):
    pass


# --- wire encoding (§1.5) -------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("!H", len(raw)) + raw


def _binary(b: bytes) -> bytes:
    return struct.pack("!H", len(b)) + b


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + _varint(len(body)) + body


def _properties(props: dict[int, int | str]) -> bytes:
    out = bytearray()
    for pid, value in props.items():
        kind = _PROPERTY_TYPES[pid]
        out.append(pid)
        if kind == _BYTE:
            out.append(int(value))
        elif kind == _U16:
            out += struct.pack("!H", int(value))
        elif kind == _U32:
            out += struct.pack("!I", int(value))
        elif kind == _UTF8:
            out += _utf8(str(value))
    return _varint(len(out)) + bytes(out)


class _Reader:
    """Decodes one packet body."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise MalformedPacket("packet shorter than its fields")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack("!H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("!I", self.take(4))[0])

    def varint(self) -> int:
        value, shift = 0, 0
        for _ in range(4):
            b = self.byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
        raise MalformedPacket("variable byte integer longer than 4 bytes")

    def binary(self) -> bytes:
        return self.take(self.u16())

    def utf8(self) -> str:
        try:
            return self.binary().decode()
        except UnicodeDecodeError:
            raise MalformedPacket("invalid UTF-8 string") from None

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.pos)

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def properties(self) -> tuple[dict[int, object], bytes]:
        """The decoded properties and their raw bytes (forwarded unchanged with messages)."""
        length = self.varint()
        raw = self.take(length)
        sub = _Reader(raw)
        props: dict[int, object] = {}
        while sub.left:
            pid = sub.byte()
            kind = _PROPERTY_TYPES.get(pid)
            if kind is None:
                raise MalformedPacket(f"unknown property 0x{pid:02X}")
            value: object
            if kind == _BYTE:
                value = sub.byte()
            elif kind == _U16:
                value = sub.u16()
            elif kind == _U32:
                value = sub.u32()
            elif kind == _VARINT:
                value = sub.varint()
            elif kind == _UTF8:
                value = sub.utf8()
            elif kind == _BIN:
                value = sub.binary()
            else:
                value = (sub.utf8(), sub.utf8())
            if pid != 0x26:
                props[pid] = value
        return props, raw


# --- topics (§4.7) --------------------------------------------------------------------------

def topic_matches(filter_: str, topic: str) -> bool:
    """Whether a topic name matches a filter; ``$``-topics never match a leading wildcard."""
    if topic.startswith("$") and filter_[:1] in ("+", "#"):
        return False
    f_parts, t_parts = filter_.split("/"), topic.split("/")
    for i, part in enumerate(f_parts):
        if part == "#":
            return True
        if i >= len(t_parts) or (part != "+" and part != t_parts[i]):
            return False
    return len(f_parts) == len(t_parts)


def _valid_filter(f: str) -> bool:
    if not f:
        return False
    parts = f.split("/")
    for i, part in enumerate(parts):
        if "#" in part and (part != "#" or i != len(parts) - 1):
            return False
        if "+" in part and part != "+":
            return False
    return True


def _valid_topic(t: str) -> bool:
    return bool(t) and "+" not in t and "#" not in t and "\0" not in t


# --- broker state ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: bytes
    """Raw PUBLISH properties (without length), forwarded unchanged."""


@dataclass
class Subscription:
    filter: str
    qos: int
    no_local: bool
    retain_as_published: bool
    group: str | None = None


@dataclass
class _Outgoing:
    message: Message
    qos: int
    retain: bool


@dataclass
class Session:
    client_id: str
    expiry_s: int = 0
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    """Keyed by the filter as subscribed (``$share/g/f`` included)."""
    queue: deque[_Outgoing] = field(default_factory=deque)
    inflight: dict[int, _Outgoing] = field(default_factory=dict)
    connection: _Connection | None = None
    expires_at: float | None = None
    _pid: int = 0

    def next_packet_id(self) -> int:
        for _ in range(65535):
            self._pid = self._pid % 65535 + 1
            if self._pid not in self.inflight:
                return self._pid
        raise RuntimeError("no free packet identifier")


class _Connection:
    def __init__(self, broker: EmbeddedBroker, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.broker = broker
        self.reader = reader
        self.writer = writer
        self.session: Session | None = None
        self.will: Message | None = None
        self.receive_max = 65535
        self.closed = False

    def send(self, data: bytes) -> None:
        if not self.closed:
            self.writer.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()


class EmbeddedBroker:
    """Start with :meth:`start` (or ``with``); :attr:`port` is then the loopback port."""

    pid: int | None = None
    """No separate process: the broker runs on a thread of the caller."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, receive_maximum: int = 20,
                 authorize: Authorize | None = None) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the embedded broker listens on loopback only")
        self.host = host
        self.port = port
        self.receive_maximum = receive_maximum
        self.authorize = authorize
        self.sessions: dict[str, Session] = {}
        self.retained: dict[str, Message] = {}
        self._round_robin: dict[tuple[str, str], itertools.count[int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[_Connection] = set()
        self._assigned = itertools.count(1)
        self._sweeper: asyncio.Task[None] | None = None

    # --- lifecycle (caller's thread) -------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve, self.host, self.port))
                self.port = int(self._server.sockets[0].getsockname()[1])
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            loop.call_soon(ready.set)
            self._sweeper = loop.create_task(self._sweep())
            loop.run_forever()
            # Let every connection handler and the sweeper finish their cancellation.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=main, name="embedded-mqtt", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise RuntimeError("embedded broker did not start")
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self._connections):
                conn.close()
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        self._thread.join(timeout=5)
        self._thread = None
        self._loop = None

    def close(self) -> None:
        self.stop()

    def settings(self, cn: str | None = None) -> BrokerSettings:
        return BrokerSettings(self.host, self.port)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- connections (event loop thread) ---------------------------------------------------

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for cid, s in list(self.sessions.items()):
                if s.connection is None and s.expires_at is not None and s.expires_at <= now:
                    del self.sessions[cid]

    async def _read_packet(self, conn: _Connection, timeout: float | None) -> tuple[int, int,
                                                                                   bytes]:
        head = await asyncio.wait_for(conn.reader.readexactly(1), timeout)
        length, shift = 0, 0
        for _ in range(4):
            b = (await conn.reader.readexactly(1))[0]
            length |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
        else:
            raise MalformedPacket("remaining length longer than 4 bytes")
        body = await conn.reader.readexactly(length)
        return head[0] >> 4, head[0] & 0x0F, body

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(self, reader, writer)
        self._connections.add(conn)
        clean = False
        try:
            kind, flags, body = await self._read_packet(conn, 10.0)
            if kind != CONNECT:
                return
            keepalive = self._connect(conn, _Reader(body))
            if conn.session is None:
                return
            timeout = keepalive * 1.5 if keepalive else None
            while not conn.closed:
                kind, flags, body = await self._read_packet(conn, timeout)
                if kind == DISCONNECT:
                    clean = self._disconnect(conn, _Reader(body))
                    return
                self._dispatch(conn, kind, flags, _Reader(body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, OSError):
            pass
        except MalformedPacket:
            conn.send(_packet(DISCONNECT, 0, bytes([MALFORMED]) + _properties({})))
        finally:
            self._ended(conn, clean)

    def _connect(self, conn: _Connection, r: _Reader) -> int:
        if r.utf8() != "MQTT" or r.byte() != 5:
            conn.send(_packet(CONNACK, 0, bytes([0, UNSUPPORTED_PROTOCOL]) + _properties({})))
            return 0
        flags = r.byte()
        keepalive = r.u16()
        props, _ = r.properties()
        if RECEIVE_MAXIMUM in props:
            conn.receive_max = int(props[RECEIVE_MAXIMUM])  # type: ignore[call-overload]
        expiry = int(props.get(SESSION_EXPIRY, 0))  # type: ignore[call-overload]
        client_id = r.utf8()
        assigned: dict[int, int | str] = {}
        if not client_id:
            client_id = f"embedded-{next(self._assigned)}"
            assigned[ASSIGNED_CLIENT_ID] = client_id
        if flags & 0x04:  # Will flag (§3.1.2.5)
            _, will_props = r.properties()
            topic, payload = r.utf8(), r.binary()
            conn.will = Message(topic, payload, (flags >> 3) & 0x03, bool(flags & 0x20),
                                will_props)
        old = self.sessions.get(client_id)
        if old is not None and old.connection is not None:
            old.connection.send(_packet(DISCONNECT, 0, bytes([SESSION_TAKEN_OVER])
                                        + _properties({})))
            self._ended(old.connection, False)
            old = self.sessions.get(client_id)
        clean_start = bool(flags & 0x02)
        now = time.monotonic()
        if old is not None and (clean_start or (old.expires_at is not None
                                                and old.expires_at <= now)):
            old = None
        present = old is not None
        session = old or Session(client_id)
        session.expiry_s = expiry
        session.expires_at = None
        session.connection = conn
        self.sessions[client_id] = session
        conn.session = session
        conn.send(_packet(CONNACK, 0, bytes([1 if present else 0, SUCCESS]) + _properties({
            RECEIVE_MAXIMUM: self.receive_maximum, 0x24: 1, 0x25: 1, 0x28: 1, 0x29: 0,
            0x2A: 1, 0x22: 0, **assigned})))
        # §4.4: unacknowledged QoS 1 messages are re-sent (DUP) before anything new.
        for pid, out in session.inflight.items():
            self._send_publish(conn, out, pid, dup=True)
        self._pump(session)
        return keepalive

    def _disconnect(self, conn: _Connection, r: _Reader) -> bool:
        reason = r.byte() if r.left else SUCCESS
        if r.left and conn.session is not None:
            props, _ = r.properties()
            if SESSION_EXPIRY in props:
                conn.session.expiry_s = int(props[SESSION_EXPIRY])  # type: ignore[call-overload]
        return reason != DISCONNECT_WITH_WILL

    def _ended(self, conn: _Connection, clean: bool) -> None:
        if conn not in self._connections:
            return
        self._connections.discard(conn)
        conn.close()
        session = conn.session
        if session is not None and session.connection is conn:
            session.connection = None
            if session.expiry_s == 0:
                self.sessions.pop(session.client_id, None)
            elif session.expiry_s != NEVER_EXPIRES:
                session.expires_at = time.monotonic() + session.expiry_s
        if not clean and conn.will is not None and session is not None:
            self.route(conn.will, session.client_id)
        conn.will = None

    def _dispatch(self, conn: _Connection, kind: int, flags: int, r: _Reader) -> None:
        session = conn.session
        assert session is not None
        if kind == PUBLISH:
            self._publish(conn, session, flags, r)
        elif kind == PUBACK:
            session.inflight.pop(r.u16(), None)
            self._pump(session)
        elif kind == SUBSCRIBE:
            self._subscribe(conn, session, r)
        elif kind == UNSUBSCRIBE:
            pid = r.u16()
            r.properties()
            codes = bytearray()
            while r.left:
                codes.append(SUCCESS if session.subscriptions.pop(r.utf8(), None) else 0x11)
            conn.send(_packet(UNSUBACK, 0, struct.pack("!H", pid) + _properties({})
                              + bytes(codes)))
        elif kind == PINGREQ:
            conn.send(_packet(PINGRESP, 0, b""))
        else:  # CONNECT twice, AUTH, QoS 2 flow packets: not part of what we serve
            conn.send(_packet(DISCONNECT, 0, bytes([PROTOCOL_ERROR]) + _properties({})))
            conn.close()

    def _publish(self, conn: _Connection, session: Session, flags: int, r: _Reader) -> None:
        qos, retain = (flags >> 1) & 0x03, bool(flags & 0x01)
        if qos > 1:
            conn.send(_packet(DISCONNECT, 0, bytes([QOS_NOT_SUPPORTED]) + _properties({})))
            conn.close()
            return
        topic = r.utf8()
        pid = r.u16() if qos else 0
        props, raw_props = r.properties()
        if TOPIC_ALIAS in props or not _valid_topic(topic):
            # We announced Topic Alias Maximum 0 (§3.2.2.3.8): an alias is a protocol error.
            conn.send(_packet(DISCONNECT, 0, bytes([TOPIC_NAME_INVALID]) + _properties({})))
            conn.close()
            return
        message = Message(topic, r.rest(), qos, retain, raw_props)
        if self.authorize is not None and not self.authorize(session.client_id, topic):
            code = NOT_AUTHORIZED
        else:
            code = SUCCESS if self.route(message, session.client_id) else NO_MATCHING_SUBSCRIBERS
        if qos == 1:
            conn.send(_packet(PUBACK, 0, struct.pack("!HB", pid, code) + _properties({})))

    def _subscribe(self, conn: _Connection, session: Session, r: _Reader) -> None:
        pid = r.u16()
        r.properties()
        codes = bytearray()
        retained: list[tuple[Subscription, Message]] = []
        while r.left:
            raw_filter, options = r.utf8(), r.byte()
            group: str | None = None
            filter_ = raw_filter
            if raw_filter.startswith("$share/"):
                _, group, filter_ = [*raw_filter.split("/", 2), "", ""][:3]
            if not _valid_filter(filter_) or (group is not None and (
                    not group or "+" in group or "#" in group)):
                codes.append(TOPIC_FILTER_INVALID)
                continue
            qos = min(options & 0x03, 1)
            sub = Subscription(filter_, qos, bool(options & 0x04), bool(options & 0x08), group)
            existed = raw_filter in session.subscriptions
            session.subscriptions[raw_filter] = sub
            codes.append(qos)
            handling = (options >> 4) & 0x03
            # §3.3.1.3: retained messages are not sent for shared subscriptions.
            if group is None and (handling == 0 or (handling == 1 and not existed)):
                retained += [(sub, m) for t, m in self.retained.items()
                             if topic_matches(filter_, t)]
        conn.send(_packet(SUBACK, 0, struct.pack("!H", pid) + _properties({}) + bytes(codes)))
        for sub, message in retained:
            self._enqueue(session, _Outgoing(message, min(sub.qos, message.qos), True))

    # --- routing ---------------------------------------------------------------------------

    def route(self, message: Message, sender: str) -> int:
        """Deliver to every matching subscription; returns how many sessions got it."""
        if message.retain:
            if message.payload:
                self.retained[message.topic] = message
            else:
                self.retained.pop(message.topic, None)
        receivers = 0
        groups: dict[tuple[str, str], list[tuple[Session, Subscription]]] = {}
        for session in self.sessions.values():
            best: Subscription | None = None
            for sub in session.subscriptions.values():
                if not topic_matches(sub.filter, message.topic):
                    continue
                if sub.group is not None:
                    groups.setdefault((sub.group, sub.filter), []).append((session, sub))
                elif (not (sub.no_local and session.client_id == sender)
                      and (best is None or sub.qos > best.qos)):
                    best = sub  # overlapping subscriptions: one copy at the highest QoS (§3.3.4)
            if best is not None:
                receivers += self._deliver(session, best, message)
        for group_key, members in groups.items():
            online = [m for m in members if m[0].connection is not None]
            pool = online or members
            turn = next(self._round_robin.setdefault(group_key, itertools.count()))
            member, member_sub = pool[turn % len(pool)]
            receivers += self._deliver(member, member_sub, message)
        return receivers

    def _deliver(self, session: Session, sub: Subscription, message: Message) -> int:
        qos = min(sub.qos, message.qos)
        if session.connection is None and qos == 0:
            return 0  # QoS 0 is not queued for absent clients
        self._enqueue(session, _Outgoing(message, qos, message.retain and sub.retain_as_published))
        return 1

    def _enqueue(self, session: Session, out: _Outgoing) -> None:
        session.queue.append(out)
        self._pump(session)

    def _pump(self, session: Session) -> None:
        conn = session.connection
        if conn is None:
            return
        while session.queue:
            out = session.queue[0]
            if out.qos and len(session.inflight) >= conn.receive_max:
                return  # §4.9: the client's Receive Maximum bounds our unacknowledged sends
            session.queue.popleft()
            pid = 0
            if out.qos:
                pid = session.next_packet_id()
                session.inflight[pid] = out
            self._send_publish(conn, out, pid)

    @staticmethod
    def _send_publish(conn: _Connection, out: _Outgoing, pid: int, dup: bool = False) -> None:
        m = out.message
        flags = (0x08 if dup else 0) | out.qos << 1 | (1 if out.retain else 0)
        body = _utf8(m.topic) + (struct.pack("!H", pid) if out.qos else b"") \
            + _varint(len(m.properties)) + m.properties + m.payload
        conn.send(_packet(PUBLISH, flags, body))
