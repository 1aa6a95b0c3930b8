#!/usr/bin/python3
"""GStreamer RTSP server and clients speaking SRTP keyed with MIKEY (RFC 4567), for captures.

Runs with Debian's system python3 and python3-gi (not the project's venv):

    gst_rtsp.py server PORT CIPHER AUTH           # gst-rtsp-server: /play (a sender, PLAY)
                                                  # and /record (a receiver, RECORD), profiles=savp
    gst_rtsp.py play   URL CIPHER AUTH SECONDS [udp|tcp]  # rtspsrc, PLAY, for SECONDS
    gst_rtsp.py record URL CIPHER AUTH SECONDS [udp|tcp]  # rtspclientsink, RECORD
                                                  # (tcp: RTP/RTCP interleaved, RFC 2326 §10.12)

CIPHER is aes-128-icm or aes-256-icm, AUTH hmac-sha1-80 or hmac-sha1-32: the ciphers of the
SRTP encoder of whoever sends RTP (the server's for PLAY, rtspclientsink's for RECORD) and of the
RTCP key the other side offers (rtspsrc/rtspclientsink "request-rtcp-key", the server's
"new-rtp-rtcp-decoder" needs nothing).  Keys are random (GStreamer's own), carried in MIKEY.
"""

import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

KEY_LEN = {"aes-128-icm": 30, "aes-256-icm": 46}  # master key || 14-octet salt


def srtp_caps(cipher, auth):
    key = Gst.Buffer.new_wrapped(os.urandom(KEY_LEN[cipher]))
    caps = Gst.Caps.from_string(f"application/x-srtcp, srtp-cipher={cipher}, srtp-auth={auth}, "
                                f"srtcp-cipher={cipher}, srtcp-auth={auth}")
    caps.set_value("srtp-key", key)
    return caps


def set_encoder(enc, cipher, auth):
    enc.set_property("key", Gst.Buffer.new_wrapped(os.urandom(KEY_LEN[cipher])))
    for prop in ("rtp-cipher", "rtcp-cipher"):
        enc.set_property(prop, cipher)
    for prop in ("rtp-auth", "rtcp-auth"):
        enc.set_property(prop, auth)


def fast_rtcp(element):
    """RTCP every 0.5 s instead of RFC 3550's 5 s minimum, so a short capture holds SRTCP."""
    factory = element.get_factory()
    if factory is not None and factory.get_name() == "rtpsession":
        element.set_property("rtcp-min-interval", 500_000_000)


def on_manager(element, manager):
    manager.connect("element-added", lambda bin_, el: fast_rtcp(el))


def server(port, cipher, auth):
    srv = GstRtspServer.RTSPServer()
    srv.set_service(str(port))
    mounts = srv.get_mount_points()

    play = GstRtspServer.RTSPMediaFactory()
    play.set_launch("( audiotestsrc is-live=true wave=sine samplesperbuffer=160 ! "
                    "audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay0 pt=8 )")
    play.set_profiles(GstRtsp.RTSPProfile.SAVP)
    play.set_shared(False)

    def on_stream(media, stream):
        stream.connect("new-rtp-encoder", lambda s, enc: set_encoder(enc, cipher, auth))

    def on_media(factory, media):
        for i in range(media.n_streams()):  # the streams of the launch line exist already
            on_stream(media, media.get_stream(i))
        media.connect("new-stream", on_stream)
        pipeline = media.get_element().get_parent()
        if pipeline is not None:  # rtpbin joins later: RTCP every 0.5 s
            pipeline.connect("deep-element-added", lambda b, sub, el: fast_rtcp(el))

    play.connect("media-configure", on_media)
    mounts.add_factory("/play", play)

    record = GstRtspServer.RTSPMediaFactory()
    record.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
    record.set_launch("( decodebin name=depay0 ! fakesink sync=false )")
    record.set_profiles(GstRtsp.RTSPProfile.SAVP)
    record.connect("media-configure", on_media)
    mounts.add_factory("/record", record)

    srv.attach(None)
    print(f"rtsp server on {port}", flush=True)
    GLib.MainLoop().run()


def run_for(pipeline, seconds):
    loop = GLib.MainLoop()

    def on_message(bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print("error:", err.message, dbg, file=sys.stderr, flush=True)
            loop.quit()
        elif msg.type == Gst.MessageType.EOS:
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    pipeline.set_state(Gst.State.PLAYING)
    GLib.timeout_add(int(seconds * 1000), loop.quit)
    loop.run()
    pipeline.set_state(Gst.State.NULL)  # sends TEARDOWN


def play(url, cipher, auth, seconds, protocols="udp"):
    pipe = Gst.parse_launch(f"rtspsrc name=src location={url} protocols={protocols} ! "
                            "rtppcmadepay ! alawdec ! fakesink sync=false")
    src = pipe.get_by_name("src")
    src.connect("request-rtcp-key", lambda el, idx: srtp_caps(cipher, auth))
    src.connect("new-manager", on_manager)
    run_for(pipe, seconds)


def record(url, cipher, auth, seconds, protocols="udp"):
    pipe = Gst.parse_launch("audiotestsrc is-live=true wave=sine samplesperbuffer=160 ! "
                            "audio/x-raw,rate=8000,channels=1 ! alawenc ! "
                            f"rtspclientsink name=sink location={url} protocols={protocols} "
                            "profiles=savp")
    sink = pipe.get_by_name("sink")
    sink.connect("request-rtcp-key", lambda el, idx: srtp_caps(cipher, auth))
    sink.connect("new-manager", on_manager)
    run_for(pipe, seconds)


if __name__ == "__main__":
    Gst.init(None)
    mode, where, cipher, auth = sys.argv[1:5]
    if mode == "server":
        server(int(where), cipher, auth)
    elif mode == "play":
        play(where, cipher, auth, float(sys.argv[5]), *sys.argv[6:7])
    else:
        record(where, cipher, auth, float(sys.argv[5]), *sys.argv[6:7])
