"""The operator's side of provisioning, for deployments without their own PKI.

``python -m provisioning --dir DIR COMMAND`` (see ``--help``):

- ``init`` creates the broker CA, the broker's server certificate, the backend's MQTT client
  certificate (CN ``ingest``) and the backend's X25519 sealing key pair;
- ``sign`` signs a station's CSR and records the station's signing public key in the registry;
- ``mosquitto`` writes the broker's TLS listener snippet and ACL.

The station side is ``station provision`` (``station/identity.py``).
"""
