"""Logical Data Structure (ICAO 9303-10): parsers of EF.COM, EF.CardAccess / SecurityInfos,
the data groups and EF.SOD. Each parser takes bytes and returns a frozen dataclass or raises
:class:`station.errors.LdsFormatError`."""
