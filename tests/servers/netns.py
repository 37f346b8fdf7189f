"""Several test hosts on one machine: Linux network namespaces joined by a bridge.

Each host is a namespace with one veth end on a private subnet that exists only on
this machine, inside namespaces the test creates and removes itself; the test
process talks to them from the root namespace through the bridge. Processes
started in a host are stopped by their process ids when the lab closes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

__all__ = ["NetnsLab", "netns_unavailable"]


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def netns_unavailable() -> str | None:
    """Why namespaces cannot be made here, or ``None`` when they can."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    probe = f"dzprobe{os.getpid() % 100000}"
    try:
        _run("ip", "netns", "add", probe)
    except (subprocess.SubprocessError, OSError) as e:
        return f"'ip netns add' failed here: {e}"
    _run("ip", "netns", "del", probe)
    return None


class NetnsLab:
    """Hosts ``names`` on subnet ``10.<a>.<b>.0/24`` (root namespace at .1, hosts from .2).

    Used by ``tests/test_multihost.py``: ``with NetnsLab(["s3", "sched"]) as lab:
    lab.start("s3", [...])`` runs a server on ``lab.address("s3")``.
    """

    def __init__(self, names: Sequence[str], subnet: str | None = None) -> None:
        # Named and addressed after this process, whole, so that labs of concurrent test
        # runs (xdist workers, other checkouts on the machine) differ: interface names fit
        # in 15 characters with a 7-digit pid; the subnet differs unless the pids are
        # equal modulo 14336.
        pid = os.getpid()
        self.tag = f"{pid}"
        self.subnet = subnet or f"10.{200 + (pid >> 8) % 56}.{pid & 255}"
        self.bridge = f"dzbr{pid}"
        self.hosts = {name: (f"dz{pid}{name[:4]}", f"{self.subnet}.{i + 2}") for i, name in enumerate(names)}
        self.procs: list[subprocess.Popen[bytes]] = []
        self._made: list[tuple[str, ...]] = []

    def address(self, name: str) -> str:
        """The host's address."""
        return self.hosts[name][1]

    @property
    def gateway(self) -> str:
        """The root namespace's address on the bridge."""
        return f"{self.subnet}.1"

    def __enter__(self) -> NetnsLab:
        try:
            _run("ip", "link", "add", self.bridge, "type", "bridge")
            self._made.append(("ip", "link", "del", self.bridge))
            _run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _run("ip", "link", "set", self.bridge, "up")
            for i, (ns, addr) in enumerate(self.hosts.values()):
                host_if, peer_if = f"dzv{self.tag}h{i}", f"dzv{self.tag}p{i}"
                _run("ip", "netns", "add", ns)
                self._made.append(("ip", "netns", "del", ns))
                _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
                self._made.append(("ip", "link", "del", host_if))
                _run("ip", "link", "set", host_if, "master", self.bridge)
                _run("ip", "link", "set", host_if, "up")
                _run("ip", "link", "set", peer_if, "netns", ns)
                _run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{addr}/24", "dev", peer_if)
                _run("ip", "netns", "exec", ns, "ip", "link", "set", peer_if, "up")
                _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def start(self, name: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Run ``argv`` on host ``name`` in a new process group; stopped by pid on close."""
        ns = self.hosts[name][0]
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        """Signal the process group started for ``proc`` and wait for it."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(15)

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()
        for cmd in reversed(self._made):
            subprocess.run(cmd, capture_output=True, timeout=30)
        self._made.clear()

    def __exit__(self, *exc: Any) -> None:
        self.close()
