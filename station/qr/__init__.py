"""QR codes: decoding camera frames (``decode``) and the CCCD payload they carry (``cccd``)."""
