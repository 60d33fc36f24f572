"""Match the addressed targets with the lockspaces this proxy has joined, and look at them."""

from .errors import FenceError, UsageError
from .hoststate import HostState


class Watched:
    """One target lease this proxy can see: where it lives and how to read it."""

    __slots__ = ("target", "joined", "_reader")

    def __init__(self, target, joined):
        self.target = target      # address.Target
        self.joined = joined      # proxy.JoinedLockspace
        self._reader = None

    @property
    def reader(self):
        """The lease.LeaseReader for this lockspace, made on first use: a live host's
        status never needs its record, and status calls come every few seconds."""
        if self._reader is None:
            from .lease import LeaseReader
            self._reader = LeaseReader(self.target.lockspace, self.joined.path,
                                       self.joined.offset)
        return self._reader

    @property
    def own_host_id(self):
        return self.joined.host_id


def joined_names(joined):
    return ", ".join(sorted(joined)) or "none"


def resolve(proxy, targets, refuse_self=True):
    """Return ([Watched], [targets in lockspaces this proxy has not joined]).

    Raises FenceError when none of the targets can be watched from here, and
    UsageError when a target is this proxy's own host id.
    """
    joined = proxy.joined()
    watched, missing = [], []
    for target in targets:
        lockspace = joined.get(target.lockspace)
        if lockspace is None or lockspace.removing:
            missing.append(target)
            continue
        if refuse_self and lockspace.host_id == target.host_id:
            raise UsageError("%s is this host's own host id in lockspace %s: a host cannot "
                             "fence or judge itself; run the agent on another host"
                             % (target, target.lockspace))
        watched.append(Watched(target, lockspace))
    if not watched:
        raise FenceError("this host's sanlock daemon has not joined lockspace %s (it has "
                         "joined: %s): run the agent on a host that uses that storage, or "
                         "check the address" % (", ".join(sorted({t.lockspace for t in missing})),
                                                joined_names(joined)))
    return watched, missing


def look(proxy, watched, need_record):
    """Return (HostView, LeaseRecord or None, read error text or None) for one target.

    need_record(view) says whether the on-disk record matters for this view, so the
    common case (a live host) costs one daemon call and no disk read.
    """
    view = proxy.host(watched.target.lockspace, watched.target.host_id)
    if not need_record(view):
        return view, None, None
    from .lease import LeaseReadError
    try:
        return view, watched.reader.read(watched.target.host_id), None
    except LeaseReadError as err:
        return view, None, str(err)


def needs_record(view):
    return view.state in (HostState.FAIL, HostState.DEAD)
