"""Issue discovery: from judge feedback to ranked, quantified recurring issues (see :mod:`.report`)."""

from misattribution.discovery.report import Issue, IssueReport, compute_statistics, issue_id

__all__ = ["Issue", "IssueReport", "compute_statistics", "issue_id"]
