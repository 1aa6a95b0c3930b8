"""MIKEY value registries (RFC 3830 §6 and the IANA "MIKEY Payload Name Spaces").

Labels follow Wireshark's packet-mikey.c where it has one, so text output reads like
``tshark -V``.  Values that the references could not confirm are marked ``UNCONFIRMED``
in a comment; decoders accept every value, these tables only label them.
"""

# RFC 3830 §6.1 data type (+ RFC 4650, RFC 4738, RFC 6043, RFC 6509)
DATA_TYPES = {
    0: "Pre-shared",
    1: "PSK ver msg",
    2: "Public key",
    3: "PK ver msg",
    4: "D-H init",
    5: "D-H resp",
    6: "Error",
    7: "DHHMAC init",  # RFC 4650
    8: "DHHMAC resp",  # RFC 4650
    9: "RSA-R I_MSG",  # RFC 4738
    10: "RSA-R R_MSG",  # RFC 4738
    11: "REQUEST_INIT_PSK",  # RFC 6043 §6.1 Table 6.1
    12: "REQUEST_INIT_PK",
    13: "REQUEST_RESP",
    14: "TRANSFER_INIT",
    15: "TRANSFER_RESP",
    16: "RESOLVE_INIT_PSK",
    17: "RESOLVE_INIT_PK",
    18: "RESOLVE_RESP",
    26: "SAKKE",  # RFC 6509 §4.1
    27: "CS Id map Update",  # Wireshark's label; origin UNCONFIRMED
}

# HDR next payload / payload type (RFC 3830 §6.1, RFC 6043 §6.1, RFC 6509 §4)
PAYLOAD_TYPES = {
    0: "Last payload",
    1: "Key Data Transport (KEMAC)",
    2: "Envelope Data (PKE)",
    3: "DH Data (DH)",
    4: "Signature (SIGN)",
    5: "Timestamp (T)",
    6: "ID",
    7: "Certificate (CERT)",
    8: "CHASH",
    9: "Ver msg (V)",
    10: "Security Policy (SP)",
    11: "RAND",
    12: "Error (ERR)",
    13: "Timestamp with role (TR)",
    14: "IDR",
    15: "RAND with role (RANDR)",
    16: "Ticket Policy (TP)",
    17: "Ticket (TICKET)",
    20: "Key data (KEY)",
    21: "General Extension (EXT)",
    26: "SAKKE Encapsulated Data (SAKKE)",
}

PRF_FUNCS = {0: "MIKEY-1", 1: "PRF-HMAC-SHA-256"}  # RFC 3830 §6.1, RFC 6043 §6.1 ("MIKEY-256")

CS_ID_MAP_TYPES = {
    0: "SRTP-ID",  # RFC 3830 §6.1.1
    1: "Empty map",  # RFC 4563 §4
    2: "GENERIC-ID",  # RFC 6043 §6.1.1
    7: "IPSEC4-ID (minisip, unregistered)",
}

# Security protocol type, shared by the GENERIC-ID map and SP (RFC 3830 §6.10, RFC 6043).
# The TLS protocol type of seed 004 Annex X has no assigned number ("TBD"); mcsec uses a
# configurable private-use value, see codec.mikey.config.
PROT_TYPE_SRTP = 0
PROT_TYPES = {0: "SRTP", 7: "IPSEC4 (minisip, unregistered)"}

KEMAC_ENCR_ALGS = {0: "NULL", 1: "AES-CM-128", 2: "AES-KW-128", 3: "AES-CM-256"}  # RFC 6043 §6.2
MAC_ALGS = {0: "NULL", 1: "HMAC-SHA-1-160", 2: "HMAC-SHA-256-256"}  # RFC 3830 §6.2, RFC 6043
MAC_LENGTHS = {0: 0, 1: 20, 2: 32}

PKE_CACHE = {0: "No cache", 1: "Cache", 2: "Cache for CSB"}

DH_GROUPS = {0: "OAKLEY 5", 1: "OAKLEY 1", 2: "OAKLEY 2"}  # RFC 3830 §6.4
DH_VALUE_LENGTHS = {0: 192, 1: 96, 2: 128}

KV_TYPES = {0: "Null", 1: "SPI/MKI", 2: "Interval"}  # RFC 3830 §6.13

SIGN_TYPES = {0: "RSA/PKCS#1/1.5", 1: "RSA/PSS", 2: "ECCSI"}  # RFC 3830 §6.5, RFC 6509 §4.3
ECCSI_SIGNATURE_LEN = 129  # RFC 6507 §3.3: r(32) || s(32) || PVT(65)

TS_TYPES = {0: "NTP-UTC", 1: "NTP", 2: "COUNTER", 3: "NTP-UTC-32"}  # RFC 3830 §6.6, RFC 6043
TS_VALUE_LENGTHS = {0: 8, 1: 8, 2: 4, 3: 4}

ID_TYPES = {0: "NAI", 1: "URI", 2: "Byte string"}  # RFC 3830 §6.7, RFC 6043 §6.6
ID_ROLES = {
    0: "Reserved",
    1: "Initiator (IDRi)",
    2: "Responder (IDRr)",
    3: "KMS (IDRkms)",
    4: "Pre-Shared Key (IDRpsk)",
    5: "Application (IDRapp)",
    6: "Initiator's KMS (IDRkmsi)",  # RFC 6509 §4.4
    7: "Responder's KMS (IDRkmsr)",  # RFC 6509 §4.4
}

CERT_TYPES = {0: "X.509v3", 1: "X.509v3 URL", 2: "X.509v3 Sign", 3: "X.509v3 Encr"}
HASH_FUNCS = {0: "SHA-1", 1: "MD5", 2: "SHA-256"}  # RFC 3830 §6.8, RFC 6043 §6.8
HASH_LENGTHS = {0: 20, 1: 16, 2: 32}

ERROR_NUMBERS = {
    0: "Authentication failure",
    1: "Invalid timestamp",
    2: "PRF function not supported",
    3: "MAC algorithm not supported",
    4: "Encryption algorithm not supported",
    5: "Hash function not supported",
    6: "DH group not supported",
    7: "ID not supported",
    8: "Certificate not supported",
    9: "SP type not supported",
    10: "SP parameters not supported",
    11: "Data type not supported",
    12: "Unspecified error",
    14: "Invalid TICKET",  # RFC 6043 §6.9
    15: "Invalid TPpar",  # RFC 6043 §6.9
}

KEY_TYPES = {0: "TGK", 1: "TGK+SALT", 2: "TEK", 3: "TEK+SALT",  # RFC 3830 §6.13
             4: "GTGK", 5: "GTGK+SALT", 6: "MPK"}  # RFC 6043 §6.13
KEY_TYPES_WITH_SALT = (1, 3, 5)

GEN_EXT_TYPES = {
    0: "Vendor-ID",
    1: "SDP-IDs",
    2: "Key ID information",  # RFC 4563; UNCONFIRMED value
    6: "SAKKE-to-self",  # TS 33.180 §E.5; UNCONFIRMED registration
    7: "3GPP MC key parameters",  # TS 33.180 §E.6
}

SAKKE_PARAMS = {1: "Parameter Set 1"}  # RFC 6509 Appendix A
SAKKE_ID_SCHEMES = {1: "tel URI with monthly keys", 2: "MIKEY-SAKKE-UID", 240: "private endpoint address"}

# RFC 3830 §6.10.1 SRTP policy parameter types, with Wireshark's per-type field names.
SRTP_POLICY_PARAMS = {
    0: ("Encryption algorithm", "mikey.sp.encr_alg"),
    1: ("Session Encr. key length", "mikey.sp.encr_len"),
    2: ("Authentication algorithm", "mikey.sp.auth_alg"),
    3: ("Session Auth. key length", "mikey.sp.auth_key_len"),
    4: ("Session Salt key length", "mikey.sp.salt_len"),
    5: ("SRTP Pseudo Random Function", "mikey.sp.prf"),
    6: ("Key derivation rate", "mikey.sp.kd_rate"),
    7: ("SRTP encryption", "mikey.sp.srtp_encr"),
    8: ("SRTCP encryption", "mikey.sp.srtcp_encr"),
    9: ("Sender's FEC order", "mikey.sp.fec"),
    10: ("SRTP authentication", "mikey.sp.srtp_auth"),
    11: ("Authentication tag length", "mikey.sp.auth_tag_len"),
    12: ("SRTP prefix length", "mikey.sp.srtp_prefix"),
    13: ("ROC transmission rate", "mikey.sp.roc_rate"),  # RFC 4771; new name
    18: ("SRTP ROC auth tag length", "mikey.sp.param18"),  # UNCONFIRMED name
    19: ("SRTCP auth tag length", "mikey.sp.param19"),  # UNCONFIRMED name
    20: ("AEAD authentication tag length", "mikey.sp.aead_tag_len"),  # RFC 7714
}
SRTP_ENCR_ALGS = {0: "NULL", 1: "AES-CM", 2: "AES-F8", 6: "AES-GCM", 7: "AES-CCM"}
SRTP_AUTH_ALGS = {0: "NULL", 1: "HMAC-SHA-1", 4: "RCCm3"}
SRTP_PARAM_VALUE_NAMES = {
    0: SRTP_ENCR_ALGS,
    2: SRTP_AUTH_ALGS,
    5: {0: "AES-CM"},
    7: {0: "Off", 1: "On"},
    8: {0: "Off", 1: "On"},
    9: {0: "FEC-SRTP"},
    10: {0: "Off", 1: "On"},
}

# RFC 6043 role registries (TR, RANDR) and ticket types
TS_ROLES = {1: "Time of issue (TRi)", 2: "Start of validity period (TRs)",
            3: "End of validity period (TRe)", 4: "Rekeying interval (TRr)"}
RAND_ROLES = {1: "Initiator (RANDRi)", 2: "Responder (RANDRr)", 3: "KMS (RANDRkms)"}
TICKET_TYPES = {1: "MIKEY Base Ticket", 2: "3GPP Base Ticket"}  # RFC 6043 §6.10 Table 6.15
