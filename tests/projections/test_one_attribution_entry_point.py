"""The projection and the explanation decide through one domain entry point (issue 7, point 3)."""

from __future__ import annotations

import domain.member_attribution
import projections.attribution.batch as batch
import projections.attribution.explanation as explanation


def test_the_projection_and_the_explanation_attribute_through_one_entry_point() -> None:
    for caller in (batch, explanation):
        assert vars(caller)["attribute_recorded"] is domain.member_attribution.attribute_recorded
        assert "attribute_member" not in vars(caller)
