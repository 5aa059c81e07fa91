import pytest
from hypothesis import given
from hypothesis import strategies as st

from station.errors import LdsFormatError
from station.nfc import tlv


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("6015", (2, 0x15)),
        ("618195", (3, 0x95)),
        ("75820F10", (4, 0x0F10)),
        ("7F61820201", (5, 0x0201)),  # two-byte tag, long length: needs 5 bytes
    ],
)
def test_header_size(head: str, expected: tuple[int, int]) -> None:
    buf = bytes.fromhex(head) + b"\x00" * 4
    assert tlv.header_size(buf) == expected


@pytest.mark.parametrize("bad", ["", "60", "6185", "5F", "5F8181", "6080", "6181"])
def test_truncated_or_unsupported_headers(bad: str) -> None:
    with pytest.raises(LdsFormatError):
        tlv.header_size(bytes.fromhex(bad))


@given(st.binary(max_size=12))
def test_any_bytes_give_a_size_or_a_typed_error(buf: bytes) -> None:
    try:
        hlen, vlen = tlv.header_size(buf)
    except LdsFormatError:
        return
    assert 1 < hlen <= len(buf)
    assert vlen >= 0


def test_decode_nested_and_encode() -> None:
    raw = bytes.fromhex("7F4905" "0603" "2A0304")
    obj = tlv.decode(raw)
    assert (obj.tag, obj.constructed) == (0x7F49, True)
    (oid,) = obj.children()
    assert (oid.tag, oid.value, oid.constructed) == (0x06, bytes.fromhex("2A0304"), False)
    assert obj.encode() == raw
    assert tlv.encode(0x04, bytes(200))[:3] == bytes.fromhex("0481C8")
    assert tlv.encode(0x04, bytes(300))[:4] == bytes.fromhex("0482012C")
    with pytest.raises(LdsFormatError):
        oid.children()
    with pytest.raises(LdsFormatError):
        tlv.decode(raw + b"\x00")
    assert tlv.decode(raw + b"\x00", trailing=True) == obj


def test_deep_nesting_is_not_a_recursion_bomb() -> None:
    raw = b"\x30\x00"
    for _ in range(2000):
        raw = tlv.encode(0x30, raw)
    obj = tlv.decode(raw)
    assert obj.children()[0].tag == 0x30


@given(st.binary(max_size=64))
def test_decode_any_bytes_gives_objects_or_a_typed_error(buf: bytes) -> None:
    try:
        objs = tlv.decode_all(buf)
    except LdsFormatError:
        return
    assert b"".join(o.encode() for o in objs) == buf or len(objs) >= 1
