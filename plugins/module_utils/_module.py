# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ansible adapter for modules: shared argument spec, check mode, diff and the single error boundary."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ._api import SfApi
from ._client import SfClient, build_client
from ._config import INSECURE_WARNING
from ._errors import SfCheckModeWrite, SfError, SfInvalidInput, SfMissingLibrary, SfUnexpected
from ._plan import Outcome, Plan, PlanFailed, execute
from ._resolver import Resolver


def connection_argument_spec() -> Dict[str, Any]:
    """Connection options every module shares (documented in the shakenfist.storage.connection fragment)."""
    return {
        'api_url': {'type': 'str', 'fallback': (env_fallback, ['SHAKENFIST_API_URL'])},
        'namespace': {'type': 'str', 'fallback': (env_fallback, ['SHAKENFIST_NAMESPACE'])},
        'key': {'type': 'str', 'no_log': True, 'fallback': (env_fallback, ['SHAKENFIST_KEY'])},
        'validate_certs': {'type': 'bool', 'default': True, 'fallback': (env_fallback, ['SHAKENFIST_VALIDATE_CERTS'])},
        'ca_path': {'type': 'path', 'fallback': (env_fallback, ['SHAKENFIST_CA_PATH'])},
        'timeout': {'type': 'float', 'default': 60.0},
        'retries': {'type': 'int', 'default': 5},
        'image_base_url': {'type': 'str', 'default': 'https://images.shakenfist.com/'},
    }


def _finite_integer(value: Any) -> bool:
    try:
        return float(value) == int(float(value))
    except (OverflowError, TypeError, ValueError):
        return False


def redact_value(value: Any, redact: Callable[[str], str]) -> Any:
    """Redact every string inside a returned structure (a server may echo a token in a structured error)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item, redact) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item, redact) for item in value]
    return value


class SfModule:
    """Base of every module: subclasses set argument_spec / module_kwargs and implement run()."""

    argument_spec: Dict[str, Any] = {}
    module_kwargs: Dict[str, Any] = {}
    # Describes what the task does, for error messages such as "publish image 'x' failed: ...".
    activity = 'Shaken Fist request'
    # Info modules change nothing, so their results have no `actions` (documented in each module's RETURN).
    changes_state = True

    def __init__(self) -> None:
        spec = connection_argument_spec()
        spec.update(self.argument_spec)
        try:
            self.module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **self.module_kwargs)
        except OverflowError:
            self._refuse_infinite_numbers(spec)
        self.params: Dict[str, Any] = self.module.params
        self.check_mode: bool = self.module.check_mode
        self.result: Dict[str, Any] = {'changed': False, **({'actions': []} if self.changes_state else {})}
        self._log: List[str] = []
        self.client: Optional[SfClient] = None

    def _refuse_infinite_numbers(self, spec: Dict[str, Any]) -> None:
        """ansible-core's int conversion overflows on an infinite number (`.inf` in YAML) instead of reporting it:
        read the options again with the int ones taken as given, and fail cleanly naming the option."""
        lenient = {name: {**option, 'type': 'raw'} if option.get('type') == 'int' else option
                   for name, option in spec.items()}
        self.module = AnsibleModule(argument_spec=lenient, supports_check_mode=True, **self.module_kwargs)
        for name, option in spec.items():
            value = self.module.params.get(name)
            if option.get('type') == 'int' and value is not None and not _finite_integer(value):
                self.module.fail_json(msg=f'{self.activity} failed: option {name} must be a whole number, got '
                                          f'{value!r}', error=SfInvalidInput(f'option {name} is not finite').to_dict())
        self.module.fail_json(msg=f'{self.activity} failed: a number option is out of range',
                              error=SfInvalidInput('a number option is out of range').to_dict())

    # Helpers for subclasses
    def _require_client(self) -> SfClient:
        if self.client is None:
            raise RuntimeError('the client is built in __call__ before run()')
        return self.client

    @property
    def api(self) -> SfApi:
        return self._require_client().api

    @property
    def resolver(self) -> Resolver:
        return self._require_client().resolver

    def log(self, message: str) -> None:
        """Progress and request lines: shown in the result at -vvv, never containing secrets."""
        self._log.append(message)
        self.module.debug(message)

    def action(self, text: str, changed: bool = True) -> None:
        self.result.setdefault('actions', []).append(text)
        if changed:
            self.result['changed'] = True

    def warn(self, text: str) -> None:
        self.module.warn(self._redact(text))

    def apply(self, plan: Plan) -> None:
        """Check mode returns the plan; otherwise the plan runs. Either way the one report path sets the result."""
        self.report(execute(plan, self.check_mode))

    def report(self, outcome: Outcome) -> None:
        """The one report path: changed, actions, plan, diff, warnings and the result fields."""
        for warning in outcome.warnings:
            self.warn(warning)
        self.result['changed'] = self.result['changed'] or outcome.changed
        self.result['actions'] = self.result.get('actions', []) + outcome.actions
        self.result['plan'] = outcome.plan
        self.result.update(outcome.result)
        if self.module._diff:
            self.result['diff'] = {'before': outcome.before, 'after': outcome.after}

    def run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self) -> None:
        failure = self._attempt()
        # Failed outside the except blocks: ansible-core 2.18 adds the traceback of the exception being handled to
        # fail_json's result at -vvv.
        if failure is not None:
            self._fail(*failure)
        self._finish()

    def _attempt(self) -> Optional[Tuple[SfError, Optional[str]]]:
        """Run the module; the error to fail with (and a prefix for its message), or None."""
        try:
            self.client = build_client(
                self.params, log=self.log, read_only=self.check_mode, image_base_url=self.params.get('image_base_url'))
            if not self.client.settings.validate_certs:
                self.warn(INSECURE_WARNING)
            self.run()
        except SfMissingLibrary as exc:
            self.module.fail_json(msg=missing_required_lib(exc.library), exception=exc.import_error,
                                  error=exc.to_dict())
        except SfCheckModeWrite as exc:
            return exc, 'internal error: a write was attempted in check mode, nothing was sent'
        except PlanFailed as exc:
            self.report(exc.outcome)
            return exc, None
        except SfError as exc:
            return exc, None
        except Exception as exc:  # the last resort: never a traceback, never a secret
            return SfUnexpected.wrap(exc), None
        return None

    def _redact(self, text: str) -> str:
        return self.client.transport.redact(text) if self.client else text

    def _fail(self, exc: SfError, prefix: Optional[str] = None) -> None:
        message = f'{self.activity} failed: {exc}'
        if prefix:
            message = f'{prefix}: {message}'
        extra = {key: value for key, value in self.result.items() if key not in ('changed', 'failed', 'msg')}
        # Every string that leaves the module is redacted: a server may echo a token anywhere in an answer.
        self.module.fail_json(msg=self._redact(message), error=redact_value(exc.to_dict(), self._redact),
                              changed=self.result['changed'], **redact_value(extra, self._redact))

    def _finish(self) -> None:
        if self.module._verbosity >= 3 and self._log:
            self.result['log'] = [self._redact(line) for line in self._log]
        if self.client is not None:
            transport = self.client.transport
            self.result.setdefault('api_requests', {'total': transport.request_count, 'writes': transport.write_count})
        self.module.exit_json(**redact_value(self.result, self._redact))
