"""Plugin tests load plugins as Ansible does, through the collection loader, which must be in place before anything
imports ansible_collections (pytest loads this file before it imports any test module below it)."""

from __future__ import annotations

from pathlib import Path

from ansible.plugins.loader import init_plugin_loader

init_plugin_loader([str(Path(__file__).resolve().parents[3] / '.tmp' / 'collections')])
