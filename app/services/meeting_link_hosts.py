"""Which hosts, paths and query parameters of each platform `meeting_links` trusts or ignores.

Data only: the word lists that the detector (`app.services.meeting_links` and its parts)
consults. Kept apart so the detector reads as logic and the lists can grow without touching it.
Every entry is lower-case; callers compare lower-cased host labels, path segments and parameter
names.
"""

from __future__ import annotations

from typing import Final

# --- Zoom ----------------------------------------------------------------------------------

# zoom.us and zoom.com (Zoom's newer domain, also for regional and vanity subdomains), Zoom
# for Government, and Zoom X (the Zoom service Deutsche Telekom sells in Germany). Not
# zoom.com.cn: Zoom's China service moved to local partners in 2022, so a link there is not
# one calbot sends a bot to.
ZOOM_DOMAINS: Final = frozenset({"zoom.us", "zoom.com", "zoomgov.com", "zoom-x.de"})

# Zoom's own sites that share the domain with meeting hosts (vanity and regional subdomains).
ZOOM_NON_MEETING_SUBDOMAINS: Final = frozenset(
    {
        "api",
        "applications",
        "blog",
        "community",
        "developers",
        "devforum",
        "events",
        "explore",
        "investors",
        "learning",
        "marketplace",
        "news",
        "status",
        "support",
    }
)

# `zak` is the host's start token (it lets whoever holds it start the meeting as the host):
# never part of a link calbot stores or hands to a bot.
ZOOM_DROPPED_PARAMS: Final = frozenset({"zak"})

# --- Microsoft Teams ----------------------------------------------------------------------

TEAMS_HOSTS: Final = frozenset(
    {
        "teams.microsoft.com",
        "teams.live.com",
        # US government clouds (GCC High, DoD).
        "teams.microsoft.us",
        "gov.teams.microsoft.us",
        "dod.teams.microsoft.us",
    }
)

# Paths of the Teams web client whose fragment routes to a meeting:
# `/v2/?meetingjoin=true#/l/meetup-join/...`, `/_#/meet/...`.
TEAMS_CLIENT_ROUTES: Final = frozenset({"", "/", "/_", "/v2", "/v2/"})

# Parameters only Teams' launcher page reads (how to open the client, telemetry ids); they are
# dropped so a meeting has one canonical URL however it was wrapped. The meeting's own
# parameters (`context`, `p`, a town hall's `btype` and `role`) are kept.
TEAMS_LAUNCHER_PARAMS: Final = frozenset(
    {
        "agent",
        "anon",
        "correlationid",
        "deeplinkid",
        "directdl",
        "enablemobilepage",
        "laentry",
        "launchagent",
        "meetingjoin",
        "mslaunch",
        "suppressprompt",
        "type",
        "version",
        "webjoin",
    }
)

# --- Webex ---------------------------------------------------------------------------------

WEBEX_NON_MEETING_SUBDOMAINS: Final = frozenset(
    {
        "apphub",
        "blog",
        "cart",
        "community",
        "developer",
        "help",
        "idbroker",
        "pricing",
        "settings",
        "signin",
        "status",
        "www",
    }
)

# --- GoTo Meeting --------------------------------------------------------------------------

GOTOMEETING_JOIN_HOSTS: Final = frozenset(
    {"global.gotomeeting.com", "gotomeeting.com", "www.gotomeeting.com"}
)
GOTOMEETING_APP_HOST: Final = "app.gotomeeting.com"
GOTO_APP_HOST: Final = "app.goto.com"
GOTO_ROOM_HOSTS: Final = frozenset({"meet.goto.com", "gotomeet.me"})
# GoTo's own pages that share the one-segment shape of room names.
GOTO_RESERVED_PATHS: Final = frozenset(
    {"download", "help", "install", "join", "login", "sign-in", "signin", "support"}
)

# --- BlueJeans -----------------------------------------------------------------------------

BLUEJEANS_NON_MEETING_SUBDOMAINS: Final = frozenset(
    {"blog", "community", "developer", "help", "status", "store", "support"}
)

# --- Whereby -------------------------------------------------------------------------------

WHEREBY_NON_MEETING_SUBDOMAINS: Final = frozenset(
    {"api", "blog", "careers", "developer", "developers", "docs", "help", "status", "support"}
)

# Whereby's own site pages, which share the one-segment shape of room names.
WHEREBY_RESERVED_PATHS: Final = frozenset(
    {
        "about",
        "account",
        "api",
        "blog",
        "business",
        "careers",
        "contact",
        "dashboard",
        "developers",
        "docs",
        "download",
        "downloads",
        "embedded",
        "features",
        "help",
        "hub",
        "information",
        "integrations",
        "legal",
        "log-in",
        "login",
        "my-rooms",
        "org",
        "partners",
        "press",
        "pricing",
        "privacy",
        "pro",
        "product",
        "products",
        "security",
        "settings",
        "sign-up",
        "signup",
        "solutions",
        "support",
        "terms",
        "use-cases",
        "user",
        "users",
    }
)

# `roomKey` turns a room link into its host link (host controls, no knocking): a credential,
# never part of a link calbot stores or hands to a bot.
WHEREBY_DROPPED_PARAMS: Final = frozenset({"roomkey"})

# --- all platforms -------------------------------------------------------------------------

# Hosts recognised even when written without a scheme ("zoom.us/j/123" in a location), with
# their subdomains.
BARE_HOSTS: Final = frozenset(
    {
        *ZOOM_DOMAINS,
        "meet.google.com",
        *TEAMS_HOSTS,
        "webex.com",
        "gotomeeting.com",
        "meet.goto.com",
        GOTO_APP_HOST,
        "gotomeet.me",
        "bluejeans.com",
        "whereby.com",
    }
)
