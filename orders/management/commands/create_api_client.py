"""create_api_client NAME --scopes S1,S2 [--rotate]: issue an API key (docs/api.md).

The key is printed alone on the last line so a script can take it with `tail -n 1`; only its
digest is stored, so this is the one time anyone sees it.
"""

from django.core.management.base import CommandError

from orders.management.credentials import CredentialCommand
from orders.models import ApiClient


def parse_scopes(value):
    """Split "a,b" into a list of known scopes, in the order given and without repeats."""
    scopes = []
    for scope in (s.strip() for s in value.split(",")):
        if scope and scope not in scopes:
            scopes.append(scope)
    if not scopes:
        raise CommandError(f"--scopes names no scope. Valid scopes: {', '.join(ApiClient.Scope.values)}.")
    unknown = [s for s in scopes if s not in ApiClient.Scope.values]
    if unknown:
        raise CommandError(
            f"Unknown scope{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
            f"Valid scopes: {', '.join(ApiClient.Scope.values)}."
        )
    return scopes


class Command(CredentialCommand):
    help = "Create an API client and print its key on the last line (or, with --rotate, issue it a new key)."
    model = ApiClient
    noun = "API client"
    secret_word = "key"
    inactive_warning = "The client is inactive: the key works once it is made active."
    how_to_use = (
        "Send the key as 'Authorization: Bearer <key>'. It is shown only now and cannot be recovered; "
        "if it is lost, run this command again with --rotate. The key:"
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Unique name of the client, e.g. the calling system: erp, web-shop.")
        parser.add_argument(
            "--scopes",
            help=f"Comma-separated scopes. Valid: {', '.join(ApiClient.Scope.values)}. "
            "Required for a new client; with --rotate, replaces the client's scopes.",
        )
        self.add_rotate_argument(parser, "Issue a new key to an existing client; its old key stops working at once.")

    def handle(self, *args, name, scopes, rotate, **options):
        name = name.strip()
        if not name:
            raise CommandError("The client needs a name.")
        max_length = ApiClient._meta.get_field("name").max_length
        if len(name) > max_length:
            raise CommandError(f"The name is longer than {max_length} characters.")
        self.issue(name, rotate=rotate, scopes=parse_scopes(scopes) if scopes is not None else None)

    def create(self, name, *, scopes):
        if scopes is None:
            raise CommandError(
                f"--scopes is required for a new client. Valid scopes: {', '.join(ApiClient.Scope.values)}."
            )
        client = ApiClient(name=name, scopes=scopes)
        key = client.set_new_key()
        client.save(force_insert=True)
        return client, key

    def rotate(self, client, *, scopes):
        if scopes is not None:
            client.scopes = scopes
        key = client.set_new_key()
        client.save()
        return key

    def details(self, client):
        return [f"Scopes: {', '.join(client.scopes) or '(none)'}"]
