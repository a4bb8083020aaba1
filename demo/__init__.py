"""The bundled demo platform: a small social network on loopback."""
