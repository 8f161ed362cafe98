#!/usr/bin/env python3
"""Draws the DiT Studio application icon (resources/icons/ditstudio-<size>.png): a rounded square with a blue to
violet gradient, three stacked film frames and a play triangle. Pure Python (zlib + struct), 4x4 supersampled.
Run: python3 scripts/make_icon.py"""
import math
import pathlib
import struct
import zlib


def inside_rounded(x, y, x0, y0, x1, y1, r):
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r and x0 <= x <= x1 and y0 <= y <= y1


def inside_triangle(x, y, a, b, c):
    def sign(p, q, r):
        return (p[0] - r[0]) * (q[1] - r[1]) - (q[0] - r[0]) * (p[1] - r[1])
    d1, d2, d3 = sign((x, y), a, b), sign((x, y), b, c), sign((x, y), c, a)
    neg = d1 < 0 or d2 < 0 or d3 < 0
    pos = d1 > 0 or d2 > 0 or d3 > 0
    return not (neg and pos)


def shade(u, v):
    """RGBA of the icon at (u, v) in [0, 1]^2."""
    if not inside_rounded(u, v, 0.04, 0.04, 0.96, 0.96, 0.2):
        return (0, 0, 0, 0)
    t = (u + v) / 2
    r = int(40 + 90 * t)
    g = int(90 - 40 * t)
    b = int(210 + 30 * t)
    color = (r, g, b, 255)
    # three film frames, back to front
    for i, alpha in ((2, 0.35), (1, 0.6), (0, 1.0)):
        off = i * 0.06
        x0, y0, x1, y1 = 0.2 + off, 0.24 - off, 0.72 + off, 0.68 - off
        if inside_rounded(u, v, x0, y0, x1, y1, 0.05):
            edge = not inside_rounded(u, v, x0 + 0.025, y0 + 0.025, x1 - 0.025, y1 - 0.025, 0.03)
            fill = (250, 250, 255) if edge else (24, 26, 40)
            color = tuple(int(c * (1 - alpha) + f * alpha) for c, f in zip(color[:3], fill)) + (255,)
    if inside_triangle(u, v, (0.38, 0.35), (0.38, 0.57), (0.57, 0.46)):
        color = (255, 196, 64, 255)
    return color


def render(size, samples=4):
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            acc = [0, 0, 0, 0]
            for sy in range(samples):
                for sx in range(samples):
                    c = shade((x + (sx + 0.5) / samples) / size, (y + (sy + 0.5) / samples) / size)
                    a = c[3]
                    acc[0] += c[0] * a
                    acc[1] += c[1] * a
                    acc[2] += c[2] * a
                    acc[3] += a
            n = samples * samples
            alpha = acc[3] / n
            if acc[3] > 0:
                row += bytes((int(acc[0] / acc[3]), int(acc[1] / acc[3]), int(acc[2] / acc[3]), int(alpha)))
            else:
                row += bytes((0, 0, 0, 0))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    out = pathlib.Path(__file__).resolve().parent.parent / "resources" / "icons"
    out.mkdir(parents=True, exist_ok=True)
    for size in (32, 64, 128, 256):
        (out / f"ditstudio-{size}.png").write_bytes(render(size))
    print("wrote", ", ".join(f"ditstudio-{s}.png" for s in (32, 64, 128, 256)), "to", out)
