"""Protocol and crypto of ICAO 9303 eMRTD chips: APDUs, BER-TLV, secure messaging, access
control, LDS files. Nothing here touches hardware: it talks to a Transport."""
