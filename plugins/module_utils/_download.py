# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Downloading one artifact version to a local file: resolved, streamed, verified, never half-written.

The bytes go to a partial file beside `dest` whose name carries the version's sha512 (so a partial file is only
ever resumed towards the content it was started for), and `dest` is replaced by a rename only once the sha512 of
everything written matches the version's. A download killed midway leaves `dest` as it was and the partial file
behind; the next run hashes what is there, asks the server for the rest (`offset`), and verifies the whole. A
partial file whose bytes turn out wrong is thrown away and the download starts again from zero, once.
Concurrent runs on one host take turns through a lock on the partial file; the later one finds `dest` done.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ._api import SfApi
from ._checksum import READ_SIZE, file_identity, sha512_of
from ._direct_write import FileWriter, aligned_buffer
from ._errors import SfError, SfInvalidInput, SfNotFound, SfNotReady, SfServerError, SfTimeout, SfTransportError
from ._options import Options, option, wait_timeout_option
from ._plan import Plan, Step
from ._resolver import Resolution, Resolver, VersionSpec
from ._words import human

try:
    import fcntl

    HAS_FCNTL = True
except ImportError:  # pragma: no cover - not on POSIX
    HAS_FCNTL = False

BLOCK = 4 * 1024 * 1024  # two of them in memory, whatever the image size
WRITE_STEP = 256 * 1024  # written as they arrive in pieces of this size
PARTIAL_SUFFIX = '.sfpart'


def partial_path(dest: str, sha512: str) -> str:
    """Where the bytes of `dest` gather until they are verified: hidden, beside it (so the rename stays on one
    filesystem), named for the content it will hold."""
    folder, name = os.path.split(os.path.abspath(dest))
    return os.path.join(folder, f'.{name[:200]}.{sha512[:16]}{PARTIAL_SUFFIX}')


@dataclass
class DownloadRequest(Options):
    """What sf_artifact_download was asked for; the fields are its options (but block_size)."""

    ref: str = option(type='str', required=True)
    dest: str = option(type='path', required=True)
    version: VersionSpec = option('latest', type='raw')
    sha512: Optional[str] = option(type='str')
    prefer: Optional[List[str]] = option(type='list', elements='str',
                                         choices=['namespace', 'system', 'trusted', 'upstream'])
    # Waits for the server to hash a version, which 0.7.2 does within minutes: less than the usual wait.
    wait_timeout: float = wait_timeout_option(600)
    block_size: int = BLOCK


@dataclass
class LocalFile:
    """What `dest` holds now."""

    exists: bool
    size: Optional[int] = None
    sha512: Optional[str] = None

    def view(self, dest: str) -> Dict[str, Any]:
        if not self.exists:
            return {'dest': dest, 'state': 'absent'}
        return {'dest': dest, 'state': 'file', 'size': self.size, 'sha512': self.sha512}


class _OffsetIgnored(Exception):
    """The server sent more than the rest of the blob: it answered from the start, not from our offset."""


class Downloader:
    def __init__(self, api: SfApi, resolver: Resolver, request: DownloadRequest) -> None:
        self.api = api
        self.resolver = resolver
        self.request = request
        self.dest = os.path.abspath(request.dest)
        self.resolution: Optional[Resolution] = None
        self.dest_seen: Optional[str] = None  # dest as the plan found it (None: absent)
        self.downloaded = 0
        self.resumed_from = 0
        self.restarted = False
        self.ranged = True  # until the server shows it answers from byte 0 whatever the offset

    # Input
    def check_dest(self) -> None:
        """Every problem with where the file goes is found before anything is read from or written to anywhere."""
        dest = self.request.dest
        if not dest or not dest.strip():
            raise SfInvalidInput('dest must name the file to write')
        if dest.endswith(os.sep) or os.path.isdir(self.dest):
            raise SfInvalidInput(f'dest {dest} is a directory; give the path of the file to write')
        folder = os.path.dirname(self.dest)
        if not os.path.isdir(folder):
            raise SfInvalidInput(f'the directory of dest, {folder}, does not exist',
                                 hint='create it first, for example with ansible.builtin.file state=directory')
        if not os.access(folder, os.W_OK | os.X_OK):
            raise SfInvalidInput(f'the directory of dest, {folder}, is not writable by this user')
        if os.path.lexists(self.dest) and not os.path.isfile(self.dest):
            raise SfInvalidInput(f'dest {dest} exists and is not a regular file')

    def resolve(self) -> Resolution:
        request = self.request
        found = self.resolver.resolve(request.ref, version=request.version, sha512=request.sha512,
                                      prefer=request.prefer)
        if not found.blob_uuid:
            raise SfNotFound(f'{found.ref} has not been fetched into the cluster, so there is nothing to download',
                             hint='publish it first with shakenfist.storage.sf_image_publish')
        if not found.sha512 or found.size is None:
            self._await_checksum(found)
        self.resolution = found
        return found

    def _await_checksum(self, found: Resolution) -> None:
        """A download is verified against the version's sha512, which a server may learn minutes after the blob is
        made (0.7.2 hashes a new snapshot on its next checksum pass): wait for it, up to wait_timeout."""
        what = f'{found.ref} version {found.version}'
        not_ready = SfNotReady(f'the server does not know the sha512 and size of {what} yet, so a download could not '
                               'be verified', hint='Shaken Fist 0.7.2 hashes a new snapshot within about five minutes: '
                                                   'raise wait_timeout')
        if self.request.wait_timeout <= 0:
            raise not_ready

        def known() -> Optional[Any]:
            blob = self.api.get_blob(found.blob_uuid or '')
            return blob if blob.sha512 and blob.size is not None else None

        try:
            blob = self.api.wait_until(known, self.request.wait_timeout, f'the server knows the sha512 of {what}',
                                       cap=5.0)
        except SfTimeout:
            raise not_ready from None
        found.sha512, found.size = blob.sha512, blob.size

    def local(self, expected_size: int) -> LocalFile:
        """The current dest; hashed only when its size could match (a 1 GiB file is not read to learn it differs)."""
        if not os.path.isfile(self.dest):
            return LocalFile(False)
        size = os.path.getsize(self.dest)
        try:
            digest = sha512_of(self.dest) if size == expected_size else None
        except OSError as exc:
            raise SfInvalidInput(f'cannot read dest {self.request.dest}: {exc.strerror}') from None
        return LocalFile(True, size, digest)

    # Plan
    def plan(self) -> Plan:
        self.check_dest()
        found = self.resolve()
        sha512, size = found.sha512 or '', found.size or 0
        self.dest_seen = _identity(self.dest)
        current = self.local(size)
        what = f'{found.ref} version {found.version}' if found.version else found.ref
        plan = Plan(before=current.view(self.dest), warnings=list(found.warnings))
        plan.after = {'dest': self.dest, 'state': 'file', 'size': size, 'sha512': sha512}
        plan.result = self._result(found)
        plan.finish = lambda: (plan.after, self._result(found))
        if current.sha512 == sha512:
            plan.note(f'{self.dest} already holds {what} (sha512 {sha512[:16]}...)', kind='download')
            return plan
        partial = partial_path(self.dest, sha512)
        have = os.path.getsize(partial) if os.path.isfile(partial) else 0
        words = f'download {what} ({human(size)}) to {self.dest}'
        if 0 < have <= size:
            words += f', resuming the partial download at {human(have)}'
        plan.add('download', words, self._download)
        return plan

    def _result(self, found: Resolution) -> Dict[str, Any]:
        return {'dest': self.dest, 'ref': found.ref, 'version': found.version, 'blob_uuid': found.blob_uuid,
                'sha512': found.sha512, 'size': found.size, 'downloaded_bytes': self.downloaded,
                'resumed_from': self.resumed_from}

    # Apply
    def _download(self, step: Step) -> None:
        found = self.resolution
        if found is None:  # pragma: no cover - plan() resolves first
            raise SfError('download without a resolution')
        partial = partial_path(self.dest, found.sha512 or '')
        started = time.monotonic()
        while True:
            fd = self._open_partial(partial)
            try:
                if HAS_FCNTL:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                gone = not _same_file(fd, partial)
                if gone or _identity(self.dest) != self.dest_seen:
                    # Another run renamed its download into place, while we waited for its lock (our partial file
                    # is gone) or after our plan and before our turn (the partial file is one we just made).
                    if self.local(found.size or 0).sha512 == found.sha512:
                        if not gone:
                            os.unlink(partial)
                        step.changed = False
                        step.result = f'{self.dest} was downloaded by a concurrent run meanwhile'
                        return
                    if gone:
                        continue
                self._fill(fd, found)
                os.fsync(fd)
                self._keep_attributes(partial)
                os.replace(partial, self.dest)
                _sync_folder(os.path.dirname(self.dest))
            finally:
                os.close(fd)
            break
        seconds = time.monotonic() - started
        words = f'downloaded {human(self.downloaded)} of {found.ref} version {found.version} to {self.dest} ' \
                f'in {seconds:.1f}s'
        if self.resumed_from:
            words += f', resumed at {human(self.resumed_from)}'
        if self.restarted:
            words += ', after a partial file with wrong bytes was discarded'
        step.result = words + ' (sha512 verified)'

    def _open_partial(self, partial: str) -> int:
        try:
            return os.open(partial, os.O_RDWR | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0), 0o666)
        except OSError as exc:
            raise SfInvalidInput(f'cannot write {partial}: {exc.strerror}') from None

    def _fill(self, fd: int, found: Resolution) -> None:
        """Bring the partial file to the version's bytes, verified; resume what is there first."""
        size, expected = found.size or 0, found.sha512 or ''
        have = os.fstat(fd).st_size
        if have > size:
            have = _truncate(fd)
        digest = _hash_read(fd, have)
        self.resumed_from = have
        failures = 0
        while True:
            if have < size:
                try:
                    have = self._fetch(fd, found, have, digest)
                except _OffsetIgnored:
                    # The server answered from byte 0, so it has no ranged reads: download from the start instead.
                    self.ranged = False
                    have, digest, self.resumed_from = _truncate(fd), hashlib.sha512(), 0
                    continue
                except (SfTransportError, SfTimeout) as exc:
                    failures += 1
                    have = os.fstat(fd).st_size
                    if failures > self.api.retries:
                        raise SfTransportError(
                            f'the download of {found.ref} stopped at {human(have)} of {human(size)}: {exc.message}; '
                            'the partial file is kept and the next run resumes it') from None
                    if not self.ranged:
                        have, digest = _truncate(fd), hashlib.sha512()
                    self.api.pause(failures, f'download broke off at {human(have)} ({exc.message})')
                    continue
            if digest.hexdigest() == expected:
                return
            if self.resumed_from and not self.restarted:
                # The bytes an earlier run left were not the version's (a corrupted or foreign partial file).
                have, digest, self.resumed_from, self.restarted = _truncate(fd), hashlib.sha512(), 0, True
                continue
            _truncate(fd)
            raise SfServerError(f'the bytes the server sent for {found.ref} version {found.version} have sha512 '
                                f"{digest.hexdigest()[:16]}..., not the version's {expected[:16]}...; "
                                f'{self.dest} was left as it was')

    def _fetch(self, fd: int, found: Resolution, have: int, digest: Any) -> int:
        """Append the blob's bytes from `have` to the partial file and the digest; returns the new size.

        Two buffers, reused: the bytes go from the socket into one, and on to the file WRITE_STEP bytes at a time (a
        break or a kill loses at most that much; straight to the disk where it can, _direct_write), while the other is
        hashed on a helper thread (sha512 releases the GIL), so receiving, writing and hashing overlap and memory
        stays at two blocks. Every written byte has been
        hashed when this returns or raises, so the file size and the digest always agree."""
        size = found.size or 0
        stream = self.api.blob_data(found.blob_uuid or '', have)
        buffers = [aligned_buffer(self.request.block_size), aligned_buffer(self.request.block_size)]
        step = min(WRITE_STEP, self.request.block_size)
        hashing: Optional[Future] = None
        turn, ended = 0, False
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix='sf-download-sha512') as hasher, \
                FileWriter(partial_path(self.dest, found.sha512 or ''), fd) as writer:
            try:
                if have and stream.length == size:
                    raise _OffsetIgnored()
                while not ended:
                    buffer, filled = buffers[turn], 0
                    try:
                        while filled < len(buffer):
                            piece = buffer[filled:filled + step]
                            count = stream.fill(piece)
                            if have + filled + count > size:
                                raise _OffsetIgnored()
                            writer.write_at(piece[:count], have + filled)
                            filled += count
                            if count < len(piece):
                                ended = True
                                break
                    finally:
                        if filled:  # hashed even when the answer broke off: it was written
                            if hashing is not None:
                                hashing.result()
                            hashing = hasher.submit(digest.update, buffer[:filled])
                            have += filled
                            self.downloaded += filled
                    turn ^= 1
            finally:
                stream.close()
                if hashing is not None:
                    hashing.result()
        if have < size:
            raise SfTransportError(f'the server ended the blob data at {human(have)} of {human(size)}')
        return have

    def _keep_attributes(self, partial: str) -> None:
        """A replaced dest keeps its permission bits, as ansible.builtin.copy does; mode/owner/group options are
        applied after the rename by the module."""
        with contextlib.suppress(OSError):
            info = os.stat(self.dest)
            os.chmod(partial, stat.S_IMODE(info.st_mode))
            with contextlib.suppress(OSError):
                os.chown(partial, info.st_uid, info.st_gid)


def _identity(path: str) -> Optional[str]:
    """What tells a replaced or rewritten file from the one seen before; None when there is none."""
    try:
        return file_identity(path)
    except FileNotFoundError:
        return None


def _same_file(fd: int, path: str) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _truncate(fd: int) -> int:
    os.ftruncate(fd, 0)
    return 0


def _hash_read(fd: int, length: int) -> Any:
    digest = hashlib.sha512()
    position = 0
    while position < length:
        block = os.pread(fd, min(READ_SIZE, length - position), position)
        if not block:
            break
        digest.update(block)
        position += len(block)
    return digest


def _sync_folder(folder: str) -> None:
    """Make the rename durable (best effort: not every filesystem lets a directory be opened)."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
