"""Byte-level view of a DICOM Part 10 file for structural mutations (PS3.10 §7.1, PS3.5 §7).

The walker is deliberately lenient and independent of the device's reader: it only has to
find where elements, items and delimiters are in a *valid* base file so that a mutation can
forge exactly one of them. It understands explicit and implicit VR, little and big endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info

UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
SHORT_VRS = {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN", b"SH",
             b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"


@dataclass
class Part10:
    """A file split into its header (preamble, ``DICM``, File Meta group) and its data set."""

    header: bytes
    body: bytes
    syntax: str

    @property
    def explicit(self) -> bool:
        return self.syntax != IMPLICIT_LE

    @property
    def little(self) -> bool:
        return self.syntax != EXPLICIT_BE

    def join(self, body: bytes | None = None) -> bytes:
        return self.header + (self.body if body is None else body)


def split_part10(data: bytes) -> Part10 | None:
    """The file's header and data set, or None when it has no parsable Part 10 header."""
    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    pos, syntax = 132, ""
    while pos + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            break
        vr = data[pos + 4 : pos + 6]
        if vr in LONG_VRS:
            if pos + 12 > len(data):
                return None
            length, start = struct.unpack_from("<I", data, pos + 8)[0], pos + 12
        else:
            length, start = struct.unpack_from("<H", data, pos + 6)[0], pos + 8
        if length == UNDEFINED or start + length > len(data):
            return None
        if element == 0x0010:
            syntax = data[start : start + length].decode("ascii", "replace").strip("\0 ")
        pos = start + length
    return Part10(data[:pos], data[pos:], syntax) if syntax else None


def file_meta(syntax: str, sop_class: str, sop_instance: str) -> bytes:
    """Preamble, ``DICM`` and a File Meta group (group length computed by pydicom)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = "2.25.1"
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return b"\0" * 128 + b"DICM" + buffer.getvalue()


@dataclass
class Node:
    """One element, item or delimiter of the data set: where its length field is and where it ends."""

    kind: str  # "element", "item", "item_end", "seq_end"
    pos: int
    tag: int
    vr: bytes
    length: int
    length_pos: int
    length_size: int
    value_pos: int
    depth: int
    end: int = 0
    children: list[Node] = field(default_factory=list)

    @property
    def is_sequence(self) -> bool:
        return self.vr == b"SQ" or bool(self.children)


class Walker:
    def __init__(self, body: bytes, explicit: bool = True, little: bool = True) -> None:
        self.body, self.explicit, self.endian = body, explicit, "<" if little else ">"
        self.nodes: list[Node] = []

    def _u16(self, pos: int) -> int:
        return struct.unpack_from(self.endian + "H", self.body, pos)[0]

    def _u32(self, pos: int) -> int:
        return struct.unpack_from(self.endian + "I", self.body, pos)[0]

    def _tag(self, pos: int) -> int:
        return (self._u16(pos) << 16) | self._u16(pos + 2)

    def dataset(self, pos: int, end: int, depth: int, explicit: bool, until_item_end: bool = False) -> int:
        while pos + 8 <= end:
            tag = self._tag(pos)
            if tag == ITEM_END and until_item_end:
                self.nodes.append(Node("item_end", pos, tag, b"", 0, pos + 4, 4, pos + 8, depth, pos + 8))
                return pos + 8
            if explicit:
                vr = self.body[pos + 4 : pos + 6]
                if vr in LONG_VRS:
                    node = Node("element", pos, tag, vr, self._u32(pos + 8), pos + 8, 4, pos + 12, depth)
                else:
                    node = Node("element", pos, tag, vr, self._u16(pos + 6), pos + 6, 2, pos + 8, depth)
            else:
                node = Node("element", pos, tag, b"", self._u32(pos + 4), pos + 4, 4, pos + 8, depth)
            self.nodes.append(node)
            if node.length == UNDEFINED:
                if tag == PIXEL_DATA or node.vr in (b"OB", b"OW"):
                    pos = self.fragments(node.value_pos, end, depth + 1, node)
                else:
                    pos = self.sequence(node.value_pos, end, depth + 1, explicit and node.vr != b"UN", True, node)
            else:
                if node.vr == b"SQ":
                    self.sequence(node.value_pos, node.value_pos + node.length, depth + 1, explicit, False, node)
                pos = node.value_pos + node.length
            node.end = pos
        return pos

    def sequence(self, pos: int, end: int, depth: int, explicit: bool, undefined: bool, parent: Node) -> int:
        while pos + 8 <= end:
            tag, length = self._tag(pos), self._u32(pos + 4)
            if tag == SEQ_END:
                node = Node("seq_end", pos, tag, b"", length, pos + 4, 4, pos + 8, depth, pos + 8)
                self.nodes.append(node)
                parent.children.append(node)
                return pos + 8
            if tag != ITEM:
                return end
            node = Node("item", pos, tag, b"", length, pos + 4, 4, pos + 8, depth)
            self.nodes.append(node)
            parent.children.append(node)
            if length == UNDEFINED:
                pos = self.dataset(pos + 8, end, depth, explicit, until_item_end=True)
            else:
                self.dataset(pos + 8, pos + 8 + length, depth, explicit)
                pos = pos + 8 + length
            node.end = pos
        return pos

    def fragments(self, pos: int, end: int, depth: int, parent: Node) -> int:
        while pos + 8 <= end:
            tag, length = self._tag(pos), self._u32(pos + 4)
            kind = "seq_end" if tag == SEQ_END else "item"
            node = Node(kind, pos, tag, b"", length, pos + 4, 4, pos + 8, depth, pos + 8 + (0 if kind == "seq_end" else length))
            self.nodes.append(node)
            parent.children.append(node)
            pos = node.end
            if kind == "seq_end" or tag != ITEM:
                return pos
        return pos


def walk(part: Part10) -> list[Node]:
    """Every node of the data set in file order (best effort; stops where the bytes stop making sense)."""
    walker = Walker(part.body, part.explicit, part.little)
    try:
        walker.dataset(0, len(part.body), 0, part.explicit)
    except struct.error:
        pass
    return walker.nodes


def top_level(part: Part10) -> list[Node]:
    return [n for n in walk(part) if n.kind == "element" and n.depth == 0]


def put_length(body: bytes, node: Node, length: int) -> bytes:
    """``body`` with ``node``'s length field set to ``length`` (masked to the field's size, little endian)."""
    fmt = "<H" if node.length_size == 2 else "<I"
    value = length & (0xFFFF if node.length_size == 2 else 0xFFFFFFFF)
    return body[: node.length_pos] + struct.pack(fmt, value) + body[node.length_pos + node.length_size :]


def element(tag: int, vr: bytes, value: bytes, *, pad: bool = True) -> bytes:
    """An explicit VR little endian element (PS3.5 §7.1.2); ``value`` padded to even length."""
    if pad and len(value) % 2:
        value += b"\0" if vr in (b"UI", b"OB", b"UN") else b" "
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr
    if vr in LONG_VRS:
        return head + b"\0\0" + struct.pack("<I", len(value)) + value
    return head + struct.pack("<H", len(value) & 0xFFFF) + value


def set_element(part: Part10, tag: int, raw: bytes) -> bytes:
    """The data set with the top-level element ``tag`` replaced by ``raw`` (inserted in tag order
    when absent). Explicit VR little endian data sets only."""
    body = part.body
    for node in top_level(part):
        if node.tag == tag:
            return body[: node.pos] + raw + body[node.end :]
        if node.tag > tag:
            return body[: node.pos] + raw + body[node.pos :]
    return body + raw


def remove_element(part: Part10, tag: int) -> bytes:
    for node in top_level(part):
        if node.tag == tag:
            return part.body[: node.pos] + part.body[node.end :]
    return part.body


def value_of(part: Part10, tag: int) -> bytes | None:
    for node in top_level(part):
        if node.tag == tag and node.length != UNDEFINED:
            return part.body[node.value_pos : node.value_pos + node.length]
    return None
