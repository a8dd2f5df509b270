"""routet2i: route text-to-image requests between a light edge model and a large cloud model.

Importing this package loads nothing heavy (no torch, no diffusers); every subpackage imports
its heavy dependencies where they are used.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
