# SPDX-License-Identifier: GPL-2.0-or-later
"""Private networks for simulated machines: one bridge, one link per node, nothing else.

A `Network` is a bridge in a network namespace of its own; `add_node()` gives a node a
network namespace with one veth link to that bridge and an address on a private /24.
The machine's real network is never touched: every interface and address lives in
namespaces this module creates, so two networks (two tests) never meet, and the
addresses may be the same in both.

Why namespaces held by a process, not ``ip netns add``: a named namespace is a bind mount
under the host's /run/netns that outlives a killed test; a namespace held by
``unshare --net sleep infinity`` (started with PDEATHSIG, machine.start_process) ends
with its holder, however the test ends. Processes join a node's network with
``nsenter --net=/proc/HOLDER/ns/net``.

`cut(node)` sets the bridge's end of the node's link down: the node keeps its address
and sees NO-CARRIER, as when a cable is pulled or a switch port dies; `restore()` sets it
up again. The holders run outside every simulated machine on purpose: a machine's reset
(its watchdog firing) must not take its link away from the bridge's view, and a
namespace outlives the processes in it only while its holder runs.

Limits: IPv4 only, one /24 (254 nodes); no delay or loss shaping (tc netem could add
them: not needed yet).
"""

import os
import subprocess

from .machine import Proc, proc_starttime, start_process, wait_until_sleeping

SUBNET = "10.250.0"


class NetworkError(RuntimeError):
    pass


def _holder(what, log_dir):
    """A process in a new network namespace (lo up), ready once it sleeps."""
    argv = ["unshare", "--net", "sh", "-c", "ip link set lo up && exec sleep infinity"]
    popen = start_process(argv, log_path=os.path.join(log_dir, "netns-%s.log" % what))
    proc = Proc(popen, argv, "netns holder %s" % what)
    if wait_until_sleeping(proc, 10) != "ready":
        proc.stop(1)
        raise NetworkError("the network namespace holder %s did not start" % what)
    proc.starttime = proc_starttime(proc.pid)      # after the exec
    return proc


class Network:
    """A bridge in its own namespace; nodes joined to it by veth links."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.bridge = None               # Proc holding the bridge's namespace
        self.nodes = {}                  # name -> (Proc holder, index, bridge-side ifname)

    def start(self):
        os.makedirs(self.log_dir, exist_ok=True)
        self.bridge = _holder("bridge", self.log_dir)
        self.ip_bridge("link", "add", "br0", "type", "bridge")
        self.ip_bridge("link", "set", "br0", "up")
        return self

    def stop(self):
        """Stop the holders this object started (by recorded pid): their namespaces, links
        and the bridge go with them."""
        for holder, _index, _ifname in self.nodes.values():
            holder.stop(2)
        if self.bridge is not None:
            self.bridge.stop(2)
        self.nodes.clear()
        self.bridge = None

    # ------------------------------------------------------------------ commands

    @staticmethod
    def _ip(holder, *args):
        argv = ["nsenter", "--net=/proc/%d/ns/net" % holder.pid, "ip"] + list(args)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        if result.returncode != 0:
            raise NetworkError("%s failed: %s" % (" ".join(argv), result.stderr.strip()))
        return result.stdout

    def ip_bridge(self, *args):
        return self._ip(self.bridge, *args)

    def ip_node(self, name, *args):
        return self._ip(self.nodes[name][0], *args)

    # ------------------------------------------------------------------ nodes

    def add_node(self, name, index):
        """A namespace for node `name` with eth0 = SUBNET.index/24, linked to the bridge.
        Returns its address."""
        if not 1 <= index <= 254:
            raise NetworkError("node index %r: 1..254" % index)
        holder = _holder(name, self.log_dir)
        ifname = "veth%d" % index
        self.nodes[name] = (holder, index, ifname)
        self.ip_bridge("link", "add", ifname, "type", "veth", "peer", "name", "eth0",
                       "netns", str(holder.pid))
        self.ip_bridge("link", "set", ifname, "master", "br0")
        self.ip_bridge("link", "set", ifname, "up")
        self.ip_node(name, "addr", "add", "%s.%d/24" % (SUBNET, index), "dev", "eth0")
        self.ip_node(name, "link", "set", "eth0", "up")
        return self.address(name)

    def address(self, name):
        return "%s.%d" % (SUBNET, self.nodes[name][1])

    def netns_path(self, name):
        """What ``nsenter --net=`` takes to join node `name`'s network."""
        return "/proc/%d/ns/net" % self.nodes[name][0].pid

    def cut(self, name):
        """The node's link goes down at the bridge: it can reach no other node."""
        self.ip_bridge("link", "set", self.nodes[name][2], "down")

    def restore(self, name):
        self.ip_bridge("link", "set", self.nodes[name][2], "up")

    def holder_pids(self):
        pids = [h.pid for h, _i, _n in self.nodes.values()]
        return pids + ([self.bridge.pid] if self.bridge is not None else [])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


__all__ = ["Network", "NetworkError"]
