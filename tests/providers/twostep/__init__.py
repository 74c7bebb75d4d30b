"""A test-only platform whose upload is not its publish (upload -> ready -> publish).

Importing this package registers its providers: ``twostep`` (``TwoStepProvider``) and
``twostep_broken`` (``BrokenTwoStepProvider``, which declares no publish step). Both talk to
the emulator platform ``twostep`` (``emulator.TwoStep``, mounted by ``tests.support.Emulator``)
and use the ``twostep`` credentials.
"""

from atroposd.providers import REGISTRY
from tests.providers.twostep.provider import (
    BrokenTwoStepProvider,
    TwoStepProvider,
    build,
    build_broken,
)

REGISTRY.setdefault("twostep", build)
REGISTRY.setdefault("twostep_broken", build_broken)

__all__ = ["BrokenTwoStepProvider", "TwoStepProvider", "build", "build_broken"]
