# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The server's health over HTTP, as every module and role step asks it: ping answers "pong", image-info reports
a version. Redirects are never followed (a server in setup mode answers 302)."""

import json
import time

try:
    from urllib.request import HTTPRedirectHandler, build_opener
except ImportError:  # pragma: no cover - Python 2 is not supported on managed hosts
    HTTPRedirectHandler, build_opener = object, None

from ansible_collections.dataflux.func.plugins.module_utils._func_app import (
    IMAGE_INFO_PATH, PING_PATH, SERVER_PORT, published_port)


def server_argument_spec():
    """Options of the dataflux.func.server doc fragment: where the server answers, how long to wait."""
    return dict(api_host=dict(type='str', default='127.0.0.1'), port=dict(type='int'),
                timeout=dict(type='int', default=300), delay=dict(type='float', default=2))


def server_url(installation, params):
    """Base URL of the installation's server: api_host and port (else the stack file's published port)."""
    port = params.get('port') or published_port(installation.load_stack() or {}) or SERVER_PORT
    return base_url(params.get('api_host') or '127.0.0.1', port)


def base_url(host, port):
    host = str(host)
    return 'http://%s:%d' % ('[%s]' % host if ':' in host and not host.startswith('[') else host, int(port))


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs):
        return None                          # a 3xx is the answer (urllib raises it as HTTPError)


def get_json(url, timeout=5):
    """(HTTP status or None when nothing answers, decoded JSON body or None). Plain urllib (the environment's
    proxies, no redirects): ansible.module_utils.urls costs every module that imports it ~0.2 s of start-up."""
    try:
        resp = build_opener(_NoRedirect).open(url, timeout=timeout)
        status, raw = resp.getcode(), resp.read()
    except Exception as exc:  # pylint: disable=broad-except  # refused, timed out, 3xx/5xx raised as HTTPError
        status, raw = getattr(exc, 'code', None), b''
    try:
        body = json.loads(raw.decode('utf-8')) if raw else None
    except ValueError:
        body = None
    return status, body


def probe(base, timeout=5):
    """{'status', 'ping', 'version'} of the server at base (one request each)."""
    status, body = get_json(base + PING_PATH, timeout)
    ping = status == 200 and isinstance(body, dict) and body.get('data') == 'pong'
    version = None
    if ping:
        _status, info = get_json(base + IMAGE_INFO_PATH, timeout)
        version = ((info or {}).get('data') or {}).get('VERSION') if isinstance(info, dict) else None
    return {'status': status, 'ping': ping, 'version': version}


def wait_healthy(base, version=None, timeout=300, delay=2.0):
    """Wait until ping answers pong (and image-info reports version, when given): (seconds waited or None when
    timeout ran out, the last probe)."""
    start = time.time()
    while True:
        last = probe(base)
        if last['ping'] and (version is None or last['version'] == version):
            return time.time() - start, last
        if time.time() - start >= timeout:
            return None, last
        time.sleep(delay)


def wait_http_200(url, timeout, delay=1.0):
    """Seconds until GET url answers 200, or None when timeout runs out."""
    start = time.time()
    while True:
        if get_json(url)[0] == 200:
            return time.time() - start
        if time.time() - start >= timeout:
            return None
        time.sleep(delay)
