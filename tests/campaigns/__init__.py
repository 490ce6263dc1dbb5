"""Running a campaign: lifecycle, updates, groups, dashboard, exports."""
