"""Repository discovery: GitHub organisations/users and GitLab groups as git targets (issue 16)."""
