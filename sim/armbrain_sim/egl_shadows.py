"""Switch off the shadow-map pass of PyBullet's eglRenderer plugin.

The plugin (pybullet's ``eglRenderer`` module, the EGL camera of every SimWorld) draws every
camera frame twice: first the scene into a 4096 x 4096 shadow-map depth texture (and its
mipmaps), then the image itself. Without a GPU (Mesa llvmpipe) that first pass cost 21 of the
38 ms of CPU per 640x480 frame (measured, 30 frames), and the shadows it casts are faint in
our lighting (a mean difference of 0.13 grey levels over the image, the most 24, on the bin
walls' shaded faces). The pass is governed by one global of the plugin's renderer
(``bool useShadowMap = true`` in bullet3's GLInstancingRenderer.cpp) that PyBullet exposes
to no API in DIRECT mode: ``configureDebugVisualizer(shadowMapResolution=...)`` reaches
only the GUI's renderer, and getCameraImage's ``shadow=0`` only TinyRenderer.

So this module finds that global by name in the plugin's ELF symbol table and clears it in
the loaded library, after checking everything it relies on: a 1-byte data object named
``useShadowMap``, mapped from that very file, currently 1. Anything else (another build, a
stripped library, another platform) leaves the plugin untouched and says why; rendering is
then only slower, never wrong.
"""

from __future__ import annotations

import ctypes
import os
import struct

SYMBOL = b"useShadowMap"
_ELF64_LE = b"\x7fELF\x02\x01"
_STT_OBJECT = 1
_PT_LOAD = 1


def _symbol(path: str, name: bytes) -> tuple[int, int] | None:
    """(st_value, st_size) of the symbol `name` in the .symtab of the 64-bit little-endian
    ELF file at `path`, or None."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(_ELF64_LE):
        return None
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
    for sh_type, sh_offset, sh_size, sh_link, sh_entsize in (
            (s[1], s[4], s[5], s[6], s[9]) for s in sections):
        if sh_type != 2 or sh_entsize != 24:  # SHT_SYMTAB (the full table, locals included)
            continue
        strtab = sections[sh_link]
        str_off = strtab[4]
        for off in range(sh_offset, sh_offset + sh_size, 24):
            st_name, st_info, _other, _shndx, st_value, st_size = struct.unpack_from("<IBBHQQ", data, off)
            if st_info & 0xF != _STT_OBJECT:
                continue
            end = data.index(b"\0", str_off + st_name)
            if data[str_off + st_name:end] == name:
                return st_value, st_size
    return None


def _first_load_vaddr(path: str) -> int | None:
    with open(path, "rb") as f:
        head = f.read(64)
        e_phoff, = struct.unpack_from("<Q", head, 0x20)
        e_phentsize, e_phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(e_phoff)
        table = f.read(e_phentsize * e_phnum)
    for i in range(e_phnum):
        p_type, _flags, p_offset, p_vaddr = struct.unpack_from("<IIQQ", table, i * e_phentsize)
        if p_type == _PT_LOAD and p_offset == 0:
            return p_vaddr
    return None


def _load_base(path: str) -> int | None:
    """Address at which the file's offset 0 is mapped in this process, or None."""
    real = os.path.realpath(path)
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and int(parts[2], 16) == 0 and os.path.realpath(parts[5].strip()) == real:
                return int(parts[0].split("-")[0], 16)
    return None


def set_shadow_map(plugin_path: str, on: bool) -> tuple[bool, str]:
    """Set the loaded eglRenderer plugin's useShadowMap flag. (True, what was done) or
    (False, why not); call after p.loadPlugin(plugin_path, ...)."""
    try:
        sym = _symbol(plugin_path, SYMBOL)
        if sym is None:
            return False, f"no {SYMBOL.decode()} data symbol in {plugin_path}"
        value, size = sym
        if size != 1:
            return False, f"{SYMBOL.decode()} in {plugin_path} is {size} bytes, expected a 1-byte bool"
        base = _load_base(plugin_path)
        vaddr = _first_load_vaddr(plugin_path)
        if base is None or vaddr is None:
            return False, f"{plugin_path} is not mapped in this process (load the plugin first)"
        flag = ctypes.c_uint8.from_address(base - vaddr + value)
        if flag.value not in (0, 1):
            return False, f"{SYMBOL.decode()} reads {flag.value}, not a bool: left alone"
        flag.value = int(on)
        return True, f"shadow-map pass {'on' if on else 'off'}"
    except (OSError, ValueError, struct.error) as exc:
        return False, f"could not inspect {plugin_path}: {exc}"
