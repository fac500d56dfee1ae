"""armbrain perception package."""
