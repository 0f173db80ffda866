"""Loaded into schemathesis (scripts/lib.sh fuzz_api); it changes no request.

Every generated case reaches the API as schemathesis generated it, so that each of its positive and negative cases is
judged by positive_data_acceptance and negative_data_rejection. The requests schemathesis does not generate (a wrong
content type, a body above the size limit, deep nesting, duplicate members, unusual Unicode in each text field) are
separate, explicit cases with the answer each must get: test_special_cases.py.

With two workers, two operations' Hypothesis tests run in two threads at once, and both parse source code to describe
the strategies' lambdas. CPython 3.11's `ast.parse` is not safe to run in two threads at once (it raises "SystemError:
AST constructor recursion depth mismatch", python/cpython#106905); Hypothesis cannot replay that error, and
schemathesis counts an error it cannot replay as a pass: the operation's fuzzing ends after a few dozen of its cases,
silently. One parse at a time avoids it; fuzz_api also fails a run in which an operation got too few cases.
"""

import ast
import threading

_parse = ast.parse
_parsing = threading.Lock()


def _parse_one_at_a_time(*args, **kwargs):
    with _parsing:
        return _parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time
