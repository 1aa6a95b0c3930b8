"""The scenarios of `mcsec synth`: each builds one capture and the manifest entries of the frames
that carry key material, with what they must decode and decrypt to.

Expected values are taken from the builders' *inputs* (the key we encapsulated, the content we
encrypted, the RAND we chose) — never from running the decoder — so the manifest is an oracle
independent of the code under test.

One module per scenario; :mod:`.base` holds the shared :class:`Scenario` machinery.  A new
scenario is a ``Scenario`` subclass with ``name``, ``description`` and ``run()``, listed below.
"""

from __future__ import annotations

from dissectors.synth.scenarios.base import (HTTP_PORT, MCPTT_INFO, MSRP_PORT, SIP_PORT,
                                             Scenario)
from dissectors.synth.scenarios.csk_upload import CskUpload
from dissectors.synth.scenarios.group_call import GroupCall
from dissectors.synth.scenarios.kms_provisioning import KmsProvisioning
from dissectors.synth.scenarios.malformed import Malformed
from dissectors.synth.scenarios.private_call import PrivateCall
from dissectors.synth.scenarios.psk_call import PskCall
from dissectors.synth.scenarios.psk_smime import PskSmime
from dissectors.synth.scenarios.sip_tls import SipTls
from dissectors.synth.scenarios.smime import Smime
from dissectors.synth.scenarios.transports import Transports
from dissectors.synth.scenarios.uid_identities import EXTRA_SCENARIOS, UidIdentities

SCENARIOS = {cls.name: cls for cls in (KmsProvisioning, CskUpload, PrivateCall, GroupCall, Smime,
                                        PskSmime, Transports, Malformed, SipTls, PskCall)}

__all__ = ["SCENARIOS", "EXTRA_SCENARIOS", "Scenario", "SIP_PORT", "HTTP_PORT", "MSRP_PORT",
           "MCPTT_INFO", "KmsProvisioning", "CskUpload", "PrivateCall", "GroupCall", "Smime",
           "PskSmime", "Transports", "Malformed", "SipTls", "PskCall", "UidIdentities"]
