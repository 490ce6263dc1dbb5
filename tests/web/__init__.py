"""The pages and the API over HTTP: what each audience sees."""
