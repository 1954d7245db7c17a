"""Peak RSS of a command alone, measured from a small parent.

Linux carries the RSS high-water mark of the process that spawned a child across the
child's exec (fork, vfork and posix_spawn alike), so ``wait4`` in a large test runner
reports the runner's size, not the child's. :data:`TRAMPOLINE` is a small Python process
that starts the command, waits for it with ``wait4`` and writes its peak RSS (KiB) to
the file named by ``PEAK_RSS_FILE``; its exit code is the command's.
"""

from __future__ import annotations

import sys

TRAMPOLINE = [
    sys.executable, "-S", "-c",
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "open(os.environ['PEAK_RSS_FILE'], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n",
]
