"""cleanroom: the hub side of a clean-room analytics workbench."""

__version__ = "0.1.0"
