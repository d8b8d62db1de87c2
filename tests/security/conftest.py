from tests.marketplace.conftest import (  # noqa: F401 - the brand fixtures, shared with these tests
    api_a,
    brand_a,
    brand_b,
    campaign_a,
    categories,
    creator,
    creators,
    token_a,
    token_client_a,
    user_a,
    user_b,
)
from tests.payouts.conftest import (  # noqa: F401 - the payouts fixtures, for the second-factor tests
    approved_run,
    approver,
    computed_run,
    csrf_client,
    second_approver,
)
