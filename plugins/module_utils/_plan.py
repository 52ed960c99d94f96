# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan, then apply: the core every state-changing module is built on.

The domain code reads the cluster and builds a Plan: ordered steps, each with the words for `actions` and a
function that performs it, plus the before / predicted-after views for diff mode. Check mode returns the plan
without running a step; normal mode runs the steps in order and then reads the real after-state. A failing step
stops the plan, and the error carries what was done so far, so a partial failure reports exactly what happened.
No Ansible imports: the module adapter turns an Outcome into the task result through one report path.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._errors import SfError, SfUnexpected, outcome_unknown

PLANNED, DONE, UNCHANGED, FAILED, NOT_RUN = 'planned', 'done', 'unchanged', 'failed', 'not run'


@dataclass
class Step:
    """One thing a plan does. `text` is imperative ("upload 10 MiB as a new version of sf://upload/ci/web").

    `run(step)` performs it; it may set `step.result` to say what actually happened ("uploaded 10 MiB in 0.4s")
    and `step.changed = False` when it found the work already done (by a concurrent run, for example).
    A step without `run` is a note: it says something about the plan and changes nothing.
    """

    kind: str
    text: str
    run: Optional[Callable[[Step], Any]] = None
    changed: bool = True
    status: str = PLANNED
    result: Optional[str] = None
    # Reads the state again and says whether the step's change is in place: asked when `run` failed in a way that
    # leaves the outcome unknown (a timeout, a lost connection, a 5xx), so a write that did happen is not a failure.
    confirm: Optional[Callable[[], bool]] = None

    @property
    def is_note(self) -> bool:
        return self.run is None

    def as_dict(self) -> Dict[str, Any]:
        return {'step': self.kind, 'action': self.result or self.text, 'status': self.status}


@dataclass
class Plan:
    """What a task will do, in order, with the views diff mode compares."""

    before: Dict[str, Any] = field(default_factory=dict)
    after: Dict[str, Any] = field(default_factory=dict)
    result: Dict[str, Any] = field(default_factory=dict)
    steps: List[Step] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    # After the steps ran: re-read the cluster and return (after view, result fields). Not called in check mode.
    finish: Optional[Callable[[], Tuple[Dict[str, Any], Dict[str, Any]]]] = None
    # When a step fails: undo what the plan made that must not outlive it (an upload's bytes, say). Each is
    # called once, in order; its own errors are ignored, so one cleanup never hides the failure.
    on_failure: List[Callable[[], Any]] = field(default_factory=list)
    # When a step fails: the result fields that say what the steps that ran did (what is left, and why).
    partial: Optional[Callable[[], Dict[str, Any]]] = None

    def add(self, kind: str, text: str, run: Callable[[Step], Any],
            confirm: Optional[Callable[[], bool]] = None) -> Step:
        step = Step(kind, text, run, confirm=confirm)
        self.steps.append(step)
        return step

    def note(self, text: str, kind: str = 'note') -> Step:
        step = Step(kind, text, None, changed=False, status=UNCHANGED)
        self.steps.append(step)
        return step

    @property
    def changes(self) -> bool:
        return any(not step.is_note for step in self.steps)


@dataclass
class Outcome:
    """What a task did (or would do in check mode): the one shape every module reports."""

    changed: bool
    actions: List[str]
    plan: List[Dict[str, Any]]
    before: Dict[str, Any]
    after: Dict[str, Any]
    result: Dict[str, Any]
    warnings: List[str]


class PlanFailed(SfError):
    """A step failed: the original error, plus the outcome of the steps before it."""

    def __init__(self, error: SfError, outcome: Outcome) -> None:
        super().__init__(error.message, status=error.status, method=error.method, path=error.path,
                         request_id=error.request_id, detail=error.detail, hint=error.hint)
        self.kind = error.kind
        self.error = error
        self.outcome = outcome

    def __str__(self) -> str:
        return str(self.error)


def _actions(plan: Plan, check_mode: bool) -> List[str]:
    return [f'would {step.text}' if check_mode and not step.is_note else step.result or step.text
            for step in plan.steps if step.status not in (NOT_RUN, FAILED)]


def _outcome(plan: Plan, check_mode: bool, after: Dict[str, Any], result: Dict[str, Any]) -> Outcome:
    changed = plan.changes if check_mode else any(step.status == DONE and step.changed for step in plan.steps)
    return Outcome(changed=changed, actions=_actions(plan, check_mode), plan=[s.as_dict() for s in plan.steps],
                   before=plan.before, after=after, result=result, warnings=list(plan.warnings))


def _confirmed(step: Step, exc: Exception) -> bool:
    """After an unknown outcome, whether reading the state again shows the step's change in place."""
    if step.confirm is None or not outcome_unknown(exc):
        return False
    try:
        done = step.confirm()
    except SfError:
        return False
    if done:
        step.result = f'{step.result or step.text} (the answer was lost ({exc}), but reading again shows it done)'
    return done


def execute(plan: Plan, check_mode: bool) -> Outcome:
    """Return the plan in check mode; otherwise run its steps in order and read the real after-state."""
    if check_mode:
        return _outcome(plan, True, plan.after, plan.result)
    for position, step in enumerate(plan.steps):
        if step.run is None:
            continue
        try:
            step.run(step)
        except Exception as exc:  # every failure stops the plan and reports the steps that did run
            if _confirmed(step, exc):
                step.status = DONE if step.changed else UNCHANGED
                continue
            error = exc if isinstance(exc, SfError) else SfUnexpected.wrap(exc)
            step.status = FAILED
            step.result = f'{step.text}: failed'
            for later in plan.steps[position + 1:]:
                if not later.is_note:
                    later.status = NOT_RUN
            for cleanup in plan.on_failure:
                with contextlib.suppress(Exception):
                    cleanup()
            partial: Dict[str, Any] = {}
            if plan.partial is not None:
                with contextlib.suppress(Exception):
                    partial = plan.partial()
            raise PlanFailed(error, _outcome(plan, False, plan.before, partial)) from None
        step.status = DONE if step.changed else UNCHANGED
    after, result = plan.finish() if plan.finish else (plan.after, plan.result)
    return _outcome(plan, False, after, result)
