# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  api_url:
    description:
      - Base URL of the Shaken Fist API, for example V(https://sf.example.com/api). No trailing slash needed.
      - When not set, taken from E(SHAKENFIST_API_URL), then the C(apiurl) key of C(~/.shakenfist),
        then of C(/etc/sf/shakenfist.json), the same sources as the official client.
    type: str
  namespace:
    description:
      - The namespace to authenticate as. Operations act in this namespace unless a module option says otherwise.
      - When not set, taken from E(SHAKENFIST_NAMESPACE), then C(~/.shakenfist), then C(/etc/sf/shakenfist.json).
    type: str
  key:
    description:
      - The key (secret) of O(namespace). Never logged or returned.
      - When not set, taken from E(SHAKENFIST_KEY), then C(~/.shakenfist), then C(/etc/sf/shakenfist.json).
    type: str
  validate_certs:
    description:
      - Verify the API's TLS certificate. Only set V(false) against a test cluster; the task then warns.
      - Applied to every request, so CA bundles named in the environment (E(REQUESTS_CA_BUNDLE),
        E(CURL_CA_BUNDLE)) never override it or O(ca_path).
      - When not set, taken from E(SHAKENFIST_VALIDATE_CERTS) (as the lookup does), then V(true).
    type: bool
    default: true
  ca_path:
    description:
      - A CA bundle file (or directory) to verify the API's certificate with, for clusters with a private CA.
        Also used for O(shakenfist.storage.sf_image_publish#module:fetch=controller) downloads.
      - When not set, the bundle named by E(REQUESTS_CA_BUNDLE), else E(CURL_CA_BUNDLE), on the host running the task
        is used, else the one that comes with C(requests).
      - A path that does not exist is an error before anything is sent.
      - When not set, taken from E(SHAKENFIST_CA_PATH) (as the lookup does); an empty value means none.
    type: path
  timeout:
    description:
      - Seconds to wait for any single HTTP answer. A read that times out is repeated; a write that times out
        is checked by reading the state again, never assumed to have failed.
    type: float
    default: 60
  retries:
    description:
      - How many times a request that failed for a transient reason (connection error, timeout of a read,
        HTTP 502/503/504) is repeated, with jittered exponential backoff. Requests whose repetition could change
        the outcome are never repeated blindly.
    type: int
    default: 5
  image_base_url:
    description:
      - The image mirror the cluster expands well-known shorthands such as V(debian:12) with
        (its C(IMAGE_DOWNLOAD_URL) setting). Only used to report the URL a shorthand means.
    type: str
    default: https://images.shakenfist.com/
requirements:
  - python >= 3.9
  - requests
  - pydantic >= 2
notes:
  - Modules run on the host that executes the task, usually C(localhost), so C(requests) and C(pydantic) must be
    installed there (they are listed in the collection's C(requirements.txt) for execution environments).
  - Set the connection once for every module of this collection with
    C(module_defaults) and the action group C(group/shakenfist.storage.sf).
'''

    # The lookup reads the same options from ansible.cfg, variables and the environment.
    PLUGINS = r'''
options:
  api_url:
    description:
      - Base URL of the Shaken Fist API. Falls back to C(~/.shakenfist), then C(/etc/sf/shakenfist.json).
    type: str
    env:
      - name: SHAKENFIST_API_URL
    ini:
      - section: shakenfist_storage
        key: api_url
    vars:
      - name: shakenfist_api_url
  namespace:
    description:
      - The namespace to authenticate as. Falls back to C(~/.shakenfist), then C(/etc/sf/shakenfist.json).
    type: str
    env:
      - name: SHAKENFIST_NAMESPACE
    ini:
      - section: shakenfist_storage
        key: namespace
    vars:
      - name: shakenfist_namespace
  key:
    description:
      - The key of O(namespace). Falls back to C(~/.shakenfist), then C(/etc/sf/shakenfist.json). Never logged.
    type: str
    env:
      - name: SHAKENFIST_KEY
    vars:
      - name: shakenfist_key
  validate_certs:
    description:
      - Verify the API's TLS certificate. V(false) warns. Applied to every request, so CA bundles named in the
        environment never override it or O(ca_path).
      - A boolean, or a template that renders to one (variables reach lookups unrendered).
    type: raw
    default: true
    env:
      - name: SHAKENFIST_VALIDATE_CERTS
    ini:
      - section: shakenfist_storage
        key: validate_certs
    vars:
      - name: shakenfist_validate_certs
  ca_path:
    description:
      - A CA bundle file (or directory) to verify the API's certificate with. A path that does not exist is an
        error before anything is sent.
      - When not set, the bundle named by E(REQUESTS_CA_BUNDLE), else E(CURL_CA_BUNDLE), on the controller is used,
        else the one that comes with C(requests).
    type: path
    env:
      - name: SHAKENFIST_CA_PATH
    ini:
      - section: shakenfist_storage
        key: ca_path
    vars:
      - name: shakenfist_ca_path
  timeout:
    description:
      - Seconds to wait for any single HTTP answer. A number, or a template that renders to one.
    type: raw
    default: 60
    ini:
      - section: shakenfist_storage
        key: timeout
    vars:
      - name: shakenfist_timeout
  retries:
    description:
      - Retries of transient failures, with jittered exponential backoff. A whole number, or a template that renders
        to one.
    type: raw
    default: 5
    ini:
      - section: shakenfist_storage
        key: retries
    vars:
      - name: shakenfist_retries
  image_base_url:
    description:
      - The image mirror the cluster expands well-known shorthands with.
    type: str
    default: https://images.shakenfist.com/
    ini:
      - section: shakenfist_storage
        key: image_base_url
    vars:
      - name: shakenfist_image_base_url
requirements:
  - requests
  - pydantic >= 2
'''

    # The inventory plugin reads the same settings from its YAML file, ansible.cfg and the environment (variables do
    # not exist yet when an inventory is parsed).
    INVENTORY = r'''
options:
  api_url:
    description:
      - Base URL of the Shaken Fist API, for example V(https://sf.example.com/api).
      - When not set, taken from E(SHAKENFIST_API_URL), then the C(apiurl) key of C(~/.shakenfist), then of
        C(/etc/sf/shakenfist.json), the same sources as the modules and the official client.
    type: str
    env:
      - name: SHAKENFIST_API_URL
    ini:
      - section: shakenfist_storage
        key: api_url
  namespace:
    description:
      - The namespace to authenticate as. Falls back to C(~/.shakenfist), then C(/etc/sf/shakenfist.json).
    type: str
    env:
      - name: SHAKENFIST_NAMESPACE
    ini:
      - section: shakenfist_storage
        key: namespace
  key:
    description:
      - The key of O(namespace). Falls back to C(~/.shakenfist), then C(/etc/sf/shakenfist.json). Never logged,
        never part of an error or of the cache key; prefer the environment (or an AWX credential) to the file.
    type: str
    env:
      - name: SHAKENFIST_KEY
  validate_certs:
    description:
      - Verify the API's TLS certificate. V(false) warns. Applied to every request, so CA bundles named in the
        environment never override it or O(ca_path).
    type: bool
    default: true
    env:
      - name: SHAKENFIST_VALIDATE_CERTS
    ini:
      - section: shakenfist_storage
        key: validate_certs
  ca_path:
    description:
      - A CA bundle file (or directory) to verify the API's certificate with. A path that does not exist is an
        error before anything is sent; an empty value means none.
      - When not set, the bundle named by E(REQUESTS_CA_BUNDLE), else E(CURL_CA_BUNDLE), is used, else the one that
        comes with C(requests).
    type: path
    env:
      - name: SHAKENFIST_CA_PATH
    ini:
      - section: shakenfist_storage
        key: ca_path
  timeout:
    description:
      - Seconds to wait for any single HTTP answer.
    type: float
    default: 60
    ini:
      - section: shakenfist_storage
        key: timeout
  retries:
    description:
      - Retries of transient failures, with jittered exponential backoff.
    type: int
    default: 5
    ini:
      - section: shakenfist_storage
        key: retries
requirements:
  - requests
  - pydantic >= 2
'''
