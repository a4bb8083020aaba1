"""The bundled demo platform: a small social network on loopback (see demo/README.md).

`python -m demo serve` runs it; `demo.server.start_demo()` starts it in a subprocess.
"""
