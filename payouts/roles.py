"""Payout permissions of the groups that partnerships' migration creates."""

from core import roles

GROUP_PERMISSIONS: dict[str, list[str]] = {
    "Finance approvers": [
        "view_fund", "view_budgettranche", "view_programterms", "view_payoutrun", "approve_payoutrun",
        "pay_payoutrun", "compute_payoutrun", "view_earningline", "view_adjustment", "add_adjustment",
        "view_ledgeraccount", "view_ledgertransaction", "view_ledgerentry", "view_adrevenue", "view_video",
        "view_videodailyviews",
        # data in and out (migration 0004)
        "import_adrevenue", "export_adrevenue", "export_earningline",
        # four eyes on money inputs, and the money configuration (migration 0009)
        "approve_adjustment", "change_fund", "add_budgettranche", "change_budgettranche", "delete_budgettranche",
        "change_programterms",
        # payees (migration 0012): see them masked and confirm another person's change of bank details
        "view_payee", "confirm_payee",
        # payment batches and bank statements (migration 0014)
        "view_paymentbatch", "add_paymentbatch", "release_paymentbatch", "view_payment", "view_statementimport",
        "import_statement",
        # tax profiles and the treaty table (migration 0013): finance validates forms and keeps the treaty data
        "view_taxprofile", "add_taxprofile", "change_taxprofile", "export_tax_year", "view_treatyrate",
        "add_treatyrate", "change_treatyrate", "delete_treatyrate",
        # screening (migration 0015): finance sees the flags and the managers' decisions
        "view_screeningrules", "view_screeningflag",
        # forfeiting a line held by screening, for good (migration forfeiture): a money decision, finance's
        "view_forfeiture", "add_forfeiture",
        # large batches created by a compute worker (migration 0020): finance follows them
        "view_paymentbatchcreation",
    ],
    "Partnership managers": [
        "view_fund", "view_budgettranche", "view_programterms", "view_payoutrun", "view_earningline",
        "view_adjustment",
        # managers record a form as received; validating it needs partnerships.change_payout_readiness (finance)
        "view_taxprofile", "add_taxprofile", "change_taxprofile", "view_treatyrate",
        # screening (migration 0015): managers keep the rules and hold or clear flagged lines
        "view_screeningrules", "add_screeningrules", "change_screeningrules", "view_screeningflag",
        "review_screeningflag", "view_forfeiture",
    ],
}


# The people who keep partners' bank details (migration 0012): they read and change them in full, but a change they
# make is confirmed by a finance approver (confirm_payee), never by themselves.
GROUP_PERMISSIONS["Payee administrators"] = ["view_payee", "add_payee", "change_payee", "view_payee_details"]
PARTNERSHIPS_PERMISSIONS: dict[str, list[str]] = {"Payee administrators": ["view_partner"]}


def ensure_group_permissions() -> None:
    roles.ensure_groups("payouts", GROUP_PERMISSIONS)
    roles.ensure_groups("partnerships", PARTNERSHIPS_PERMISSIONS)
