"""`mcsec synth`: deterministic sample MCPTT captures, their keys and a manifest (issue 7).

:func:`generate` writes into a directory, for a seed:

- ``<scenario>.pcapng`` — one capture per scenario (see :data:`SCENARIOS`);
- ``keyring.toml`` — every MIKEY-SAKKE key set, the KMS, the seed 003 KEK and the seed 004 TPK;
- ``smime-keys.pem`` — the users' S/MIME certificates and EC private keys (seed 003);
- ``kms/kms-init.xml`` and ``kms/<user>.keyprov.xml`` — TS 33.180 Annex D documents;
- ``manifest.json`` — every frame that carries key material with what it must decode to.

Same seed, same octets: values come from :class:`~dissectors.synth.rng.Rng` and the pcapng
timestamps from the scenario clock.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dissectors.safefile import write_secret
from dissectors.synth.rng import Rng, seeded_builders
from dissectors.synth.scenarios import EXTRA_SCENARIOS, SCENARIOS as _SCENARIOS

SCENARIOS = {**_SCENARIOS, **EXTRA_SCENARIOS}  # every capture of pcaps/, in order
ALL_SCENARIOS = SCENARIOS
from dissectors.synth.world import build_world

MANIFEST_VERSION = 1
DEFAULT_SEED = 7
DEFAULT_CALLS = 2


def generate(outdir, seed: int = DEFAULT_SEED, calls: int = DEFAULT_CALLS,
             scenarios: list[str] | None = None) -> dict:
    """Write the captures, keys and manifest for ``seed`` into ``outdir``; returns the manifest."""
    names = list(SCENARIOS) if not scenarios else list(dict.fromkeys(scenarios))
    unknown = [n for n in names if n not in ALL_SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}: choose from {list(ALL_SCENARIOS)}")
    if calls < 1:
        raise ValueError("--calls must be at least 1")
    out = Path(outdir)
    (out / "kms").mkdir(parents=True, exist_ok=True)
    world = build_world(seed)
    from codec.mikey import config

    files: dict[str, bytes] = {}
    entries, tls_entries, captures = [], [], {}
    for name in names:
        rng = Rng(seed, f"scenario/{name}")
        sc = ALL_SCENARIOS[name](world, rng, calls)
        with seeded_builders(rng.child("builders"), clock=sc.clock):
            sc.run()
        data = sc.cap.pcapng()
        files[f"{name}.pcapng"] = data
        files.update(sc.extra_files)
        captures[name] = {"file": f"{name}.pcapng", "description": sc.description,
                          "frames": len(sc.cap.frames), "sha256": hashlib.sha256(data).hexdigest()}
        captures[name].update(sc.capture_info)
        entries.extend(sc.entries)
        tls_entries.extend(sc.tls_entries)
    ring = world.keyring()
    files["keyring.toml"] = ("# mcsec synth test keys (a test KMS; never real key material)\n"
                             + ring.to_toml()).encode()
    files["smime-keys.pem"] = world.pem()
    kms_docs = {"kms/kms-init.xml": world.kms.init_document(world.people["alice"].uri)}
    for pname, person in world.people.items():
        kms_docs[f"kms/{pname}.keyprov.xml"] = world.kms.key_prov_document([person.keys])
    files.update(kms_docs)
    manifest = {
        "generator": "mcsec synth", "manifest_version": MANIFEST_VERSION, "seed": seed,
        "calls": calls, "scenarios": names,
        "start_time_unix": world.start_unix, "key_period": world.period,
        "tls_prot_type": config.DEFAULT_TLS_PROT_TYPE,
        "keyring": "keyring.toml", "pem": "smime-keys.pem", "kms_documents": sorted(kms_docs),
        "transport_key": world.trk.hex(),
        "users": {n: {"uri": p.uri, "ipv4": p.host.ip, "ipv6": p.host6.ip,
                      "uid": p.keys.uid.hex()} for n, p in world.people.items()},
        "captures": captures,
        "entries": entries,
    }
    if tls_entries:  # TLS-carried messages: their frames hold ciphertext (see pcaps/README.md)
        manifest["tls_entries"] = tls_entries
    files["manifest.json"] = (json.dumps(manifest, indent=1) + "\n").encode()
    for rel, data in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = rel in ("keyring.toml", "smime-keys.pem") or rel.endswith(".keyprov.xml")
        write_secret(path, data, mode=0o600 if secret else 0o644)  # never through a symlink
    return manifest


__all__ = ["generate", "SCENARIOS", "ALL_SCENARIOS", "DEFAULT_SEED", "DEFAULT_CALLS"]
