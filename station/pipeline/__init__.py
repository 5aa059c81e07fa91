"""Record → durable SQLite outbox → MQTT publisher. A record is "stored" only once its
transaction committed, and deleted only after a successful PUBACK."""
