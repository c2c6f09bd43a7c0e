# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stack specs for func_stack: compose parsing, live spec normalisation, plan and diff.

Pure data: the docker CLI itself lives in _func_docker (DockerCLI); nothing here runs a command.
"""

import json
import os
import re
import shlex

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError, mask_env_list


# =========================================================================================
# Stacks: compose parsing, live spec normalisation, plan and diff (used by func_stack)
# =========================================================================================
#
# A "normalised service" is a plain dict with the same keys whether it comes from the compose file or
# from `docker service inspect`, so that equality means "docker stack deploy would not change it":
#   image, command, entrypoint, env, labels, service_labels, mounts, ports, mode, replicas, extra_hosts,
#   endpoint_mode, networks, stop_grace_period, init, logging, healthcheck, resources
# Keys of a compose service that are not compared are reported by unsupported_keys() (modules warn).
# deploy.update_config / rollback_config are accepted but not compared: a rolling restart sets the update order
# on the live service (docker service update --update-order), which must not read as a change of the file.

STACK_LABEL_PREFIX = 'com.docker.stack.'
DEFAULT_STOP_GRACE_NS = 10 * 10 ** 9
COMPARED_KEYS = ('image', 'command', 'entrypoint', 'env', 'labels', 'service_labels', 'mounts', 'ports',
                 'mode', 'replicas', 'extra_hosts', 'endpoint_mode', 'networks', 'stop_grace_period', 'init',
                 'logging', 'healthcheck', 'resources', 'placement')
_SUPPORTED_SERVICE_KEYS = {'image', 'command', 'entrypoint', 'environment', 'labels', 'volumes', 'ports',
                           'deploy', 'extra_hosts', 'networks', 'stop_grace_period', 'init', 'logging',
                           'healthcheck'}
_SUPPORTED_DEPLOY_KEYS = {'replicas', 'mode', 'labels', 'endpoint_mode', 'update_config', 'rollback_config',
                          'resources', 'placement'}
_RAM_RE = re.compile(r'^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$')
_DURATION_RE = re.compile(r'(\d+(?:\.\d+)?)(ns|us|µs|ms|h|m|s)')
_DURATION_UNIT = {'ns': 1, 'us': 10 ** 3, 'µs': 10 ** 3, 'ms': 10 ** 6, 's': 10 ** 9, 'm': 60 * 10 ** 9,
                  'h': 3600 * 10 ** 9}


def _scalar_str(value):
    """Compose scalar -> the string docker puts into the spec (YAML true -> 'true', 2 -> '2')."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if value is None:
        return ''
    return str(value)


def parse_duration_ns(value):
    """Compose/Go duration ('10s', '1m30s', '500ms', 10) -> nanoseconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value * 10 ** 9)
    text = str(value).strip()
    pos, total = 0, 0.0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNIT[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise FuncError('Cannot parse duration %r (expected e.g. 10s, 1m30s)' % (value,))
    return int(total)


def image_ref(image):
    """Image reference without a @sha256 digest (what --resolve-image never/always both compare by)."""
    return str(image or '').split('@', 1)[0]


def normalize_env(env):
    """Compose list/dict or docker ['K=V'] -> sorted list of 'K=V' (a key without value stays 'K')."""
    items = []
    if isinstance(env, dict):
        for key, value in env.items():
            items.append(str(key) if value is None else '%s=%s' % (key, _scalar_str(value)))
    else:
        items = [str(item) for item in env or []]
    return sorted(items)


def normalize_labels(labels):
    """Compose list ('k=v', bare 'k' = empty value) or dict -> dict without com.docker.stack.* labels."""
    out = {}
    if isinstance(labels, dict):
        for key, value in labels.items():
            out[str(key)] = _scalar_str(value)
    else:
        for item in labels or []:
            key, _sep, value = str(item).partition('=')
            out[key] = value
    return {k: v for k, v in out.items() if not k.startswith(STACK_LABEL_PREFIX)}


def _host_entry(host, ip):
    return '%s:%s' % (host.strip(), ip.strip())


def normalize_extra_hosts(hosts):
    """Compose 'host:ip' / 'host=ip' / {host: ip} and docker's 'ip host [alias...]' -> sorted 'host:ip'."""
    out = []
    if isinstance(hosts, dict):
        return sorted(_host_entry(str(k), _scalar_str(v)) for k, v in hosts.items())
    for item in hosts or []:
        item = str(item).strip()
        parts = item.split()
        if len(parts) >= 2:                          # docker's "IP host [alias ...]"
            out.extend(_host_entry(name, parts[0]) for name in parts[1:])
        elif '=' in item:
            host, _sep, ip = item.partition('=')
            out.append(_host_entry(host, ip))
        else:
            host, _sep, ip = item.partition(':')     # host names never contain ':', IPv6 addresses do
            out.append(_host_entry(host, ip))
    return sorted(out)


def _port_entry(target, published, protocol, mode):
    return {'target': int(target), 'published': int(published) if published not in (None, '', 0) else None,
            'protocol': (protocol or 'tcp').lower(), 'mode': mode or 'ingress'}


def _port_key(port):
    return (port['target'], port['published'] or 0, port['protocol'], port['mode'])


def _port_range(text):
    start, _sep, end = str(text).partition('-')
    start = int(start)
    return list(range(start, int(end) + 1)) if end else [start]


def normalize_compose_ports(ports):
    """Compose short ('8088', '80:8088', '127.0.0.1:80:8088/udp', ranges) and long syntax -> sorted dicts."""
    out = []
    for item in ports or []:
        if isinstance(item, dict):
            out.append(_port_entry(item.get('target'), item.get('published'), item.get('protocol'),
                                   item.get('mode')))
            continue
        text = str(item)
        spec, _sep, protocol = text.partition('/')
        parts = spec.rsplit(':', 2)
        if len(parts) == 1:
            published, target = None, parts[0]
        else:
            published, target = parts[-2], parts[-1]
        targets = _port_range(target)
        publisheds = _port_range(published) if published else [None] * len(targets)
        if len(publisheds) != len(targets):
            raise FuncError('Port range %r: published and target ranges differ in size' % text)
        out.extend(_port_entry(t, p, protocol, 'ingress') for t, p in zip(targets, publisheds))
    return sorted(out, key=_port_key)


def normalize_live_ports(ports):
    return sorted((_port_entry(p.get('TargetPort'), p.get('PublishedPort'), p.get('Protocol'),
                               p.get('PublishMode')) for p in ports or []), key=_port_key)


def _mount_entry(mtype, source, target, read_only):
    return {'type': mtype or 'volume', 'source': source or '', 'target': str(target or ''),
            'read_only': bool(read_only)}


def _mount_key(mount):
    return (mount['target'], mount['type'], mount['source'])


def _volume_source(source, base_dir, stack, top_volumes):
    """(type, source) of a compose volume source: bind path (relative -> base_dir) or stack volume."""
    if not source:
        return 'volume', ''
    if source.startswith(('/', '.', '~')):
        path = os.path.expanduser(source)
        return 'bind', os.path.normpath(os.path.join(base_dir, path))
    top = (top_volumes or {}).get(source) or {}
    if isinstance(top, dict):
        external = top.get('external')
        if external:
            name = external.get('name') if isinstance(external, dict) else None
            return 'volume', name or top.get('name') or source
        if top.get('name'):
            return 'volume', top['name']
    return 'volume', '%s_%s' % (stack, source)


def normalize_compose_volumes(volumes, base_dir, stack, top_volumes=None):
    out = []
    for item in volumes or []:
        if isinstance(item, dict):
            mtype = item.get('type') or 'volume'
            source = item.get('source') or ''
            if mtype == 'bind':
                source = os.path.normpath(os.path.join(base_dir, os.path.expanduser(source)))
            elif mtype == 'volume':
                source = _volume_source(source, base_dir, stack, top_volumes)[1] if source else ''
            out.append(_mount_entry(mtype, source, item.get('target'), item.get('read_only')))
            continue
        parts = str(item).split(':')
        if len(parts) == 1:
            out.append(_mount_entry('volume', '', parts[0], False))
            continue
        source, target = parts[0], parts[1]
        options = parts[2].split(',') if len(parts) > 2 else []
        mtype, source = _volume_source(source, base_dir, stack, top_volumes)
        out.append(_mount_entry(mtype, source, target, 'ro' in options))
    return sorted(out, key=_mount_key)


def normalize_live_mounts(mounts):
    return sorted((_mount_entry((m.get('Type') or 'volume').lower(), m.get('Source'), m.get('Target'),
                                m.get('ReadOnly')) for m in mounts or []), key=_mount_key)


def _command(value):
    """Compose command/entrypoint (string -> shell-split, list as is) -> list or None."""
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [_scalar_str(v) for v in value]


def _network_names(service, stack, top_networks):
    nets = service.get('networks')
    keys = list(nets.keys()) if isinstance(nets, dict) else list(nets or [])
    if not keys:
        keys = ['default']
    names = []
    for key in keys:
        top = (top_networks or {}).get(key) or {}
        name = '%s_%s' % (stack, key)
        if isinstance(top, dict):
            external = top.get('external')
            if external:
                ext_name = external.get('name') if isinstance(external, dict) else None
                name = ext_name or top.get('name') or key
            elif top.get('name'):
                name = top['name']
        names.append(name)
    return sorted(names)


def parse_ram_bytes(value):
    """Compose memory size ('512M', '1g', '64MiB', 1048576) -> bytes (binary units, like docker's RAMInBytes)."""
    if value in (None, ''):
        return 0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    match = _RAM_RE.match(str(value).strip())
    if not match:
        raise FuncError('Cannot parse memory size %r (expected e.g. 512M, 1g, 1048576)' % (value,))
    power = ' kmgtp'.index((match.group(2) or ' ').lower())
    return int(float(match.group(1)) * 1024 ** power)


def _nano_cpus(value):
    if value in (None, ''):
        return 0
    try:
        return int(round(float(value) * 10 ** 9))
    except (TypeError, ValueError):
        raise FuncError('Cannot parse cpus %r (expected e.g. 0.5 or 2)' % (value,))


def _resource_entry(cpus=0, memory=0, pids=0):
    return {'cpus_nano': int(cpus or 0), 'memory_bytes': int(memory or 0), 'pids': int(pids or 0)}


def normalize_compose_resources(resources):
    """deploy.resources -> {'limits': {...}, 'reservations': {...}} (unset = 0, as docker stores it)."""
    resources = resources or {}
    out = {}
    for kind in ('limits', 'reservations'):
        part = resources.get(kind) or {}
        out[kind] = _resource_entry(_nano_cpus(part.get('cpus')), parse_ram_bytes(part.get('memory')),
                                    part.get('pids') if kind == 'limits' else 0)
    return out


def normalize_live_resources(resources):
    resources = resources or {}
    out = {}
    for kind, key in (('limits', 'Limits'), ('reservations', 'Reservations')):
        part = resources.get(key) or {}
        out[kind] = _resource_entry(part.get('NanoCPUs'), part.get('MemoryBytes'), part.get('Pids'))
    return out


def normalize_compose_healthcheck(check):
    """Compose healthcheck -> normalised dict, or None when the service sets none (the image's own applies)."""
    if check is None:
        return None
    if check.get('disable'):
        return {'test': ['NONE'], 'interval': 0, 'timeout': 0, 'retries': 0, 'start_period': 0}
    test = check.get('test')
    if isinstance(test, str):
        test = ['CMD-SHELL', test]
    elif test:
        test = [str(item) for item in test]
    else:
        test = None
    return {'test': test, 'interval': parse_duration_ns(check.get('interval')) or 0,
            'timeout': parse_duration_ns(check.get('timeout')) or 0,
            'retries': int(check.get('retries') or 0),
            'start_period': parse_duration_ns(check.get('start_period')) or 0}


def checks_health(service):
    """Whether a normalised service sets a healthcheck of its own (swarm then reports its tasks running only once
    they are healthy). None (the image's own, unknown here) and a disabled one count as no."""
    test = (service.get('healthcheck') or {}).get('test') or []
    return bool(test) and test[0] != 'NONE'


def normalize_live_healthcheck(check):
    if not check:
        return None
    return {'test': list(check['Test']) if check.get('Test') else None, 'interval': int(check.get('Interval') or 0),
            'timeout': int(check.get('Timeout') or 0), 'retries': int(check.get('Retries') or 0),
            'start_period': int(check.get('StartPeriod') or 0)}


def _placement_entry(constraints, spreads, max_replicas):
    return {'constraints': sorted(c.replace(' ', '') for c in constraints or []), 'spread': list(spreads or []),
            'max_replicas': int(max_replicas or 0)}


def normalize_compose_placement(placement):
    """compose deploy.placement -> {constraints (sorted, blanks dropped), spread (in order), max_replicas}."""
    placement = placement or {}
    spreads = [str(p.get('spread')) for p in placement.get('preferences') or [] if isinstance(p, dict)]
    return _placement_entry(placement.get('constraints'), spreads, placement.get('max_replicas_per_node'))


def normalize_live_placement(placement):
    placement = placement or {}
    spreads = [str((p.get('Spread') or {}).get('SpreadDescriptor')) for p in placement.get('Preferences') or []]
    return _placement_entry(placement.get('Constraints'), spreads, placement.get('MaxReplicas'))


def normalize_compose_service(name, service, stack, base_dir, top=None):
    """One compose v3 service -> normalised dict (see COMPARED_KEYS)."""
    top = top or {}
    service = service or {}
    deploy = service.get('deploy') or {}
    mode = deploy.get('mode') or 'replicated'
    replicas = None
    if mode == 'replicated':
        replicas = deploy.get('replicas')
        replicas = 1 if replicas is None else int(replicas)
    logging = service.get('logging') or {}
    grace = parse_duration_ns(service.get('stop_grace_period'))
    return {
        'image': image_ref(service.get('image')),
        'command': _command(service.get('command')),
        'entrypoint': _command(service.get('entrypoint')),
        'env': normalize_env(service.get('environment')),
        'labels': normalize_labels(service.get('labels')),
        'service_labels': normalize_labels(deploy.get('labels')),
        'mounts': normalize_compose_volumes(service.get('volumes'), base_dir, stack, top.get('volumes')),
        'ports': normalize_compose_ports(service.get('ports')),
        'mode': mode,
        'replicas': replicas,
        'extra_hosts': normalize_extra_hosts(service.get('extra_hosts')),
        'endpoint_mode': deploy.get('endpoint_mode') or 'vip',
        'networks': _network_names(service, stack, top.get('networks')),
        'stop_grace_period': DEFAULT_STOP_GRACE_NS if grace is None else grace,
        'init': bool(service.get('init')),
        'logging': {'driver': logging.get('driver') or None,
                    'options': {str(k): _scalar_str(v) for k, v in (logging.get('options') or {}).items()}},
        'healthcheck': normalize_compose_healthcheck(service.get('healthcheck')),
        'resources': normalize_compose_resources(deploy.get('resources')),
        'placement': normalize_compose_placement(deploy.get('placement')),
    }


def normalize_compose_stack(data, stack, base_dir):
    """Parsed compose file -> {short service name: normalised dict}."""
    if not isinstance(data, dict) or not isinstance(data.get('services'), dict) or not data['services']:
        raise FuncError('The stack file defines no services (expected a top-level "services" mapping)')
    top = {'networks': data.get('networks') or {}, 'volumes': data.get('volumes') or {}}
    return {str(name): normalize_compose_service(str(name), svc, stack, base_dir, top)
            for name, svc in data['services'].items()}


def unsupported_keys(data):
    """{service: [keys]} of compose keys whose changes func_stack does not detect."""
    out = {}
    for name, svc in ((data or {}).get('services') or {}).items():
        keys = sorted(k for k in (svc or {}) if k not in _SUPPORTED_SERVICE_KEYS)
        keys += sorted('deploy.%s' % k for k in ((svc or {}).get('deploy') or {}) if k not in _SUPPORTED_DEPLOY_KEYS)
        if keys:
            out[str(name)] = keys
    return out


def short_service_name(full_name, stack):
    prefix = '%s_' % stack
    return full_name[len(prefix):] if full_name.startswith(prefix) else full_name


def normalize_live_service(inspected, network_names=None):
    """One `docker service inspect` entry -> normalised dict (same keys as normalize_compose_service)."""
    spec = inspected.get('Spec') or {}
    task = spec.get('TaskTemplate') or {}
    cspec = task.get('ContainerSpec') or {}
    mode_spec = spec.get('Mode') or {}
    if 'Global' in mode_spec:
        mode, replicas = 'global', None
    else:
        mode = 'replicated'
        replicas = int(((mode_spec.get('Replicated') or {}).get('Replicas')) or 0)
    endpoint = spec.get('EndpointSpec') or {}
    network_names = network_names or {}
    networks = sorted(network_names.get(n.get('Target'), n.get('Target'))
                      for n in (task.get('Networks') or spec.get('Networks') or []))
    log_driver = task.get('LogDriver') or {}
    grace = cspec.get('StopGracePeriod')
    return {
        'image': image_ref(cspec.get('Image')),
        'command': list(cspec['Args']) if cspec.get('Args') is not None else None,
        'entrypoint': list(cspec['Command']) if cspec.get('Command') is not None else None,
        'env': normalize_env(cspec.get('Env')),
        'labels': normalize_labels(cspec.get('Labels')),
        'service_labels': normalize_labels(spec.get('Labels')),
        'mounts': normalize_live_mounts(cspec.get('Mounts')),
        'ports': normalize_live_ports(endpoint.get('Ports')),
        'mode': mode,
        'replicas': replicas,
        'extra_hosts': normalize_extra_hosts(cspec.get('Hosts')),
        'endpoint_mode': endpoint.get('Mode') or 'vip',
        'networks': networks,
        'stop_grace_period': DEFAULT_STOP_GRACE_NS if grace is None else int(grace),
        'init': bool(cspec.get('Init')),
        'logging': {'driver': log_driver.get('Name') or None,
                    'options': dict(log_driver.get('Options') or {})},
        'healthcheck': normalize_live_healthcheck(cspec.get('Healthcheck')),
        'resources': normalize_live_resources(task.get('Resources')),
        'placement': normalize_live_placement(task.get('Placement')),
    }


_FINGERPRINT_KEYS = ('Image', 'Args', 'Command', 'Env', 'Labels', 'Mounts', 'Hosts', 'Init', 'User', 'Dir')


def task_fingerprint(task_spec):
    """The parts of a TaskTemplate / task Spec that identify a spec version (robust to CLI/daemon skew)."""
    task_spec = task_spec or {}
    cspec = task_spec.get('ContainerSpec') or {}
    return (json.dumps({k: cspec.get(k) or None for k in _FINGERPRINT_KEYS}, sort_keys=True),
            int(task_spec.get('ForceUpdate') or 0))


def changed_fields(desired, live):
    return [key for key in COMPARED_KEYS if desired.get(key) != live.get(key)]


def stack_plan(desired, live, prune=False):
    """desired/live: {short name: normalised}. -> list of {service, action, fields} sorted by service.

    action: create | update | remove (only with prune) | unchanged | extra (live only, kept without prune).
    """
    plan = []
    for name in sorted(set(desired) | set(live)):
        if name not in live:
            plan.append({'service': name, 'action': 'create', 'fields': []})
        elif name not in desired:
            plan.append({'service': name, 'action': 'remove' if prune else 'extra', 'fields': []})
        else:
            fields = changed_fields(desired[name], live[name])
            plan.append({'service': name, 'action': 'update' if fields else 'unchanged', 'fields': fields})
    return plan


def plan_changes(plan):
    return [p for p in plan if p['action'] in ('create', 'update', 'remove')]


def masked_service(norm):
    if norm is None:
        return None
    out = dict(norm)
    out['env'] = mask_env_list(norm.get('env'))
    return out


def stack_diff(desired, live, plan, stack, stack_file):
    """Ansible diff (before/after per changed service, secret env values masked)."""
    before, after = {}, {}
    for item in plan_changes(plan):
        name = item['service']
        if name in live:
            before[name] = masked_service(live[name])
        if item['action'] != 'remove' and name in desired:
            after[name] = masked_service(desired[name])
    return {'before': before, 'after': after,
            'before_header': 'stack %s (running services)' % stack,
            'after_header': stack_file}


def parse_replicas(text):
    """'1/2', '2/2 (max 1 per node)' -> (running, desired)."""
    match = re.match(r'\s*(\d+)/(\d+)', str(text or ''))
    if not match:
        return None, None
    return int(match.group(1)), int(match.group(2))


def host_mode_ports(norm):
    return [p for p in (norm or {}).get('ports') or [] if p.get('mode') == 'host' and p.get('published')]
