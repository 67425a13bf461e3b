"""Tests of the squads app: squads, memberships, chapters and their services."""
