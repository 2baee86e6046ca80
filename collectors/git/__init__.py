"""The git collector: repositories, read at the default branch's HEAD, plus recent history."""
