"""EmailStore: the content database service of a multi-tenant cold-email platform."""
