"""Real servers for tests and the demo: a private pcscd with the vpcd driver, and Mosquitto.

Shipped inside the package (like ``gpiozero.testing``) because ``station demo`` uses them too.
"""
