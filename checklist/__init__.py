"""The case workflow for OR teams: users and roles, cases, checklists, signatures, audit."""
