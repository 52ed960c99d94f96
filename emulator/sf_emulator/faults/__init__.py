"""What reliability tests use to break and watch the emulator: injected faults, crash points, the request log."""
