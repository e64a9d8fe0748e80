#!/usr/bin/env python3
"""Writes the colour filter's looks as 512x512 PNG look-up tables.

The layout is the common one (GPUImage, vendor SDKs): 64x64x64 RGB, 8x8
tiles of 64x64 pixels; blue picks the tile (row-major from the top left),
red is x and green is y inside it. `liveroom push --filter FILE.png` reads
them (src/effects/lut.rs). Python's standard library only.

    python3 scripts/make_luts.py [DIR]    (default assets/luts)

Looks:
  identity  every colour to itself (the filter then changes nothing)
  sepia     the classic sepia-tone matrix
  warm      a little more red and less blue, a gentle S-curve
  film      faded blacks, cool shadows, warm highlights, 15 % less saturation
"""

import os
import struct
import sys
import zlib

SIDE = 64
IMAGE = 512
TILES = IMAGE // SIDE


def clamp(v):
    return 0.0 if v < 0.0 else 1.0 if v > 1.0 else v


def identity(r, g, b):
    return r, g, b


def sepia(r, g, b):
    return (
        0.393 * r + 0.769 * g + 0.189 * b,
        0.349 * r + 0.686 * g + 0.168 * b,
        0.272 * r + 0.534 * g + 0.131 * b,
    )


def s_curve(v, amount):
    # Smoothstep blended in by `amount`: more contrast in the mid-tones.
    return v + (v * v * (3.0 - 2.0 * v) - v) * amount


def warm(r, g, b):
    return (
        s_curve(clamp(r * 1.06 + 0.015), 0.25),
        s_curve(clamp(g * 1.01), 0.25),
        s_curve(clamp(b * 0.90), 0.25),
    )


def film(r, g, b):
    y = 0.299 * r + 0.587 * g + 0.114 * b
    r, g, b = (y + (c - y) * 0.85 for c in (r, g, b))
    # Shadows toward blue, highlights toward amber.
    shade, light = (1.0 - y) ** 2, y * y
    r += 0.04 * light - 0.02 * shade
    b += 0.05 * shade - 0.04 * light
    # Faded blacks and softened whites.
    return tuple(0.06 + 0.90 * clamp(c) for c in (r, g, b))


LOOKS = {"identity": identity, "sepia": sepia, "warm": warm, "film": film}


def level(v):
    return int(round(clamp(v) * 255.0))


def table_rows(look):
    """The image's rows, each as RGB bytes."""
    step = 1.0 / (SIDE - 1)
    rows = []
    for y in range(IMAGE):
        row = bytearray()
        g = (y % SIDE) * step
        for x in range(IMAGE):
            b = ((y // SIDE) * TILES + x // SIDE) * step
            r = (x % SIDE) * step
            row.extend(level(c) for c in look(r, g, b))
        rows.append(bytes(row))
    return rows


def png(rows):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = bytearray()
    for row in rows:
        # Filter 1 (Sub): each byte minus the one a pixel to its left.
        raw.append(1)
        raw.extend((row[i] - (row[i - 3] if i >= 3 else 0)) & 0xFF for i in range(len(row)))
    header = struct.pack(">IIBBBBB", IMAGE, IMAGE, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "assets/luts"
    os.makedirs(out, exist_ok=True)
    for name, look in LOOKS.items():
        path = os.path.join(out, name + ".png")
        with open(path, "wb") as f:
            f.write(png(table_rows(look)))
        print(path)


if __name__ == "__main__":
    main()
