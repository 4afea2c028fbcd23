"""The Graph calendar of the urgent-path tests, against the local fake Graph."""

from __future__ import annotations

from graph.client import GraphOptions
from graph.credentials import CredentialKind, graph_credential
from graph.microsoft import MicrosoftCalendar
from tests.graph.conftest import CATALOG_ID, CLIENT_ID, NOTIFICATION_MAILBOX
from tests.graph.fake_graph import FakeGraph

APP_ID = "00000000-0000-0000-0000-0000000000f0"


def graph_calendar(graph: FakeGraph) -> MicrosoftCalendar:
    credential = graph_credential(
        CredentialKind.SECRET,
        tenant_id=graph.tenant,
        client_id=CLIENT_ID,
        authority_host=graph.base,
        secret="graph-secret",
        ca_bundle=graph.ca_bundle,
    )
    return MicrosoftCalendar(
        credential,
        GraphOptions(
            base_url=f"{graph.base}/v1.0",
            attempts=2,
            max_wait=0.5,
            teams_app_catalog_id=CATALOG_ID,
            notification_mailbox=NOTIFICATION_MAILBOX,
        ),
    )
