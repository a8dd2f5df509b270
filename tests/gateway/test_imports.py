"""DESIGN §2 import rules: the gateway loads no torch, diffusers, quality or training code until
the router is actually loaded."""

from __future__ import annotations

import subprocess
import sys


def test_gateway_modules_import_nothing_heavy() -> None:
    code = (
        "import sys;"
        "import routet2i.gateway.app, routet2i.gateway.assembly, routet2i.gateway.embedded;"
        "import routet2i.gateway.command, routet2i.gateway.command_serve;"
        "bad = ('torch', 'diffusers', 'transformers', 'open_clip', 'routet2i.quality', 'routet2i.predictor.training');"
        "print([m for m in bad if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
