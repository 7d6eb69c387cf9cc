"""tools/mutate.py: a part of a group gets a scratch copy of its own, named by what it mutates."""

from __future__ import annotations

import pytest

from tools.mutate import GROUPS, narrowed


def test_modules_of_the_same_file_name_get_their_own_scratch_copy() -> None:
    group = GROUPS["diagnostics"]
    names = {narrowed("diagnostics", group, modules=[m], only=[], tests=[])[0]
             for m in ("sweepdoctor/diagnostics/_report.py", "sweepdoctor/diagnostics/hessian/_report.py",
                       "sweepdoctor/diagnostics/early/_rules.py", "sweepdoctor/diagnostics/_rules.py")}
    assert names == {"diagnostics.report", "diagnostics.hessian_report", "diagnostics.early_rules",
                     "diagnostics.rules"}


def test_the_part_keeps_the_groups_tests_unless_told_and_refuses_a_file_outside_it() -> None:
    group = GROUPS["where"]
    assert narrowed("where", group, modules=[], only=[], tests=[]) == ("where", group)
    name, part = narrowed("diagnostics", GROUPS["diagnostics"], modules=[], only=["sweepdoctor.x.*"],
                          tests=["tests/diagnostics/test_trust.py"])
    assert name == "diagnostics.sweepdoctor_x" and part.tests == ("tests/diagnostics/test_trust.py",)
    with pytest.raises(ValueError, match="matches no file of group 'where'"):
        narrowed("where", group, modules=["sweepdoctor/diagnostics/_report.py"], only=[], tests=[])
