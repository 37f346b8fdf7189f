"""Peak resident memory of some work, measured in a fresh interpreter: the memory tests' one sampler."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SAMPLER = textwrap.dedent("""
    import sys, threading, time

    def _rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    class _Peak:
        def __enter__(self):
            self.base, self.peak, self.done = _rss(), 0, False
            self.thread = threading.Thread(target=self._sample)
            self.thread.start()
        def _sample(self):
            while not self.done:
                self.peak = max(self.peak, _rss()); time.sleep(0.002)
        def __exit__(self, *exc):
            self.done = True; self.thread.join()
            print(self.peak - self.base)
""")


def peak_growth(setup: str, work: str, *args: object, timeout: int = 300) -> int:
    """Bytes the resident memory grew by, at its highest (sampled every 2 ms), while ``work`` ran
    after ``setup`` in a fresh interpreter; both see ``sys.argv[1:]`` as ``args`` in text."""
    script = (_SAMPLER + textwrap.dedent(setup) + "\nwith _Peak():\n"
              + textwrap.indent(textwrap.dedent(work).strip() + "\n", "    "))
    out = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                         check=True, timeout=timeout)
    return int(out.stdout.split()[-1])
