"""End to end in headless Chromium."""
