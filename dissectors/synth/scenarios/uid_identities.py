"""`mcsec synth --scenario uid-identities`: what real networks send that our samples did not.

- I_MESSAGEs whose IDRs carry 32-octet UIDs (TS 33.180 §F.2.1) — in IDRi/IDRr as byte strings and
  in roles 8/9 (Streamwide's identity hiding) — with a keyring that knows the users only by URI,
  the way a KMS provisions them (``uid-identities.keyring.toml``: URI, KMS, keys, and for the
  first period its KeyPeriodNo; no UID anywhere), across two key periods in one capture;
- a GMK to UID recipients (the GMK-ID needs the member's URI, §F.1.3);
- a GMK whose GEN_EXT type 7 key parameters are in the older single-octet layout (key type + 1)
  stating another key type than the CSB ID's purpose tag;
- the same I_MESSAGE delivered twice to one host (RFC 3830 §5.4 replay).

``pcaps/uid-identities.pcapng`` with ``pcaps/uid-identities.keyring.toml``.  Expected values come
from the builder's inputs, as for every scenario.
"""

from __future__ import annotations

from codec.crypto import mcx, prf
from codec.keyring import Keyring, UserKeys
from codec.mikey import sakke as mikey_sakke
from dissectors.synth import sip as synth_sip
from dissectors.synth.net import Capture
from dissectors.synth.scenarios.base import Scenario
from dissectors.synth.world import GMS_URI

KEYRING_FILE = "uid-identities.keyring.toml"
LEGACY_SINGLE_OCTET_PCK = bytes([mcx.PURPOSE_TAG["PCK"] + 1])  # "key type + 1": says PCK


class UidIdentities(Scenario):
    name = "uid-identities"
    description = ("UID-form identities with a URI-only keyring across two key periods: PCK calls "
                   "with UIDs in IDRi/IDRr, GMKs to UID recipients (IDR roles 8/9), a GMK with "
                   "legacy single-octet key parameters that disagree with its CSB ID, and one "
                   "I_MESSAGE delivered twice to the same client (a replay)")

    def __init__(self, world, rng, calls):
        super().__init__(world, rng, calls)
        self.cap = Capture(self.name, (world.start_unix + 6000) * 1_000_000)
        self.issued: dict = {}  # (person, period) -> UserKeys from the world's KMS

    # -- keys ------------------------------------------------------------------------------------
    def keys(self, who: str, period: int) -> UserKeys:
        if (who, period) not in self.issued:
            p = self.person(who)
            self.issued[who, period] = (p.keys if period == self.w.period
                                        else self.w.kms.issue(p.uri, period))
        return self.issued[who, period]

    def party(self, who: str, period: int) -> mikey_sakke.Party:
        k, kms = self.keys(who, period), self.w.kms
        return mikey_sakke.Party(self.person(who).uri, kms.uri, k.uid, kms.kpak, kms.z, k.ssk, k.pvt)

    def uri_only_keyring(self) -> Keyring:
        """Users by URI, as a KMS provisions them: the first period's entries state their
        KeyPeriodNo, the second period's do not (found from the T payload)."""
        ring = Keyring(kms=[self.w.kms.public()])
        for (who, period), k in sorted(self.issued.items()):
            ring.users.append(UserKeys(uri=k.uri, kms=k.kms, rsk=k.rsk, ssk=k.ssk, pvt=k.pvt,
                                       period=period if period == self.w.period else None))
        return ring

    # -- messages ----------------------------------------------------------------------------------
    def message(self, key_type, initiator, responder, period, *, identities="uid",
                key_id=None, key=None, key_params_data=None):
        r = self.rng
        key = key or r.bytes(16)
        key_id = key_id if key_id is not None else mcx.make_key_id(key_type, r.randbelow(1 << 28))
        rand = r.bytes(16)
        ini, res = self.party(initiator, period), self.party(responder, period)
        wire = mikey_sakke.build_i_message(key_type, key, key_id, ini, res, ntp_time=self.ntp64(),
                                           rand=rand, identities=identities,
                                           key_params_data=key_params_data)
        csb = mcx.guk_id(key_id, key, res.uri) if key_type == "GMK" else key_id
        cs = mikey_sakke.DEFAULT_CS_IDS[key_type][0]
        mki = (key_id.to_bytes(4, "big") + csb.to_bytes(4, "big") if key_type == "GMK"
               else key_id.to_bytes(4, "big"))
        mk, ms = prf.srtp_master(key, cs, csb, rand, 16, 12, prf.PRF_HMAC_SHA_256)
        expect = {"key_type": key_type, "key": key.hex(), "key_id": key_id, "csb_id": csb,
                  "sender_uri": ini.uri, "receiver_uri": res.uri, "period_no": period,
                  "sender_uid": ini.identifier.hex(), "receiver_uid": res.identifier.hex(),
                  "identities": identities, "verified": True,
                  "crypto_sessions": [{"cs_id": cs, "mki": mki.hex(), "master_key": mk.hex(),
                                       "master_salt": ms.hex()}]}
        if key_type == "GMK":
            expect["guk_id"] = csb
        return wire, expect

    def invite(self, caller, callee, wire, label):
        a, b = self.host(caller), self.host(callee)
        d = synth_sip.Dialog(self.rng, a, b, self.person(caller).uri, self.person(callee).uri)
        offer = synth_sip.sdp(a, self.rng.randbelow(10000), [synth_sip.audio_media(49500)],
                              [synth_sip.key_mgmt(wire)], user=caller)
        n = self.sip_udp(a, b, d.request("INVITE", offer, "application/sdp"), comment=label)
        self.sip_udp(b, a, d.response(180, "Ringing", "INVITE"), 20)
        return n

    def gmk_message(self, member, wire, label):
        gms, h = self.host("gms"), self.host(member)
        d = synth_sip.Dialog(self.rng, gms, h, GMS_URI, self.person(member).uri)
        n = self.sip_udp(gms, h, d.request("MESSAGE", wire, "application/mikey"), comment=label)
        self.sip_udp(h, gms, d.response(200, "OK", "MESSAGE"), 20)
        return n

    def run(self):
        p1 = self.w.period
        gmk, gmk_id = self.rng.bytes(16), mcx.make_key_id("GMK", self.rng.randbelow(1 << 28))
        # period p1: a PCK call with UIDs in IDRi/IDRr, a GMK to UID recipients (roles 8/9)
        wire, x = self.message("PCK", "alice", "bob", p1)
        n = self.invite("alice", "bob", wire, "PCK, UIDs in IDRi/IDRr")
        self.entry("mikey-sakke-uid", n, "alice → bob: PCK with UIDs in IDRi/IDRr (period "
                   f"{p1})", carrier="sdp-session", mikey=wire.hex(), expect=x,
                   keyring=KEYRING_FILE)
        first_pck, first_frame = wire, n
        for member in ("bob", "carol"):
            wire, x = self.message("GMK", "gms", member, p1, identities="uid-roles", key=gmk,
                                   key_id=gmk_id)
            n = self.gmk_message(member, wire, f"GMK for {member}, UIDs in IDR roles 8/9")
            self.entry("mikey-sakke-uid", n, f"GMS → {member}: GMK to a UID recipient (roles "
                       f"8/9, period {p1})", carrier="sip-body", mikey=wire.hex(), expect=x,
                       keyring=KEYRING_FILE)
        # the older single-octet key parameters (key type + 1 = PCK) in a GMK: the CSB ID wins
        wire, x = self.message("GMK", "gms", "alice", p1, identities="uri", key=gmk,
                               key_id=gmk_id, key_params_data=LEGACY_SINGLE_OCTET_PCK)
        x.update(key_params_key_type=mcx.PURPOSE_TAG["PCK"], key_type_mismatch=True)
        n = self.gmk_message("alice", wire, "GMK with legacy single-octet key parameters")
        self.entry("mikey-sakke-uid", n, "GMS → alice: GMK whose legacy single-octet key "
                   "parameters say PCK", carrier="sip-body", mikey=wire.hex(), expect=x,
                   keyring=KEYRING_FILE)
        # the same INVITE delivered to bob again: RFC 3830 §5.4 replay
        self.cap.advance(5000)
        n = self.invite("alice", "bob", first_pck, "the first PCK I_MESSAGE again (replay)")
        self.entry("mikey-sakke-uid", n, "alice's first PCK I_MESSAGE delivered to bob again",
                   carrier="sdp-session", mikey=first_pck.hex(),
                   expect=dict(self.entries[0]["expect"]), replay_of=first_frame,
                   keyring=KEYRING_FILE)
        # the next key period: the clock moves past the period boundary
        period_s = self.w.kms.user_key_period
        ntp_now = self.cap.now_us // 1_000_000 + mcx.NTP_UNIX_OFFSET
        boundary = (p1 + 1) * period_s + self.w.kms.user_key_offset
        self.cap.advance((boundary - ntp_now + 120) * 1000)
        p2 = p1 + 1
        wire, x = self.message("PCK", "bob", "alice", p2)
        n = self.invite("bob", "alice", wire, f"PCK, UIDs in IDRi/IDRr (period {p2})")
        self.entry("mikey-sakke-uid", n, f"bob → alice: PCK with UIDs (period {p2})",
                   carrier="sdp-session", mikey=wire.hex(), expect=x, keyring=KEYRING_FILE)
        gmk2, gmk2_id = self.rng.bytes(16), mcx.make_key_id("GMK", self.rng.randbelow(1 << 28))
        wire, x = self.message("GMK", "gms", "carol", p2, identities="uid", key=gmk2,
                               key_id=gmk2_id)
        n = self.gmk_message("carol", wire, f"GMK for carol (period {p2})")
        self.entry("mikey-sakke-uid", n, f"GMS → carol: GMK to a UID recipient (period {p2})",
                   carrier="sip-body", mikey=wire.hex(), expect=x, keyring=KEYRING_FILE)
        text = ("# mcsec synth: users by URI only, as a KMS provisions them (a test KMS)\n"
                + self.uri_only_keyring().to_toml())
        self.extra_files[KEYRING_FILE] = text.encode()
        self.capture_info["keyring"] = KEYRING_FILE


EXTRA_SCENARIOS = {UidIdentities.name: UidIdentities}
