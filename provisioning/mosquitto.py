"""The broker's side: the Mosquitto TLS listener snippet and its access control.

Every client authenticates with its certificate; ``use_identity_as_username`` makes the CN its
MQTT username and ``use_username_as_clientid`` its client id, so no client can take another
identity's client id, resume its persistent session or kick it off (issue 17, attack 3).

Access control is Mosquitto 2's **dynamic-security plugin**, not an ``acl_file``: Mosquitto
2.0.11's ACL file grants every SUBSCRIBE and filters only at delivery, so a station subscribing
to the backend's shared subscription ``$share/ingest/stations/+/records`` took a share of every
station's records and the broker dropped them at delivery (measured: ingest got 10 of 40). The
plugin checks ``subscribeLiteral``/``subscribePattern`` ACLs at SUBSCRIBE time (SUBACK 0x87).
Its ACL topics have no ``%u`` substitution in 2.0.11 (measured: a ``stations/%u/commands``
pattern matched nothing), so each station gets a role of its own with literal topics; a
certificate whose CN is not listed (a station not yet synced, a revoked one) can connect but
may publish and subscribe to nothing.

The grants come from the topic table (:mod:`station.topics`, which the publisher and ingest use
too): a station publishes its own topics that it writes (``records``, ``status`` incl. its Last
Will, ``health``, ``events/#``) and subscribes to its own that the backend writes
(``commands``, ``receipts``: a station that could write its receipts could make itself delete
undelivered citizen data). Backend identities (:func:`is_backend_name`) read every station's
topics, alone on the shared subscription, and write the backend's topics of every station.
The name picks the role (:data:`BACKEND_ROLES`, :func:`backend_role`): ``ingest``, ``backend``
and ``admin`` names get the backend role; ``operator`` names (the operator console's fleet
tracker) the fleet role, which reads only what a station says about itself
(:data:`station.topics.FLEET_READS`: status, health, events) and writes commands, never a
record or a receipt — a compromised console can neither read citizen data nor make a station
delete it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from station import topics
from station.topics import Side

BACKEND_USER = "ingest"
"""The first backend identity ``init`` makes; further workers are ``ingest-2``, ``ingest-3``…"""

BACKEND_NAME = re.compile(r"^(ingest|operator|backend|admin)(-[A-Za-z0-9_]+)?$")
"""Names reserved for backend identities: ``sign`` never issues a station certificate with one."""

DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
"""Debian's path on x86-64; :func:`dynsec_plugin` finds the one on this machine (arm64 on a Pi)."""


def is_backend_name(name: str) -> bool:
    return BACKEND_NAME.match(name) is not None


def backend_role(name: str) -> str:
    """The dynamic-security role of a backend identity (``ingest-2`` → ``backend``,
    ``operator`` → ``fleet``); ValueError for a name that is not a backend's."""
    found = BACKEND_NAME.match(name)
    if found is None:
        raise ValueError(f"{name!r} is not a backend name")
    return BACKEND_ROLES[found.group(1)][0]


def backend_client_commands(name: str) -> list[dict[str, Any]]:
    """The ``$CONTROL`` command that adds a backend identity to a running broker, with the role
    :func:`dynsec_config` gives it (the role itself is in the broker's file from the start)."""
    return [{"command": "createClient", "username": name,
             "roles": [{"rolename": backend_role(name)}]}]


def station_acls(station_id: str) -> list[dict[str, Any]]:
    acls: list[dict[str, Any]] = [
        {"acltype": "publishClientSend", "topic": t.filter(station_id), "allow": True}
        for t in topics.written_by(Side.STATION)]
    acls += [{"acltype": "subscribeLiteral", "topic": t.filter(station_id), "allow": True}
             for t in topics.written_by(Side.BACKEND)]
    return acls


BACKEND_ACLS: list[dict[str, Any]] = [
    *({"acltype": "subscribePattern", "topic": f, "allow": True} for f in topics.BACKEND_READS),
    *({"acltype": "publishClientSend", "topic": t.filter(), "allow": True}
      for t in topics.written_by(Side.BACKEND)),
]

FLEET_ACLS: list[dict[str, Any]] = [
    *({"acltype": "subscribePattern", "topic": t.filter(), "allow": True}
      for t in topics.FLEET_READS),
    *({"acltype": "publishClientSend", "topic": t.filter(), "allow": True}
      for t in topics.FLEET_WRITES),
]

BACKEND_ROLES: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "ingest": ("backend", BACKEND_ACLS),
    "backend": ("backend", BACKEND_ACLS),
    "admin": ("backend", BACKEND_ACLS),
    "operator": ("fleet", FLEET_ACLS),
}
"""Reserved name prefix → (dynamic-security role, its ACLs): the broker's file and a running
broker's ``$CONTROL`` commands are both made from it."""

ADMIN_ACLS: list[dict[str, Any]] = [
    {"acltype": "publishClientSend", "topic": "$CONTROL/dynamic-security/#", "allow": True},
    {"acltype": "subscribeLiteral", "topic": "$CONTROL/dynamic-security/v1/response",
     "allow": True},
    {"acltype": "publishClientReceive", "topic": "$CONTROL/dynamic-security/v1/response",
     "allow": True},
]


def _station_role(station_id: str) -> str:
    return f"station:{station_id}"


def dynsec_commands(station_id: str) -> list[dict[str, Any]]:
    """The dynamic-security control commands that add one station to a running broker (what a
    fleet tool sends to ``$CONTROL/dynamic-security/v1``); the same grants as
    :func:`dynsec_config`."""
    role = _station_role(station_id)
    return [{"command": "createRole", "rolename": role, "acls": station_acls(station_id)},
            {"command": "createClient", "username": station_id, "roles": [{"rolename": role}]}]


def dynsec_config(stations: Iterable[str], backends: Iterable[str],
                  admins: Iterable[str] = ()) -> str:
    """The plugin's configuration file: everything denied by default, one role per station,
    each backend identity the role of its name (:data:`BACKEND_ROLES`). Revoked stations are
    simply not listed."""
    stations, backends, admins = sorted(set(stations)), sorted(set(backends)), sorted(admins)
    for s in stations:
        if is_backend_name(s):
            raise ValueError(f"{s!r} is a backend name, not a station id")
    roles = [{"rolename": _station_role(s), "acls": station_acls(s)} for s in stations]
    roles += [{"rolename": role, "acls": acls}
              for role, acls in dict(BACKEND_ROLES.values()).items()]
    clients = [{"username": s, "roles": [{"rolename": _station_role(s)}]} for s in stations]
    clients += [{"username": b, "roles": [{"rolename": backend_role(b)}]} for b in backends]
    if admins:
        roles.append({"rolename": "dynsec-admin", "acls": ADMIN_ACLS})
        clients += [{"username": a, "roles": [{"rolename": "dynsec-admin"}]} for a in admins]
    doc = {"defaultACLAccess": {"publishClientSend": False, "publishClientReceive": True,
                                "subscribe": False, "unsubscribe": True},
           "clients": clients, "groups": [], "roles": roles}
    return json.dumps(doc, indent=1) + "\n"


def dynsec_plugin() -> str:
    import glob

    found = glob.glob("/usr/lib/*/mosquitto_dynamic_security.so")
    return found[0] if found else DYNSEC_PLUGIN


def listener_snippet(*, port: int, cafile: str, certfile: str, keyfile: str, dynsec_file: str,
                     crlfile: str | None = None, bind: str = "",
                     max_queued_messages: int = 100_000, max_packet_size: int = 262_144,
                     max_connections: int = -1, plugin: str | None = None) -> str:
    """A ``conf.d`` snippet: one mTLS listener, identity (username and client id) from the
    certificate, the dynamic-security plugin, the CRL and per-client limits.
    ``max_connections``: the listener's cap (-1: none, the file-descriptor limit decides)."""
    where = f" {bind}" if bind else ""
    crl = f"crlfile {crlfile}\n" if crlfile else ""
    return f"""\
# Generated by `python -m provisioning mosquitto`: station mTLS listener.
per_listener_settings false
allow_anonymous false
plugin {plugin or dynsec_plugin()}
plugin_opt_config_file {dynsec_file}
# Keep "persistence true" in the main mosquitto.conf (Debian's has it, with its location): the
# backend's persistent session and what is queued for it then survive a broker restart.
# Queued per client beyond the in-flight ones (stock: 1000). Mosquitto drops the excess silently
# after answering PUBACK 0x00; the stations' receipts make such drops recoverable (no receipt →
# re-sent), a large cap makes them rare while the backend is away or slow.
max_queued_messages {max_queued_messages}
# One identity cannot exhaust the broker with huge packets (a record is ~2 KB, with a face
# ~30 KB); in-flight QoS 1 messages per client are Mosquitto's default 20 (ReceiveMaximum).
max_packet_size {max_packet_size}
set_tcp_nodelay true

listener {port}{where}
# One connection per desk and per backend worker. -1 = no cap of Mosquitto's own: the process's
# file-descriptor limit is the real one, and Debian's mosquitto.service inherits systemd's soft
# 1024, so beyond ~1000 desks add a drop-in (systemctl edit mosquitto):
# [Service] LimitNOFILE=65536
max_connections {max_connections}
cafile {cafile}
certfile {certfile}
keyfile {keyfile}
{crl}tls_version tlsv1.2
require_certificate true
use_identity_as_username true
use_username_as_clientid true
"""
