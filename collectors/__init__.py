"""Evidence sources. Each collector module is imported only when its collector runs."""
