"""Reads a schemathesis run's reports (JSON and NDJSON) and fails unless the run tested what it was meant to.

schemathesis exits non-zero on a failed check; a run can also pass having tested little. This fails when:
- fewer than MIN_CASES cases ran in all;
- an operation's fuzzing phase ran fewer than 90% of MAX_EXAMPLES cases (a test Hypothesis ended early, e.g. on an
  error it could not replay, which schemathesis counts as a pass);
- positive_data_acceptance or negative_data_rejection did not run, or a submit operation had no accepted positive
  case (201) or no refused negative body (400 or 422) in the fuzzing phase;
- the stateful phase never followed a link that openapi.json declares, or never read a submission back through it.

    python check_report.py REPORT_DIR OPENAPI_JSON MAX_EXAMPLES MIN_CASES
"""

import collections
import glob
import json
import sys


def main(report_dir, openapi, max_examples, min_cases):
    report = json.load(open(glob.glob(f"{report_dir}/json-*.json")[0]))
    document = json.load(open(openapi))
    operations = {
        f"{method.upper()} {path}": spec for path, item in document["paths"].items() for method, spec in item.items()
    }
    labels_by_id = {spec["operationId"]: label for label, spec in operations.items()}
    declared_links = {
        f"{label} -> [{status}] {name} -> {labels_by_id[link['operationId']]}"
        for label, spec in operations.items()
        for status, answer in spec["responses"].items()
        for name, link in answer.get("links", {}).items()
    }

    cases = collections.Counter()  # (phase, operation, mode, status)
    checks = collections.Counter()  # (check, mode)
    links = collections.Counter()  # (link, status of the request it led to)
    for line in open(glob.glob(f"{report_dir}/ndjson-*.ndjson")[0]):
        finished = json.loads(line).get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        for case_id, node in (recorder.get("cases") or {}).items():
            case = node["value"]
            meta = case.get("meta") or {}
            mode = (meta.get("generation") or {}).get("mode")
            interaction = (recorder.get("interactions") or {}).get(case_id) or {}
            status = (interaction.get("response") or {}).get("status_code")
            label = f"{case['method']} {case['path']}"
            cases[(finished["phase"], label if label in operations else "other", mode, status)] += 1
            for check in (recorder.get("checks") or {}).get(case_id, []):
                checks[(check["name"], mode)] += 1
            transition = node.get("transition")
            if transition and node.get("is_transition_applied"):
                links[(transition["id"], status)] += 1

    def count(phase=None, operation=None, mode=None, statuses=None):
        return sum(
            n
            for (p, o, m, s), n in cases.items()
            if phase in (None, p) and operation in (None, o) and mode in (None, m) and (statuses is None or s in statuses)
        )

    print(f"{'phase':<9} {'operation':<36} {'cases':>6} {'positive':>9} {'negative':>9}  statuses")
    for phase, operation in sorted({(p, o) for p, o, _, _ in cases}):
        statuses = collections.Counter()
        for (p, o, _, s), n in cases.items():
            if (p, o) == (phase, operation):
                statuses[s] += n
        shown = " ".join(f"{s}:{n}" for s, n in sorted(statuses.items(), key=lambda item: str(item[0])))
        print(
            f"{phase:<9} {operation:<36} {count(phase, operation):>6} {count(phase, operation, 'positive'):>9} "
            f"{count(phase, operation, 'negative'):>9}  {shown}"
        )
    for link in sorted(declared_links):
        print(f"link {link}: followed {sum(n for (l, _), n in links.items() if l == link)} times")
    for name, mode in (("positive_data_acceptance", "positive"), ("negative_data_rejection", "negative")):
        print(f"{name}: ran on {checks[(name, mode)]} {mode} cases")

    generated = report["test_cases"]["generated"]
    print(f"schemathesis: {generated} cases, {report['test_cases']['with_failures']} with failures")
    problems = []
    if generated < min_cases:
        problems.append(f"only {generated} cases ran; at least {min_cases} are required")
    for label in operations:
        fuzzed = count("fuzzing", label)
        if fuzzed < 0.9 * max_examples:
            problems.append(f"the fuzzing phase ran {fuzzed} cases of {label}, fewer than 90% of {max_examples}")
    for name, mode in (("positive_data_acceptance", "positive"), ("negative_data_rejection", "negative")):
        if not checks[(name, mode)]:
            problems.append(f"{name} never ran on a {mode} case")
    for label, spec in operations.items():
        if "requestBody" not in spec:
            continue
        if not count("fuzzing", label, "positive", {201}):
            problems.append(f"no positive case of {label} was accepted (201) in the fuzzing phase")
        if not count("fuzzing", label, "negative", {400, 422}):
            problems.append(f"no negative case of {label} was refused for its body (400, 422) in the fuzzing phase")
    for link in declared_links:
        if not sum(n for (l, s), n in links.items() if l == link and s == 200):
            problems.append(f"the stateful phase never read a submission back through {link}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    directory, openapi, max_examples, min_cases = sys.argv[1:]
    sys.exit(main(directory, openapi, int(max_examples), int(min_cases)))
