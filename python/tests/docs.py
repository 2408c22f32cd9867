"""The code blocks of docs/migration.md that the tests run as written.

A block is marked by a line ``<!-- tested: NAME -->`` right above its
opening fence; ``block(NAME)`` gives its text, dedented.  Every marker
must be used by a test and every name a test asks for must be marked
(``test_migration_docs.py`` checks both), so the page and the tests
cannot drift apart.
"""

import os
import re
import textwrap

from conftest import REPO

PATH = os.path.join(REPO, "docs", "migration.md")
MARKER = re.compile(r"^[ \t]*<!-- tested: ([a-z0-9-]+) -->\n[ \t]*```[a-z]*\n(.*?)^[ \t]*```",
                    re.M | re.S)


def text():
    with open(PATH, encoding="utf-8") as f:
        return f.read()


def blocks():
    """{name: code} for every marked block, in the page's order."""
    found = {}
    for m in MARKER.finditer(text()):
        assert m.group(1) not in found, "marker %s used twice" % m.group(1)
        found[m.group(1)] = textwrap.dedent(m.group(2))
    return found


def block(name):
    found = blocks()
    assert name in found, "docs/migration.md has no block marked %s" % name
    return found[name]
