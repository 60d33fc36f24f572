# SPDX-License-Identifier: GPL-2.0-or-later
"""Parse the fence address into targets: (lockspace, host id) pairs of one host.

Accepted forms (sanlk-reset's own format, plus what oVirt and Pacemaker can send):

    ipaddr=LOCKSPACE:HOST_ID
    ipaddr=LOCKSPACE              with port (or plug) = HOST_ID
    ipaddr=LS1:ID1,LS2:ID2        the same host in several lockspaces
    ipaddr=LS1,LS2                with port = HOST_ID, the same id in each

Everything is validated before any action so that bad input never causes a
partial action.
"""

from .errors import UsageError

MAX_LOCKSPACE_NAME_BYTES = 48   # sanlock's SANLK_NAME_LEN, part of the on-disk format
MIN_HOST_ID = 1
MAX_HOST_ID = 2000              # sanlock's limit (512-byte sectors, 1M alignment)

ASCII_DIGITS = frozenset("0123456789")

ADDRESS_FORMS = "LOCKSPACE:HOST_ID[,LOCKSPACE:HOST_ID...] or LOCKSPACE with port=HOST_ID"


# How many characters of a name from the daemon or from storage a message shows: a host
# name fills at most 64 bytes on disk (sanlock's NAME_ID_SIZE), a lockspace name 48, so
# an honest name is never cut; escaping or a garbled record can make it longer.
SHOWN_NAME_LIMIT = 80


def escaped(text):
    """text with every character a terminal would act on (control characters, ESC,
    line breaks, bidi marks: whatever is not printable) written as a Python escape;
    bytes are decoded as UTF-8, invalid bytes escaped too."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "backslashreplace")
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(text))


def shown(text):
    """text quoted for a message, with control characters (a NUL byte ...) made visible."""
    if text is None:
        return "(none)"
    return "'%s'" % escaped(text)


def shown_name(text, limit=SHOWN_NAME_LIMIT):
    """A name that came from the daemon or from storage (a lockspace or host name), safe
    for a log line or a terminal: escaped as escaped() does, unquoted, and cut to `limit`
    characters ending in "..." when longer. The name itself is not changed: use this only
    where it is shown, never to compare or to build a path."""
    if text is None:
        return "(none)"
    body = escaped(text)
    if len(body) > limit:
        return body[:max(0, limit - 3)] + "..."
    return body


class Target:
    """One delta lease of the host to fence: a lockspace name and a host id."""

    __slots__ = ("lockspace", "host_id")

    def __init__(self, lockspace, host_id):
        self.lockspace = lockspace
        self.host_id = host_id

    def _key(self):
        return (self.lockspace, self.host_id)

    def __eq__(self, other):
        return isinstance(other, Target) and self._key() == other._key()

    def __lt__(self, other):
        return self._key() < other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return "Target(%r, %d)" % (self.lockspace, self.host_id)

    def __str__(self):
        return "%s:%d" % (self.lockspace, self.host_id)


def parse_host_id(text, what="host id", where=""):
    """Return text as a host id, or raise UsageError naming the bad value."""
    value = text.strip()
    # ASCII digits only: isdigit() also takes other scripts' digits, which int() reads
    # ('\u0663' is 3). Not str.isascii(): it is Python 3.7+, EL8's platform Python is 3.6.
    if not value or not set(value) <= ASCII_DIGITS or \
            not MIN_HOST_ID <= int(value) <= MAX_HOST_ID:
        raise UsageError("invalid %s %s%s: expected an integer from %d to %d"
                         % (what, shown(text), where, MIN_HOST_ID, MAX_HOST_ID))
    return int(value)


def check_lockspace_name(name):
    """Raise UsageError unless name is a lockspace name sanlock accepts."""
    if not name:
        raise UsageError("empty lockspace name in the address: expected %s" % ADDRESS_FORMS)
    if ":" in name:
        raise UsageError("invalid lockspace name %s: it may not contain ':'; expected %s"
                         % (shown(name), ADDRESS_FORMS))
    if any(ch.isspace() for ch in name) or not name.isprintable():
        raise UsageError("invalid lockspace name %s: it may not contain spaces or control "
                         "characters" % shown(name))
    size = len(name.encode("utf-8"))
    if size > MAX_LOCKSPACE_NAME_BYTES:
        raise UsageError("invalid lockspace name %s: %d bytes, sanlock allows at most %d"
                         % (shown(name), size, MAX_LOCKSPACE_NAME_BYTES))


def parse_targets(address, port=None):
    """Return the sorted, de-duplicated targets named by address (and port).

    address: the ipaddr option; port: the port/plug option or None.
    """
    if address is None or not address.strip():
        raise UsageError("no fence address given: set ipaddr (-a) to %s" % ADDRESS_FORMS)
    port_id = None
    if port is not None and port.strip() != "":
        port_id = parse_host_id(port, what="port (host id)")

    targets = []
    for item in address.strip().split(","):
        item = item.strip()
        if not item:
            raise UsageError("empty item in address %s: expected %s"
                             % (shown(address), ADDRESS_FORMS))
        if ":" in item:
            name, _, id_text = item.rpartition(":")
            check_lockspace_name(name)
            host_id = parse_host_id(id_text, where=" in %s" % shown(item))
            if port_id is not None and port_id != host_id:
                raise UsageError("port %d contradicts host id %d in address %s: give the "
                                 "host id once, in the address or in port"
                                 % (port_id, host_id, shown(item)))
        else:
            check_lockspace_name(item)
            if port_id is None:
                raise UsageError("address %s names no host id: use LOCKSPACE:HOST_ID or "
                                 "set port to the host id" % shown(item))
            host_id = port_id
        targets.append(Target(name if ":" in item else item, host_id))

    names = {}
    for target in targets:
        if names.setdefault(target.lockspace, target.host_id) != target.host_id:
            raise UsageError("lockspace '%s' appears with two host ids (%d and %d): one host "
                             "has one id per lockspace" % (target.lockspace,
                                                           names[target.lockspace],
                                                           target.host_id))
    return sorted(set(targets))
