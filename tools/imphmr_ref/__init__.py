"""PyTorch reference of ImpHMR at inference time (see ../../shared/DESIGN.md section 2).

The Rust engine must reproduce what this package computes: same rays, same encoding,
same volume rendering, same graphs. Everything the paper leaves open is a field of
`Config` (and so of the bundle manifest), never a constant here.
"""

from .config import Config, PRESETS
from .model import ImpHMR

__all__ = ["Config", "PRESETS", "ImpHMR"]
