"""Watch every process on the host (containers included: they share the host's /proc view) for secrets on
their command line, sampling /proc/*/cmdline every interval seconds while a block runs.

    with ProcWatch(['s3cret', 'other']) as watch:
        run_something()
    assert watch.hits == [] and watch.samples > 10
"""
import os
import threading
import time


def _cmdlines():
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as handle:
                raw = handle.read()
        except OSError:
            continue
        if raw:
            yield pid, raw.replace(b'\0', b' ').decode('utf-8', 'replace').strip()


class ProcWatch:
    def __init__(self, secrets, interval=0.05, interesting=()):
        self.secrets = [s for s in secrets if s]
        self.interval = interval
        self.interesting = tuple(interesting)
        self.hits = []
        self.seen = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for _pid, line in _cmdlines():
                if any(secret in line for secret in self.secrets):
                    self.hits.append(line)
                if self.interesting and any(word in line for word in self.interesting):
                    self.seen.add(line)
            self.samples += 1
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False
