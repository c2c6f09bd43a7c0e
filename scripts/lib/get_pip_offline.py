"""Offline stand-in for the get-pip bootstrap script ansible-test downloads from a host that is not reachable here.

ansible-test runs it as `python quiet_pip.py <pip install options> <packages>` inside a fresh venv. We bootstrap the
pip bundled with Python (ensurepip), then install the requested packages from the configured index (PyPI).
"""
import ensurepip
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
