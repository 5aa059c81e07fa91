"""The public-facing screen: what to say (screens) and how it looks (render). Where it goes —
a 128×64 OLED through luma.oled, a framebuffer panel, or a PNG file — is hardware, in
:mod:`station.drivers.display`."""
