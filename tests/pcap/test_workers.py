"""MIKEY-SAKKE crypto in worker processes (dissectors/pcap/workers.py).

The oracle is the same dissection done inline (``workers=1``): with workers the records must be
identical, in the same order, while the pool really did the work.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codec.mikey import decode as mikey_decode
from codec.mikey import sakke as mikey_sakke
from dissectors.pcap import dissect
from dissectors.pcap.render import records_json
from dissectors.keys import load_keys
from dissectors.pcap.session import Session, Unit
from dissectors.pcap.workers import (CryptoPool, Lookahead, _Collector, is_sakke_i_message,
                                     scan_mikey)

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())
CAPTURES = sorted(p.name for p in PCAPS.glob("*.pcapng"))


def _session(keys=True, ring=None):
    if ring is None and keys:
        ring = load_keys([PCAPS / "keyring.toml", PCAPS / "smime-keys.pem"])
    return Session(keyring=ring, show_secrets=True,
                   transport_key=bytes.fromhex(MANIFEST["transport_key"]))


def _dump(capture, workers):
    session = _session()
    recs = list(dissect.record_dicts(PCAPS / capture, session, workers=workers))
    return json.dumps(recs, sort_keys=True, default=repr), session


@pytest.mark.parametrize("capture", CAPTURES)
def test_workers_give_the_inline_records(capture):
    inline, s1 = _dump(capture, 1)
    pooled, s2 = _dump(capture, 2)
    assert pooled == inline
    assert s2.stats == s1.stats
    assert s2.precomputed is None  # the hook is removed when the dissection ends


def _bob():
    """A session with Bob's keys, which verify and decrypt pcaps/messages/mikey-sakke-pck.hex."""
    return _session(ring=load_keys([PCAPS / "messages" / "bob.keyring.toml"]))


def _sakke_units(n):
    """n units each carrying the MIKEY-SAKKE I_MESSAGE of pcaps/messages (raw, port 2269)."""
    data = bytes.fromhex((PCAPS / "messages" / "mikey-sakke-pck.hex").read_text().strip())
    assert is_sakke_i_message(data)
    return data, [Unit([i + 1], float(i), "udp", "192.0.2.1", 2269, "192.0.2.2", 2269, data)
                  for i in range(n)]


def test_pool_does_the_crypto_and_results_match():
    data, units = _sakke_units(6)
    look = Lookahead(_bob(), workers=2)
    assert look.enabled
    pooled = records_json(look.run(units), True)
    # the first message is decrypted inline, the other five came from the workers
    stats = look.pool.stats
    assert (stats["submitted"], stats["used"], stats["inline"]) == (5, 5, 1)
    inline = records_json(Lookahead(_bob(), workers=1).run(units), True)
    assert json.dumps(pooled, sort_keys=True) == json.dumps(inline, sort_keys=True)
    # and they really were verified and decrypted (not an empty result twice)
    sign = [p for p in pooled[-1]["mikey"]["mikey"] if "mikey.sign" in p][0]["mikey.sign"]
    assert sign["mikey.sign.verified"] is True
    sakke = [p for p in pooled[-1]["mikey"]["mikey"] if "mikey.sakke" in p][0]["mikey.sakke"]
    assert len(bytes.fromhex(sakke["mikey.sakke.ssv"])) == 16


def test_no_pool_without_decryption_keys():
    _, units = _sakke_units(3)
    look = Lookahead(_session(keys=False), workers=2)
    assert not look.enabled and look.pool is None
    assert len(list(look.run(units))) == 3


def test_undecodable_message_does_not_stay_in_flight():
    data, units = _sakke_units(4)
    bad = data[:10]  # still looks like a SAKKE I_MESSAGE, does not decode
    units[1] = Unit([2], 1.0, "udp", "192.0.2.1", 2269, "192.0.2.2", 2269, bad)
    units[2] = Unit([3], 2.0, "udp", "192.0.2.1", 2269, "192.0.2.2", 2269, bad)
    look = Lookahead(_bob(), workers=2)
    recs = list(look.run(units))
    assert [r.error is not None for r in recs] == [False, True, True, False]
    assert look.pool.pending == 0


def test_results_computed_with_an_older_keyring_are_not_used():
    data, units = _sakke_units(3)
    session = _bob()
    pool = CryptoPool(session, 2)
    try:
        assert not pool.submit(data, 1)  # the first one is left to the session
        assert pool.submit(data, 2)
        session.keyring.kms.append(session.keyring.kms[0])  # keys learnt from KMS XML
        assert pool.take(data) is None  # stale: the session computes it again
        assert pool.stats["inline"] == 1 and pool.pending == 0
        assert pool.submit(data, 3)  # a new pool with the new keyring
        res = pool.take(data)
        assert isinstance(res, mikey_sakke.SakkeResult) and res.verified is True
    finally:
        pool.close()


def _pool_threads():
    import threading
    from concurrent.futures import process

    return [t for t in threading.enumerate()
            if isinstance(t, process._ExecutorManagerThread) and t.is_alive()]


def test_closing_the_pool_leaves_no_thread_to_race_the_exit_hook():
    """A pool shut down without waiting left its manager thread running; at interpreter exit
    concurrent.futures' hook then wrote to a wakeup pipe that thread had closed, and `dissect`
    ended with an 'OSError: [Errno 9] Bad file descriptor' traceback on stderr (seen under load)."""
    data, _ = _sakke_units(3)
    before = len(_pool_threads())
    session = _bob()
    pool = CryptoPool(session, 2)
    assert not pool.submit(data, 1) and pool.submit(data, 2) and pool.submit(data, 3)
    session.keyring.kms.append(session.keyring.kms[0])  # a new keyring: the pool restarts
    assert pool.take(data) is None and pool.submit(data, 4)
    pool.close()
    assert len(_pool_threads()) == before  # both executors' threads joined, none left behind


def test_batched_results_go_back_to_their_own_messages():
    """Distinct messages sent together in one pool task each get their own result (their own
    SSV), whichever order the session takes them in, as the session computes them inline."""
    import sys

    sys.path.insert(0, str(PCAPS.parent / "benchmarks"))
    from make_captures import i_messages  # signed I_MESSAGEs of the synth world of pcaps/

    messages = i_messages(11, cache=None)
    session = _session()
    pool = CryptoPool(session, 2, batch_size=3)
    try:
        assert not pool.submit(messages[0], 1)  # the first one is left to the session
        for seq, data in enumerate(messages[1:], 2):
            assert pool.submit(data, seq)
        for data in messages[:0:-1]:  # the last first
            res = pool.take(data)
            inline = mikey_sakke.process(mikey_decode(data), data, session.keyring)
            assert res == inline and res.ssv is not None and res.verified is True
            assert pool.batch.messages == []  # a batch still filling is sent when taken from
        assert pool.pending == 0 and pool.stats["used"] == 10
        # the first six went alone (the workers were idle), the next three together, the last
        # one alone when it was taken
        assert pool.stats["batches"] == 8
    finally:
        pool.close()


@pytest.mark.parametrize("capture", sorted(p.name for p in PCAPS.glob("*.pcap*")))
def test_byte_scan_finds_what_the_session_analysis_finds(capture):
    """The collector's byte scan (what is computed ahead) against the session's own analysis of
    the same units (the oracle): where the scan answers, the same messages in the same order."""
    collector = _Collector()
    for item in dissect._items(PCAPS / capture, None, [], {}, None):
        if isinstance(item, Unit):
            found = scan_mikey(item)
            if found is not None:
                assert found == collector.analyzed(item), item.frames


def test_byte_scan_leaves_what_it_cannot_read_to_the_analysis():
    invite = (b"INVITE sip:bob@example.org SIP/2.0\r\nCall-ID: 1\r\n"
              b"Content-Type: multipart/mixed;boundary=x\r\n\r\n--x\r\n"
              b"Content-Type: application/mikey\r\n\r\n\x01\x1a\x00--x--\r\n")
    unit = Unit([1], 0.0, "udp", "192.0.2.1", 5060, "192.0.2.2", 5060, invite)
    assert scan_mikey(unit) is None
    plain = Unit([1], 0.0, "udp", "192.0.2.1", 5060, "192.0.2.2", 5060,
                 b"SIP/2.0 200 OK\r\nCall-ID: 1\r\n\r\n")
    assert scan_mikey(plain) == []
    media = Unit([1], 0.0, "udp", "192.0.2.1", 4000, "192.0.2.2", 4002, b"\x80" + bytes(40))
    assert scan_mikey(media) == []
