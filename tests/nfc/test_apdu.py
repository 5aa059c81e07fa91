import pytest

from station.errors import ProtocolError, StatusWordError
from station.nfc.apdu import CommandApdu, ResponseApdu, transceive
from tests.fakes import Replies


@pytest.mark.parametrize(
    ("cmd", "encoded"),
    [
        (CommandApdu(0x00, 0xA4, 0x02, 0x0C, bytes.fromhex("011E")), "00A4020C02011E"),
        (CommandApdu(0x00, 0xB0, 0x00, 0x00, le=4), "00B0000004"),
        (CommandApdu(0x00, 0xB0, 0x00, 0x00, le=256), "00B0000000"),
        (CommandApdu(0x00, 0x84, 0x00, 0x00, le=8), "0084000008"),
        # extended: Le only → 00 + 2 bytes; data + Le → 00 Lc(2) data Le(2)
        (CommandApdu(0x00, 0xB0, 0x00, 0x00, le=1000), "00B00000" "0003E8"),
        (CommandApdu(0x00, 0xB0, 0x00, 0x00, le=0, extended=True), "00B00000" "000000"),
        (CommandApdu(0x0C, 0xB0, 0, 0, b"\x01\x02", le=0, extended=True),
         "0CB00000" "000002" "0102" "0000"),
    ],
)
def test_encode(cmd: CommandApdu, encoded: str) -> None:
    assert cmd.encode().hex().upper() == encoded


def test_get_response_chaining() -> None:
    t = Replies(["AABB6104", "CCDDEEFF6102", "11229000"])
    r = transceive(t, CommandApdu(0x00, 0xB0, 0, 0, le=0))
    assert r.data == bytes.fromhex("AABBCCDDEEFF1122")
    assert r.ok
    assert t.sent[1:] == ["00C0000004", "00C0000002"]


def test_wrong_le_is_resent() -> None:
    t = Replies(["6C05", "01020304059000"])
    r = transceive(t, CommandApdu(0x00, 0xB0, 0, 0, le=0x10))
    assert r.data == bytes.fromhex("0102030405")
    assert t.sent[1] == "00B0000005"


def test_status_word_error_is_typed() -> None:
    with pytest.raises(StatusWordError) as exc:
        ResponseApdu.decode(bytes.fromhex("6A82")).check("SELECT 0101")
    assert exc.value.sw == 0x6A82
    assert "6A82" in str(exc.value)


def test_response_without_status_word() -> None:
    with pytest.raises(ProtocolError):
        ResponseApdu.decode(b"\x90")


@pytest.mark.parametrize(
    "cmd",
    [
        CommandApdu(0x00, 0xA4, 0x02, 0x0C, bytes.fromhex("011E")),
        CommandApdu(0x00, 0xB0, 0x00, 0x00, le=4),
        CommandApdu(0x00, 0xB0, 0x00, 0x00, le=256),
        CommandApdu(0x00, 0x84, 0x00, 0x00),
        CommandApdu(0x00, 0xB0, 0x00, 0x00, le=1000, extended=True),
        CommandApdu(0x0C, 0xB0, 0, 0, b"\x01\x02", le=65536, extended=True),
        CommandApdu(0x10, 0x86, 0, 0, bytes(300), le=256, extended=True),
        CommandApdu(0x00, 0x22, 0xC1, 0xA4, bytes(300), extended=True),
    ],
)
def test_decode_inverts_encode(cmd: CommandApdu) -> None:
    assert CommandApdu.decode(cmd.encode()) == cmd


@pytest.mark.parametrize("raw", ["00B000", "00A4020C05011E", "00B000000001", "00B0000000"
                                 "0005AABB"])
def test_decode_rejects_bad_lengths(raw: str) -> None:
    with pytest.raises(ProtocolError):
        CommandApdu.decode(bytes.fromhex(raw))
