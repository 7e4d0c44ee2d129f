#!/usr/bin/env python3
"""Lints IAM policy documents with parliament (duo-labs, PyPI) and exits 1 on any finding.

Usage: check-iam-policies.py FILE_OR_DIR...   (every *.json below a directory)

parliament 1.6.4 is used through its Python API (its CLI refuses to run when
stdin is not a terminal, as in CI). Three corrections are applied, each narrow and
each for a documented gap in parliament, never to hide a real finding:

1. RESOURCE_MISMATCH: parliament demands that a statement match *every* resource
   type AWS lists for an action, but an action needs only one (upstream issue
   duo-labs/parliament#48, fix proposed in PR #208, unmerged). A RESOURCE_MISMATCH
   finding is dropped only when, for every action it names, one of the
   statement's resources matches one of that action's ARN formats under
   parliament's own `is_arn_match`. (That matcher, not the strict one, because
   Bedrock model ids contain a colon, `…-v1:0`, which AWS's ARN format allows.)
2. `aws:ViaAWSMCPService` is an AWS global condition key (Bool) newer than
   parliament's built-in table; it is registered as such before analysis.
3. A role trust policy has no Resource element by definition (IAM rejects one);
   parliament analyses identity policies, so its "neither Resource nor
   NotResource" finding is dropped for documents whose every statement names a
   Principal.
"""
import json
import sys
from pathlib import Path

import parliament
from parliament import analyze_policy_string, is_arn_match
from parliament import statement as parliament_statement

parliament_statement.GLOBAL_CONDITION_KEYS.setdefault("aws:ViaAWSMCPService", "Bool")


def statements(doc):
    s = doc.get("Statement", [])
    return s if isinstance(s, list) else [s]


def action_formats(action):
    """Every ARN format AWS lists for an action, from parliament's own database."""
    service, name = action.split(":", 1)
    info = parliament_statement.get_privilege_info(service, name)
    return [
        parliament_statement.get_arn_format(rt["resource_type"], info["service_resources"])
        for rt in info["resource_types"]
        if rt["resource_type"]
    ]


def is_false_resource_mismatch(finding, doc):
    actions = {d["action"] for d in (finding.detail or [])}
    for stmt in statements(doc):
        res = stmt.get("Resource", stmt.get("NotResource", []))
        res = res if isinstance(res, list) else [res]
        acts = stmt.get("Action", [])
        acts = {a.lower() for a in (acts if isinstance(acts, list) else [acts])}
        if not all(a.lower() in acts for a in actions):
            continue
        if all(any(is_arn_match("", fmt, r) for fmt in action_formats(a) for r in res) for a in actions):
            return True
    return False


def is_trust_policy(doc):
    return all("Principal" in s for s in statements(doc))


def check(path):
    text = path.read_text()
    doc = json.loads(text)
    policy = analyze_policy_string(json.dumps(doc, indent=2), filepath=str(path))
    kept = []
    for f in policy.findings:
        if f.issue == "RESOURCE_MISMATCH" and is_false_resource_mismatch(f, doc):
            continue
        if f.issue == "MALFORMED" and "neither Resource nor NotResource" in str(f.detail) and is_trust_policy(doc):
            continue
        kept.append(f)
    return kept


def main(args):
    files = []
    for a in args:
        p = Path(a)
        files.extend(sorted(p.rglob("*.json")) if p.is_dir() else [p])
    if not files:
        print("check-iam-policies: no policy files given", file=sys.stderr)
        return 2
    total = 0
    for f in files:
        findings = check(f)
        total += len(findings)
        for x in findings:
            print(f"{f}: {x.issue}: {x.detail}")
    print(f"check-iam-policies: {len(files)} policies, {total} findings (parliament {parliament.__version__})")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
