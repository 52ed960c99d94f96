"""What `qemu-img info` says of a file that starts like a qcow2 image but that it cannot open.

0.7.2 runs `qemu-img info` on every uploaded blob, and a convert whose bytes qemu-img refuses fails with a 500
carrying qemu-img's error. The emulator never runs qemu-img: it reads the header and applies, in qemu's order, the
checks of qemu 7.2's qcow2 (and qcow) drivers that depend on the header alone. A file with no qcow magic, or a
version qemu identifies as raw (0), is no qcow image and fine; so is a header that passes these checks (deeper
damage, in tables the header points at, is not looked for).
"""

from __future__ import annotations

import struct
from pathlib import Path

MAGIC = b'QFI\xfb'
MIN_CLUSTER_BITS, MAX_CLUSTER_BITS = 9, 21
V3_HEADER_LENGTH = 104
KNOWN_INCOMPATIBLE = 0b11111  # dirty, corrupt, external data file, compression type, extended L2
MAX_L1_ENTRIES = 32 * 1024 * 1024 // 8
MAX_REFCOUNT_ORDER = 6
MAX_CRYPT_METHOD = 2
_V2 = struct.Struct('>4sIQIIQIIQQIIQ')  # magic .. snapshots_offset: 72 bytes
_V3 = struct.Struct('>QQQII')  # incompatible, compatible, autoclear features, refcount_order, header_length
_V1 = struct.Struct('>4sIQIIQBBHIQ')  # qcow (version 1): 48 bytes


def open_error(path: Path) -> str | None:
    """qemu-img's reason for refusing the file (after "Could not open '<path>': "), or None."""
    with open(path, 'rb') as handle:
        head = handle.read(_V2.size + _V3.size)
    head = head.ljust(_V2.size + _V3.size, b'\0')  # qemu reads past the end as zeros
    if head[:4] != MAGIC:
        return None
    version = struct.unpack('>I', head[4:8])[0]
    if version == 0:
        return None  # no qcow format claims it: qemu calls it raw
    if version == 1:
        return _qcow1_error(head)
    return _qcow2_error(head, version)


def _qcow1_error(head: bytes) -> str | None:
    _, _, _, _, _, size, cluster_bits, l2_bits, _, _, _ = _V1.unpack(head[:_V1.size])
    if size <= 1:
        return 'Image size is too small (must be at least 2 bytes)'
    if not 9 <= cluster_bits <= 16:
        return 'Cluster size must be between 512 and 64k'
    if not 6 <= l2_bits <= 13:
        return 'L2 table size must be between 512 and 64k'
    return None


def _qcow2_error(head: bytes, version: int) -> str | None:
    (_, _, backing_offset, _, cluster_bits, size, crypt, l1_size, l1_offset, refcount_offset, refcount_clusters,
     _, snapshots_offset) = _V2.unpack(head[:_V2.size])
    incompatible, _, _, refcount_order, header_length = _V3.unpack(head[_V2.size:])
    if version != 3:
        incompatible, refcount_order, header_length = 0, 4, _V2.size
    if version > 3:
        return f'Unsupported qcow2 version {version}'
    if not MIN_CLUSTER_BITS <= cluster_bits <= MAX_CLUSTER_BITS:
        return f'Unsupported cluster size: 2^{cluster_bits}'
    cluster = 1 << cluster_bits
    if header_length < V3_HEADER_LENGTH and version == 3:
        return 'qcow2 header too short'
    if header_length > cluster:
        return 'qcow2 header exceeds cluster size'
    if backing_offset > cluster:
        return 'Invalid backing file offset'
    if incompatible & ~KNOWN_INCOMPATIBLE:
        return f'Unsupported qcow2 feature(s): Unknown incompatible feature: {incompatible & ~KNOWN_INCOMPATIBLE:x}'
    if refcount_order > MAX_REFCOUNT_ORDER:
        return 'Reference count entry width too large; may not exceed 64 bits'
    if refcount_clusters == 0:
        return 'Image does not contain a reference count table'
    if refcount_offset % cluster:
        return 'Reference count table offset invalid'
    if snapshots_offset % cluster:
        return 'Snapshot table offset invalid'
    if l1_size > MAX_L1_ENTRIES:
        return 'Active L1 table too large'
    if l1_offset % cluster:
        return 'Active L1 table offset invalid'
    per_l1_entry = cluster * (cluster // 8)  # bytes of guest disk one L2 table maps
    if l1_size < -(-size // per_l1_entry):
        return 'L1 table is too small'
    if crypt > MAX_CRYPT_METHOD:
        return f'Unsupported encryption method {crypt}'
    return None
