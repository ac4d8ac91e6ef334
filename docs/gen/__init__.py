"""Generated parts of the docs: references read from the code and tables read from measured results.

A page asks for one with a marker line, `<!-- generated: NAME -->`; `docs/gen/hooks.py` (a mkdocs hook) replaces
it at build time, so no reference is ever typed in by hand and none can drift from the code.
"""
