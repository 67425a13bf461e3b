"""Tests of the squads app: squads, memberships, chapters, their services and their admin."""
