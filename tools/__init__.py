"""Developer tooling, not shipped in the collection (galaxy.yml build_ignore); a package so tools.sfsupport imports."""
