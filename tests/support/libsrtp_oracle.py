"""libsrtp 2 (the copy pylibsrtp ships) driven through ctypes, as the tests' SRTP oracle for what
pylibsrtp's API does not reach: any crypto policy (NULL cipher, AES-256-CM, NULL auth, SRTCP tag
lengths), MKIs (``srtp_protect_mki``) and a stream's ROC (``srtp_set_stream_roc``).

The ``srtp_policy_t`` layout is libsrtp 2.x's (srtp.h); cffi's own view of the struct pylibsrtp
compiled (size, offsets of rtcp/key/window_size/allow_repeat_tx) is checked against it on load.
"""

from __future__ import annotations

import ctypes

import pylibsrtp
import pylibsrtp._binding as _binding

_lib = ctypes.CDLL(_binding.__file__)

# srtp_cipher_type_id_t / srtp_auth_type_id_t / srtp_sec_serv_t (crypto_types.h, srtp.h)
NULL_CIPHER, AES_ICM_128, AES_ICM_192, AES_ICM_256 = 0, 1, 4, 5
NULL_AUTH, HMAC_SHA1 = 0, 3
SEC_NONE, SEC_CONF, SEC_AUTH, SEC_CONF_AND_AUTH = 0, 1, 2, 3
SSRC_SPECIFIC, SSRC_ANY_OUTBOUND, SSRC_ANY_INBOUND = 1, 2, 3


class CryptoPolicy(ctypes.Structure):
    _fields_ = [("cipher_type", ctypes.c_uint32), ("cipher_key_len", ctypes.c_int),
                ("auth_type", ctypes.c_uint32), ("auth_key_len", ctypes.c_int),
                ("auth_tag_len", ctypes.c_int), ("sec_serv", ctypes.c_int)]


class MasterKey(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("mki_id", ctypes.c_char_p),
                ("mki_size", ctypes.c_uint)]


class Policy(ctypes.Structure):
    _fields_ = [("ssrc_type", ctypes.c_int), ("ssrc_value", ctypes.c_uint),
                ("rtp", CryptoPolicy), ("rtcp", CryptoPolicy), ("key", ctypes.c_char_p),
                ("keys", ctypes.POINTER(ctypes.POINTER(MasterKey))),
                ("num_master_keys", ctypes.c_ulong), ("deprecated_ekt", ctypes.c_void_p),
                ("window_size", ctypes.c_ulong), ("allow_repeat_tx", ctypes.c_int),
                ("enc_xtn_hdr", ctypes.c_void_p), ("enc_xtn_hdr_count", ctypes.c_int),
                ("next", ctypes.c_void_p)]


_ffi = _binding.ffi
assert ctypes.sizeof(Policy) == _ffi.sizeof("srtp_policy_t")
for _name in ("rtcp", "key", "window_size", "allow_repeat_tx"):
    assert getattr(Policy, _name).offset == _ffi.offsetof("srtp_policy_t", _name), _name

_lib.srtp_init.restype = ctypes.c_int
_lib.srtp_create.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(Policy)]
for _f in ("srtp_protect_mki", "srtp_protect_rtcp_mki", "srtp_unprotect_mki",
           "srtp_unprotect_rtcp_mki"):
    getattr(_lib, _f).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                  ctypes.c_uint] + ([ctypes.c_uint] if "_protect" in _f
                                                    and "un" not in _f else [])
_lib.srtp_set_stream_roc.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
_lib.srtp_dealloc.argtypes = [ctypes.c_void_p]
pylibsrtp.Session  # noqa: B018 - importing pylibsrtp has run srtp_init()

CIPHER = {("NULL", 16): NULL_CIPHER, ("AES-CM", 16): AES_ICM_128, ("AES-CM", 24): AES_ICM_192,
          ("AES-CM", 32): AES_ICM_256}


def crypto_policy(cipher: str, key_len: int, tag_len: int, encrypt: bool = True) -> CryptoPolicy:
    """cipher "AES-CM" or "NULL"; tag_len 0 for NULL auth.  libsrtp's cipher key length includes
    the 14-octet salt; its NULL cipher still reads a 30-octet master key (srtp.c)."""
    conf = cipher != "NULL" and encrypt
    serv = (SEC_CONF if conf else SEC_NONE) | (SEC_AUTH if tag_len else SEC_NONE)
    return CryptoPolicy(CIPHER[(cipher, key_len)], key_len + 14, HMAC_SHA1 if tag_len else NULL_AUTH,
                        20 if tag_len else 0, tag_len, serv)


class Sender:
    """One outbound libsrtp session (for ``ssrc``, else any SSRC) with one master key and
    optionally an MKI."""

    def __init__(self, key: bytes, salt: bytes, rtp: CryptoPolicy, rtcp: CryptoPolicy,
                 mki: bytes = b"", ssrc: int | None = None):
        self._keep = [key + salt, mki]
        self.policy = Policy(ssrc_type=SSRC_ANY_OUTBOUND if ssrc is None else SSRC_SPECIFIC,
                             ssrc_value=ssrc or 0, rtp=rtp, rtcp=rtcp,
                             key=key + salt, window_size=1024, allow_repeat_tx=1)
        self.use_mki = bool(mki)
        if mki:
            mk = MasterKey(key + salt, mki, len(mki))
            self._keep.append(mk)
            arr = (ctypes.POINTER(MasterKey) * 1)(ctypes.pointer(mk))
            self._keep.append(arr)
            # srtp_stream_init_all_master_keys reads ``keys`` only when ``key`` is NULL
            self.policy.key, self.policy.keys, self.policy.num_master_keys = None, arr, 1
        self.ctx = ctypes.c_void_p()
        err = _lib.srtp_create(ctypes.byref(self.ctx), ctypes.byref(self.policy))
        assert err == 0, f"srtp_create failed: {err}"

    def _run(self, fn, packet: bytes) -> bytes:
        buf = ctypes.create_string_buffer(bytes(packet), len(packet) + 64 + 255)
        n = ctypes.c_int(len(packet))
        err = fn(self.ctx, buf, ctypes.byref(n), int(self.use_mki), 0)
        assert err == 0, f"{fn.__name__} failed: {err}"
        return buf.raw[:n.value]

    def protect(self, packet: bytes) -> bytes:
        return self._run(_lib.srtp_protect_mki, packet)

    def protect_rtcp(self, packet: bytes) -> bytes:
        return self._run(_lib.srtp_protect_rtcp_mki, packet)

    def set_roc(self, ssrc: int, roc: int) -> None:
        assert _lib.srtp_set_stream_roc(self.ctx, ssrc, roc) == 0

    def close(self):
        if self.ctx:
            _lib.srtp_dealloc(self.ctx)
            self.ctx = ctypes.c_void_p()
