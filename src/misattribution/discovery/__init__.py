"""Issue discovery: from judge feedback to ranked, quantified recurring issues (see :mod:`.report`).

``discover(source)`` is the entry point (:mod:`.pipeline`); :func:`load_judged` reads judged results of
any origin (:mod:`.inputs`).
"""

from misattribution.discovery.inputs import load_judged
from misattribution.discovery.pipeline import ClusterSettings, discover, discover_clusters, register_mode
from misattribution.discovery.report import Issue, IssueReport, compute_statistics, issue_id

__all__ = [
    "ClusterSettings",
    "Issue",
    "IssueReport",
    "compute_statistics",
    "discover",
    "discover_clusters",
    "issue_id",
    "load_judged",
    "register_mode",
]
