"""Every write of the creator portal: claim links, accounts, notifications, profile."""
