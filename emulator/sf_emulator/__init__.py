"""A Shaken Fist REST API emulator: real HTTP, a real SQLite database and real bytes on disk."""

__version__ = '0.1.0'
