#!/usr/bin/env python3
"""Writes data/austen-sentences.tsv.gz: sentences of two Jane Austen novels,
labelled by novel, for the text CNN's sentence-classification recipe.

The novels are in the public domain; the text comes from Debian's
r-cran-janeaustenr package (MIT, Julia Silge), which stores them in an R
lazy-load database. R itself is not needed: this script reads R's
serialization format for the few types that database uses.

    apt-get download r-cran-janeaustenr && dpkg-deb -x r-cran-janeaustenr_*.deb /tmp/austen
    /usr/bin/python3 scripts/gen_austen_sentences.py /tmp/austen/usr/lib/R/site-library/janeaustenr/data

The output is deterministic: the same package gives the same file.
"""
import gzip
import os
import random
import re
import struct
import sys
import zlib

NOVELS = [("prideprejudice", "pride-and-prejudice"), ("persuasion", "persuasion")]
# Sentences of 4 to 40 words; at most this many per novel, so the classes are balanced.
MIN_WORDS, MAX_WORDS, PER_NOVEL = 4, 40, 2800


class RReader:
    """Reads R's XDR serialization (version 2 or 3) for symbols, pairlists, vectors and strings."""

    def __init__(self, data):
        self.d, self.i, self.refs = data, 0, []
        assert self.d[:2] == b"X\n", "not an XDR serialization"
        self.i = 2
        version = self.int()
        self.int(), self.int()  # writer and minimal reader versions
        if version == 3:
            length = self.int()
            self.i += length  # the native encoding's name

    def int(self):
        (v,) = struct.unpack(">i", self.d[self.i:self.i + 4])
        self.i += 4
        return v

    def item(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, bool(flags & (1 << 9)), bool(flags & (1 << 10))
        if kind == 254:  # NILVALUE
            return None
        if kind == 255:  # a reference to an earlier symbol
            return self.refs[(flags >> 8) - 1]
        if kind == 1:  # SYMSXP
            name = self.item()
            self.refs.append(name)
            return name
        if kind == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None
            s = self.d[self.i:self.i + n].decode("utf-8", "replace")
            self.i += n
            return s
        if kind in (2, 17):  # LISTSXP (pairlist): attributes, tag, head, tail
            out = []
            while kind in (2, 17):
                if has_attr:
                    self.item()
                tag = self.item() if has_tag else None
                out.append((tag, self.item()))
                flags = self.int()
                kind, has_attr, has_tag = flags & 0xFF, bool(flags & (1 << 9)), bool(flags & (1 << 10))
            assert kind == 254, f"a pairlist ends with type {kind}"
            return dict(out)
        if kind in (10, 13):  # LGLSXP, INTSXP
            n = self.int()
            v = list(struct.unpack(f">{n}i", self.d[self.i:self.i + 4 * n]))
            self.i += 4 * n
        elif kind == 14:  # REALSXP
            n = self.int()
            v = list(struct.unpack(f">{n}d", self.d[self.i:self.i + 8 * n]))
            self.i += 8 * n
        elif kind in (16, 19):  # STRSXP, VECSXP
            v = [self.item() for _ in range(self.int())]
        else:
            raise ValueError(f"R type {kind} is not read by this script")
        if has_attr:
            attrs = self.item()
            if isinstance(attrs, dict) and "names" in attrs and kind == 19:
                return dict(zip(attrs["names"], v))
        return v


def lazy_load(folder):
    """The objects of an R lazy-load database (Rdata.rdx + Rdata.rdb), by name."""
    index = RReader(gzip.decompress(open(os.path.join(folder, "Rdata.rdx"), "rb").read())).item()
    rdb = open(os.path.join(folder, "Rdata.rdb"), "rb").read()
    out = {}
    for name, (offset, length) in index["variables"].items():
        chunk = rdb[offset:offset + length]
        out[name] = RReader(zlib.decompress(chunk[4:])).item()  # 4 bytes of uncompressed length, then zlib
    return out


def sentences(lines):
    """The novel's text cut into sentences: chapter headings dropped, lines joined, split after . ! ?"""
    text = " ".join(l.strip() for l in lines if l and not re.match(r"^\s*(CHAPTER|Chapter)\b", l))
    text = re.sub(r"\s+", " ", text.replace("_", ""))
    parts = re.split(r"(?<=[.!?])[\"']?\s+(?=[\"'A-Z])", text)
    out = []
    for s in parts:
        s = s.strip()
        words = s.split()
        if MIN_WORDS <= len(words) <= MAX_WORDS:
            out.append(s)
    return out


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/austen/usr/lib/R/site-library/janeaustenr/data"
    books = lazy_load(folder)
    rows = []
    for key, label in NOVELS:
        found = sentences(books[key])
        rng = random.Random(1)
        rng.shuffle(found)
        rows += [(label, s) for s in found[:PER_NOVEL]]
        print(f"{key}: {len(found)} sentences of {MIN_WORDS}-{MAX_WORDS} words, kept {min(len(found), PER_NOVEL)}")
    random.Random(2).shuffle(rows)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    path = os.path.join(root, "data", "austen-sentences.tsv.gz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    body = "".join(f"{label}\t{s.replace(chr(9), ' ')}\n" for label, s in rows).encode("utf-8")
    with open(path, "wb") as f:
        f.write(gzip.compress(body, mtime=0))
    print(f"wrote {path}: {len(rows)} sentences, {len(body)} bytes of text")


if __name__ == "__main__":
    main()
