"""Campaigns: petitions' lifecycle, supporter groups, updates to signers, statistics, exports."""
