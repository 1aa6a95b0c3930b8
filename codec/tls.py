"""TLS 1.2 wire structures (RFC 5246) used to build and read records: construct schemas.

The capture generator writes real TLS sessions with these; the dissector hands TLS to tshark.
"""

from __future__ import annotations

import construct as c

TLS12 = 0x0303

# RFC 5246 §6.2.1 TLSPlaintext / §6.2.3 TLSCiphertext
RECORD = c.Struct("type" / c.Int8ub, "version" / c.Int16ub,
                  "fragment" / c.Prefixed(c.Int16ub, c.GreedyBytes))
# §7.4 Handshake
HANDSHAKE = c.Struct("msg_type" / c.Int8ub, "body" / c.Prefixed(c.Int24ub, c.GreedyBytes))
# §7.4.1.4 Extension
EXTENSION = c.Struct("type" / c.Int16ub, "data" / c.Prefixed(c.Int16ub, c.GreedyBytes))
# §6.2.3.3 additional data of an AEAD record: seq_num + type + version + length
AEAD_AAD = c.Struct("seq_num" / c.Int64ub, "type" / c.Int8ub, "version" / c.Int16ub,
                    "length" / c.Int16ub)
# §4.3 variable-length vectors <0..2^8-1>, <0..2^16-1>, <0..2^24-1>
OPAQUE8 = c.Prefixed(c.Int8ub, c.GreedyBytes)
OPAQUE16 = c.Prefixed(c.Int16ub, c.GreedyBytes)
OPAQUE24 = c.Prefixed(c.Int24ub, c.GreedyBytes)
U8, U16, U32 = c.Int8ub, c.Int16ub, c.Int32ub  # RFC 5246 §4.4 numbers (uint8/16/32)
# RFC 5246 §6.3 key block of an AES-128-GCM suite (no MAC keys; 4-octet implicit nonce parts)
KEY_BLOCK_AES128_GCM = c.Struct("client_write_key" / c.Bytes(16), "server_write_key" / c.Bytes(16),
                                "client_write_iv" / c.Bytes(4), "server_write_iv" / c.Bytes(4))
