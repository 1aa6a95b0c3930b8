"""Object identifiers of CMS and S/MIME (reference/mcptt-security.md §6.2–6.3) and their names."""

from __future__ import annotations

# RFC 5652 §4–§9, RFC 3274 §1.1, RFC 5083 §1
DATA = "1.2.840.113549.1.7.1"
SIGNED_DATA = "1.2.840.113549.1.7.2"
ENVELOPED_DATA = "1.2.840.113549.1.7.3"
DIGESTED_DATA = "1.2.840.113549.1.7.5"
ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
AUTH_DATA = "1.2.840.113549.1.9.16.1.2"
COMPRESSED_DATA = "1.2.840.113549.1.9.16.1.9"
AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"

# attributes, RFC 5652 §11, RFC 8551 §2.5.2
CONTENT_TYPE_ATTR = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST_ATTR = "1.2.840.113549.1.9.4"
SIGNING_TIME_ATTR = "1.2.840.113549.1.9.5"
SMIME_CAPABILITIES_ATTR = "1.2.840.113549.1.9.15"

# digests
SHA1, SHA224, SHA256, SHA384, SHA512 = ("1.3.14.3.2.26", "2.16.840.1.101.3.4.2.4",
                                        "2.16.840.1.101.3.4.2.1", "2.16.840.1.101.3.4.2.2",
                                        "2.16.840.1.101.3.4.2.3")
DIGEST_NAMES = {SHA1: "sha1", SHA224: "sha224", SHA256: "sha256", SHA384: "sha384",
                SHA512: "sha512"}
DIGEST_BY_NAME = {v: k for k, v in DIGEST_NAMES.items()}

# signatures (RFC 5754, RFC 4055, RFC 5758)
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
RSAES_OAEP = "1.2.840.113549.1.1.7"
MGF1 = "1.2.840.113549.1.1.8"
P_SPECIFIED = "1.2.840.113549.1.1.9"
RSASSA_PSS = "1.2.840.113549.1.1.10"
RSA_WITH = {"1.2.840.113549.1.1.5": SHA1, "1.2.840.113549.1.1.14": SHA224,
            "1.2.840.113549.1.1.11": SHA256, "1.2.840.113549.1.1.12": SHA384,
            "1.2.840.113549.1.1.13": SHA512}
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
ECDSA_WITH = {"1.2.840.10045.4.1": SHA1, "1.2.840.10045.4.3.1": SHA224,
              "1.2.840.10045.4.3.2": SHA256, "1.2.840.10045.4.3.3": SHA384,
              "1.2.840.10045.4.3.4": SHA512}
SECP256R1, SECP384R1, SECP521R1 = "1.2.840.10045.3.1.7", "1.3.132.0.34", "1.3.132.0.35"

# content encryption (RFC 3565 §4.1, RFC 5084 §3)
AES_CBC = {"2.16.840.1.101.3.4.1.2": 16, "2.16.840.1.101.3.4.1.22": 24,
           "2.16.840.1.101.3.4.1.42": 32}
AES_GCM = {"2.16.840.1.101.3.4.1.6": 16, "2.16.840.1.101.3.4.1.26": 24,
           "2.16.840.1.101.3.4.1.46": 32}
AES_CCM = {"2.16.840.1.101.3.4.1.7": 16, "2.16.840.1.101.3.4.1.27": 24,
           "2.16.840.1.101.3.4.1.47": 32}
# key wrap (RFC 3394 via RFC 3565 §2.3.2; RFC 5649 §3)
AES_WRAP = {"2.16.840.1.101.3.4.1.5": 16, "2.16.840.1.101.3.4.1.25": 24,
            "2.16.840.1.101.3.4.1.45": 32}
AES_WRAP_PAD = {"2.16.840.1.101.3.4.1.8": 16, "2.16.840.1.101.3.4.1.28": 24,
                "2.16.840.1.101.3.4.1.48": 32}
WRAP_BY_LEN = {v: k for k, v in AES_WRAP.items()}
CBC_BY_NAME = {"aes-128-cbc": "2.16.840.1.101.3.4.1.2", "aes-192-cbc": "2.16.840.1.101.3.4.1.22",
               "aes-256-cbc": "2.16.840.1.101.3.4.1.42"}
GCM_BY_NAME = {"aes-128-gcm": "2.16.840.1.101.3.4.1.6", "aes-192-gcm": "2.16.840.1.101.3.4.1.26",
               "aes-256-gcm": "2.16.840.1.101.3.4.1.46"}

# ECDH key agreement schemes (RFC 5753 §7.1.4, SEC 1); value = KDF hash
ECDH_STD = {"1.3.133.16.840.63.0.2": SHA1, "1.3.132.1.11.0": SHA224, "1.3.132.1.11.1": SHA256,
            "1.3.132.1.11.2": SHA384, "1.3.132.1.11.3": SHA512}
ECDH_COFACTOR = {"1.3.133.16.840.63.0.3": SHA1, "1.3.132.1.14.0": SHA224,
                 "1.3.132.1.14.1": SHA256, "1.3.132.1.14.2": SHA384, "1.3.132.1.14.3": SHA512}
ECDH_STD_BY_HASH = {v: k for k, v in ECDH_STD.items()}

ZLIB_COMPRESS = "1.2.840.113549.1.9.16.3.8"  # RFC 3274 §2

NAMES = {
    DATA: "id-data", SIGNED_DATA: "id-signedData", ENVELOPED_DATA: "id-envelopedData",
    DIGESTED_DATA: "id-digestedData", ENCRYPTED_DATA: "id-encryptedData",
    AUTH_DATA: "id-ct-authData", COMPRESSED_DATA: "id-ct-compressedData",
    AUTH_ENVELOPED_DATA: "id-ct-authEnvelopedData",
    CONTENT_TYPE_ATTR: "contentType", MESSAGE_DIGEST_ATTR: "messageDigest",
    SIGNING_TIME_ATTR: "signingTime", SMIME_CAPABILITIES_ATTR: "smimeCapabilities",
    "1.2.840.113549.1.9.16.2.47": "signingCertificateV2",
    "1.2.840.113549.1.9.16.2.12": "signingCertificate",
    "1.2.840.113549.1.9.16.2.11": "encrypKeyPref",
    RSA_ENCRYPTION: "rsaEncryption", RSAES_OAEP: "id-RSAES-OAEP", MGF1: "id-mgf1",
    P_SPECIFIED: "id-pSpecified", RSASSA_PSS: "id-RSASSA-PSS",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    EC_PUBLIC_KEY: "id-ecPublicKey", "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.1": "ecdsa-with-SHA224", "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384", "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    SECP256R1: "secp256r1", SECP384R1: "secp384r1", SECP521R1: "secp521r1",
    ZLIB_COMPRESS: "id-alg-zlibCompress",
    "1.2.840.113549.3.7": "des-ede3-cbc", "1.2.840.113549.3.2": "rc2-cbc",
    "1.3.14.3.2.7": "des-cbc",
}
NAMES.update(DIGEST_NAMES)
for _oid, _n in AES_CBC.items():
    NAMES[_oid] = f"aes{_n * 8}-CBC"
for _oid, _n in AES_GCM.items():
    NAMES[_oid] = f"aes{_n * 8}-GCM"
for _oid, _n in AES_CCM.items():
    NAMES[_oid] = f"aes{_n * 8}-CCM"
for _oid, _n in AES_WRAP.items():
    NAMES[_oid] = f"id-aes{_n * 8}-wrap"
for _oid, _n in AES_WRAP_PAD.items():
    NAMES[_oid] = f"id-aes{_n * 8}-wrap-pad"
for _oid, _h in ECDH_STD.items():
    NAMES[_oid] = f"dhSinglePass-stdDH-{DIGEST_NAMES[_h]}kdf-scheme"
for _oid, _h in ECDH_COFACTOR.items():
    NAMES[_oid] = f"dhSinglePass-cofactorDH-{DIGEST_NAMES[_h]}kdf-scheme"

# X.520 attribute types for RFC 4514 names
DN_SHORT = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
            "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "1.2.840.113549.1.9.1": "emailAddress",
            "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID"}

CONTENT_KINDS = {DATA: "Data", SIGNED_DATA: "SignedData", ENVELOPED_DATA: "EnvelopedData",
                 DIGESTED_DATA: "DigestedData", ENCRYPTED_DATA: "EncryptedData",
                 AUTH_DATA: "AuthenticatedData", COMPRESSED_DATA: "CompressedData",
                 AUTH_ENVELOPED_DATA: "AuthEnvelopedData"}
KIND_OIDS = {v: k for k, v in CONTENT_KINDS.items()}


def name(oid: str) -> str | None:
    return NAMES.get(str(oid))
