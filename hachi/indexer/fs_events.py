"""What the platform offers a folder watcher: which file system holds a folder (a
network one, NFS, SMB, sshfs..., sends no events for changes made from other machines,
so it is polled instead), and how many inotify watches are left (past the limit, notify
silently leaves new sub-folders unwatched)."""

from __future__ import annotations

import os
import re
from pathlib import Path

NETWORK_FILESYSTEMS = frozenset(
    "nfs nfs4 cifs smb3 smbfs afs ceph glusterfs lustre 9p davfs fuse.sshfs fuse.rclone "
    "fuse.davfs2 fuse.s3fs fuse.gcsfuse".split()
)


def filesystem_type(path: str, mountinfo: str | None = None) -> str | None:
    """The type of the file system holding path, from /proc/self/mountinfo (None where
    there is none, as off Linux)."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return None
    best, kind = "", None
    for line in mountinfo.splitlines():
        mount, _sep, fs = line.partition(" - ")
        fields, fs_fields = mount.split(), fs.split()
        if len(fields) < 5 or not fs_fields:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
        inside = point == "/" or path == point or path.startswith(point + "/")
        if inside and len(point) > len(best):
            best, kind = point, fs_fields[0]
    return kind


def inotify_watches() -> tuple[int, int] | None:
    """(watches this process holds, the limit per user) on Linux; None elsewhere. Other
    processes of the same user count against the limit too, so the first is a floor."""
    try:
        limit = int(Path("/proc/sys/fs/inotify/max_user_watches").read_text())
        fds = os.listdir("/proc/self/fdinfo")
    except (OSError, ValueError):
        return None
    used = 0
    for fd in fds:
        try:
            used += Path(f"/proc/self/fdinfo/{fd}").read_text().count("inotify wd:")
        except OSError:
            continue
    return used, limit
