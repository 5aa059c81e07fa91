"""station: reader station for Vietnamese chip identity cards (CCCD).

Data flows one way: camera → QR payload ─┐
                    PC/SC reader → chip → trust ─┴→ reading session → signed record
                    → SQLite outbox → MQTT publisher → backend.
"""

__version__ = "0.1.0"
