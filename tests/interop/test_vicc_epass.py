"""An independent card: vsmartcard's vicc ePass (Debian ``vsmartcard-vpicc`` /
``python3-virtualsmartcard`` 3.3), issued with the ICAO Doc 9303 specimen MRZ (ERIKSSON ANNA
MARIA, Utopia), read through the real pcscd + vpcd by ``station read``.

Nobody here wrote that card, and it differs from ours in ways real chips do; each is named:
- every protected answer lacks DO'99' (SELECT → ``8E 08 <MAC> 90 00``): status from the trailer
  once the MAC verifies (:mod:`station.nfc.sm`);
- its error answers are unprotected and do not consume the response's SSC step: the session
  learns the convention after one 6988 (:attr:`SecureMessaging.naked_error_step`);
- no SFI addressing (6A82 to every READ BINARY by SFI): SELECT by FID (:mod:`station.nfc.files`);
- an empty DG2 and an empty file at 010D: reported as skipped, not a failed read; given a photo,
  its own ISO/IEC 19794-5 face record in DG2 (the photo comes back byte for byte);
- EF.COM's tag list written as ASCII ``"6175"`` under length 2: ``malformed:COM``, read goes on;
- no EF.SOD: nothing can be verified, so never ``genuine``/``authentic``.
The test fixture patches a *copy* of the Debian package for Python 3 (station/testing/vicc.py).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from station.cli import main
from station.drivers.reader.pcsc import PcscReader
from station.errors import LdsFormatError, ProtocolError
from station.nfc import tlv
from station.nfc.access import AccessKey
from station.nfc.lds.dg2 import ISO_19794_5, parse_dg2
from station.nfc.session import ChipSession
from station.testing import vicc
from station.testing.pcscd import PcscdTestbed

pytestmark = pytest.mark.skipif(vicc.available() is not None,
                                reason=vicc.available() or "")


@pytest.fixture
def epass(pcscd: PcscdTestbed) -> Iterator[vicc.ViccEpass]:
    with vicc.ViccEpass(pcscd.slot_port(1)) as card:
        yield card


def test_station_read_of_the_vicc_epass(pcscd: PcscdTestbed, epass: vicc.ViccEpass,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["read", "--reader", pcscd.readers[1], "--mrz-key", vicc.ICAO_SPECIMEN_KEY,
                 "--timeout", "10", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err + epass.log_tail()
    doc = json.loads(out)
    assert doc["protocol"].startswith("BAC")
    mrz = doc["mrz"]
    assert mrz["document_number"] == "L898902C3" and mrz["nationality"] == "UTO"
    assert mrz["birth"] == "740812" and mrz["expiry"] == "120415" and mrz["sex"] == "F"
    assert "ERIKSSON" in json.dumps(mrz)
    assert "malformed:COM" in doc["com_mismatch"]
    assert {"DG14", "DG15", "SOD"} <= set(doc["skipped"])
    # No EF.SOD: nothing is verified, and nothing may say it was.
    assert doc["verification"]["outcome"] not in ("genuine", "authentic-data-clone-unchecked")


def test_vicc_epass_read_in_the_library(pcscd: PcscdTestbed, epass: vicc.ViccEpass) -> None:
    conn = PcscReader(pcscd.readers[1]).wait_for_card(10)
    try:
        session = ChipSession(AccessKey.parse_mrz_key(vicc.ICAO_SPECIMEN_KEY),
                              ("COM", "DG1", "DG2", "DG14", "SOD"))
        read = session.read(conn)
    finally:
        conn.close()
    assert bytes(read.files["DG1"]).endswith(vicc.ICAO_SPECIMEN_MRZ.encode())
    assert set(read.skipped) == {"DG2", "DG14", "SOD"}  # DG2 empty, the others absent
    assert session.strategy is not None and session.strategy.sfi is False


def test_vicc_epass_with_a_wrong_mrz_key_is_refused(pcscd: PcscdTestbed,
                                                    epass: vicc.ViccEpass,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["read", "--reader", pcscd.readers[1], "--mrz-key", "L898902C3,740813,120415",
                 "--timeout", "10"])
    assert code == 1
    assert "wrong access key" in capsys.readouterr().err


def test_secure_messaging_stays_strict_with_the_vicc_epass(pcscd: PcscdTestbed,
                                                           epass: vicc.ViccEpass) -> None:
    """A flipped bit in one of vicc's protected answers (the MAC is what makes the DO'99'-less
    answer acceptable) stops the read; it is never taken as data."""
    from station.nfc import files as nfc_files
    from station.nfc.access import establish

    class Flip:
        def __init__(self, inner: object) -> None:
            self.inner = inner
            self.atr = getattr(inner, "atr", b"")
            self.armed = False

        def transmit(self, apdu: bytes) -> bytes:
            raw: bytes = self.inner.transmit(apdu)  # type: ignore[attr-defined]
            if self.armed and len(raw) > 12:
                raw = raw[:3] + bytes((raw[3] ^ 1,)) + raw[4:]
            return raw

    conn = PcscReader(pcscd.readers[1]).wait_for_card(10)
    try:
        flip = Flip(conn)
        channel = establish(flip, AccessKey.parse_mrz_key(vicc.ICAO_SPECIMEN_KEY)).channel
        nfc_files.select_application(channel)
        nfc_files.select_file(channel, 0x0101)
        flip.armed = True
        with pytest.raises(ProtocolError, match="MAC"):
            nfc_files.read_binary(channel, 0, 4)
    finally:
        conn.close()


def test_vicc_epass_photo_in_its_own_face_record(pcscd: PcscdTestbed, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # vicc builds DG2 itself (7F61/7F60/5F2E around a 'FAC' 010 record with its own facial and
    # image information blocks): an ISO/IEC 19794-5 encoder nobody here wrote, read through
    # pcscd + vpcd under its 3DES secure messaging. It declares the image data type JPEG 2000
    # whatever it is given, so the photo is one. Its DG2 lacks the data group's own tag 75
    # (9303-10: EF.DG2 is tag 75): refused as malformed, typed, not tolerated (none of the real
    # documents in README "Tested against" omits it; an emulator's slip is not a chip quirk).
    photo = tmp_path / "face.jp2"
    Image.radial_gradient("L").resize((120, 150)).convert("RGB").save(photo, "JPEG2000")
    with vicc.ViccEpass(pcscd.slot_port(1), photo=photo) as card:
        conn = PcscReader(pcscd.readers[1]).wait_for_card(10)
        try:
            read = ChipSession(AccessKey.parse_mrz_key(vicc.ICAO_SPECIMEN_KEY),
                               ("COM", "DG1", "DG2")).read(conn)
        finally:
            conn.close()
        assert "DG2" in read.files, card.log_tail()
        code = main(["read", "--reader", pcscd.readers[1], "--mrz-key",
                     vicc.ICAO_SPECIMEN_KEY, "--timeout", "10", "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err + card.log_tail()  # the read is reported, not a crash
        assert json.loads(out)["verification"]["outcome"] not in (
            "genuine", "authentic-data-clone-unchecked")
    dg2 = bytes(read.files["DG2"])
    assert len(dg2) > 2 * 223  # several READ BINARYs under SM
    with pytest.raises(LdsFormatError, match="tag 75"):
        parse_dg2(dg2)
    face = parse_dg2(tlv.encode(0x75, dg2))  # what it lacks, and nothing else
    assert face.data == photo.read_bytes()  # the image, byte for byte
    assert face.image_format == "jpeg2000" and face.encoding == ISO_19794_5
    assert (face.width, face.height) == (120, 150)
    with Image.open(io.BytesIO(face.data)) as im:
        assert im.size == (120, 150)
