# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

class ModuleDocFragment(object):
    """Options that locate a DataFlux Func installation and the Docker CLI (dataflux.func.install)."""

    DOCUMENTATION = r'''
options:
  install_dir:
    description:
      - Directory of the DataFlux Func installation (holds C(docker-stack.yaml) and C(data/)).
      - When not set, the directory recorded in C(/etc/dataflux-func) (C(INSTALLED_DIR=...)) by an earlier
        install is used, else C(/usr/local/dataflux-func), like the official C(run-portable.sh).
      - Must be absolute; it is normalised. C(/) and system directories (C(/usr), C(/etc), C(/var), C(/root),
        C(/home), C(/tmp) itself, ...) are refused before anything happens, whatever the marker file says.
    type: path
  stack_name:
    description:
      - Name of the Docker stack. Services are named C(<stack_name>_<service>).
    type: str
    default: dataflux-func
  docker_cli:
    description:
      - Path or name of the C(docker) command line client used for every Docker operation.
    type: path
    default: docker
  docker_host:
    description:
      - Docker daemon to talk to (exported as E(DOCKER_HOST) for the CLI), for example
        V(unix:///run/docker.sock). When not set the CLI's own default (or the environment) applies.
    type: str
'''
