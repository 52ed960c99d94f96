"""Support shared by the tests and the benchmarks (bench/): one Backend, the emulator or the real server.

It lives under tools/, which the collection does not ship (galaxy.yml build_ignore), so bench/ never imports tests/.
"""
