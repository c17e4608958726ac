# SPDX-License-Identifier: GPL-2.0
"""The uapi header is the one source of the ABI: Python must agree with C."""

import shutil
import subprocess
import sys

import pytest

from pyctl import _uapi
from tests.kernels import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import gen_uapi_py  # noqa: E402


def test_generated_python_is_current():
    assert (ROOT / "pyctl/_uapi.py").read_text() == gen_uapi_py.generate(), \
        "pyctl/_uapi.py is stale: run scripts/gen_uapi_py.py"


@pytest.fixture(scope="module")
def c_view(tmp_path_factory):
    """sizeof, offsetof and ioctl numbers as the C compiler sees the header."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <linux/ckpt_tty.h>", "int main(void) {"]
    for sname, (_, fields, _) in _uapi.STRUCTS.items():
        lines.append(f'printf("sizeof {sname} %zu\\n", sizeof(struct {sname}));')
        for field, *_ in fields:
            lines.append(f'printf("offsetof {sname}.{field} %zu %zu\\n", offsetof(struct {sname}, {field}), '
                         f"sizeof(((struct {sname} *)0)->{field}));")
    ioctls = [n for n in dir(_uapi) if n.startswith("CKPT_TTY_IOC_") and n != "CKPT_TTY_IOC_TYPE"]
    for name in ioctls:
        lines.append(f'printf("ioctl {name} %lu\\n", (unsigned long){name});')
    lines += ["return 0; }"]
    tmp = tmp_path_factory.mktemp("cview")
    (tmp / "v.c").write_text("\n".join(lines))
    subprocess.run([cc, "-Wall", "-Werror", "-I", str(ROOT / "kmod/uapi"), "-o", str(tmp / "v"), str(tmp / "v.c")],
                   check=True)
    out = subprocess.run([str(tmp / "v")], check=True, capture_output=True, text=True).stdout
    view = {}
    for line in out.splitlines():
        kind, name, *values = line.split()
        view[(kind, name)] = tuple(int(v) for v in values)
    assert any(k[0] == "ioctl" for k in view), "no ioctl numbers compiled"
    return view


def test_struct_layouts_match_c(c_view):
    for sname, (fmt, fields, size) in _uapi.STRUCTS.items():
        assert c_view[("sizeof", sname)] == (size,)
        for field, offset, fsize, *_ in fields:
            assert c_view[("offsetof", f"{sname}.{field}")] == (offset, fsize), field


def test_ioctl_numbers_match_c(c_view):
    for (kind, name), value in c_view.items():
        if kind == "ioctl":
            assert getattr(_uapi, name) == value[0], name


def test_generator_rejects_what_it_does_not_understand():
    with pytest.raises(ValueError, match="unsupported member"):
        gen_uapi_py.Header("struct s { int a; };")
    with pytest.raises(ValueError, match="unsupported expression"):
        gen_uapi_py.Header("#define X foo(1)")


def test_generator_computes_ioc_like_the_kernel():
    h = gen_uapi_py.Header("#define T 0x12\nstruct s { __u8 a; __u64 b; };\n#define R _IOR(T, 3, struct s)\n"
                           "#define W _IOW(T, 4, struct s)\n#define N _IO(T, 5)\n")
    assert h.sizeof("s") == 16
    assert h.ioctls["R"][0] == (2 << 30) | (16 << 16) | (0x12 << 8) | 3
    assert h.ioctls["W"][0] == (1 << 30) | (16 << 16) | (0x12 << 8) | 4
    assert h.ioctls["N"][0] == (0x12 << 8) | 5
