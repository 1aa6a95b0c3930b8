#!/bin/sh
# Real GStreamer 1.22 RTSP/SRTP/MIKEY captures on the loopback interface (see README.md here).
# Needs root (tcpdump on lo) and Debian's packages:
#   apt-get install gstreamer1.0-rtsp gstreamer1.0-plugins-bad gstreamer1.0-plugins-base \
#     gstreamer1.0-plugins-good gir1.2-gst-rtsp-server-1.0 python3-gi tcpdump
# Usage: make_captures.sh [OUTDIR]   (default: this directory)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE}
mkdir -p "$OUT"
PY=/usr/bin/python3            # the system python with python3-gi, not the project's venv
GST="$PY $HERE/gst_rtsp.py"
SECONDS_EACH=${SECONDS_EACH:-2.5}

# capture NAME PORT MODE SERVER_CIPHER SERVER_AUTH CLIENT_CIPHER CLIENT_AUTH [udp|tcp]
capture() {
    name=$1 port=$2 mode=$3
    pcap="$OUT/$name.pcap"
    tcpdump -i lo -U -s 0 -w "$pcap" "tcp port $port or (udp and not port 53)" 2>/dev/null &
    dump=$!
    sleep 1
    $GST server "$port" "$4" "$5" &
    server=$!
    sleep 1.5
    timeout 30 $GST "$mode" "rtsp://127.0.0.1:$port/$mode" "$6" "$7" "$SECONDS_EACH" "${8:-udp}"
    sleep 0.5
    kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
    kill "$dump" 2>/dev/null || true; wait "$dump" 2>/dev/null || true
    echo "$pcap: $(stat -c %s "$pcap") octets"
}

# PLAY (rtspsrc): the server's SRTP/SRTCP keys in the DESCRIBE reply's SDP, the client's SRTCP
# key in the KeyMgmt header of SETUP.
capture play-aes128-sha1-80 8554 play aes-128-icm hmac-sha1-80 aes-256-icm hmac-sha1-32
capture play-aes256-sha1-32 8554 play aes-256-icm hmac-sha1-32 aes-128-icm hmac-sha1-80
capture play-aes256-sha1-80 8554 play aes-256-icm hmac-sha1-80 aes-128-icm hmac-sha1-32
# RECORD (rtspclientsink) on a port other than 8554: the client's keys in the ANNOUNCE SDP and
# in SETUP's KeyMgmt, the server's in the KeyMgmt header of the ANNOUNCE reply.
capture record-aes128-sha1-80 9554 record aes-128-icm hmac-sha1-80 aes-256-icm hmac-sha1-32
# PLAY with RTP/RTCP interleaved in the RTSP connection (RFC 2326 §10.12, `$` frames)
capture play-tcp-aes128-sha1-32 8554 play aes-128-icm hmac-sha1-32 aes-256-icm hmac-sha1-80 tcp
