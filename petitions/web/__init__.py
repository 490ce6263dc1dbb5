"""The web layer: one blueprint per audience, with the forms, errors and headers they share."""
