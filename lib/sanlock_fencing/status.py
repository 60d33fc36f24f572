"""The read-only actions about hosts: status and list/list-status."""

import time

from .address import Target
from .errors import FenceError
from .hoststate import HostState
from .observe import joined_names, look, needs_record, resolve
from .proof import Power, Verdict, host_verdict, lease_verdict
from . import timing


def target_verdict(proxy, watched, resource_mode):
    """Verdict for one lease, reading the disk record only when the state needs it."""
    view, record, read_error = look(proxy, watched, needs_record)
    verdict = lease_verdict(watched.target, view, record, resource_mode)
    if read_error and verdict.power != Power.ON:
        # without the record nothing can be proven; say why
        verdict = Verdict(Power.UNPROVEN, "%s; and its lease record could not be read: %s"
                          % (verdict.reason, read_error))
    return view, verdict


def host_status(proxy, targets, resource_mode=False, wait_unknown=True, log=None):
    """Verdict for the host behind targets, as this proxy sees it now.

    A lease the daemon has not judged yet (UNKNOWN) is given a short while to get a
    verdict rather than guessed; if it stays UNKNOWN the host counts as ON.
    """
    watched, missing = resolve(proxy, targets)
    if missing and log:
        log("not joined here, not looked at: %s" % ", ".join(str(t) for t in missing))
    verdicts = []
    for item in watched:
        view, verdict = target_verdict(proxy, item, resource_mode)
        if view.state == HostState.UNKNOWN and wait_unknown:
            deadline = time.monotonic() + timing.unknown_wait(view.io_timeout or 1)
            while view.state == HostState.UNKNOWN and time.monotonic() < deadline:
                time.sleep(0.5)
                view, verdict = target_verdict(proxy, item, resource_mode)
        if log:
            log(verdict.reason)
        verdicts.append(verdict)
    return host_verdict(verdicts)


def list_hosts(proxy, lockspaces, resource_mode=False):
    """{outlet id: (alias, ON/OFF/UNKNOWN)} for every host with a lease in lockspaces.

    The outlet id is what goes into port: the host id, or LOCKSPACE:HOST_ID when
    several lockspaces are listed. The alias is the host's name in its delta lease
    (sanlock's host name; a UUID in oVirt).
    """
    joined = proxy.joined()
    absent = [name for name in lockspaces if name not in joined]
    if absent:
        raise FenceError("this host's sanlock daemon has not joined lockspace %s (it has "
                         "joined: %s)" % (", ".join(absent), joined_names(joined)))
    from .lease import LeaseReader, LeaseReadError
    outlets = {}
    for name in lockspaces:
        space = joined[name]
        reader = LeaseReader(name, space.path, space.offset)
        for view in proxy.hosts(name):
            try:
                record = reader.read(view.host_id)
                alias = record.host_name
            except LeaseReadError:
                record, alias = None, ""
            if view.host_id == space.host_id:
                power = "ON"      # this host itself
            else:
                verdict = lease_verdict(Target(name, view.host_id), view, record, resource_mode)
                power = {Power.ON: "ON", Power.OFF: "OFF"}.get(verdict.power, "UNKNOWN")
            key = str(view.host_id) if len(lockspaces) == 1 else "%s:%d" % (name, view.host_id)
            outlets[key] = (alias, power)
    return outlets
