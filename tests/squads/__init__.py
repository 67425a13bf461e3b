"""Tests of the squads app: squads, memberships and chapters, and their admin."""
