from django.apps import AppConfig


class CreatorsConfig(AppConfig):
    name = "creators"
    verbose_name = "Creator portal"

    def ready(self) -> None:
        from creators import signals  # noqa: F401  (connects the notification receivers)
        from creators.selectors import user_acts_for_partner
        from partnerships.services.access import register_partner_actor_rule

        # A partner's own people may take the partner's own actions (withdraw, answer an invitation).
        register_partner_actor_rule(user_acts_for_partner)
