"""The ``cli`` fuzz target's cases: one input is an argv for ``dissectors.cli.main``, the files it
names and its standard input, serialised as JSON (so the harness hashes, times and saves it like
any other input); :func:`cli_case` draws one over every command and output mode.
"""

from __future__ import annotations

import base64
import json
import random
import re

from benchmarks.fuzzing.cli_corpus import (DISPLAY_FILTERS, HOSTILE_FILTERS, HOSTILE_HEX,
                                           HOSTILE_INTS, HOSTILE_SECONDS, HOSTILE_TEXT, UNWRITABLE,
                                           CliCorpus, json_mutate, sip_damage, toml_mutate)
from benchmarks.fuzzing.corpus import PCAPS
from benchmarks.fuzzing.mutate import (byte_mutate, der_mutate, pcap_mutate, random_bytes,
                                       text_mutate, xml_mutate)


class CliCase:
    def __init__(self):
        self.argv: list = []
        self.files: dict = {}
        self.stdin = b""
        self.links: dict = {}  # name -> name of the file it points to (made after the files)
        self.secret: list = []  # names of secret files the command writes (checked after it)

    def file(self, data: bytes, ext: str = "") -> str:
        name = f"f{len(self.files)}{ext}"
        self.files[name] = data
        return "{D}/" + name

    def encode(self) -> bytes:
        doc = {"argv": self.argv, "stdin": base64.b64encode(self.stdin).decode(),
               "files": {k: base64.b64encode(v).decode() for k, v in self.files.items()}}
        if self.links or self.secret:
            doc.update(links=self.links, secret=self.secret)
        return json.dumps(doc, ensure_ascii=True).encode()


def decode_case(data: bytes) -> dict:
    doc = json.loads(data)
    return {"argv": list(doc["argv"]), "stdin": base64.b64decode(doc.get("stdin", "")),
            "files": {k: base64.b64decode(v) for k, v in doc.get("files", {}).items()},
            "links": doc.get("links", {}), "secret": doc.get("secret", [])}


def cli_case(rng: random.Random, cc: CliCorpus) -> bytes:
    """One CLI case: a command (weighted by cost), its options, its (mutated) inputs."""
    c = CliCase()
    r = rng.random
    ch = rng.choice

    def chance(p):
        return r() < p

    def mikey_blob():
        x = r()
        if x < 0.25:
            return ch(cc.c.mikey)
        if x < 0.6:
            return byte_mutate(rng, ch(cc.c.mikey), cc.c.mikey)
        if x < 0.9:
            return ch(cc.mikey_pool)
        return random_bytes(rng, 512)

    def mikey_input():
        blob, form = mikey_blob(), ch(("raw", "hex", "base64", "sdp", "sip"))
        if form == "hex":
            data = blob.hex().encode() + ch((b"", b"\n", b" \n"))
        elif form == "base64":
            data = base64.b64encode(blob) + b"\n"
        elif form in ("sdp", "sip"):
            sdp = ch(cc.c.sdp).encode("latin-1")
            data = re.sub(rb"(a=key-mgmt:mikey )[A-Za-z0-9+/=]+",
                          lambda m: m.group(1) + base64.b64encode(blob), sdp, count=1)
            if form == "sip":
                data = ch([m for m in cc.c.sip if b"a=key-mgmt" in m] or [data])
        else:
            data = blob
        if chance(0.2):
            data = text_mutate(rng, data, ())
        return data, form

    def keys_opts(required=False):
        out = []
        for _ in range(1 if required else ch((0, 0, 1, 1, 2))):
            x = r()
            if x < 0.45:
                out += ["--keys", "{P}/keyring.toml"]
            elif x < 0.55:
                out += ["--keys", "{P}/messages/bob.keyring.toml"]
            elif x < 0.65:
                out += ["--keys", "{P}/smime-keys.pem"]
            elif x < 0.75:
                out += ["--keys", "{P}/kms/" + ch(("alice.keyprov.xml", "bob.keyprov.xml",
                                                   "kms-init.xml", "gms.keyprov.xml"))]
            elif x < 0.85:
                out += ["--keys", c.file(toml_mutate(rng, cc.keyring), ".toml")]
            elif x < 0.92:
                out += ["--keys", c.file(xml_mutate(rng, ch(cc.c.kms), cc.c.kms), ".xml")]
            else:
                out += ["--keys", ch(("{D}/missing.toml", "{D}", "/dev/null",
                                      c.file(random_bytes(rng, 256))))]
        return out

    def trk():
        if chance(0.5):
            return []
        return ["--trk", cc.trk if chance(0.6) else ch(HOSTILE_HEX)]

    def hostile_int(normal: str, p: float = 0.3):
        return ch(HOSTILE_INTS) if chance(p) else normal

    def out_path(default="-", name="out", secret=False):
        x = r()
        if x < 0.45:
            return default
        if x < 0.85:
            if secret:  # issue 15: written 0600, never through a symbolic link
                c.secret.append(name)
                y = r()
                if y < 0.2:  # an existing file of mode 0644 (files are written 0644)
                    c.files[name] = b"old content\n"
                elif y < 0.4:  # a symbolic link to another file, which must stay untouched
                    c.files["victim"] = b"victim\n"
                    c.links[name] = "victim"
            return "{D}/" + name
        return ch(UNWRITABLE)

    def capture():
        x = r()
        tls = chance(0.03)  # TLS captures make tshark runs (~0.5 s each): rarely
        if x < 0.75 and cc.slices:  # a window of a few frames: cheap, and damage goes deep
            head, rest = ch(cc.tls_slices if tls and cc.tls_slices else cc.slices)
            i = rng.randrange(len(rest))
            data = b"".join(head + rest[i:i + ch((1, 2, 3, 5, 10, 30))])
            y = r()
            if y < 0.3:
                data = sip_damage(rng, data)
            elif y < 0.75:
                data = pcap_mutate(rng, data, ())
            return c.file(data, ".pcapng")
        if x < 0.93:
            data = ch(cc.tls_full if tls and cc.tls_full else cc.full)
            return c.file(pcap_mutate(rng, data, ()) if chance(0.7) else sip_damage(rng, data),
                          ".pcap")
        if x < 0.97 and cc.slices:  # standard input (dissectors/pcap/live.py spools it)
            head, rest = ch(cc.slices)
            i = rng.randrange(len(rest))
            c.stdin = b"".join(head + rest[i:i + ch((1, 3, 10))])
            if chance(0.5):
                c.stdin = pcap_mutate(rng, c.stdin, ())
            return "-"
        return ch(("{D}/missing.pcap", "{D}", "/dev/null", c.file(random_bytes(rng)),
                   c.file(b""), "-"))

    def cms_input():
        x = r()
        if x < 0.5:
            der = der_mutate(rng, ch(cc.c.cms), cc.c.cms) if chance(0.8) else ch(cc.c.cms)
            form = ch(("der", "der", "pem", "base64"))
            if form == "pem":
                return c.file(b"-----BEGIN CMS-----\n" + base64.encodebytes(der)
                              + b"-----END CMS-----\n"), form
            if form == "base64":
                return c.file(base64.encodebytes(der)), form
            return c.file(der), form
        if x < 0.85 and cc.smime_sip:
            return c.file(text_mutate(rng, ch(cc.smime_sip), cc.smime_sip)), "smime"
        if x < 0.93:
            c.stdin = der_mutate(rng, ch(cc.c.cms), cc.c.cms)
            return "-", "der"
        return ch(("{D}/missing", "{D}", c.file(b""), c.file(random_bytes(rng)))), "auto"

    cmd = r()
    a = c.argv
    if cmd < 0.18:  # decode: text and JSON, with and without keys
        data, form = mikey_input()
        if chance(0.15):
            c.stdin = data
            a += ["decode", "-"] if chance(0.5) else ["decode"]
        else:
            a += ["decode", c.file(data)]
        if chance(0.5):
            a += ["--in", ch(("auto", "raw", "hex", "base64", "sdp")) if chance(0.3) else
                  {"sip": "sdp"}.get(form, form)]
        a += ["--format", ch(("text", "json"))]
        a += ["--strict"] * chance(0.2) + ["--show-secrets"] * chance(0.3)
        a += ["--decrypt-unverified"] * chance(0.2)
        a += keys_opts() + trk()
        if chance(0.2):
            a += ["--replay-cache-size", hostile_int("1024", 0.7)]
        if chance(0.1):
            a += ["--tls-prot-type", hostile_int("240", 0.7)]
    elif cmd < 0.26:  # encode --from-json
        text = json_mutate(rng, ch(cc.json_docs), cc.json_docs) if chance(0.9) \
            else ch(cc.json_docs)
        if chance(0.15):
            c.stdin = text
            a += ["encode", "--from-json", "-"]
        else:
            a += ["encode", "--from-json", c.file(text, ".json") if chance(0.95)
                  else ch(("{D}/missing.json", "{D}"))]
        a += ["--out", ch(("raw", "hex", "base64"))] if chance(0.6) else []
        if chance(0.1):
            a += ["--tls-prot-type", hostile_int("240", 0.7)]
    elif cmd < 0.28:  # fields
        a += ["fields"] + (["--format", ch(("tsv", "markdown", "csv"))] if chance(0.7) else [])
    elif cmd < 0.33:  # uid
        a += ["uid", "--uri", ch(cc.users) if chance(0.6) else ch(HOSTILE_TEXT),
              "--kms-uri", "kms.example.org" if chance(0.7) else ch(HOSTILE_TEXT),
              "--key-period", hostile_int("2592000", 0.5)]
        if chance(0.3):
            a += ["--key-period-offset", hostile_int("0", 0.6)]
        if chance(0.5):
            a += ["--period-no", hostile_int("1531", 0.5)]
        else:
            a += ["--time", ch(("2026-12-07T10:00:00Z", "2026-12-07", "3974000000", "0",
                                "2026-13-45", "-1", "9" * 40, "", "2026-12-07T10:00:00+99:00",
                                "9999-12-31T23:59:59", "0001-01-01", "1e9", "now"))]
        a += ["-v"] * chance(0.5)
    elif cmd < 0.41:  # keyring import: TOML, KMS XML, PEM, mutated
        files = []
        for _ in range(ch((1, 1, 2, 3))):
            x = r()
            if x < 0.4:
                files.append(c.file(toml_mutate(rng, cc.keyring), ".toml"))
            elif x < 0.75:
                files.append(c.file(xml_mutate(rng, ch(cc.c.kms), cc.c.kms), ".xml"))
            elif x < 0.85:
                files.append("{P}/kms/" + ch(("alice.keyprov.xml", "kms-init.xml",
                                              "mcptt-server.keyprov.xml")))
            elif x < 0.92:
                files.append("{P}/smime-keys.pem" if chance(0.5)
                             else c.file(byte_mutate(rng, ch(cc.keys + cc.certs)), ".pem"))
            else:
                files.append(ch(("{D}/missing", "{D}", c.file(b""))))
        a += ["keyring", "import", *files, "-o", out_path("-", "ring.toml", secret=True)] + trk()
    elif cmd < 0.64:  # dissect: every output mode
        a += ["dissect", capture()]
        fmt = ch(("text", "text", "json", "jsonl-records"))
        a += ["--format", fmt] if fmt != "text" or chance(0.3) else []
        a += ["--brief"] * chance(0.3) + ["--stats"] * chance(0.3)
        if chance(0.4):
            a += ["--filter", ch(("any", "mikey", "cms", "srtp", "all"))]
        a += ["--no-progress"] * chance(0.5) + ["--show-secrets"] * chance(0.3)
        a += ["--decrypt-unverified"] * chance(0.2)
        a += keys_opts() + trk()
        if chance(0.15):
            a += ["--replay-cache-size", hostile_int("1024", 0.7)]
        if chance(0.1):
            a += ["--max-clock-skew", ch(HOSTILE_SECONDS)]
        if chance(0.15):
            y = r()
            expr = ch(DISPLAY_FILTERS) if y < 0.5 else ch(HOSTILE_FILTERS) if y < 0.7 else \
                " ".join(ch(DISPLAY_FILTERS) for _ in range(2))
            if y >= 0.7:
                ex = list(expr)
                for _ in range(rng.randint(1, 3)):
                    i = rng.randrange(len(ex) + 1)
                    if chance(0.5) and i < len(ex):
                        del ex[i]
                    else:
                        ex.insert(i, ch("()!=<>\"'{}[]:.,&|~ \\0x-"))
                expr = "".join(ex)
            a += ["-Y", expr]
        x = r()  # in-process workers would fork this process: mostly inline
        a += ["--workers", "1"] if x < 0.9 else ["--workers", ch(("0", "-1", "x", "1.5"))] \
            if x < 0.98 else ["--workers", "2"]
        if chance(0.05):
            a += ["--tls-keylog", ch(("{P}/sip-tls.keylog", "{D}/missing",
                                      c.file(text_mutate(rng, (PCAPS / "sip-tls.keylog")
                                                         .read_bytes()))))]
    elif cmd < 0.68:  # export: the capture rewritten with SRTP decrypted, secrets and verdicts
        a += ["export", capture(), "-o", out_path("-", "out.pcapng", secret=True)]
        a += keys_opts() + trk()
        a += ["--keep-sdp"] * chance(0.3) + ["--decrypt-unverified"] * chance(0.2)
        a += ["-q"] * chance(0.5)
        if chance(0.1):
            a += ["--replay-cache-size", hostile_int("1024", 0.7)]
        if chance(0.1):
            a += ["--max-clock-skew", ch(HOSTILE_SECONDS)]
        a += ["--workers", "1" if chance(0.95) else ch(("0", "-1", "x"))]
        if chance(0.05):
            a += ["--tls-keylog", ch(("{P}/sip-tls.keylog", "{D}/missing"))]
    elif cmd < 0.73:  # keylog
        a += ["keylog", capture()] + keys_opts(required=True) + trk()
        a += ["-o", out_path("-", "keys.log", secret=True)]
        if chance(0.1):
            a += ["--tls-keylog", ch(("{P}/sip-tls.keylog", "{D}/missing"))]
    elif cmd < 0.78:  # psk-smime
        ins = [c.file(text_mutate(rng, ch(cc.smime_sip), cc.smime_sip) if chance(0.8)
                      else ch(cc.smime_sip)) for _ in range(ch((1, 1, 2)))] \
            if cc.smime_sip else ["{D}/missing"]
        a += ["psk-smime", *ins] + keys_opts()
        a += ["--out", out_path("-", "content")] if chance(0.4) else []
        a += ["--format", ch(("text", "json"))] if chance(0.6) else []
        if chance(0.15):
            a += ["--replay-cache-size", hostile_int("1024", 0.7)]
    elif cmd < 0.92:  # cms show / decrypt / verify / open
        path, form = cms_input()
        a += ["cms", ch(("show", "decrypt", "verify", "open")), path]
        if chance(0.4):
            a += ["--in", form if chance(0.6) else ch(("auto", "der", "pem", "base64", "smime"))]
        if chance(0.7):
            a += ["--keys", "{P}/smime-keys.pem"]
        if chance(0.4):
            a += ["--keys", "{P}/keyring.toml"]
        a += keys_opts() if chance(0.2) else []
        a += ["--format", ch(("text", "json"))] + ["--show-secrets"] * chance(0.3)
        if chance(0.1):
            a += ["--content", ch((c.file(random_bytes(rng)), "{D}/missing"))]
        if chance(0.3):
            a += ["--out", out_path("-", "content")]
        if chance(0.2):
            a += ["--max-size", hostile_int("1000000", 0.7)]
        a += ["--any-signer"] * chance(0.2)
    elif cmd < 0.955:  # cms build
        kind = ch(("sign", "envelope", "auth-envelope", "compress", "encrypt-then-sign",
                   "sign-then-encrypt"))
        content = random_bytes(rng, 4096) if chance(0.5) else ch(cc.c.sip)
        if chance(0.1):
            c.stdin = content
            a += ["cms", "build", kind, "--in", "-"]
        else:
            a += ["cms", "build", kind, "--in", c.file(content) if chance(0.95) else "{D}/missing"]
        a += ["--out", out_path("-", "built")] if chance(0.5) else []
        a += ["--outform", ch(("der", "pem", "smime"))] if chance(0.6) else []
        if chance(0.5):
            a += ["--keys", "{P}/keyring.toml", "--kek-id",
                  ch(cc.kek_ids) if chance(0.7) and cc.kek_ids else ch(HOSTILE_HEX)]
        for _ in range(ch((0, 1, 1, 2))):
            a += ["--recip", c.file(ch(cc.certs + cc.keys) if chance(0.85)
                                    else byte_mutate(rng, ch(cc.certs)))]
        a += ["--oaep"] * chance(0.2)
        if chance(0.6):
            i = rng.randrange(len(cc.certs))
            a += ["--signer", c.file(cc.certs[i] if chance(0.9) else byte_mutate(rng, cc.certs[i])),
                  "--signer-key", c.file(cc.keys[min(i, len(cc.keys) - 1)] if chance(0.85)
                                         else ch(cc.keys + cc.certs))]
        a += ["--digest", ch(("sha1", "sha256", "sha384", "sha512", "md5"))] if chance(0.3) else []
        a += ["--pss"] * chance(0.2) + ["--detached"] * chance(0.2)
        if chance(0.4):
            a += ["--cipher", ch(("aes-128-cbc", "aes-256-cbc", "aes-128-gcm", "aes-256-gcm",
                                  "des", "", "aes-128"))]
        a += ["--inner", ch(("cms", "mime"))] if chance(0.3) else []
        a += ["--mime-wrap"] * chance(0.2)
    elif cmd < 0.97:  # fuzz
        a += ["fuzz"]
        if chance(0.6):
            data, _form = mikey_input()
            a += [c.file(data, ".hex")]
        a += ["--seed", hostile_int("0", 0.4)] if chance(0.5) else []
        a += ["-n", ch(("0", "-1", "1", "3", "x", "5"))]
        if chance(0.3):
            a += ["--mutation", ch(cc.mutations) if chance(0.8) else "nope"]
        fmt = ch(("hex", "raw", "sdp", "sip", "pcap"))
        a += ["--format", fmt]
        if chance(0.4):
            a += ["--out-dir", "{D}/mutants" if chance(0.7) else ch(UNWRITABLE)]
        elif chance(0.6):
            a += ["-o", out_path("-", "mutants")]
        if chance(0.2):
            a += ["--keys", "{P}/keyring.toml" if chance(0.8) else "{D}/missing",
                  "--signer", ch(cc.users) if chance(0.7) else ch(HOSTILE_TEXT)]
        if chance(0.05):
            a += ["--send", ch(("127.0.0.1:9", "127.0.0.1:99999", "127.0.0.1", ":9",
                                "127.0.0.1:-1", "[::1]:9", "127.0.0.1:x"))]
        a += ["--region", ch(("rfc3830", "without_sign_header"))] if chance(0.2) else []
        a += ["-v"] * chance(0.3)
    elif cmd < 0.98:  # wireshark generate / install
        if chance(0.6):
            a += ["wireshark", "generate", "-o", out_path("-", "mcsec.lua")]
            if chance(0.4):
                a += ["--tls-prot-type", hostile_int("240", 0.7)]
        elif chance(0.8):
            a += ["wireshark", "install", "--dest", "{D}/plugins" if chance(0.7)
                  else ch(UNWRITABLE)]
            if chance(0.4):
                a += ["--plugin", ch((c.file(random_bytes(rng)), "{D}/missing", "{D}"))]
        else:
            a += ["wireshark"]
    elif cmd < 0.984:  # synth (costly: a few hundred ms)
        a += ["synth", "{D}/synth" if chance(0.8) else ch(UNWRITABLE), "-q",
              "--calls", ch(("1", "0", "-1", "x")),
              "--scenario", ch(cc.scenarios) if chance(0.9) else "nope"]
        a += ["--seed", hostile_int("7", 0.5)] if chance(0.5) else []
    else:  # argv garbage: unknown commands and options, --help, missing values
        toks = ["decode", "encode", "dissect", "keylog", "cms", "keyring", "import", "uid",
                "fuzz", "wireshark", "fields", "psk-smime", "--help", "-h", "--keys",
                "--format", "json", "-o", "-", "--", "--trk", "--in", "show", "open", "build",
                "--version", "--workers", "1", "{D}/x", *HOSTILE_TEXT[:4]]  # nothing in {P}: -o
        a += [ch(toks) for _ in range(rng.randint(0, 6))]
    if chance(0.08) and a:  # argv damage: drop, repeat or replace one argument
        i = rng.randrange(len(a))
        op = rng.randrange(3)
        if op == 0:
            del a[i]
        elif op == 1:
            a.insert(i, a[i])
        elif i == 0 or a[i - 1] not in ("-n", "--count", "--calls"):  # (a huge count is
            a[i] = ch(HOSTILE_TEXT + HOSTILE_INTS)  # work the user asked for, not a hang)
    return c.encode()
