"""mcsec codec: pure, I/O-free encoders and decoders for MCPTT security signalling."""

from codec.errors import DecodeError, EncodeError, Finding

__version__ = "0.1.0"
__all__ = ["DecodeError", "EncodeError", "Finding", "__version__"]
