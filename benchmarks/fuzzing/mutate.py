"""Mutators of the fuzz campaign: bytes (bit flips, interesting integers, splices, havoc), DER
(tag and length octets of X.690 §8.1 headers), text (SIP, SDP: lines, separators, numbers), XML
(entity and DTD attacks, as defusedxml must refuse) and pcap/pcapng (block and record lengths,
draft-ietf-opsawg-pcapng §3.1).  Every mutator is a function of a ``random.Random``: a seed
replays a run exactly.
"""

from __future__ import annotations

import base64
import random
import re
import struct

INTERESTING8 = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x02, 0x10, 0x20, 0x40, 0xFE)
INTERESTING16 = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0xFFFE)
INTERESTING32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x10000, 12, 28, 32)


def byte_mutate(rng: random.Random, data: bytes, others=(), max_ops: int = 6) -> bytes:
    """AFL-style havoc: 1..max_ops of bit flips, interesting values, inserts, deletes, duplicated
    and spliced ranges, truncation."""
    b = bytearray(data)
    for _ in range(rng.randint(1, max_ops)):
        op = rng.randrange(13)
        n = len(b)
        if n == 0:
            b += rng.randbytes(rng.randint(1, 16))
            continue
        i = rng.randrange(n)
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i] = rng.choice(INTERESTING8)
        elif op == 2:
            b[i] = rng.randrange(256)
        elif op == 3 and n >= 2:
            b[i:i + 2] = struct.pack(rng.choice((">H", "<H")), rng.choice(INTERESTING16))[:n - i]
        elif op == 4 and n >= 4:
            b[i:i + 4] = struct.pack(rng.choice((">I", "<I")), rng.choice(INTERESTING32))[:n - i]
        elif op == 5:
            b[i:i] = rng.randbytes(rng.choice((1, 2, 4, 16, 64)))
        elif op == 6:
            del b[i:i + rng.choice((1, 2, 4, 16, 64, n))]
        elif op == 7:
            j = rng.randrange(n)
            chunk = b[j:j + rng.choice((1, 4, 16, 64, 256))]
            b[i:i] = chunk * rng.choice((1, 1, 2, 8))
        elif op == 8:
            del b[i:]
        elif op == 9 and others:
            o = rng.choice(others)
            if o:
                j = rng.randrange(len(o))
                b[i:] = o[j:j + rng.randint(1, len(o))]
        elif op == 10:
            b[i] = (b[i] + rng.choice((1, -1, 2, -2, 16, -16))) & 0xFF
        elif op == 11:  # overwrite with a copy of another region
            j = rng.randrange(n)
            k = rng.randint(1, 32)
            b[i:i + k] = b[j:j + k]
        else:
            b[i] = rng.choice(b"\r\n:;=<>/ \"'0123456789-")
    return bytes(b)


def random_bytes(rng: random.Random, max_size: int = 2048) -> bytes:
    return rng.randbytes(rng.choice((0, 1, 2, 4, 10, 16, 64, 256, rng.randint(0, max_size))))


# -- DER ---------------------------------------------------------------------------------------
def der_headers(data: bytes, start: int = 0, end: int | None = None, depth: int = 0, out=None):
    """(offset of the tag, offset of the length, length of the length octets) of every TLV."""
    out = [] if out is None else out
    end = len(data) if end is None else end
    i = start
    while i + 2 <= end and depth < 40 and len(out) < 4000:
        tag_at = i
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            while i < end and data[i] & 0x80:
                i += 1
            i += 1
        if i >= end:
            break
        len_at = i
        first = data[i]
        if first < 0x80:
            length, nlen = first, 1
        elif first == 0x80:
            break
        else:
            k = first & 0x7F
            if k > 4 or i + 1 + k > end:
                break
            length, nlen = int.from_bytes(data[i + 1:i + 1 + k], "big"), 1 + k
        out.append((tag_at, len_at, nlen))
        body = len_at + nlen
        if body + length > end:
            break
        if tag & 0x20:  # constructed: descend
            der_headers(data, body, body + length, depth + 1, out)
        elif tag in (0x04, 0x03) and length > 2 and data[body + (tag == 0x03)] in (0x30, 0x31):
            der_headers(data, body + (tag == 0x03), body + length, depth + 1, out)  # wrapped DER
        i = body + length
    return out


def der_mutate(rng: random.Random, data: bytes, others=()) -> bytes:
    heads = der_headers(data)
    if not heads or rng.random() < 0.3:
        return byte_mutate(rng, data, others)
    b = bytearray(data)
    tag_at, len_at, nlen = rng.choice(heads)
    cur = int.from_bytes(b[len_at + 1:len_at + nlen], "big") if nlen > 1 else b[len_at]
    op = rng.randrange(9)
    if op == 0:  # a lying length in the same number of octets
        if nlen == 1:
            b[len_at] = rng.choice([0, 0x7F, max(cur - 1, 0), min(cur + 1, 0x7F)])
        else:
            v = rng.choice([0, cur + 1, max(cur - 1, 0), (1 << (8 * (nlen - 1))) - 1])
            b[len_at + 1:len_at + nlen] = (v % (1 << (8 * (nlen - 1)))).to_bytes(nlen - 1, "big")
    elif op == 1:  # indefinite length (BER), or a long-form length that claims everything
        b[len_at:len_at + nlen] = rng.choice([b"\x80", b"\x84\xff\xff\xff\xff", b"\x85",
                                              b"\x88" + b"\xff" * 8, b"\x81\x00"])
    elif op == 2:  # another tag
        b[tag_at] = rng.choice([0x30, 0x31, 0x02, 0x04, 0x05, 0x06, 0x03, 0x0C, 0x17, 0x18,
                                0xA0, 0xA1, 0xA2, 0xA3, 0x80, 0x81, 0x1F, 0xFF, 0x24, 0x00])
    elif op == 3:  # non-minimal long form of the same length
        b[len_at:len_at + nlen] = b"\x82" + cur.to_bytes(2, "big") if cur < 65536 else b"\x80"
    elif op == 4:  # drop the TLV's content
        body = len_at + nlen
        del b[body:body + cur]
    elif op == 5:  # duplicate the TLV
        body = len_at + nlen
        tlv = b[tag_at:body + cur]
        b[tag_at:tag_at] = tlv
    elif op == 6:  # deep nesting
        n = rng.choice([20, 40, 200, 2000])
        body = len_at + nlen
        inner = bytes(b[tag_at:body + cur])
        for _ in range(n):
            inner = b"\x30" + _der_len(len(inner)) + inner
            if len(inner) > 1 << 20:
                break
        b[tag_at:body + cur] = inner
    elif op == 7:  # a huge INTEGER / OID
        b[tag_at:tag_at] = rng.choice([b"\x02\x82\x10\x00" + b"\xff" * 4096,
                                       b"\x06\x82\x01\x00" + b"\x81" * 256,
                                       b"\x06\x00", b"\x02\x00"])
    else:
        return byte_mutate(rng, bytes(b), others, max_ops=2)
    return bytes(b)


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    k = (n.bit_length() + 7) // 8
    return bytes([0x80 | k]) + n.to_bytes(k, "big")


# -- text (SIP, SDP, XML) ----------------------------------------------------------------------
def text_mutate(rng: random.Random, data: bytes, others=()) -> bytes:
    if rng.random() < 0.45:
        return byte_mutate(rng, data, others)
    lines = data.split(b"\n")
    for _ in range(rng.randint(1, 3)):
        if not lines:
            lines = [b""]
        i = rng.randrange(len(lines))
        op = rng.randrange(12)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:  # numbers lie
            lines[i] = re.sub(rb"\d+", lambda m: rng.choice(
                [b"0", b"-1", b"99999999999999999999", b"4294967296", str(
                    int(m.group()) + rng.choice((-1, 1, 100))).encode()]), lines[i], count=1)
        elif op == 3:  # a very long line
            lines[i] = lines[i] + rng.choice([b"A", b";", b" ", b"=", b"<a>"]) * rng.choice(
                (100, 5000, 70000))
        elif op == 4:
            lines[i] = lines[i].replace(b":", b"", 1)
        elif op == 5:
            lines[i] = lines[i].rstrip(b"\r")
        elif op == 6:  # boundary and parameters games
            lines[i] = re.sub(rb'boundary="?[^";\r]*"?', rng.choice(
                [b"boundary=", b'boundary=""', b"boundary=x", b'boundary="' + b"-" * 80 + b'"']),
                lines[i])
        elif op == 7:  # base64 damage
            lines[i] = re.sub(rb"[A-Za-z0-9+/]{8,}={0,2}", lambda m: rng.choice(
                [m.group()[:-1], m.group() + b"=", m.group().replace(b"A", b"*", 1), b"",
                 base64.b64encode(rng.randbytes(rng.randint(0, 300)))]), lines[i], count=1)
        elif op == 8:
            lines[i:i] = [rng.choice([b"Content-Type: multipart/mixed; boundary=zz",
                                      b"Content-Length: 0", b"l: 100000000",
                                      b"Content-Type: application/pkcs7-mime; smime-type=x",
                                      b"Content-Transfer-Encoding: base64", b"--zz", b"--zz--",
                                      b"a=key-mgmt:mikey AAAA", b"m=audio 0 RTP/SAVP 0",
                                      b"\r", b"", b" folded", b"\t"])]
        elif op == 9:
            cut = rng.randrange(len(lines) + 1)
            lines = lines[:cut]
        elif op == 10:  # XML structure games
            lines[i] = re.sub(rb"<(/?)([A-Za-z:]+)", lambda m: rng.choice(
                [b"<" + m.group(1) + m.group(2) + b"X", b"<" + m.group(1) + m.group(2),
                 b"<!-- -->", b"<" + m.group(1) + m.group(2) + b' a="&#0;"']), lines[i], count=1)
        else:
            lines[i] = byte_mutate(rng, lines[i], max_ops=2)
    return b"\n".join(lines)


XML_ATTACKS = (
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a/>',
    b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "http://127.0.0.1/x.dtd"><a/>',
    b"<a>" * 5000 + b"</a>" * 5000,
    b'<KmsResponse xmlns="urn:3gpp:ns:mcsecKMSInterface:1.0"/>',
    b'<x:KmsResponse xmlns:x="urn:3gpp:ns:mcsecKMSInterface:1.0"><x:KmsMessage/></x:KmsResponse>',
)


def xml_mutate(rng: random.Random, data: bytes, others=()) -> bytes:
    r = rng.random()
    if r < 0.04:
        return rng.choice(XML_ATTACKS)
    if r < 0.35:  # damage the text of one element (keys, numbers, base64, URIs)
        spans = [m.span(1) for m in re.finditer(rb">([^<]+)<", data)]
        if spans:
            a, z = rng.choice(spans)
            repl = rng.choice([b"", b"00", b"zz", data[a:z][:-2], data[a:z] + b"00",
                               data[a:z].lower(), b"-1", b"99999999999999999999999",
                               rng.randbytes(8).hex().encode(), b"&amp;", b"\xff\xfe",
                               base64.b64encode(rng.randbytes(rng.choice((0, 32, 65, 257, 300))))])
            return data[:a] + repl + data[z:]
    if r < 0.45:  # an xsi:type that asks for unwrapping, with garbage
        return data.replace(b'xsi:type="KeyContentType"', rng.choice(
            [b'xsi:type="EncKeyContentType"', b'xsi:type="Other"', b""]), rng.randint(1, 3))
    return text_mutate(rng, data, others)


def pcap_mutate(rng: random.Random, data: bytes, others=()) -> bytes:
    """Mostly small changes (a big one only exercises the first error): block lengths, EPB
    lengths, link/IP/TCP header octets; sometimes block surgery or truncation."""
    b = bytearray(data)
    blocks = []
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        i = 0
        while i + 12 <= len(b) and len(blocks) < 10000:
            n = struct.unpack_from("<I", b, i + 4)[0]
            if n < 12 or n % 4:
                break
            blocks.append((i, n))
            i += n
    op = rng.randrange(10)
    if blocks and op == 0:  # block length lies
        i, n = rng.choice(blocks)
        where = rng.choice([i + 4, i + n - 4])
        struct.pack_into("<I", b, where, rng.choice([0, 12, n + 4, n - 4, n + 1, 0xFFFFFFFF,
                                                     16 << 20, n * 2]))
    elif blocks and op == 1:  # EPB captured / original length lies
        epbs = [(i, n) for i, n in blocks if struct.unpack_from("<I", b, i)[0] == 6]
        if epbs:
            i, n = rng.choice(epbs)
            struct.pack_into("<I", b, i + rng.choice([20, 24]),
                             rng.choice([0, 1, n, 0xFFFFFFFF, 65535, 262145]))
    elif blocks and op == 2:  # block surgery: drop, duplicate, swap
        i, n = rng.choice(blocks)
        blk = bytes(b[i:i + n])
        k = rng.randrange(3)
        if k == 0:
            del b[i:i + n]
        elif k == 1:
            b[i:i] = blk * rng.choice((1, 2, 50))
        else:
            j, m = rng.choice(blocks)
            b[i:i + n] = bytes(b[j:j + m])
    elif op == 3:
        del b[rng.randrange(len(b) + 1):]
    elif op in (4, 5, 6):  # a few octets inside one frame's headers
        i, n = rng.choice(blocks) if blocks else (0, len(b))
        for _ in range(rng.randint(1, 4)):
            k = i + 28 + rng.randrange(min(max(n - 28, 1), 80))
            if k < len(b):
                b[k] = rng.choice(INTERESTING8) if rng.random() < 0.5 else rng.randrange(256)
    else:
        return byte_mutate(rng, bytes(b), others, max_ops=3)
    return bytes(b)
