"""Software twins of the hardware: a virtual card speaking the vpcd protocol to pcscd, and the
synthetic citizens and PKI it carries."""
