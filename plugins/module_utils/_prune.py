# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Version hygiene for sf_image_publish's `prune_unused`: delete older versions nobody uses, say why each stays.

A version is kept when it is one of the newest `keep_newest` (counting the version this run adds), when an
instance's disk came from it, or when a label points at its blob; every other version is deleted, one step each.
Each step reads the versions again right before deleting, so an instance that started on the version since the
plan was made keeps it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List

from ._api import SfApi, newest_first
from ._confirm import version_gone
from ._models import Artifact, ArtifactVersion
from ._plan import Plan, Step
from ._words import named, verb


def label_pointers(api: SfApi) -> Dict[str, List[str]]:
    """blob UUID -> the labels (explicit refs) whose versions hold it, over every label the caller can see."""
    found: Dict[str, List[str]] = {}
    # A label that cannot be read fails the task before anything is deleted: it might point at a version.
    for label in api.index().labels(None):
        for version in api.artifact_versions(label.uuid):
            found.setdefault(version.uuid, []).append(label.ref)
    return found


def plan_prune(plan: Plan, api: SfApi, artifact: Artifact, versions: List[ArtifactVersion], keep_newest: int,
               adding: bool) -> List[Dict[str, Any]]:
    """Add one delete step per unused old version; returns the per-version report (kept or removed, and why)."""
    pointers = label_pointers(api)
    by_count = keep_newest - (1 if adding else 0)
    report: List[Dict[str, Any]] = []
    for position, version in enumerate(newest_first(versions)):
        entry: Dict[str, Any] = {'index': version.index, 'blob_uuid': version.uuid}
        if position < by_count:
            counted = ' (with the version this run adds)' if adding else ''
            newest = 'the newest version' if keep_newest == 1 else f'one of the newest {keep_newest}'
            entry.update(action='keep', reason=f'{newest}{counted}')
        elif version.instances:
            entry.update(action='keep', reason=f'used by {named("instance", sorted(version.instances))}')
        elif pointers.get(version.uuid):
            labels = sorted(pointers[version.uuid])
            entry.update(action='keep', reason=f'{named("label", labels)} {verb(len(labels), "points", "point")} at it')
        else:
            entry.update(action='remove', reason='no instance uses it and no label points at it')
            plan.add('prune', f'delete version {version.index} of {artifact.ref}: {entry["reason"]}',
                     _deleter(api, artifact, version.index, entry), version_gone(api, artifact.uuid, version.index))
        report.append(entry)
    for entry in report:
        if entry['action'] == 'keep':
            plan.note(f'keep version {entry["index"]} of {artifact.ref}: {entry["reason"]}', kind='keep')
    return report


def _deleter(api: SfApi, artifact: Artifact, index: int, entry: Dict[str, Any]) -> Callable[[Step], None]:
    def run(step: Step) -> None:
        now = [v for v in api.artifact_versions(artifact.uuid, refresh=True) if v.index == index]
        if not now:
            step.changed = False
            step.result = f'version {index} of {artifact.ref} was already gone'
            entry.update(action='gone', reason='deleted by someone else meanwhile')
            return
        if now[0].instances:
            step.changed = False
            entry.update(action='keep', reason=f'used by {named("instance", sorted(now[0].instances))} since the plan '
                                               'was made')
            step.result = f'keep version {index} of {artifact.ref}: {entry["reason"]}'
            return
        api.delete_version(artifact.uuid, index)
        entry['action'] = 'removed'

    return run
