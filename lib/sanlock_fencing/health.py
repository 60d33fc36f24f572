"""monitor: is this host able to fence through the addressed lockspaces?"""

from .errors import FenceError
from .observe import joined_names


def monitor(proxy, lockspaces):
    """Raise FenceError unless the daemon answers and has joined every lockspace.

    Returns a list of one-line descriptions of what was checked.
    """
    joined = proxy.joined()
    problems, lines = [], []
    for name in lockspaces:
        space = joined.get(name)
        if space is None:
            problems.append(name)
            continue
        if space.adding:
            raise FenceError("this host's sanlock daemon is still joining lockspace %s: retry "
                             "in a few seconds" % name)
        if space.removing:
            raise FenceError("this host's sanlock daemon is leaving lockspace %s" % name)
        lines.append("lockspace %s joined as host id %d (%s:%d)"
                     % (name, space.host_id, space.path, space.offset))
    if problems:
        raise FenceError("this host's sanlock daemon has not joined lockspace %s (it has "
                         "joined: %s): this host cannot fence through it"
                         % (", ".join(problems), joined_names(joined)))
    return lines
