# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
name: host_plan
short_description: Decide how to prepare a host for DataFlux Func (Docker source, PyYAML package, service manager)
version_added: 0.2.0
author: dataflux.func contributors
description:
  - Takes the gathered facts of a managed host and returns where Docker Engine comes from and which package
    provides PyYAML for the Python that runs the modules. The install role's host step (C(tasks/host.yml))
    acts on the result.
  - Debian and Ubuntu install C(docker.io) from the distribution.
  - The Enterprise Linux family (RHEL, CentOS, Rocky, AlmaLinux, Oracle Linux, Alibaba Cloud Linux) uses the
    Docker static binaries of the portable bundle, because the distribution repositories ship Podman, not Docker
    Engine. O(source=distro) installs Docker CE packages there instead, from the Docker CE repository the host
    must already have configured (for example C(mirrors.aliyun.com/docker-ce)).
  - Any other distribution uses the bundle, or O(packages) with O(source=distro).
  - Pure function of its arguments, no host access.
positional: source
options:
  _input:
    description: The host's C(ansible_facts) (at least the C(min) subset of the setup module).
    type: dict
    required: true
  source:
    description: C(func_docker_source) of the role.
    type: str
    default: auto
    choices: [auto, distro, bundle]
  install:
    description: C(func_install_docker); without it a host whose Docker does not answer is an error.
    type: bool
    default: true
  docker_running:
    description: Whether C(docker version) reached a Docker daemon on the host.
    type: bool
    default: false
  docker_cli:
    description: Output of C(docker --version) on the host (empty when there is no docker command).
    type: str
    default: ''
  dockerd:
    description: Output of C(dockerd --version) on the host (empty when Docker Engine is not installed).
    type: str
    default: ''
  swarm_init:
    description: C(func_swarm_init); a freshly installed Docker is no swarm manager, so installing one without it
      is an error.
    type: bool
    default: true
  bundle_dir:
    description: C(func_bundle_dir) of the role (directory of the portable bundle).
    type: str
    default: ''
  packages:
    description: C(func_docker_packages); when not empty, the packages of the distro source.
    type: list
    elements: str
    default: []
'''

EXAMPLES = r'''
- name: Work out how to prepare this host
  ansible.builtin.set_fact:
    host_plan: >-
      {{ ansible_facts | dataflux.func.host_plan(source='auto', install=true,
         docker_running=docker_probe.rc == 0, bundle_dir='/opt/dataflux-func-portable-x86_64-5.1.7') }}

# Rocky Linux 9 with Python 3.9 and no Docker gives
#   {docker: bundle, packages: [], pyyaml_package: python3-pyyaml, service: systemd, family: el, el_major: 9, ...}
'''

RETURN = r'''
_value:
  description: The plan.
  type: dict
  contains:
    docker:
      description: C(present) (a Docker daemon answers, nothing to do), C(installed) (Docker Engine is installed
        but not running, it is started, never replaced), C(distro) (install with the package manager) or
        C(bundle) (install the static binaries of the portable bundle).
      type: str
    packages:
      description: Packages to install when RV(_value.docker) is C(distro), else empty.
      type: list
      elements: str
    pyyaml_package:
      description: Package that provides PyYAML for the Python interpreter of the facts; empty when unknown.
      type: str
    service:
      description: C(systemd) when systemd manages services, else C(none) (dockerd is started detached).
      type: str
    family:
      description: C(debian), C(el) or C(unknown).
      type: str
    el_major:
      description: Equivalent Enterprise Linux major version (Alibaba Cloud Linux 2 is 7, 3 is 8), 0 elsewhere.
      type: int
    pkg_mgr:
      description: Package manager of the facts.
      type: str
    reason:
      description: One sentence explaining the choice.
      type: str
    error:
      description: Why the host cannot be prepared as asked; empty when it can.
      type: str
'''

# ansible-test wants the documentation above the imports (import-before-documentation)
import re  # noqa: E402

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible.module_utils.common.text.converters import to_text  # noqa: E402

SOURCES = ('auto', 'distro', 'bundle')

DEBIAN_NAMES = ('debian', 'ubuntu')
# distribution fact (lower case) -> how to map its major version onto Enterprise Linux
EL_NAMES = ('redhat', 'rhel', 'centos', 'rocky', 'almalinux', 'oraclelinux', 'ol')
ALIBABA_NAMES = ('alibaba', 'alinux', 'aliyun')
# Alibaba Cloud Linux 2 is built on CentOS 7, 3 on Anolis/EL8; 4 follows EL9's package names.
ALIBABA_EL_MAJOR = {2: 7, 3: 8, 4: 9}

DEBIAN_DOCKER = ['docker.io']
# Docker CE from Docker's own repository (download.docker.com or a mirror such as mirrors.aliyun.com/docker-ce):
# the EL repositories ship Podman (EL8/9) or Docker 1.13 (CentOS 7 extras, too old for stack deploy of 3.x files).
EL_DOCKER_CE = ['docker-ce', 'docker-ce-cli', 'containerd.io']


def _major(value):
    match = re.match(r'\s*(\d+)', to_text(value or ''))
    return int(match.group(1)) if match else 0


def _family(facts):
    dist = to_text(facts.get('distribution') or '').lower().replace(' ', '')
    os_family = to_text(facts.get('os_family') or '').lower()
    if dist in DEBIAN_NAMES or os_family == 'debian':
        return 'debian', 0
    major = _major(facts.get('distribution_major_version'))
    if any(dist.startswith(name) for name in ALIBABA_NAMES):
        return 'el', ALIBABA_EL_MAJOR.get(major) or (9 if major > 4 else 8)
    if dist in EL_NAMES or os_family == 'redhat':
        return 'el', major
    return 'unknown', 0


def _python(facts):
    version = (facts.get('python') or {}).get('version') or {}
    try:
        return int(version.get('major') or 3), int(version.get('minor') or 0)
    except (TypeError, ValueError):
        return 3, 0


def _pyyaml_package(family, el_major, python):
    major, minor = python
    if family == 'debian':
        return 'python3-yaml' if major == 3 else 'python-yaml'
    if family != 'el':
        return ''
    if major == 2:
        return 'PyYAML'
    if el_major and el_major <= 7:
        # python3 of CentOS 7.7+ is 3.6; its PyYAML is python36-PyYAML (EPEL, also in Alibaba Cloud Linux 2)
        return 'python%d%d-PyYAML' % (major, minor)
    default_minor = 6 if el_major == 8 else 9
    if minor == default_minor:
        return 'python3-pyyaml'
    if el_major == 8 and minor < 10:
        return 'python%d%d-pyyaml' % (major, minor)      # python38-pyyaml, python39-pyyaml (EL8 modules)
    return 'python%d.%d-pyyaml' % (major, minor)          # python3.11-pyyaml, python3.12-pyyaml


def host_plan(facts, source='auto', install=True, docker_running=False, docker_cli='', dockerd='', bundle_dir='',
              packages=None, swarm_init=True):
    """The plan for preparing one host; see DOCUMENTATION."""
    if not isinstance(facts, dict):
        raise AnsibleFilterError('host_plan expects ansible_facts (a dict), got %s' % type(facts).__name__)
    source = to_text(source or 'auto').lower()
    if source not in SOURCES:
        raise AnsibleFilterError('func_docker_source must be one of %s, not %r' % (', '.join(SOURCES), source))
    packages = [to_text(p) for p in (packages or [])]
    bundle_dir = to_text(bundle_dir or '').strip()
    docker_cli = to_text(docker_cli or '').strip()
    dockerd = to_text(dockerd or '').strip()

    family, el_major = _family(facts)
    python = _python(facts)
    name = '%s %s' % (facts.get('distribution') or 'unknown distribution',
                      facts.get('distribution_version') or facts.get('distribution_major_version') or '')
    name = name.strip()
    plan = {
        'docker': '',
        'packages': [],
        'pyyaml_package': _pyyaml_package(family, el_major, python),
        'service': 'systemd' if to_text(facts.get('service_mgr') or '') == 'systemd' else 'none',
        'family': family,
        'el_major': el_major,
        'pkg_mgr': to_text(facts.get('pkg_mgr') or ''),
        'reason': '',
        'error': '',
    }

    if 'podman' in docker_cli.lower():
        plan['docker'] = 'present' if docker_running else ''
        plan['error'] = (
            'The docker command on this host is Podman (%s). DataFlux Func needs Docker Engine in swarm mode; remove '
            'the emulation (dnf remove podman-docker) and run again with func_install_docker=true.' % docker_cli)
        return plan

    if docker_running:
        plan['docker'] = 'present'
        plan['reason'] = 'A Docker daemon answers (%s); it is used as it is.' % (docker_cli or 'docker version')
        return plan

    if dockerd:
        plan['docker'] = 'installed'
        plan['reason'] = ('Docker Engine is installed (%s) but its daemon does not answer; it is started, not '
                          'replaced.' % dockerd)
        if not install:
            plan['error'] = ('The Docker daemon does not answer on this host (%s). Start it, or set '
                             'func_install_docker=true to have it started.' % dockerd)
        return plan

    # what the host would get
    if source == 'auto':
        source = 'distro' if family == 'debian' else 'bundle'
        why = {
            'debian': '%s ships Docker Engine as docker.io.' % name,
            'el': '%s repositories ship Podman, not Docker Engine: the static binaries of the bundle are used.' % name,
        }.get(family, 'No known Docker package for %s: the static binaries of the bundle are used.' % name)
    else:
        why = 'func_docker_source=%s.' % source
    plan['docker'] = source

    if source == 'distro':
        if packages:
            plan['packages'] = packages
        elif family == 'debian':
            plan['packages'] = list(DEBIAN_DOCKER)
        elif family == 'el':
            plan['packages'] = list(EL_DOCKER_CE)
            why += (' Docker CE packages need the Docker CE repository configured on the host (download.docker.com'
                    ' or mirrors.aliyun.com/docker-ce).')
        else:
            plan['error'] = ('func_docker_source=distro on %s needs func_docker_packages: there is no known Docker '
                             'package for this distribution.' % name)
        if not plan['error'] and plan['pkg_mgr'] in ('', 'unknown'):
            plan['error'] = 'No package manager was detected on %s to install %s.' % (name, ', '.join(plan['packages']))
    elif not bundle_dir:
        plan['error'] = (
            'Installing Docker on %s needs the portable bundle: set func_bundle_dir to the directory holding '
            'docker-<version>.tgz (and docker.service), or install Docker yourself. %s' % (name, why))
    plan['reason'] = why

    if not plan['error'] and not swarm_init:
        plan['error'] = ('Docker would be installed with func_swarm_init=false, but a fresh Docker is no swarm manager '
                         'and the stack could not be deployed: set func_swarm_init=true.')
    if not install:
        found = ' (%s)' % docker_cli if docker_cli else ' (no docker command)'
        would_get = ' '.join([plan['docker']] + plan['packages'])
        plan['error'] = ('Docker is not usable on this host%s. Install Docker and start dockerd, or set '
                         'func_install_docker=true (this host would get: %s).' % (found, would_get))
    return plan


class FilterModule(object):
    def filters(self):
        return {'host_plan': host_plan}
