"""The course library: devices and seeds, datasets, plots and widgets shared by the chapters."""
from dlcourse.runtime import device, seed_everything

__all__ = ["device", "seed_everything"]
__version__ = "0.1.0"
