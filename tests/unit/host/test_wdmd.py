# SPDX-License-Identifier: GPL-2.0-or-later
"""wdmd: the responder's connection to wdmd, its own socket checks."""

import fcntl
import os
import socket

from sanlock_fencing.host.wdmd import Connection


def test_looking_for_a_closed_peer_leaves_libwdmd_s_fd_blocking():
    """libwdmd's status recv(MSG_WAITALL) fails at once with EAGAIN on a non-blocking fd;
    the check must not make the shared file non-blocking (it once did, through a dup)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    con = Connection(lib=object())
    con.fd = ours.detach()
    try:
        assert not con.peer_closed()
        assert not fcntl.fcntl(con.fd, fcntl.F_GETFL) & os.O_NONBLOCK
        assert con.peer()[0] == os.getpid()
        theirs.close()
        assert con.peer_closed()
    finally:
        con.close()
