"""Insight pages; included by ``portal.urls``."""

from django.urls import path

from portal.insights import cost_views, metrics, views

app_name = "insights"

urlpatterns = [
    path("squads/<slug:slug>/dashboard/", views.squad_dashboard, name="squad-dashboard"),
    path(
        "squads/<slug:slug>/dashboard/<slug:table>.csv", views.squad_dashboard_csv, name="squad-dashboard-csv"
    ),
    path("insights/", views.overview, name="overview"),
    path("insights/<slug:table>.csv", views.overview_csv, name="overview-csv"),
    path("insights/squads/", views.my_dashboards, name="my-dashboards"),
    path("insights/cost/", cost_views.cost, name="cost"),
    path("insights/cost/utilization/", cost_views.utilization, name="utilization"),
    path("insights/cost/<slug:table>.csv", cost_views.cost_csv, name="cost-csv"),
    path("insights/graph/", views.graph, name="graph"),
    path("insights/graph/<slug:slug>/", views.impact, name="impact"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # Until the REST API package (portal.api) lands; then they move under it.
]
