"""The topic table: the publisher's topics, ingest's subscription and the broker's access list
all come from :mod:`station.topics`."""

from __future__ import annotations

import pytest

from provisioning import mosquitto
from station import topics
from station.topics import Side


def test_each_topic_of_a_station() -> None:
    assert topics.RECORDS.of("desk-1") == "stations/desk-1/records"
    assert topics.EVENTS.of("desk-1", "command") == "stations/desk-1/events/command"
    assert topics.EVENTS.filter("desk-1") == "stations/desk-1/events/#"
    assert topics.RECEIPTS.filter() == "stations/+/receipts"
    assert topics.SHARED_RECORDS == "$share/ingest/stations/+/records"
    with pytest.raises(ValueError):
        topics.RECORDS.of("desk-1", "extra")  # records has no subtopics


def test_every_topic_is_written_by_one_side_and_read_by_the_other() -> None:
    station = set(topics.written_by(Side.STATION))
    backend = set(topics.written_by(Side.BACKEND))
    assert station | backend == set(topics.TOPICS) and not station & backend
    assert {t.leaf for t in backend} == {"commands", "receipts"}
    assert all(t.reader is Side.BACKEND for t in station)
    assert all(t.reader is Side.STATION for t in backend)


@pytest.mark.parametrize(("topic", "station"), [
    ("stations/desk-1/records", "desk-1"),
    ("stations/desk-1/status", None),
    ("stations//records", None),
    ("stations/desk-1/records/x", None),
    ("other/desk-1/records", None),
])
def test_record_station(topic: str, station: str | None) -> None:
    assert topics.record_station(topic) == station


def test_the_station_acl_is_the_table() -> None:
    acls = mosquitto.station_acls("desk-3")
    sends = {a["topic"] for a in acls if a["acltype"] == "publishClientSend"}
    subs = {a["topic"] for a in acls if a["acltype"] == "subscribeLiteral"}
    assert sends == {t.filter("desk-3") for t in topics.written_by(Side.STATION)}
    assert subs == {t.filter("desk-3") for t in topics.written_by(Side.BACKEND)}
    assert len(acls) == len(topics.TOPICS)  # nothing granted beyond the table


def test_the_backend_acl_is_the_table() -> None:
    sends = {a["topic"] for a in mosquitto.BACKEND_ACLS
             if a["acltype"] == "publishClientSend"}
    subs = {a["topic"] for a in mosquitto.BACKEND_ACLS if a["acltype"] == "subscribePattern"}
    assert sends == {"stations/+/commands", "stations/+/receipts"}
    assert subs == set(topics.BACKEND_READS) == {"stations/#", "$share/+/stations/#"}
