"""TS 33.180 §E.5 SAKKE-to-self: the initiator's other devices recover the key from GEN_EXT 6."""

from codec.crypto import mcx
from codec.keyring import Keyring
from codec.kms import Kms
from codec.mikey import decode
from codec.mikey import sakke as mikey_sakke

NTP = 3_970_000_000


def test_initiator_recovers_key_from_sakke_to_self_and_responder_from_sakke():
    kms = Kms("kms.example.org")
    period = kms.period_no(NTP)
    alice, bob = (kms.issue(f"sip:{n}@example.org", period) for n in ("alice", "bob"))
    party = lambda u: mikey_sakke.Party(u.uri, kms.uri, u.uid, kms.kpak, kms.z, u.ssk, u.pvt)  # noqa: E731
    key = bytes(range(16, 32))
    wire = mikey_sakke.build_i_message("PCK", key, mcx.make_key_id("PCK", 9), party(alice), party(bob),
                                       ntp_time=NTP << 32, sakke_to_self=True)
    msg = decode(wire)
    ext6 = next(p for p in msg.find_all("GEN_EXT") if p.type == 6)
    assert ext6.data[0] == 0 and len(ext6.data) == 5 + 273  # a whole SAKKE payload, NP 0

    own = mikey_sakke.process(msg, wire, Keyring(kms=[kms.public()], users=[alice]))
    assert own.verified and own.ssv == key
    assert any("SAKKE-to-self" in n for n in own.notes)

    peer = mikey_sakke.process(msg, wire, Keyring(kms=[kms.public()], users=[bob]))
    assert peer.ssv == key and not any("SAKKE-to-self" in n for n in peer.notes)

    nobody = mikey_sakke.process(msg, wire, Keyring(kms=[kms.public()]))
    assert nobody.ssv is None and "no key" in nobody.decrypt_error
