#!/usr/bin/env python3
"""Writes a complete, valid all-zero 8-bit greyscale PNG of SIDE x SIDE pixels (default 32768:
2^30 pixels, OpenCV's own limit) that compresses to about 1 MB: a decompression bomb.
Usage: bench/make_png_bomb.py OUT.png [SIDE]"""
import struct
import sys
import zlib

ROWS_PER_CHUNK = 256


def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def main():
    out = sys.argv[1]
    side = int(sys.argv[2]) if len(sys.argv) > 2 else 32768
    row = b"\x00" * (side + 1)  # filter byte 0, then the row's pixels
    deflate = zlib.compressobj(9)
    with open(out, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)))
        for start in range(0, side, ROWS_PER_CHUNK):
            data = deflate.compress(row * min(ROWS_PER_CHUNK, side - start))
            if data:
                f.write(chunk(b"IDAT", data))
        f.write(chunk(b"IDAT", deflate.flush()))
        f.write(chunk(b"IEND", b""))


if __name__ == "__main__":
    main()
