"""Every exception class in codec/ derives from one root, codec.errors.McsecError (issue 16)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import codec
from codec.errors import DecodeError, McsecError


def _codec_modules():
    yield codec
    for info in pkgutil.walk_packages(codec.__path__, prefix="codec."):
        yield importlib.import_module(info.name)


def _exception_classes():
    found = {}
    for module in _codec_modules():
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == module.__name__):
                found[f"{module.__name__}.{name}"] = obj
    return found


def test_walk_finds_the_known_exceptions():
    names = set(_exception_classes())
    # a walk that found nothing would make the next test pass vacuously
    for expected in ("codec.errors.DecodeError", "codec.keyring.KeyringError",
                     "codec.kms.KmsXmlError", "codec.srtp.TransformError"):
        assert expected in names


def test_every_public_codec_exception_subclasses_mcsec_error():
    offenders = [name for name, cls in _exception_classes().items()
                 if not name.rsplit(".", 1)[1].startswith("_") and not issubclass(cls, McsecError)]
    assert offenders == []


def test_root_is_catchable_and_decode_error_stays_a_value_error():
    err = DecodeError("HDR.version", 0, "bad")
    assert isinstance(err, McsecError) and isinstance(err, ValueError)
    assert not issubclass(McsecError, ValueError)
