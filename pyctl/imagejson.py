# SPDX-License-Identifier: GPL-2.0
"""Images as JSON: ``pyctl decode`` and ``pyctl encode``.

Two spellings of the same document, both read back by ``from_json``:

- compact (default): byte strings in base64, flag words as integers, unread
  input as bytes plus a list of line-end offsets.  For programs.
- pretty: byte strings as text with one character per byte (Latin-1, so
  JSON's escapes show control bytes as ``\\u0003``), flags and c_cc by name,
  unread input as its complete lines plus the partial rest.  For people,
  and for editing an image by hand.

Either way ``encode(decode(image))`` gives back the image's exact bytes,
including sections from a newer writer that this version does not know.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Any

from . import termbits
from .image import (NTTY_FLAGS, TTY_FLAGS, VERSION, Constants, DevptsInstance, End, Extra, Image, ImageError, Pair,
                    Termios, Winsize)

__all__ = ["FORMAT_NAME", "from_json", "to_json"]

FORMAT_NAME = "ckpt-tty image"
WORDS = {"iflag": termbits.IFLAG, "oflag": termbits.OFLAG, "cflag": termbits.CFLAG, "lflag": termbits.LFLAG}
CC_NAMES = list(termbits.CC)  # c_cc slots by index; slots past VEOL2 are called cc17, cc18
CC_NUMBERS = ("VMIN", "VTIME")  # counts, not characters
PKT_NAMES = [n.removeprefix("TIOCPKT_") for n in termbits.TIOCPKT]
FLIP_FLAG_NAMES = ("NORMAL", "BREAK", "FRAME", "PARITY", "OVERRUN")  # TTY_* of include/linux/tty_flip.h
END_INTS = ("column", "canon_column", "read_tail", "commit", "canon", "line_start", "lookahead_count",
            "echo_tail", "echo_commit", "echo_mark", "flip_lookahead")


# ---- words and bits ----

# Pretty flag words read like C: "ICRNL|IXON|IUTF8"; bits without a name as one
# trailing hex number; "" for no bits.  Names of value 0 (CS5, B0) are never
# written but are accepted.

def word_names(value: int, fields: list[tuple[int, dict[int, str]]]) -> str:
    """A termios word as names in stty's order."""
    names: list[str] = []
    rest = value
    for mask, values in fields:
        v = value & mask
        if v and v in values:
            names.append(values[v])
            rest &= ~mask
    return "|".join(names + ([f"{rest:#x}"] if rest else []))


def _names_value(text: Any, known: dict[str, int], where: str) -> int:
    value = 0
    for token in _str(text, where).split("|") if text else []:
        token = token.strip()
        if token in known:
            value |= known[token]
            continue
        try:
            number = int(token, 0)
        except ValueError:
            raise ImageError(f"{where}: unknown name {token!r}; known: {', '.join(known)}") from None
        value |= _int(number, where, 0, (1 << 32) - 1)
    return value


def _word_value(text: Any, fields: list[tuple[int, dict[int, str]]], where: str) -> int:
    return _names_value(text, {name: v for _, values in fields for v, name in values.items()}, where)


def _bit_names(value: int, names: tuple[str, ...] | list[str]) -> str:
    return word_names(value, [(1 << i, {1 << i: n}) for i, n in enumerate(names)])


def _bit_value(text: Any, names: tuple[str, ...] | list[str], where: str) -> int:
    return _names_value(text, {n: 1 << i for i, n in enumerate(names)}, where)


# ---- checked access to the document ----

def _int(v: Any, where: str, lo: int = -(1 << 63), hi: int = (1 << 64) - 1) -> int:
    if type(v) is not int:
        raise ImageError(f"{where}: expected an integer, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise ImageError(f"{where}: {v} is out of range")
    return v


def _str(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise ImageError(f"{where}: expected a string, got {type(v).__name__}")
    return v


def _list(v: Any, where: str) -> list:
    if not isinstance(v, list):
        raise ImageError(f"{where}: expected a list, got {type(v).__name__}")
    return v


def _obj(v: Any, where: str, keys: tuple[str, ...] | list[str], optional: tuple[str, ...] = ()) -> dict:
    """``v`` as an object with exactly ``keys``, and perhaps some of ``optional``."""
    if not isinstance(v, dict):
        raise ImageError(f"{where}: expected an object, got {type(v).__name__}")
    missing = [k for k in keys if k not in v]
    unknown = [k for k in v if k not in keys and k not in optional]
    if missing:
        raise ImageError(f"{where}: missing {', '.join(missing)}")
    if unknown:
        raise ImageError(f"{where}: unknown key {', '.join(map(repr, unknown))}")
    return v


class _Bytes:
    """Byte strings in one spelling: base64 (compact) or Latin-1 text (pretty)."""

    def __init__(self, pretty: bool) -> None:
        self.pretty = pretty

    def out(self, data: bytes) -> str:
        return data.decode("latin-1") if self.pretty else base64.b64encode(data).decode()

    def read(self, v: Any, where: str) -> bytes:
        text = _str(v, where)
        if self.pretty:
            try:
                return text.encode("latin-1")
            except UnicodeEncodeError as e:
                raise ImageError(f"{where}: character {text[e.start]!r} is not one byte (U+0000..U+00FF)") from None
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            raise ImageError(f"{where}: not base64") from None


# ---- image -> JSON ----

def _cc_out(cc: bytes, pretty: bool, b: _Bytes) -> Any:
    if not pretty:
        return b.out(cc)
    out: dict[str, Any] = {}
    for i, v in enumerate(cc):
        name = CC_NAMES[i] if i < len(CC_NAMES) else f"cc{i}"
        out[name] = v if name in CC_NUMBERS else cc_char(v)
    return out


def cc_char(v: int) -> str:
    """A c_cc character as stty writes it: ^C, ^?, <undef> for a disabled slot (0)."""
    if v == 0:
        return "<undef>"
    if v < 0x20 or v == 0x7F:
        return "^" + chr(v ^ 0x40)
    return chr(v)  # printable, or one Latin-1 character for bytes above 0x7f


def _cc_char_in(v: Any, where: str) -> int:
    text = _str(v, where)
    if text == "<undef>":
        return 0
    if len(text) == 2 and text[0] == "^" and (0x40 <= ord(text[1]) < 0x60 or text[1] == "?"):
        return ord(text[1]) ^ 0x40
    if len(text) == 1 and ord(text) < 0x100:
        return ord(text)
    raise ImageError(f"{where}: {text!r} is not a c_cc character (^C, ^?, <undef> or one character)")


def _termios_out(t: Termios, pretty: bool, b: _Bytes) -> dict:
    words = {w: word_names(getattr(t, w), WORDS[w]) if pretty else getattr(t, w) for w in WORDS}
    return {**words, "ispeed": t.ispeed, "ospeed": t.ospeed, "line": t.line, "cc": _cc_out(t.cc, pretty, b)}


def _extra_out(extra: tuple[Extra, ...], b: _Bytes) -> list[dict]:
    return [{"position": x.position, "type": x.type, "flags": x.flags, "payload": b.out(x.payload)} for x in extra]


def _input_out(e: End, pretty: bool, b: _Bytes) -> dict:
    if not pretty:
        return {"input": b.out(e.input), "line_ends": sorted(e.line_ends)}
    lines, start = [], 0
    for end in sorted(e.line_ends):
        lines.append(b.out(e.input[start:end + 1]))
        start = end + 1
    return {"input": {"lines": lines, "partial": b.out(e.input[start:])}}


def _end_out(e: End, pretty: bool, b: _Bytes) -> dict:
    out = {
        "termios": _termios_out(e.termios, pretty, b),
        "termios_locked": _termios_out(e.termios_locked, pretty, b),
        "winsize": dataclasses.asdict(e.winsize),
        "flags": _bit_names(e.flags, TTY_FLAGS) if pretty else e.flags,
        "pktstatus": _bit_names(e.pktstatus, PKT_NAMES) if pretty else e.pktstatus,
        "ntty_flags": _bit_names(e.ntty_flags, NTTY_FLAGS) if pretty else e.ntty_flags,
        **{k: getattr(e, k) for k in END_INTS},
        **_input_out(e, pretty, b),
        "echo": b.out(e.echo),
        "flip": b.out(e.flip),
        "flip_flags": None if e.flip_flags is None else b.out(e.flip_flags),
    }
    if e.extra:
        out["extra"] = _extra_out(e.extra, b)
    return out


def to_json(image: Image, pretty: bool = False) -> dict:
    """The whole image as a JSON-ready dict; ``from_json`` reverses it exactly."""
    b = _Bytes(pretty)
    c = dataclasses.asdict(image.constants)
    if pretty:
        c["n_tty_data_fingerprint"] = f"{image.constants.n_tty_data_fingerprint:016x}"
    pairs = []
    for p in image.pairs:
        pair = {"index": p.index, "master": _end_out(p.master, pretty, b), "slave": _end_out(p.slave, pretty, b)}
        if p.devpts is not None:
            pair["devpts"] = {"major": p.devpts.major, "minor": p.devpts.minor,
                              "mountpoint": b.out(p.devpts.mountpoint)}
        if p.extra:
            pair["extra"] = _extra_out(p.extra, b)
        pairs.append(pair)
    doc = {"format": FORMAT_NAME, "version": VERSION, "pretty": pretty, "release": image.release,
           "created": image.created, "constants": c, "pairs": pairs}
    if image.extra:
        doc["extra"] = _extra_out(image.extra, b)
    return doc


# ---- JSON -> image ----

def _cc_in(v: Any, pretty: bool, b: _Bytes, where: str) -> bytes:
    if not pretty:
        return b.read(v, where)
    if not isinstance(v, dict):
        raise ImageError(f"{where}: expected an object of c_cc slots, got {type(v).__name__}")
    out = bytearray()
    for i, (name, value) in enumerate(v.items()):
        want = CC_NAMES[i] if i < len(CC_NAMES) else f"cc{i}"
        if name != want:
            raise ImageError(f"{where}: slot {i} is {want}, found {name!r} (slots go in kernel order)")
        if name in CC_NUMBERS:
            out.append(_int(value, f"{where}.{name}", 0, 255))
        else:
            out.append(_cc_char_in(value, f"{where}.{name}"))
    return bytes(out)


def _termios_in(v: Any, pretty: bool, b: _Bytes, where: str) -> Termios:
    d = _obj(v, where, (*WORDS, "ispeed", "ospeed", "line", "cc"))
    words = {w: _word_value(d[w], WORDS[w], f"{where}.{w}") if pretty else _int(d[w], f"{where}.{w}", 0, (1 << 32) - 1)
             for w in WORDS}
    cc = _cc_in(d["cc"], pretty, b, f"{where}.cc")
    if len(cc) > 255:
        raise ImageError(f"{where}.cc: {len(cc)} slots, at most 255")
    return Termios(**words, ispeed=_int(d["ispeed"], f"{where}.ispeed", 0, (1 << 32) - 1),
                   ospeed=_int(d["ospeed"], f"{where}.ospeed", 0, (1 << 32) - 1),
                   line=_int(d["line"], f"{where}.line", 0, 255), cc=cc)


def _extra_in(v: Any, b: _Bytes, where: str) -> tuple[Extra, ...]:
    out = []
    for k, item in enumerate(_list(v, where)):
        w = f"{where}[{k}]"
        d = _obj(item, w, ("position", "type", "flags", "payload"))
        out.append(Extra(_int(d["position"], f"{w}.position", 0, 1 << 32), _int(d["type"], f"{w}.type", 0, 0xFFFF),
                         _int(d["flags"], f"{w}.flags", 0, 0xFFFF), b.read(d["payload"], f"{w}.payload")))
    return tuple(out)


def _input_in(d: dict, pretty: bool, b: _Bytes, where: str) -> tuple[bytes, frozenset[int]]:
    if not pretty:
        data = b.read(d["input"], f"{where}.input")
        ends = [_int(i, f"{where}.line_ends", 0, len(data) - 1) for i in _list(d["line_ends"], f"{where}.line_ends")]
        if len(set(ends)) != len(ends):
            raise ImageError(f"{where}.line_ends: an offset appears twice")
        return data, frozenset(ends)
    inp = _obj(d["input"], f"{where}.input", ("lines", "partial"))
    data, ends = bytearray(), []
    for k, line in enumerate(_list(inp["lines"], f"{where}.input.lines")):
        chunk = b.read(line, f"{where}.input.lines[{k}]")
        if not chunk:
            raise ImageError(f"{where}.input.lines[{k}]: empty (a line ends with its line-end byte)")
        data += chunk
        ends.append(len(data) - 1)
    data += b.read(inp["partial"], f"{where}.input.partial")
    return bytes(data), frozenset(ends)


def _end_in(v: Any, pretty: bool, b: _Bytes, where: str) -> End:
    inputs = ("input",) if pretty else ("input", "line_ends")
    keys = ["termios", "termios_locked", "winsize", "flags", "pktstatus", "ntty_flags", *END_INTS, *inputs,
            "echo", "flip", "flip_flags"]
    d = _obj(v, where, keys, optional=("extra",))
    w = _obj(d["winsize"], f"{where}.winsize", ("row", "col", "xpixel", "ypixel"))
    bits = {}
    for name, names in (("flags", TTY_FLAGS), ("pktstatus", PKT_NAMES), ("ntty_flags", NTTY_FLAGS)):
        bits[name] = (_bit_value(d[name], names, f"{where}.{name}") if pretty
                      else _int(d[name], f"{where}.{name}", 0, (1 << 32) - 1))
    data, line_ends = _input_in(d, pretty, b, where)
    return End(
        termios=_termios_in(d["termios"], pretty, b, f"{where}.termios"),
        termios_locked=_termios_in(d["termios_locked"], pretty, b, f"{where}.termios_locked"),
        winsize=Winsize(*(_int(w[k], f"{where}.winsize.{k}", 0, 0xFFFF) for k in ("row", "col", "xpixel", "ypixel"))),
        **bits,
        **{k: _int(d[k], f"{where}.{k}") for k in END_INTS},
        input=data, line_ends=line_ends,
        echo=b.read(d["echo"], f"{where}.echo"), flip=b.read(d["flip"], f"{where}.flip"),
        flip_flags=None if d["flip_flags"] is None else b.read(d["flip_flags"], f"{where}.flip_flags"),
        extra=_extra_in(d.get("extra", []), b, f"{where}.extra"),
    )


def from_json(doc: Any) -> Image:
    """An Image from ``to_json``'s output (either spelling); ImageError names the JSON path at fault."""
    top = ["format", "version", "pretty", "release", "created", "constants", "pairs"]
    d = _obj(doc, "json", top, optional=("extra",))
    if d["format"] != FORMAT_NAME:
        raise ImageError(f"json.format: {d['format']!r}, expected {FORMAT_NAME!r}")
    if d["version"] != VERSION:
        raise ImageError(f"json.version: {d['version']!r}; this pyctl writes version {VERSION}")
    if not isinstance(d["pretty"], bool):
        raise ImageError("json.pretty: expected true or false")
    pretty = d["pretty"]
    b = _Bytes(pretty)
    c = _obj(d["constants"], "json.constants", [f.name for f in dataclasses.fields(Constants)])
    values = {}
    for name, value in c.items():
        if name == "n_tty_data_fingerprint" and pretty:
            try:
                value = int(_str(value, f"json.constants.{name}"), 16)
            except ValueError:
                raise ImageError(f"json.constants.{name}: not a hexadecimal number") from None
        values[name] = _int(value, f"json.constants.{name}", 0, (1 << 64) - 1 if name.endswith("print")
                            else (1 << 32) - 1)
    pairs = []
    for k, p in enumerate(_list(d["pairs"], "json.pairs")):
        where = f"json.pairs[{k}]"
        pd = _obj(p, where, ("index", "master", "slave"), optional=("extra", "devpts"))
        devpts = None
        if "devpts" in pd:
            dd = _obj(pd["devpts"], f"{where}.devpts", ("major", "minor", "mountpoint"))
            devpts = DevptsInstance(_int(dd["major"], f"{where}.devpts.major", 0, (1 << 32) - 1),
                                    _int(dd["minor"], f"{where}.devpts.minor", 0, (1 << 32) - 1),
                                    b.read(dd["mountpoint"], f"{where}.devpts.mountpoint"))
        pairs.append(Pair(_int(pd["index"], f"{where}.index", 0, (1 << 32) - 1),
                          _end_in(pd["master"], pretty, b, f"{where}.master"),
                          _end_in(pd["slave"], pretty, b, f"{where}.slave"),
                          _extra_in(pd.get("extra", []), b, f"{where}.extra"), devpts))
    image = Image(_str(d["release"], "json.release"), _int(d["created"], "json.created", 0), Constants(**values),
                  pairs, _extra_in(d.get("extra", []), b, "json.extra"))
    try:
        if len(image.release.encode()) > 0xFFFF:
            raise ImageError("json.release: longer than 65535 bytes")
    except UnicodeEncodeError:
        raise ImageError("json.release: not encodable as UTF-8") from None
    image.validate()
    return image
