#!/usr/bin/python
# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: sf_namespace_cleanup
short_description: Planned, ordered, safe teardown of a Shaken Fist namespace
version_added: 0.1.0
author:
  - Shaken Fist storage collection contributors (@shakenfist)
description:
  - Deletes what a namespace holds, in the order the server needs. Instances go first, waiting until they are
    gone, then networks, then the artifacts the namespace owns, and
    optionally the namespace itself. What depends on no instance still going (a network whose instances are gone,
    an artifact no instance boots from and no label points at) goes while the others are deleted.
  - Everything is read first and the O(keep) filters applied, so check mode returns the exact plan. That is what
    would be deleted, in what order, and what is kept and why. A real run returns the same plan with what
    happened.
  - Never deletes another namespace's artifacts (shared ones it can see included), nor a shared artifact, even
    when cleaning C(system) with O(allow_system).
  - Never deletes a network that an instance it does not delete is on (a kept one, or one booted on it after the
    plan was read). Shaken Fist 0.7.2 accepts such a delete and destroys the network once those instances are
    gone, so the network's interfaces are read in the plan and again just before its delete, and such a network
    is kept, with the instance named in RV(kept).
  - Deletes exactly what the plan lists, by UUID, O(concurrency) at a time, never through the server's bulk
    routes (which would also take what appeared after the plan was read). Pending objects are polled together,
    one listing per round, with backoff.
  - Runs on one host (many forks of one job) take turns per namespace, through a lock file in
    C(~/.cache/shakenfist.storage). The first deletes and reports everything, the others find the namespace clean.
  - A delete answered with an error is checked by reading the state again (some servers answer 500 after
    deleting). A network still in use is asked again once its instances are gone. A partial failure says exactly
    what is left and why. See C(docs/cleanup.md).
extends_documentation_fragment:
  - shakenfist.storage.connection
  - shakenfist.storage.attributes
  - shakenfist.storage.attributes.action_group
  - shakenfist.storage.wait
attributes:
  check_mode:
    support: full
    details:
      - Returns the full plan and deletes nothing.
  diff_mode:
    support: full
    details:
      - Lists the namespace's instances, networks and artifacts before and after.
  idempotent:
    support: full
    details:
      - A clean namespace gives no change and sends no write.
options:
  target_namespace:
    description:
      - The namespace to clean. The namespace you authenticate as (O(namespace)) must be this one, or C(system).
    type: str
    required: true
  resources:
    description:
      - What to delete.
    type: list
    elements: str
    choices: [instances, networks, artifacts]
    default: [instances, networks, artifacts]
  keep:
    description:
      - What to keep. An object that matches any filter stays, and RV(kept) says why.
    type: dict
    suboptions:
      names:
        description:
          - Shell-style patterns (V(ci-base-*)) matched against instance, network and artifact names.
        type: list
        elements: str
      types:
        description:
          - Artifact types to keep.
        type: list
        elements: str
        choices: [image, label, snapshot, other]
      labelled:
        description:
          - Keep every label of the namespace and every artifact one of its versions a label points at.
        type: bool
        default: false
      metadata:
        description:
          - Keep objects whose metadata has all these keys with these values.
          - Where a listing leaves metadata out (Shaken Fist 0.7.2 lists networks without it), it is read from each
            object's metadata route. An object whose metadata cannot be read is kept, with the reason in RV(kept).
        type: dict
  older_than:
    description:
      - Only delete objects older than this (V(7d), V(12h), V(30m), combined as in V(1d12h)). The age of an artifact
        is its newest version's. Objects whose age the server does not report (instances, networks) are then kept,
        with that reason.
    type: str
  delete_namespace:
    description:
      - Delete the namespace too, once it is empty. Needs the C(system) key. Skipped, with a note, when something is
        kept.
    type: bool
    default: false
  allow_system:
    description:
      - Allow cleaning the C(system) namespace. Shared artifacts are kept even then.
    type: bool
    default: false
  missing_ok:
    description:
      - A namespace that does not exist is clean (no change) instead of an error.
    type: bool
    default: false
  wait:
    description:
      - Wait until instances and networks are gone. Artifacts are deleted at once either way.
  wait_timeout:
    description:
      - Seconds to wait for each kind of object, and for a network in use to become free.
  concurrency:
    description:
      - How many single deletes run at once, when a kind cannot be deleted in one request.
    type: int
    default: 8
seealso:
  - module: shakenfist.storage.sf_artifact_info
'''

EXAMPLES = r'''
- name: Tear down a CI namespace after the pipeline, keeping its base images
  shakenfist.storage.sf_namespace_cleanup:
    target_namespace: "ci-{{ pipeline_id }}"
    keep:
      names: ['base-*']
      labelled: true
  module_defaults:
    group/shakenfist.storage.sf:
      api_url: https://sf.example.com/api
      namespace: system
      key: "{{ vault_sf_system_key }}"

- name: Preview what a cleanup would delete
  shakenfist.storage.sf_namespace_cleanup:
    target_namespace: ci
  check_mode: true
  register: preview

- name: Delete a tenant namespace and everything in it
  shakenfist.storage.sf_namespace_cleanup:
    namespace: system
    key: "{{ vault_sf_system_key }}"
    target_namespace: old-tenant
    delete_namespace: true
    missing_ok: true
'''

RETURN = r'''
deleted:
  description: What was deleted (in check mode, what would be), per kind, each with C(uuid) and C(name).
  returned: always
  type: dict
  contains:
    instances: {description: Instances., type: list, elements: dict}
    networks: {description: Networks., type: list, elements: dict}
    artifacts: {description: "Artifacts, with C(type) and C(ref).", type: list, elements: dict}
kept:
  description: What stays, each with C(kind), C(uuid), C(name) and the C(reason).
  returned: always
  type: list
  elements: dict
undeleted:
  description:
    - What could not be deleted, each with C(kind), C(uuid), C(name) and the C(reason). Empty unless the task
      failed; running the task again retries exactly these.
    - Called C(failed) before 0.2.0, a name that clashed with Ansible's own C(failed) and was dropped from a
      failed task's result.
  returned: always
  type: list
  elements: dict
timings:
  description: Seconds each kind took, deleting and waiting.
  returned: always
  type: dict
target_namespace:
  description: The namespace cleaned.
  returned: always
  type: str
actions:
  description:
    - What the task did, in order, in words. In check mode, what it would do, each starting with C(would).
    - On a failure, what was done before the step that failed.
  returned: always
  type: list
  elements: str
  sample: ["would move sf://label/ci/web -> sf://upload/ci/web-2 (blob 8c0e3b1a-..., version 4)"]
plan:
  description:
    - The steps of the task, in order, with what happened to each (notes about what needs no change included).
    - On a failure, the steps that ran, the one that failed and those that did not run.
  returned: always
  type: list
  elements: dict
  contains:
    step:
      description: The kind of step, for example V(upload), V(point_label), V(snapshot), V(delete_set) or V(note).
      type: str
    action:
      description: What the step does, or did.
      type: str
    status:
      description: V(planned) (check mode), V(done), V(unchanged), V(failed) or V(not run).
      type: str
  sample: [{step: point_label, action: "move sf://label/ci/web -> sf://upload/ci/web-2 (blob 8c0e3b1a-..., version 4)",
            status: done}]
api_requests:
  description: How many requests the task sent to the Shaken Fist API, and how many of them were writes.
  returned: success
  type: dict
  contains:
    total:
      description: Every request, reads and writes, retries included.
      type: int
    writes:
      description: The requests that may change something (all but C(GET) and C(HEAD)); always 0 in check mode.
      type: int
  sample: {total: 6, writes: 2}
error:
  description:
    - Why the task failed, as data, beside C(msg). Never a traceback, never a secret.
    - Not returned when Ansible itself refuses the options (a missing required option, say) before the module runs.
  returned: failure
  type: dict
  contains:
    type:
      description:
        - What kind of failure. V(invalid_input) (refused before any request), V(unauthenticated), V(forbidden),
          V(not_found), V(ambiguous_reference) (C(detail.candidates) lists them), V(conflict), V(not_ready),
          V(timeout), V(server_error), V(unsupported) (this server's version cannot do it), V(transport_error),
          V(missing_library), V(error) (an HTTP error no other type covers), V(internal_error) (a bug, please
          report it) or V(check_mode_write) (a bug too; a write check mode refused to send).
      type: str
    hint:
      description: What to do about it, when there is something to say.
      type: str
    status:
      description: The HTTP status of the answer that failed, or null.
      type: int
    method:
      description: The HTTP method of the request that failed, or null.
      type: str
    path:
      description: The API path of the request that failed, or null.
      type: str
    request_id:
      description: The server's request ID of that answer, when it sent one.
      type: str
    detail:
      description: More about the failure, for example the candidates of an ambiguous reference.
      type: raw
  sample:
    type: not_found
    hint: list what exists with shakenfist.storage.sf_artifact_info
    status: null
    method: null
    path: null
    request_id: null
    detail: {near: [sf://upload/ci/web-2026-11]}
log:
  description: The task's progress and the requests it sent, one line each, with every secret redacted.
  returned: at verbosity 3 (C(-vvv)) or more
  type: list
  elements: str
'''

from ansible_collections.shakenfist.storage.plugins.module_utils._cleanup import (  # noqa: E402
    Cleaner,
    CleanupRequest,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._module import SfModule  # noqa: E402


class SfNamespaceCleanup(SfModule):
    activity = 'clean namespace'
    argument_spec = CleanupRequest.argument_spec()

    def run(self) -> None:
        request = CleanupRequest.from_params(self.params)
        self.activity = f'clean namespace {request.target!r}'
        with Cleaner(self.api, self.resolver, request) as cleaner:
            self.apply(cleaner.plan())


def main() -> None:
    SfNamespaceCleanup()()


if __name__ == '__main__':
    main()
