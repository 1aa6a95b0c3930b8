"""Cryptography for MCPTT key management: ECCSI, SAKKE, the MIKEY PRF, the 3GPP KDF and UIDs.

Pure functions on octet strings; caches are explicit.  Public-key primitives run on
``cryptography`` (C) where it has them and on gmpy2 where it does not (SAKKE's pairing).
"""
