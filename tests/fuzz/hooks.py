"""Loaded into schemathesis (scripts/lib.sh fuzz_api); it changes no request but one kind.

Every generated case reaches the API as schemathesis generated it, so that each of its positive and negative cases is
judged by positive_data_acceptance and negative_data_rejection. The one change: a study and site that are both valid
names become the study and site of the coordinator's grant (FUZZ_GRANT, `<study>/<site>`), in the body of
`POST /imports/{id}` and the query of `GET /imports`. A person may start and list imports only of the sites they hold
a grant for, and no token holds a grant for every name; a valid name stays valid, and an invalid one is left as it
is, so positive cases stay positive and negative ones negative. The requests schemathesis does not generate (a wrong
content type, a body above the size limit, deep nesting, duplicate members, unusual Unicode in each text field) are
separate, explicit cases with the answer each must get: test_special_cases.py.

With two workers, two operations' Hypothesis tests run in two threads at once, and both parse source code to describe
the strategies' lambdas. CPython 3.11's `ast.parse` is not safe to run in two threads at once (it raises "SystemError:
AST constructor recursion depth mismatch", python/cpython#106905); Hypothesis cannot replay that error, and
schemathesis counts an error it cannot replay as a pass: the operation's fuzzing ends after a few dozen of its cases,
silently. One parse at a time avoids it; fuzz_api also fails a run in which an operation got too few cases.
"""

import ast
import os
import re
import threading

import schemathesis

_parse = ast.parse
_parsing = threading.Lock()


def _parse_one_at_a_time(*args, **kwargs):
    with _parsing:
        return _parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_STUDY, _SITE = os.environ["FUZZ_GRANT"].split("/", 1)


def _granted(mapping, operation_label, wanted):
    if operation_label != wanted or not isinstance(mapping, dict):
        return mapping
    study, site = mapping.get("study"), mapping.get("site")
    if isinstance(study, str) and isinstance(site, str) and _NAME.fullmatch(study) and _NAME.fullmatch(site):
        return {**mapping, "study": _STUDY, "site": _SITE}
    return mapping


@schemathesis.hook
def before_call(context, case, kwargs):
    """On the case as it is sent, whichever phase built it (the coverage phase's cases skip the map hooks)."""
    label = f"{case.method.upper()} {case.path}"
    case.body = _granted(case.body, label, "POST /imports/{id}")
    case.query = _granted(case.query, label, "GET /imports")
