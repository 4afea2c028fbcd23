"""Reaching people outside the calendar, through Graph: installing the Teams app for a worker
(a personal chat with the bot then exists) and the neutral e-mail of the urgent path."""

from __future__ import annotations

from urllib.parse import urlparse

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.user_scope_teams_app_installation import UserScopeTeamsAppInstallation
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from msgraph.generated.users.item.teamwork.installed_apps.installed_apps_request_builder import (
    InstalledAppsRequestBuilder,
)

from graph.client import GraphRole
from graph.provider import (
    URGENT_MAIL_BODY,
    URGENT_MAIL_SUBJECT,
    AppInstallation,
    CalendarError,
)


class MicrosoftReach(GraphRole):
    """The reach port (`graph.provider.Reach`) on a shared `GraphClient`."""

    async def install_app(self, user_id: str) -> AppInstallation:
        catalog_id = self.options.teams_app_catalog_id
        if not catalog_id:
            return AppInstallation.NOT_AVAILABLE
        binding = f"{self.options.base_url.rstrip('/')}/appCatalogs/teamsApps/{catalog_id}"
        body = UserScopeTeamsAppInstallation(additional_data={"teamsApp@odata.bind": binding})
        installed_apps = self.client.users.by_user_id(user_id).teamwork.installed_apps
        try:
            await self.graph.call(user_id, lambda: installed_apps.post(body), what="app.install")
        except CalendarError as err:
            if err.status == 409:  # Conflict: the app is installed for her already
                return AppInstallation.ALREADY_INSTALLED
            raise
        return AppInstallation.INSTALLED

    async def app_chat_id(self, user_id: str) -> str | None:
        catalog_id = self.options.teams_app_catalog_id
        if not catalog_id:
            return None
        installed_apps = self.client.users.by_user_id(user_id).teamwork.installed_apps
        query = InstalledAppsRequestBuilder.InstalledAppsRequestBuilderGetQueryParameters(
            expand=["teamsApp"], filter=f"teamsApp/id eq '{catalog_id}'"
        )
        found = await self.graph.call(
            user_id,
            lambda: installed_apps.get(request_configuration=RequestConfiguration(query_parameters=query)),
            what="app.installation",
        )
        installation = next((i for i in (found.value or []) if i.id), None) if found else None
        if installation is None or installation.id is None:
            return None
        chat_of = installed_apps.by_user_scope_teams_app_installation_id(installation.id).chat
        chat = await self.graph.call(user_id, lambda: chat_of.get(), what="app.chat")
        return chat.id if chat and chat.id else None

    async def send_urgent_mail(self, recipient: str, *, open_url: str) -> None:
        sender = self.options.notification_mailbox
        if not sender:
            raise CalendarError("mail_not_available", retryable=False)
        if urlparse(open_url).scheme != "https":
            raise ValueError("the link to open Teams must be an https address")
        body = SendMailPostRequestBody(
            message=Message(
                subject=URGENT_MAIL_SUBJECT,
                body=ItemBody(content_type=BodyType.Text, content=URGENT_MAIL_BODY.format(open_url=open_url)),
                to_recipients=[Recipient(email_address=EmailAddress(address=recipient))],
            ),
            save_to_sent_items=False,
        )
        send_mail = self.client.users.by_user_id(sender).send_mail
        await self.graph.call(sender, lambda: send_mail.post(body), what="mail.send")
