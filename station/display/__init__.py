"""The public-facing screen: what to say (screens), how it looks (render), where it goes
(devices: a 128×64 OLED through luma.oled, a framebuffer panel, or a PNG file)."""
