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
