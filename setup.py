"""The one compiled part of mlaudit: `collectors/git/_astwalk.c`, pyscan's AST walk in C.

Everything else is declared in pyproject.toml. The extension is optional: where it cannot be
built (no C compiler), the install goes on and pyscan walks in Python (same results, slower).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("mlaudit.collectors.git._astwalk", ["collectors/git/_astwalk.c"], optional=True)])
