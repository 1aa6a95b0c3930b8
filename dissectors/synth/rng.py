"""A seeded, labelled random source, and the context that makes the codec builders use it.

Every value `mcsec synth` writes comes from :class:`Rng` (SHA-256 in counter mode over
seed || label), so the same seed gives the same octets.  Children are derived by label, so one
scenario's values do not depend on which other scenarios ran.  Some codec builders draw RAND, IV,
CEK, nonces and ECCSI's j themselves (``os.urandom`` / ``secrets``) without a parameter to pass
them in; :func:`seeded_builders` points those modules at an Rng for the duration of a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import types


class Rng:
    def __init__(self, seed: int, label: str = ""):
        self.seed, self.label = seed, label
        self._key = hashlib.sha256(f"mcsec-synth|{seed}|{label}".encode()).digest()
        self._counter = 0
        self._buf = b""

    def child(self, label: str) -> "Rng":
        return Rng(self.seed, f"{self.label}/{label}")

    def bytes(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._buf += hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def randbelow(self, n: int) -> int:
        """Uniform in [0, n) by rejection sampling."""
        if n <= 0:
            raise ValueError("randbelow needs n > 0")
        k = (n.bit_length() + 7) // 8 + 8
        limit = (1 << (8 * k)) - ((1 << (8 * k)) % n)
        while True:
            v = int.from_bytes(self.bytes(k), "big")
            if v < limit:
                return v % n

    def randint(self, lo: int, hi: int) -> int:
        return lo + self.randbelow(hi - lo + 1)

    def u32(self) -> int:
        return int.from_bytes(self.bytes(4), "big")

    def token(self, n: int = 8) -> str:
        return self.bytes(n).hex()


@contextlib.contextmanager
def seeded_builders(rng: Rng, clock=None):
    """Route the codec builders' own randomness (``os.urandom``, ``secrets.randbelow``,
    ``secrets.token_bytes`` and EC key generation for CMS key agreement) to ``rng``.

    Module attributes are swapped for the duration of the ``with`` block only.  Builders that
    need this (no parameter to pass the value): ``mikey_sakke.build_i_message`` (ECCSI j),
    ``kms.Kms.issue`` (ECCSI v), ``cms.build.envelope``/``auth_envelope`` (CEK, IV, nonce),
    ``cms.build._recipient_info`` (KeyAgree ephemeral key), ``cms.build.sign`` (ECDSA made
    deterministic, RFC 6979), ``psk_smime.build`` (RAND_i, boundary).  ``clock`` (a callable
    returning an aware datetime) stands in for ``datetime.now`` in ``cms.build`` (the signing
    time of the SignedData that ``sign_then_encrypt``/``encrypt_then_sign`` make)."""
    import datetime as real_dt
    from cryptography.hazmat.primitives.asymmetric import ec as real_ec

    from codec import mime, psk_smime
    from codec.cms import build as cms_build
    from codec.crypto import eccsi, sakke
    from codec.mikey import keyparams, ticket_build
    from codec.mikey import sakke as mikey_sakke

    fake_os = types.SimpleNamespace(urandom=rng.bytes)
    fake_secrets = types.SimpleNamespace(randbelow=rng.randbelow, token_bytes=rng.bytes)

    def generate_private_key(curve, backend=None):
        order = {"secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551}
        q = order.get(curve.name)
        if q is None:
            raise ValueError(f"synth: no seeded key generation for curve {curve.name}")
        return real_ec.derive_private_key(rng.randbelow(q - 1) + 1, curve)

    fake_ec = types.SimpleNamespace(**{k: getattr(real_ec, k) for k in dir(real_ec)
                                       if not k.startswith("__")})
    fake_ec.generate_private_key = generate_private_key
    # RFC 6979 deterministic ECDSA for CMS SignedData (cms.build.sign has no option for it)
    fake_ec.ECDSA = lambda algorithm: real_ec.ECDSA(algorithm, deterministic_signing=True)
    class _Clock(real_dt.datetime):
        @classmethod
        def now(cls, tz=None):
            if clock is None:
                raise RuntimeError("synth: a builder asked for the wall clock")
            return clock()

    fake_dt = types.SimpleNamespace(datetime=_Clock, timezone=real_dt.timezone,
                                    timedelta=real_dt.timedelta)
    swaps = [(cms_build, "_dt", fake_dt), (cms_build, "os", fake_os), (cms_build, "ec", fake_ec), (psk_smime, "os", fake_os),
             (mime, "os", fake_os), (keyparams, "os", fake_os), (mikey_sakke, "os", fake_os),
             (ticket_build, "os", fake_os), (eccsi, "secrets", fake_secrets),
             (sakke, "secrets", fake_secrets)]
    saved = [(mod, name, getattr(mod, name)) for mod, name, _ in swaps]
    try:
        for mod, name, value in swaps:
            setattr(mod, name, value)
        yield rng
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)
