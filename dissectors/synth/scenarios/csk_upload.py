"""`mcsec synth --scenario csk-upload`: each client uploads a CSK to the MCPTT server in its
REGISTER (MIKEY-SAKKE, seed 000)."""

from __future__ import annotations

from dissectors.synth.scenarios.base import Scenario


class CskUpload(Scenario):
    name = "csk-upload"
    description = ("Each MCPTT client registers and uploads a CSK to the MCPTT server in its "
                   "REGISTER (MIKEY-SAKKE, IDRr = the server PSI; seed 000)")

    def run(self):
        for who in ("alice", "bob", "carol"):
            self.register_with_csk(who)
