"""Local, protocol-faithful fakes of the platforms' upload APIs, with fault injection.

``EmulatorServer`` (async, for tests and the sandbox) and ``serve`` (blocking, for the CLI).
"""

from atroposd.emulator.server import EmulatorServer, serve

__all__ = ["EmulatorServer", "serve"]
