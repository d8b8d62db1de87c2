"""The brand marketplace: brands find creators, run campaigns, shortlist and invite them.

rules (who brands may see, who acts for a brand) · search (the creator query, its page statement and cursor) ·
matching · selectors (reads) · services (writes) · tokens · api/ (DRF) and pages/ (HTML), both over search."""
