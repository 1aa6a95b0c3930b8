"""Property tests: random valid messages round-trip; arbitrary octets decode or raise DecodeError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from codec import DecodeError
from codec import mikey
from tests.support.strategies import messages

PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROFILE
@given(messages())
def test_built_message_round_trips(msg):
    wire = mikey.encode(msg)
    back = mikey.decode(wire)
    assert back == msg
    assert mikey.encode(back) == wire
    assert back.trailing == b""


@PROFILE
@given(messages(), st.data())
def test_decoded_lengths_are_kept_and_edits_recompute(msg, data):
    wire = mikey.encode(msg)
    back = mikey.decode(wire)
    # the header's next payload names the first payload, computed from the chain
    assert back.hdr.next_payload == (msg.payloads[0].TYPE if msg.payloads else 0)
    assert back.hdr.n_cs == len(msg.hdr.cs_id_map) or msg.hdr.cs_id_map_type == 1


def _is_decode_result(data: bytes):
    try:
        msg = mikey.decode(data)
    except DecodeError as e:
        assert isinstance(e, ValueError)
        assert isinstance(e.path, str) and e.path
        assert 0 <= e.offset <= len(data), (e.offset, len(data))
        return None
    # whatever decoded re-encodes to the very same octets
    assert mikey.encode(msg) == data
    return msg


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_octets_decode_or_raise_decode_error(data):
    _is_decode_result(data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages(), st.data())
def test_mutated_messages_decode_or_raise_decode_error(msg, data):
    wire = bytearray(mikey.encode(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        if not wire:
            break
        i = data.draw(st.integers(0, len(wire) - 1))
        op = data.draw(st.sampled_from(["flip", "cut", "dup"]))
        if op == "flip":
            wire[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del wire[i:]
        else:
            wire[i:i] = wire[i:i + 3]
    _is_decode_result(bytes(wire))


@pytest.mark.slow
@settings(max_examples=50_000, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_arbitrary_octets_long(data):
    _is_decode_result(data)
