"""Campaigns: a project's models x inference grid points x benchmarks.

A campaign file (:class:`CampaignSpec`: a ProjectSpec, models with their
params or grids, benchmarks) expands into one ordinary Experiment per
(model, grid point, benchmark), each with its own run id, all stored in the
project's store. :class:`Campaign` runs them point by point, resumably, and
:func:`campaign_report` reads them back as a leaderboard with paired
comparisons against a baseline. ``themis campaign run|status|report`` is the
same from a shell.
"""

from themis.campaign.build import CampaignPoint, adapter_options
from themis.campaign.report import CampaignReport, campaign_report
from themis.campaign.run import Campaign, CampaignRunResult, PointOutcome, open_project_store
from themis.campaign.spec import (
    CampaignModelSpec,
    CampaignSpec,
    CatalogBenchmarkSpec,
    ComparisonSpec,
    CustomBenchmarkSpec,
    MetricSpec,
    ScoringSpec,
    load_campaign_spec,
)

__all__ = [
    "Campaign",
    "CampaignModelSpec",
    "CampaignPoint",
    "CampaignReport",
    "CampaignRunResult",
    "CampaignSpec",
    "CatalogBenchmarkSpec",
    "ComparisonSpec",
    "CustomBenchmarkSpec",
    "MetricSpec",
    "PointOutcome",
    "ScoringSpec",
    "adapter_options",
    "campaign_report",
    "load_campaign_spec",
    "open_project_store",
]
