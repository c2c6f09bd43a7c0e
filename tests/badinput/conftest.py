"""Print the bad-input layer's case counts per entry point at the end of the session (they are counted in the
worker that ran the file and written to .cache/logs/badinput.json)."""
import json
import os
import time

from tests.lib.ansible_runner import CACHE

REPORT = os.path.join(CACHE, 'logs', 'badinput.json')
STARTED = time.time()


def pytest_terminal_summary(terminalreporter):
    try:
        if os.path.getmtime(REPORT) < STARTED:
            return
        with open(REPORT) as handle:
            counts = json.load(handle)
    except (OSError, ValueError):
        return
    terminalreporter.write_sep('-', 'bad-input layer: generated cases per entry point')
    for name, count in sorted(counts.items()):
        terminalreporter.write_line('%-16s %4d' % (name, count))
    terminalreporter.write_line('%-16s %4d' % ('total', sum(counts.values())))
