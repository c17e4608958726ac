# SPDX-License-Identifier: GPL-2.0
"""Offline image tools: decode/encode, info FILE, diff, validate (host, no module)."""

import dataclasses
import json
import struct

import pytest

from pyctl import compat, image as img, imagejson, termbits
from pyctl.image import ImageError
from pyctl.imagediff import diff
from tests.unit.test_cli import pyctl
from pyctl.show import describe as show_describe
from tests.unit.test_image import sample

pyctl_loads = img.loads


def rich_sample() -> img.Image:
    """Every optional part present: flip flags, kept unknown sections at all levels, high bytes."""
    image = sample(flip_flags=b"\0\1\4", input=b"a\\b\xff\0\n\x7fhalf", line_ends=frozenset({4, 5}), canon=6)
    image.extra = (img.Extra(1, 900, img.SKIPPABLE, b"\0\xff"),)
    image.pairs[0].extra = (img.Extra(3, 901, img.SKIPPABLE, b""),)
    image.pairs[0].master.extra = (img.Extra(0, 902, img.SKIPPABLE, b"m"),)
    image.pairs[0].slave.termios.cflag |= 0x10000000  # a CIBAUD bit: no name, kept as a number
    image.pairs[0].slave.pktstatus = 0
    image.pairs[0].master.pktstatus = 0x41
    image.pairs[0].devpts = img.DevptsInstance(0, 26, b"/srv/ct 1/dev/pts")
    return image


@pytest.mark.parametrize("pretty", [False, True])
def test_json_round_trip_is_byte_identical(pretty):
    for image in (sample(), rich_sample()):
        doc = json.loads(json.dumps(imagejson.to_json(image, pretty)))  # through real JSON text
        assert imagejson.from_json(doc).dumps() == image.dumps()


def test_devpts_section_is_optional_and_skippable():
    with_devpts, without = rich_sample(), rich_sample()
    without.pairs[0].devpts = None
    data = with_devpts.dumps()
    assert len(data) - len(without.dumps()) == 12 + 10 + len(b"/srv/ct 1/dev/pts")
    assert pyctl_loads(data).pairs[0].devpts == img.DevptsInstance(0, 26, b"/srv/ct 1/dev/pts")
    assert pyctl_loads(without.dumps()).pairs[0].devpts is None
    # readers from before DEVPTS see a skippable section of a type they do not know
    assert struct.pack("<HH", img.DEVPTS, img.SKIPPABLE) in data
    doc = imagejson.to_json(with_devpts, pretty=True)
    assert doc["pairs"][0]["devpts"] == {"major": 0, "minor": 26, "mountpoint": "/srv/ct 1/dev/pts"}
    assert "devpts instance 0:26, mounted at /srv/ct 1/dev/pts" in show_describe(with_devpts)


def test_pretty_spelling_names_things():
    doc = imagejson.to_json(rich_sample(), pretty=True)
    slave, master = doc["pairs"][0]["slave"], doc["pairs"][0]["master"]
    assert slave["termios"]["lflag"] == "ISIG|ICANON|ECHO|ECHOE|ECHOK|ECHOCTL|ECHOKE|IEXTEN"
    assert slave["termios"]["cflag"] == "B38400|CS8|CREAD|0x10000000"
    assert slave["termios"]["cc"]["VINTR"] == "^C" and slave["termios"]["cc"]["VERASE"] == "^?"
    assert slave["termios"]["cc"]["VEOL"] == "<undef>" and slave["termios"]["cc"]["VMIN"] == 1
    assert slave["input"] == {"lines": ["a\\b\xff\0", "\n"], "partial": "\x7fhalf"}
    assert master["flags"] == "packet" and master["pktstatus"] == "FLUSHREAD|IOCTL"
    assert slave["ntty_flags"] == "icanon" and doc["constants"]["n_tty_data_fingerprint"] == "405306e3b86b734b"


def test_termbits_are_the_kernels():
    """Names come from the kernel's uapi headers (scripts/gen_termbits_py.py), not the host's libc."""
    import subprocess
    import sys

    from tests.kernels import ROOT

    r = subprocess.run([sys.executable, "scripts/gen_termbits_py.py", "--check"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert termbits.LFLAG[1] == (0o2, {0o2: "ICANON"}) and termbits.NCCS == 19


def _doc(**change):
    doc = imagejson.to_json(sample(), pretty=True)
    slave = doc["pairs"][0]["slave"]
    for path, value in change.items():
        target = slave
        *parents, leaf = path.split("__")
        for p in parents:
            target = target[p]
        target[leaf] = value
    return doc


@pytest.mark.parametrize("change, message", [
    (dict(termios__lflag="ICANON|ECHOO"), r"json.pairs\[0\].slave.termios.lflag: unknown name 'ECHOO'"),
    (dict(termios__ispeed="fast"), r"slave.termios.ispeed: expected an integer, got str"),
    (dict(column=-1), r"pair\[0\].slave.column: out of range"),
    (dict(flags="packet|bogus"), r"slave.flags: unknown name 'bogus'"),
    (dict(echo="\u20ac"), r"slave.echo: character '€' is not one byte"),
    (dict(input={"lines": ["ok\n", ""], "partial": ""}), r"slave.input.lines\[1\]: empty"),
    (dict(termios__cc={"VQUIT": "^C"}), r"slave.termios.cc: slot 0 is VINTR, found 'VQUIT'"),
    (dict(termios__cc__VINTR="^CC"), r"slave.termios.cc.VINTR: '\^CC' is not a c_cc character"),
    (dict(typo=1), r"json.pairs\[0\].slave: unknown key 'typo'"),
    (dict(canon=99), r"pair\[0\].slave.canon: 99 outside the 12 unread bytes"),
])
def test_json_errors_name_the_path(change, message):
    with pytest.raises(ImageError, match=message):
        imagejson.from_json(_doc(**change))


def test_compact_json_errors():
    doc = imagejson.to_json(sample())
    doc["pairs"][0]["slave"]["input"] = "!!"
    with pytest.raises(ImageError, match="slave.input: not base64"):
        imagejson.from_json(doc)
    doc = imagejson.to_json(sample())
    doc["pairs"][0]["slave"]["line_ends"] = [3, 3]
    with pytest.raises(ImageError, match="appears twice"):
        imagejson.from_json(doc)
    with pytest.raises(ImageError, match="json.format"):
        imagejson.from_json(dict(imagejson.to_json(sample()), format="crit"))
    with pytest.raises(ImageError, match="json: expected an object"):
        imagejson.from_json([])


def test_diff_names_fields_and_flags():
    a, b = sample(), sample(input=b"one\ntwo\nhalfx")
    b.pairs[0].slave.termios.lflag &= ~0o10  # ECHO
    b.pairs[0].slave.termios.cc = b"\x04" + b.pairs[0].slave.termios.cc[1:]
    b.pairs[0].master.winsize = img.Winsize(50, 132, 0, 0)
    assert diff(a, a) == []
    assert diff(a, b) == [
        "pairs[0].master.winsize.row: 24 -> 50",
        "pairs[0].master.winsize.col: 80 -> 132",
        "pairs[0].slave.termios.lflag: -ECHO",
        "pairs[0].slave.termios.cc.VINTR: '^C' -> '^D'",
        "pairs[0].slave.input: lines ['one\\n', 'two\\n'], partial 'half' -> lines ['one\\n', 'two\\n'], "
        "partial 'halfx'",
    ]
    two = sample()
    two.pairs.append(dataclasses.replace(two.pairs[0], index=7))
    lines = diff(a, two)
    assert "pairs[1].index: only in the second image: 7" in lines


def restorable_sample() -> img.Image:
    """sample() moved to where N_TTY can be (tests/unit/test_reachable.py checks the rules one by one)."""
    image = sample(echo_mark=4)
    image.pairs[0].master.read_tail = 100
    return image


def test_validate_against_targets():
    target = compat.Target("a test kernel", "6.12.0", sample().constants, ["get_info", "checkpoint", "restore"])
    assert compat.check(restorable_sample(), target) == []
    assert any(p.startswith("pair[0].slave.echo_mark: -3, not echo_head (4)") for p in compat.check(sample(), target))
    small = dataclasses.replace(target, constants=dataclasses.replace(target.constants, n_tty_buf_size=2048),
                                features=["get_info"])
    assert compat.check(restorable_sample(), small) == [
        "a test kernel does not offer restore (features: get_info)",
        "constants.n_tty_buf_size: image has 4096, a test kernel has 2048",
    ]
    hung = restorable_sample()
    hung.pairs[0].slave.flags = 1 << img.TTY_FLAGS.index("hupped")
    problems = compat.check(hung, target)
    assert problems[0] == "a test kernel cannot restore hung-up terminals (an older ckpt_tty.ko: no hung_up feature)"
    assert "pair[0].slave.input: n_tty state on a hung-up end, which has no line discipline" in problems
    hung.pairs[0].slave = dataclasses.replace(
        hung.pairs[0].slave, ntty_flags=0, column=0, canon_column=0, read_tail=0, commit=0, canon=0, line_start=0,
        lookahead_count=0, echo_tail=0, echo_commit=0, echo_mark=0, input=b"", echo=b"", line_ends=frozenset())
    assert compat.check(hung, dataclasses.replace(target, features=[*target.features, "hung_up"])) == []
    hung.pairs[0].slave.flags |= 1 << img.TTY_FLAGS.index("other_closed")
    assert compat.check(hung, dataclasses.replace(target, features=[*target.features, "hung_up"])) == [
        "pair[0].slave.flags: other_closed without hupped, or without the master's other_closed: "
        "the master's close sets all three"]
    other = dataclasses.replace(target, constants=dataclasses.replace(target.constants, n_tty_data_fingerprint=1))
    assert any("does not matter" in n for n in compat.notes(sample(), other))


def test_validate_against_btf_of_the_test_kernel(kernel):
    """Constants derived from BTF equal those the module reports (tests/vm/test_info.py checks those)."""
    t = compat.target_from_btf(str(kernel.image))
    assert (t.constants.n_tty_buf_size, t.constants.nccs, t.constants.ktermios_size) == (4096, 19, 44)
    assert compat.check(restorable_sample(), t) == []


def test_btf_target_equals_ko_target(built_ko, kernel):
    assert compat.target_from_btf(str(kernel.image)).constants == compat.target_from_ko(str(built_ko)).constants


# ---- the command line ----

def test_cli_decode_encode_info_diff_validate(tmp_path, built_ko):
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    a.write_bytes(rich_sample().dumps())
    changed = rich_sample()
    changed.pairs[0].slave.winsize = img.Winsize(1, 2, 3, 4)
    b.write_bytes(changed.dumps())
    for flag in ([], ["--pretty"]):
        r = pyctl("decode", *flag, str(a), "-o", str(tmp_path / "a.json"))
        assert r.returncode == 0, r.stderr
        r = pyctl("encode", str(tmp_path / "a.json"), "-o", str(tmp_path / "again.img"))
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "again.img").read_bytes() == a.read_bytes()

    r = pyctl("info", str(a))
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    for want in ("format version: 1", "header checksum: ok", "body checksum: ok", "valid: yes",
                 "source kernel: 6.1.0-56-amd64", "pty pairs: 1: /dev/pts/3", "unknown sections: 3 skippable",
                 "type 900 (skippable): 2 bytes, checksum ok"):
        assert want in text, r.stdout
    data = a.read_bytes()
    (tmp_path / "bad.img").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    r = pyctl("info", str(tmp_path / "bad.img"))
    text = " ".join(r.stdout.split())
    assert r.returncode == 1 and "body checksum: MISMATCH" in text, r.stdout
    assert "PAIR: 723 bytes, checksum MISMATCH" in text and "valid: no: body: checksum mismatch" in text

    r = pyctl("diff", str(a), str(b))
    assert r.returncode == 1 and "pairs[0].slave.winsize.row: 24 -> 1" in r.stdout
    assert pyctl("diff", str(a), str(a)).returncode == 0
    r = pyctl("diff", str(a), str(tmp_path / "bad.img"))
    assert r.returncode == 2 and "bad.img: body: checksum mismatch" in r.stderr

    r = pyctl("validate", str(a), "--ko", str(built_ko))  # a well-formed image of a state no pty can be in
    assert r.returncode == 1 and "pair[0].slave.flip_flags: a pty's flip buffers carry no flags" in r.stdout, r.stdout
    assert "pair[0].master.pktstatus: 0x41; packet status is raised on the slave end" in r.stdout
    c = tmp_path / "c.img"
    c.write_bytes(restorable_sample().dumps())
    r = pyctl("validate", str(c), "--ko", str(built_ko))
    assert r.returncode == 0 and "would restore it" in r.stdout, r.stdout + r.stderr
    r = pyctl("validate", str(a), "--device", str(tmp_path / "no-device"))
    assert r.returncode == 1 and "load the module first" in r.stderr
