"""Import this before nbformat or nbgrader: it keeps jsonschema from loading ``rfc3987_syntax``.

jsonschema's format checkers (nbformat, nbgrader and jupyter_events validate with them) import
``rfc3987_syntax`` when it is installed (jsonschema's ``format-nongpl`` extra, which
jupyter_events asks for), and that module builds about 38 Lark parsers when it is imported:
about 1 CPU second in every process that imports nbformat (python-jsonschema/jsonschema#1428).
They serve only the ``iri`` and ``iri-reference`` formats, which no notebook, nbgrader or
Jupyter event schema uses. With ``rfc3987_syntax`` marked missing here, jsonschema skips those
two checkers and validates everything else as before. ``course.py`` starts nbgrader's own
command lines through :data:`RUN_NBGRADER` for the same reason.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)      # None: "import rfc3987_syntax" fails

RUN_NBGRADER = ("import sys, runpy; sys.modules.setdefault('rfc3987_syntax', None); "
                "runpy.run_module('nbgrader', run_name='__main__', alter_sys=True)")
"""``python -c`` program that runs ``python -m nbgrader`` (its arguments follow) the same way."""
