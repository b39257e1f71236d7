"""Meeting-link detection on real-world-shaped Google Calendar events and invitation texts."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, cast
from urllib.parse import quote

import pytest

from app.domain import MeetingLink, Platform
from app.services.meeting_links import (
    canonical_meeting_link,
    detect_meeting_link,
    find_meeting_link,
)

MEET = Platform.GOOGLE_MEET
ZOOM = Platform.ZOOM
TEAMS = Platform.MICROSOFT_TEAMS
WEBEX = Platform.WEBEX
GOTO = Platform.GOTOMEETING
BLUEJEANS = Platform.BLUEJEANS
WHEREBY = Platform.WHEREBY


def link(url: str, platform: Platform) -> MeetingLink:
    return MeetingLink(url=url, platform=platform)


def safelink(inner: str, region: str = "nam02") -> str:
    """An Outlook Safe Link exactly as Defender for Office 365 rewrites one."""
    return (
        f"https://{region}.safelinks.protection.outlook.com/?url={quote(inner, safe='')}"
        "&data=05%7C02%7Cjane.doe%40example.com%7C5b1e0c3a9f2d4e6b8a7c08dc0d1e2f3a"
        "%7C72f988bf86f141af91ab2d7cd011db47%7C1%7C0%7C638672438102345678%7CUnknown"
        "%7CTWFpbGZsb3d8eyJWIjoiMC4wLjAwMDAiLCJQIjoiV2luMzIiLCJBTiI6Ik1haWwiLCJXVCI6Mn0%3D"
        "%7C0%7C%7C%7C&sdata=Xq4mT1bQy8u0L0%2BfZ3kH2x9sJq5Vv7n0aWcR1dE2fGk%3D&reserved=0"
    )


def google_redirect(inner: str, param: str = "q") -> str:
    """A google.com/url redirect as Google Calendar and Gmail write them."""
    return (
        f"https://www.google.com/url?{param}={quote(inner, safe='')}"
        "&sa=D&source=calendar&ust=1764086400000000&usg=AOvVaw2kXq8Zl1Jt3Yc4Vb5Nm6Q7"
    )


# --- fixtures of real-world shape ---------------------------------------------------------

ZOOM_PWD_URL = "https://us02web.zoom.us/j/81234567890?pwd=Tk9aVHhwQmRqUjFzQ2E3bE1hWkVtZz09.1"

TEAMS_THREAD_PATH = (
    "/l/meetup-join/19%3ameeting_ZjE0YTM2NjEtNmU3Zi00ZGQ0LWI3YjUtNTYxNmE5ZjA4NzQ5%40thread.v2/0"
)
TEAMS_CONTEXT = (
    "context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%2c%22Oid%22%3a"
    "%2213a0b9d2-6c1f-4b5e-9d31-0f3ab2d1c4e5%22%7d"
)
TEAMS_JOIN_URL = f"https://teams.microsoft.com{TEAMS_THREAD_PATH}?{TEAMS_CONTEXT}"

ZOOM_INVITATION = f"""Jane Doe is inviting you to a scheduled Zoom meeting.

Topic: Quarterly planning
Time: Nov 25, 2026 10:00 AM Pacific Time (US and Canada)

Join Zoom Meeting
{ZOOM_PWD_URL}

Meeting ID: 812 3456 7890
Passcode: 482913

---

One tap mobile
+16699006833,,81234567890#,,,,*482913# US (San Jose)
+13462487799,,81234567890#,,,,*482913# US (Houston)

---

Dial by your location
\u2022 +1 669 900 6833 US (San Jose)
\u2022 +1 346 248 7799 US (Houston)

Meeting ID: 812 3456 7890
Passcode: 482913

Find your local number: https://us02web.zoom.us/u/kbXyZ12AbC

---

Join by SIP
\u2022 81234567890@zoomcrc.com

Join by H.323
\u2022 162.255.37.11 (US West)
Meeting ID: 812 3456 7890
Passcode: 482913
"""

# Zoom's "copy invitation" when the meeting was scheduled from the local-number page first.
ZOOM_INVITATION_LOCAL_NUMBER_FIRST = """Find your local number: https://zoom.us/u/aeUxyz12
Help: https://support.zoom.us/hc/en-us/articles/201362193-Joining-a-Zoom-meeting
Join Zoom Meeting: https://zoom.us/j/91234567890?pwd=aGVsbG8tem9vbS1wd2Q.
Meeting ID: 912 3456 7890
"""

# What the Zoom for Google Workspace add-on writes into the description (HTML).
ZOOM_ADDON_DESCRIPTION_HTML = (
    "<br>\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500<br><br>"
    "Jane Doe is inviting you to a scheduled Zoom meeting.<br><br>"
    "Join Zoom Meeting<br>"
    '<a href="https://us02web.zoom.us/j/81234567890?pwd=Tk9aVHhwQmRqUjFzQ2E3bE1hWkVtZz09'
    '&amp;from=addon" target="_blank">https://us02web.zoom.us/j/81234567890?pwd='
    "Tk9aVHhwQmRqUjFzQ2E3bE1hWkVtZz09&amp;from=addon</a><br><br>"
    "Meeting ID: 812 3456 7890<br>Passcode: 482913<br><br>---<br><br>"
    "One tap mobile<br>+16699006833,,81234567890#,,,,*482913# US (San Jose)<br><br>---<br><br>"
    'Find your local number: <a href="https://us02web.zoom.us/u/kbXyZ12AbC">'
    "https://us02web.zoom.us/u/kbXyZ12AbC</a><br><br>\u2500\u2500\u2500\u2500\u2500\u2500"
)

# Outlook's HTML Teams invitation as it lands in Google Calendar: the "Need help?" aka.ms
# link comes first, the join link second, then dial-in and device links.
TEAMS_INVITATION_HTML = f"""<div><div style="margin-bottom:24px;overflow:hidden;white-space:nowrap;">________________________________________________________________________________</div>
<div class="me-email-text" lang="en-US" style="color:#242424;font-family:'Segoe UI','Helvetica Neue',Helvetica,Arial,sans-serif;">
<div style="margin-top:24px;margin-bottom:20px;"><span style="font-size:24px;color:#252424">Microsoft Teams</span> <a id="meet_invite_block.action.help" class="me-email-link" style="font-size:14px;text-decoration:underline;color:#5B5FC7;" href="https://aka.ms/JoinTeamsMeeting?omkt=en-US">Need help?</a></div>
<div style="margin-bottom:6px;"><a id="meet_invite_block.action.join_link" class="me-email-headline" style="font-size:20px;font-weight:600;text-decoration:underline;color:#5B5FC7;" href="{TEAMS_JOIN_URL}" target="_blank" rel="noreferrer noopener">Join the meeting now</a></div>
<div style="margin-bottom:6px;"><span class="me-email-text-secondary">Meeting ID: </span><span class="me-email-text">234 567 890 123</span></div>
<div style="margin-bottom:24px;"><span class="me-email-text-secondary">Passcode: </span><span class="me-email-text">aB3cD4</span></div>
<div style="margin-bottom:24px;max-width:532px;height:1px;background-color:#e0e0e0"></div>
<div style="margin-bottom:4px;"><span style="font-size:16px;font-weight:600">Dial in by phone</span></div>
<div style="margin-bottom:4px;"><a class="me-email-link" href="tel:+14255550123,,123456789#">+1 425-555-0123,,123456789#</a> <span>United States, Seattle</span></div>
<div style="margin-bottom:4px;"><a class="me-email-link" href="https://dialin.teams.microsoft.com/4a5c8b8e-1234-4c3b-9a1e-0b9e2f6d7c8a?id=123456789">Find a local number</a></div>
<div style="margin-bottom:24px;"><span class="me-email-text-secondary">Phone conference ID: </span><span class="me-email-text">123 456 789#</span></div>
<div style="margin-bottom:4px;"><span style="font-size:16px;font-weight:600">Join on a video conferencing device</span></div>
<div style="margin-bottom:4px;"><span class="me-email-text-secondary">Tenant key: </span><a class="me-email-link" href="mailto:teams@vc.example.com">teams@vc.example.com</a></div>
<div style="margin-bottom:4px;"><span class="me-email-text-secondary">Video ID: </span><span class="me-email-text">118 222 333 4</span></div>
<div style="margin-bottom:24px;"><a class="me-email-link" href="https://dialin.plcm.vc/teams/?key=teams@vc.example.com&amp;conf=1182223334">More info</a></div>
<div style="margin-bottom:24px;"><span>For organizers: </span><a class="me-email-link" href="https://teams.microsoft.com/meetingOptions/?organizerId=13a0b9d2-6c1f-4b5e-9d31-0f3ab2d1c4e5&amp;tenantId=72f988bf-86f1-41af-91ab-2d7cd011db47&amp;threadId=19_meeting_ZjE0YTM2NjEtNmU3Zi00ZGQ0LWI3YjUtNTYxNmE5ZjA4NzQ5@thread.v2&amp;messageId=0&amp;language=en-US">Meeting options</a> | <a class="me-email-link" href="https://dialin.teams.microsoft.com/usp/pstnconferencing">Reset dial-in PIN</a></div>
</div>
<div style="font-size:14px;margin-bottom:4px;">________________________________________________________________________________</div></div>"""  # noqa: E501

# The same invitation in Outlook's plain-text rendering: links follow their text in <...>.
TEAMS_INVITATION_TEXT = f"""\
________________________________________________________________________________
Microsoft Teams Need help?<https://aka.ms/JoinTeamsMeeting?omkt=en-US>
Join the meeting now<{TEAMS_JOIN_URL}>
Meeting ID: 234 567 890 123
Passcode: aB3cD4
________________________________
Dial in by phone
+1 425-555-0123,,123456789#<tel:+14255550123,,123456789#> United States, Seattle
Find a local number<https://dialin.teams.microsoft.com/4a5c8b8e?id=123456789>
Phone conference ID: 123 456 789#
Join on a video conferencing device
Tenant key: teams@vc.example.com
Video ID: 118 222 333 4
More info<https://dialin.plcm.vc/teams/?key=teams@vc.example.com&conf=1182223334>
For organizers: Meeting options<https://teams.microsoft.com/meetingOptions/?organizerId=13a0b9d2>
________________________________________________________________________________
"""

# A tenant with Defender Safe Links: every link of the plain-text invitation is wrapped.
TEAMS_INVITATION_SAFELINKS_TEXT = f"""Microsoft Teams Need help?<{safelink("https://aka.ms/JoinTeamsMeeting?omkt=en-US")}>
Join the meeting now<{safelink(TEAMS_JOIN_URL)}>
Meeting ID: 234 567 890 123
Passcode: aB3cD4
Find a local number<{safelink("https://dialin.teams.microsoft.com/4a5c8b8e?id=123456789")}>
"""

# Safe Links inside HTML hrefs, with `&` written as `&amp;` as HTML requires.
TEAMS_INVITATION_SAFELINKS_HTML = (
    '<div><a href="'
    + safelink("https://aka.ms/JoinTeamsMeeting?omkt=en-US", region="eur01").replace("&", "&amp;")
    + '">Need help?</a></div><div><a class="me-email-headline" href="'
    + safelink(TEAMS_JOIN_URL, region="eur01").replace("&", "&amp;")
    + '">Join the meeting now</a></div><div>Meeting ID: 234 567 890 123</div>'
)

# New-style Teams invitation (2024+) with the short /meet/ join link.
TEAMS_SHORT_INVITATION_HTML = (
    '<div>Microsoft Teams <a href="https://aka.ms/JoinTeamsMeeting?omkt=en-US">Need help?</a>'
    '</div><div><a href="https://teams.microsoft.com/meet/23456789012345?p=Ab3Cd4Ef5Gh6Ij">'
    "Join the meeting now</a></div><div>Meeting ID: 234 567 890 123 45</div>"
    "<div>Passcode: aB3cD4</div>"
)

WEBEX_INVITATION = """Hi,

Jane Doe is inviting you to this Webex meeting.

Join meeting
https://acme.webex.com/acme/j.php?MTID=m3f1e2d3c4b5a69788796a5b4c3d2e1f0

Meeting number (access code): 2550 123 4567
Meeting password: Sync2026!

Join by video system
Dial 25501234567@acme.webex.com
You can also dial 173.243.2.68 and enter your meeting number.

Join by phone
+1-415-655-0001 US Toll
Access code: 2550 123 4567

Need help? Go to https://help.webex.com
"""

WEBEX_PERSONAL_ROOM_INVITATION = """Join my Webex Personal Room:
https://acme.webex.com/meet/jane.doe

Meeting number (access code): 2551 987 6543
Can't join? https://help.webex.com/en-us/article/WBX000029055
"""

GOTOMEETING_INVITATION = """Weekly Sync
Tue, Nov 25, 2026 10:00 AM - 11:00 AM (PST)

Please join my meeting from your computer, tablet or smartphone.
https://meet.goto.com/123456789

You can also dial in using your phone.
(For supported devices, tap a one-touch number below to join instantly.)

United States: +1 (571) 317-3122
- One-touch: tel:+15713173122,,123456789#

Access Code: 123-456-789

New to GoTo Meeting? Get the app now and be ready when your first meeting starts:
https://meet.goto.com/install
"""

GOTOMEETING_CLASSIC_INVITATION = """Get the app now and be ready when your first meeting starts:
https://global.gotomeeting.com/install/123456789

Join from your computer, tablet or smartphone.
https://global.gotomeeting.com/join/123456789

Access Code: 123-456-789
Support: https://support.goto.com/meeting
"""

BLUEJEANS_INVITATION = """To join the Meeting:
https://bluejeans.com/123456789/4321?src=calendarLink

To join via Room System:
Video Conferencing System: bjn.vc -or-199.48.152.152
Meeting ID : 123456789
Participant Passcode: 4321

To join via phone :
1)  Dial:
\t+1.408.740.7256 (United States)
\t(see all numbers - https://www.bluejeans.com/premium-numbers)
2)  Enter Conference ID : 123456789
3)  Enter Participant Passcode: 4321
"""

WHEREBY_INVITATION = """Hi! Join the weekly sync on Whereby: https://acme.whereby.com/weekly-sync-7f3a2b
No download needed. About Whereby: https://whereby.com/information/about
"""

# Google Calendar HTML whose href goes through google.com/url and whose text is the link.
GOOGLE_WRAPPED_HTML = (
    'Join: <a href="'
    + google_redirect("https://zoom.us/j/91234567890?pwd=aGVsbG8").replace("&", "&amp;")
    + '" target="_blank">https://zoom.us/j/91234567890?pwd=aGVsbG8</a><br>'
)

MEET_CONFERENCE_DATA: dict[str, Any] = {
    "entryPoints": [
        {
            "entryPointType": "video",
            "uri": "https://meet.google.com/abc-defg-hij",
            "label": "meet.google.com/abc-defg-hij",
        },
        {
            "entryPointType": "more",
            "uri": "https://tel.meet/abc-defg-hij?pin=1234567890123",
            "pin": "1234567890123",
        },
        {
            "entryPointType": "phone",
            "uri": "tel:+1-929-555-0123",
            "label": "+1 929-555-0123",
            "pin": "123456789",
            "regionCode": "US",
        },
    ],
    "conferenceSolution": {
        "key": {"type": "hangoutsMeet"},
        "name": "Google Meet",
        "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png",
    },
    "conferenceId": "abc-defg-hij",
}

ZOOM_ADDON_CONFERENCE_DATA: dict[str, Any] = {
    "entryPoints": [
        {
            "entryPointType": "video",
            "uri": "https://us02web.zoom.us/j/81234567890?pwd=Tk9aVHhwQmRqUjFzQ2E3bE1hWkVtZz09",
            "label": "us02web.zoom.us/j/81234567890?pwd=Tk9aVHhwQmRqUjFzQ2E3bE1hWkVtZz09",
            "meetingCode": "81234567890",
            "passcode": "482913",
        },
        {
            "entryPointType": "phone",
            "uri": "tel:+16699006833,,81234567890#,,,,*482913#",
            "label": "+1 669-900-6833",
            "regionCode": "US",
            "passcode": "482913",
        },
        {
            "entryPointType": "sip",
            "uri": "sip:81234567890@zoomcrc.com",
            "label": "81234567890@zoomcrc.com",
            "passcode": "482913",
        },
        {"entryPointType": "more", "uri": "https://us02web.zoom.us/u/kbXyZ12AbC"},
    ],
    "conferenceSolution": {
        "key": {"type": "addOn"},
        "name": "Zoom Meeting",
        "iconUri": "https://lh3.googleusercontent.com/zoom-icon",
    },
    "conferenceId": "81234567890",
    "parameters": {
        "addOnParameters": {
            "parameters": {
                "meetingCreatedBy": "jane.doe@example.com",
                "meetingType": "2",
                "realMeetingId": "81234567890",
            }
        }
    },
}

PHONE_ONLY_CONFERENCE_DATA: dict[str, Any] = {
    "entryPoints": [
        {"entryPointType": "phone", "uri": "tel:+1-929-555-0123", "pin": "123456789"},
        {"entryPointType": "sip", "uri": "sip:123456789@meet.example.com"},
        {"entryPointType": "more", "uri": "https://meet.google.com/abc-defg-hij"},
    ],
    "conferenceSolution": {"key": {"type": "addOn"}, "name": "Dial-in bridge"},
}

TEAMS_EXPECTED = link(TEAMS_JOIN_URL, TEAMS)
ZOOM_ADDON_EXPECTED = link(
    "https://us02web.zoom.us/j/81234567890?pwd=Tk9aVHhwQmRqUjFzQ2E3bE1hWkVtZz09", ZOOM
)


# --- canonical_meeting_link ---------------------------------------------------------------

CANONICAL_CASES = [
    # Google Meet
    pytest.param(
        "https://meet.google.com/abc-defg-hij",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="meet-code",
    ),
    pytest.param(
        "https://meet.google.com/abc-defg-hij?authuser=1&hs=122&pli=1",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="meet-query-dropped",
    ),
    pytest.param(
        "HTTPS://MEET.GOOGLE.COM/ABC-DEFG-HIJ",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="meet-uppercase-code-and-host",
    ),
    pytest.param(
        "meet.google.com/abc-defg-hij",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="meet-without-scheme",
    ),
    pytest.param(
        "http://meet.google.com/abc-defg-hij/",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="meet-http-upgraded-trailing-slash",
    ),
    pytest.param(
        "https://meet.google.com/lookup/teamstandup",
        link("https://meet.google.com/lookup/teamstandup", MEET),
        id="meet-lookup-nickname",
    ),
    pytest.param("https://meet.google.com/", None, id="meet-root-rejected"),
    pytest.param("https://meet.google.com/new", None, id="meet-new-rejected"),
    pytest.param("https://meet.google.com/landing", None, id="meet-landing-rejected"),
    pytest.param("https://meet.google.com/abc-defg-hijk", None, id="meet-malformed-code"),
    pytest.param(
        "https://support.google.com/meet/answer/9302870", None, id="meet-support-page-rejected"
    ),
    # Zoom
    pytest.param(
        "https://zoom.us/j/1234567890", link("https://zoom.us/j/1234567890", ZOOM), id="zoom-j"
    ),
    pytest.param(ZOOM_PWD_URL, link(ZOOM_PWD_URL, ZOOM), id="zoom-pwd-kept"),
    pytest.param(
        "https://US02WEB.ZOOM.US/j/81234567890?pwd=AbCdEf",
        link("https://us02web.zoom.us/j/81234567890?pwd=AbCdEf", ZOOM),
        id="zoom-uppercase-host-pwd-case-kept",
    ),
    pytest.param(
        "http://zoom.us/j/1234567890", link("https://zoom.us/j/1234567890", ZOOM), id="zoom-http"
    ),
    pytest.param(
        "https://acme.zoom.us/my/jane.doe",
        link("https://acme.zoom.us/my/jane.doe", ZOOM),
        id="zoom-vanity-personal-link",
    ),
    pytest.param(
        "https://zoom.us/w/91234567890?tk=Xy12&uuid=WN_abc",
        link("https://zoom.us/w/91234567890?tk=Xy12&uuid=WN_abc", ZOOM),
        id="zoom-webinar",
    ),
    # The host's start link: without `zak` it asks the host to sign in, with it it is the
    # host's credential. Neither is something to send a bot to.
    pytest.param("https://zoom.us/s/1234567890", None, id="zoom-host-start-link-rejected"),
    pytest.param(
        "https://app.zoom.us/wc/join/1234567890",
        link("https://app.zoom.us/wc/join/1234567890", ZOOM),
        id="zoom-web-client-join",
    ),
    pytest.param(
        "https://app.zoom.us/wc/1234567890/join?fromPWA=1&pwd=abc",
        link("https://app.zoom.us/wc/1234567890/join?fromPWA=1&pwd=abc", ZOOM),
        id="zoom-web-client-id-join",
    ),
    pytest.param(
        "https://agency.zoomgov.com/j/1612345678?pwd=Z292",
        link("https://agency.zoomgov.com/j/1612345678?pwd=Z292", ZOOM),
        id="zoomgov",
    ),
    pytest.param(
        "https://zoom.us/j/1234567890?pwd=abc#success",
        link("https://zoom.us/j/1234567890?pwd=abc", ZOOM),
        id="zoom-fragment-dropped",
    ),
    pytest.param(
        "https://zoom.us/j/1234567890?utm_source=newsletter&pwd=abc&utm_medium=email",
        link("https://zoom.us/j/1234567890?pwd=abc", ZOOM),
        id="zoom-utm-dropped",
    ),
    pytest.param(
        "https://zoom.us:443/j/1234567890",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="zoom-default-port-dropped",
    ),
    pytest.param("https://zoom.us:8443/j/1234567890", None, id="zoom-odd-port-rejected"),
    pytest.param(
        "https://zoom.us/j/1234567890.",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="zoom-trailing-dot",
    ),
    pytest.param(
        "<https://zoom.us/j/1234567890>",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="zoom-angle-brackets",
    ),
    pytest.param(
        "  'https://zoom.us/j/1234567890'),;  ",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="zoom-quotes-and-punctuation",
    ),
    pytest.param(
        "https://zoom.us/j/1234567890&nbsp;",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="zoom-trailing-nbsp-entity",
    ),
    pytest.param(
        "https://zoom.us/j/1234567890\u200b",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="zoom-trailing-zero-width-space",
    ),
    pytest.param(
        "https://zoom.us/j/1234567890</a>",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="zoom-trailing-closing-tag",
    ),
    pytest.param(
        "https://zoom.us/j/1234567890?pwd=a1b2&amp;uname=Jane",
        link("https://zoom.us/j/1234567890?pwd=a1b2&uname=Jane", ZOOM),
        id="zoom-amp-entity-decoded",
    ),
    pytest.param(
        "https://zoom.us/j/1234567890?pwd=a1b2&reg=1",
        link("https://zoom.us/j/1234567890?pwd=a1b2&reg=1", ZOOM),
        id="zoom-semicolonless-entity-name-untouched",
    ),
    pytest.param("https://zoom.us/", None, id="zoom-root-rejected"),
    pytest.param("https://zoom.us/pricing", None, id="zoom-pricing-rejected"),
    pytest.param("https://zoom.us/support", None, id="zoom-support-path-rejected"),
    pytest.param(
        "https://support.zoom.us/hc/en-us/articles/201362193",
        None,
        id="zoom-support-site-rejected",
    ),
    pytest.param("https://support.zoom.us/j/1234567890", None, id="zoom-support-host-j-rejected"),
    pytest.param("https://zoom.us/download", None, id="zoom-download-rejected"),
    pytest.param(
        "https://us02web.zoom.us/u/kbXyZ12AbC", None, id="zoom-find-local-number-rejected"
    ),
    pytest.param(
        "https://zoom.us/meeting/register/tJ0qdu2rrjwoE9Rk", None, id="zoom-registration-rejected"
    ),
    pytest.param("https://zoom.us/j/123", None, id="zoom-id-too-short"),
    pytest.param("https://zoom.us.evil.example/j/1234567890", None, id="zoom-lookalike-suffix"),
    pytest.param("https://evilzoom.us/j/1234567890", None, id="zoom-lookalike-prefix"),
    pytest.param("https://zoom.us@evil.example/j/1234567890", None, id="userinfo-host-evil"),
    pytest.param("https://evil.example\\@zoom.us/j/1234567890", None, id="userinfo-backslash"),
    pytest.param("ftp://zoom.us/j/1234567890", None, id="ftp-scheme-rejected"),
    pytest.param("tel:+16699006833,,81234567890#", None, id="tel-rejected"),
    pytest.param("sip:81234567890@zoomcrc.com", None, id="sip-rejected"),
    pytest.param("javascript:alert('zoom.us/j/1234567890')", None, id="javascript-rejected"),
    # Microsoft Teams
    pytest.param(TEAMS_JOIN_URL, TEAMS_EXPECTED, id="teams-meetup-join-encoding-kept"),
    pytest.param(
        "https://teams.microsoft.com/meet/23456789012345?p=Ab3Cd4Ef5Gh6Ij",
        link("https://teams.microsoft.com/meet/23456789012345?p=Ab3Cd4Ef5Gh6Ij", TEAMS),
        id="teams-short-meet",
    ),
    pytest.param(
        "https://teams.live.com/meet/9876543210987?p=XyZ123abc",
        link("https://teams.live.com/meet/9876543210987?p=XyZ123abc", TEAMS),
        id="teams-live-meet",
    ),
    pytest.param(
        f"https://gov.teams.microsoft.us{TEAMS_THREAD_PATH}?{TEAMS_CONTEXT}",
        link(f"https://gov.teams.microsoft.us{TEAMS_THREAD_PATH}?{TEAMS_CONTEXT}", TEAMS),
        id="teams-gcc-high",
    ),
    pytest.param("https://aka.ms/JoinTeamsMeeting", None, id="teams-help-aka-ms-rejected"),
    pytest.param(
        "https://teams.microsoft.com/l/channel/19%3a4c5b%40thread.tacv2/General?groupId=9d1e",
        None,
        id="teams-channel-rejected",
    ),
    pytest.param(
        "https://teams.microsoft.com/l/chat/0/0?users=jane@example.com",
        None,
        id="teams-chat-rejected",
    ),
    pytest.param("https://teams.microsoft.com/downloads", None, id="teams-download-rejected"),
    pytest.param(
        "https://www.microsoft.com/en-us/microsoft-teams/download-app",
        None,
        id="teams-marketing-rejected",
    ),
    pytest.param(
        "https://teams.microsoft.com/meetingOptions/?organizerId=13a0&tenantId=72f9",
        None,
        id="teams-meeting-options-rejected",
    ),
    pytest.param(
        "https://dialin.teams.microsoft.com/usp/pstnconferencing",
        None,
        id="teams-dialin-rejected",
    ),
    # Webex
    pytest.param(
        "https://acme.webex.com/meet/jane.doe",
        link("https://acme.webex.com/meet/jane.doe", WEBEX),
        id="webex-personal-room",
    ),
    pytest.param(
        "https://acme.my.webex.com/join/jdoe",
        link("https://acme.my.webex.com/join/jdoe", WEBEX),
        id="webex-join-name",
    ),
    pytest.param(
        "https://acme.webex.com/acme/j.php?MTID=m3f1e2d3c4b5a69788796a5b4c3d2e1f0",
        link("https://acme.webex.com/acme/j.php?MTID=m3f1e2d3c4b5a69788796a5b4c3d2e1f0", WEBEX),
        id="webex-j-php",
    ),
    pytest.param(
        "https://acme.webex.com/acme/e.php?MTID=mabc123&RGID=r1f2",
        link("https://acme.webex.com/acme/e.php?MTID=mabc123&RGID=r1f2", WEBEX),
        id="webex-events-e-php",
    ),
    pytest.param(
        "https://acme.webex.com/wbxmjs/joinservice/sites/acme/meeting/download/3f1e2d3c?siteurl=acme",
        link(
            "https://acme.webex.com/wbxmjs/joinservice/sites/acme/meeting/download/3f1e2d3c?siteurl=acme",
            WEBEX,
        ),
        id="webex-joinservice",
    ),
    pytest.param("https://acme.webex.com/acme/j.php", None, id="webex-j-php-without-mtid"),
    pytest.param("https://www.webex.com/", None, id="webex-marketing-root-rejected"),
    pytest.param("https://www.webex.com/meet/pricing", None, id="webex-www-rejected"),
    pytest.param(
        "https://help.webex.com/en-us/article/nul0wut/Join-a-Webex-meeting",
        None,
        id="webex-help-rejected",
    ),
    pytest.param("https://webex.com/meet/jdoe", None, id="webex-without-site-rejected"),
    # GoTo Meeting
    pytest.param(
        "https://global.gotomeeting.com/join/123456789",
        link("https://global.gotomeeting.com/join/123456789", GOTO),
        id="gotomeeting-global-join",
    ),
    pytest.param(
        "https://meet.goto.com/123456789",
        link("https://meet.goto.com/123456789", GOTO),
        id="goto-meet-digits",
    ),
    pytest.param(
        "https://meet.goto.com/JaneDoe",
        link("https://meet.goto.com/JaneDoe", GOTO),
        id="goto-meet-room-name",
    ),
    pytest.param(
        "https://gotomeet.me/JaneDoe",
        link("https://gotomeet.me/JaneDoe", GOTO),
        id="gotomeet-me",
    ),
    pytest.param(
        "https://app.gotomeeting.com/index.html?meetingId=123456789",
        link("https://app.gotomeeting.com/?meetingId=123456789", GOTO),
        id="gotomeeting-app-meeting-id",
    ),
    pytest.param("https://app.gotomeeting.com/", None, id="gotomeeting-app-without-id"),
    pytest.param("https://meet.goto.com/install", None, id="goto-install-rejected"),
    pytest.param(
        "https://global.gotomeeting.com/install/123456789", None, id="gotomeeting-install-rejected"
    ),
    pytest.param("https://support.goto.com/meeting", None, id="goto-support-rejected"),
    # BlueJeans
    pytest.param(
        "https://bluejeans.com/123456789",
        link("https://bluejeans.com/123456789", BLUEJEANS),
        id="bluejeans-id",
    ),
    pytest.param(
        "https://bluejeans.com/123456789/4321",
        link("https://bluejeans.com/123456789/4321", BLUEJEANS),
        id="bluejeans-id-passcode",
    ),
    pytest.param(
        "https://acme.bluejeans.com/123456789",
        link("https://acme.bluejeans.com/123456789", BLUEJEANS),
        id="bluejeans-subdomain",
    ),
    pytest.param("https://bluejeans.com/", None, id="bluejeans-root-rejected"),
    pytest.param(
        "https://support.bluejeans.com/s/article/Joining-a-meeting",
        None,
        id="bluejeans-support-rejected",
    ),
    pytest.param(
        "https://www.bluejeans.com/premium-numbers", None, id="bluejeans-numbers-rejected"
    ),
    # Whereby
    pytest.param(
        "https://whereby.com/acme-standup",
        link("https://whereby.com/acme-standup", WHEREBY),
        id="whereby-room",
    ),
    pytest.param(
        "https://acme.whereby.com/weekly-sync-7f3a2b",
        link("https://acme.whereby.com/weekly-sync-7f3a2b", WHEREBY),
        id="whereby-subdomain-room",
    ),
    pytest.param("https://whereby.com/", None, id="whereby-root-rejected"),
    pytest.param("https://whereby.com/information/tos", None, id="whereby-information-rejected"),
    pytest.param("https://whereby.com/pricing", None, id="whereby-pricing-rejected"),
    pytest.param("https://whereby.com/user", None, id="whereby-user-page-rejected"),
    # Wrappers
    pytest.param(safelink(TEAMS_JOIN_URL), TEAMS_EXPECTED, id="safelinks-teams"),
    pytest.param(
        safelink(ZOOM_PWD_URL, region="eur01"), link(ZOOM_PWD_URL, ZOOM), id="safelinks-eur01-zoom"
    ),
    pytest.param(
        safelink(TEAMS_JOIN_URL).replace("&", "&amp;"),
        TEAMS_EXPECTED,
        id="safelinks-html-escaped",
    ),
    pytest.param(
        google_redirect("https://zoom.us/j/1234567890?pwd=abc"),
        link("https://zoom.us/j/1234567890?pwd=abc", ZOOM),
        id="google-redirect-q",
    ),
    pytest.param(
        google_redirect("https://meet.google.com/abc-defg-hij", param="url"),
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="google-redirect-url-param",
    ),
    pytest.param(
        "https://www.google.com/url?q=https://us02web.zoom.us/j/81234567890?pwd%3DaBcDeF123"
        "&sa=D&source=calendar&usg=AOvVaw0abc",
        link("https://us02web.zoom.us/j/81234567890?pwd=aBcDeF123", ZOOM),
        id="google-redirect-partially-encoded",
    ),
    pytest.param(
        safelink(google_redirect(TEAMS_JOIN_URL)), TEAMS_EXPECTED, id="safelink-around-redirect"
    ),
    pytest.param(
        safelink("https://aka.ms/JoinTeamsMeeting?omkt=en-US"),
        None,
        id="safelinks-help-link-rejected",
    ),
    pytest.param(
        google_redirect("https://evil.example/zoom.us/j/1234567890"),
        None,
        id="google-redirect-to-unknown-host",
    ),
    pytest.param(
        "https://www.google.com/url?sa=D&source=calendar", None, id="google-redirect-no-target"
    ),
    pytest.param(
        "https://www.google.com/search?q=https://zoom.us/j/1234567890",
        None,
        id="google-search-not-a-wrapper",
    ),
    # Not URLs at all
    pytest.param("", None, id="empty"),
    pytest.param("   ", None, id="blank"),
    pytest.param("zoom", None, id="bare-word"),
    pytest.param("Join at https://zoom.us/j/1234567890", None, id="sentence-not-a-url"),
]


# --- link shapes from other projects' detection suites -------------------------------------
# Each group names the file the shape was seen in. The shapes (hosts, paths, parameters) are
# facts about the platforms; the cases and the decisions are calbot's own.

TEAMS_LAUNCHER_SUFFIX = (
    "&deeplinkId=5044eb28-9d33-4309-bf23-3aa618a9e6b0&directDl=true&msLaunch=true"
    "&enableMobilePage=true&suppressPrompt=true"
)


def teams_coords(**meeting: str) -> str:
    """Teams' `light-meetings/launch` coords: unpadded base64 of the meeting's ids as JSON."""
    return base64.b64encode(json.dumps(meeting).encode()).decode().rstrip("=")


LIGHT_MEETING_COORDS = teams_coords(
    conversationId="19:meeting_ZjE0YTM2NjEtNmU3Zi00ZGQ0@thread.v2",
    tenantId="72f988bf-86f1-41af-91ab-2d7cd011db47",
    organizerId="13a0b9d2-6c1f-4b5e-9d31-0f3ab2d1c4e5",
    messageId="0",
)

WILD_URL_CASES = [
    # attendee-labs/attendee bots/tests/test_meeting_url_utils.py (and bots/meeting_url_utils.py)
    pytest.param(
        "https://zoom.com/j/123456789",
        link("https://zoom.com/j/123456789", ZOOM),
        id="attendee-zoom-com",
    ),
    pytest.param(
        "https://us02web.zoom.com/j/123456789",
        link("https://us02web.zoom.com/j/123456789", ZOOM),
        id="attendee-zoom-com-regional-subdomain",
    ),
    pytest.param(
        "https://zoom.com/w/123456789?pwd=AbC9xYpQ2LmN7RkT5sVuH4ZbJe1DfG.1"
        "&tk=ZkPqN8f2LrS4XyT6wVaE9mHuCdJg5QbA1sDoRtUvWxY.DQkAAAAATESTTOKEN",
        link(
            "https://zoom.com/w/123456789?pwd=AbC9xYpQ2LmN7RkT5sVuH4ZbJe1DfG.1"
            "&tk=ZkPqN8f2LrS4XyT6wVaE9mHuCdJg5QbA1sDoRtUvWxY.DQkAAAAATESTTOKEN",
            ZOOM,
        ),
        id="attendee-zoom-com-webinar-registrant-token-kept",
    ),
    pytest.param("https://zoom.com/j/test", None, id="attendee-zoom-com-non-numeric-id"),
    pytest.param("https://zoom.us/j/test", None, id="attendee-zoom-non-numeric-id"),
    pytest.param(
        "https://teams.live.com/meet/9876543210?p=abc>",
        link("https://teams.live.com/meet/9876543210?p=abc", TEAMS),
        id="attendee-teams-live-trailing-caret",
    ),
    pytest.param(
        "https://teams.microsoft.com/meet/9876543210?p=qHDqtvFSfIg1rT",
        link("https://teams.microsoft.com/meet/9876543210?p=qHDqtvFSfIg1rT", TEAMS),
        id="attendee-teams-enterprise-meet",
    ),
    pytest.param(
        "https://teams.microsoft.com/dl/launcher/launcher.html?url=/_#/l/meetup-join/"
        "19:meeting_NDQ3Y2Q1NDEtY2I5Ni00MzEy@thread.v2/0?context=%7b%22Tid%22%3a%22b00367e2"
        "%22%2c%22Oid%22%3a%2266666666%22%7d&anon=true&type=meetup-join" + TEAMS_LAUNCHER_SUFFIX,
        link(
            "https://teams.microsoft.com/l/meetup-join/19:meeting_NDQ3Y2Q1NDEtY2I5Ni00MzEy"
            "@thread.v2/0?context=%7b%22Tid%22%3a%22b00367e2%22%2c%22Oid%22%3a%2266666666%22%7d",
            TEAMS,
        ),
        id="attendee-teams-launcher-raw-fragment",
    ),
    pytest.param(
        "https://teams.microsoft.com/light-meetings/launch?agent=web&version=25072001100"
        f"&coords={LIGHT_MEETING_COORDS}%3D&deeplinkId=0ac0a241&correlationId=11111111",
        link(
            "https://teams.microsoft.com/l/meetup-join/19%3Ameeting_ZjE0YTM2NjEtNmU3Zi00ZGQ0"
            "%40thread.v2/0?context=%7B%22Tid%22%3A%2272f988bf-86f1-41af-91ab-2d7cd011db47%22"
            "%2C%22Oid%22%3A%2213a0b9d2-6c1f-4b5e-9d31-0f3ab2d1c4e5%22%7D",
            TEAMS,
        ),
        id="attendee-teams-light-meetings-coords",
    ),
    pytest.param(
        "https://teams.microsoft.com/light-meetings/launch?coords="
        + teams_coords(conversationId="19:meeting_X@thread.v2", tenantId="72f988bf"),
        None,
        id="attendee-teams-light-meetings-without-organizer",
    ),
    pytest.param(
        "https://teams.microsoft.com/light-meetings/launch?coords="
        + teams_coords(
            conversationId="https://evil.example/", tenantId="72f988bf", organizerId="13a0b9d2"
        ),
        None,
        id="teams-light-meetings-foreign-conversation-id",
    ),
    pytest.param(
        "https://teams.microsoft.com/light-meetings/launch?coords=bm90IGpzb24",
        None,
        id="teams-light-meetings-coords-not-json",
    ),
    pytest.param(
        "https://teams.microsoft.com/light-meetings/launch?coords=" + "W" * 4096,
        None,
        id="teams-light-meetings-coords-too-long",
    ),
    # Vexa-ai/vexa services/mcp/test_parse_meeting_url.py
    pytest.param(
        "https://meet.google.com/abc-defg-hij?authuser=0&hs=pCv",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="vexa-meet-authuser-hs-dropped",
    ),
    # Vexa accepts a bare Workspace nickname; calbot keeps to codes and /lookup/ links, since
    # any one-segment path would also match Meet's own pages.
    pytest.param("https://meet.google.com/our-team-standup", None, id="vexa-meet-bare-nickname"),
    pytest.param(
        "https://meet.google.com/lookup/c2dhdn5hqs?authuser=1",
        link("https://meet.google.com/lookup/c2dhdn5hqs", MEET),
        id="vexa-meet-lookup-query-dropped",
    ),
    pytest.param(
        "https://teams.microsoft.com/v2/?meetingjoin=true#/meet/33749853217630"
        "?p=em7xplMpIFquiFGvn8&anon=true&deeplinkId=c34d42b3",
        link("https://teams.microsoft.com/meet/33749853217630?p=em7xplMpIFquiFGvn8", TEAMS),
        id="vexa-teams-v2-deep-link-meet",
    ),
    pytest.param(
        "https://teams.microsoft.com/v2/?meetingjoin=true#/meet/33749853217630",
        link("https://teams.microsoft.com/meet/33749853217630", TEAMS),
        id="vexa-teams-v2-deep-link-without-passcode",
    ),
    pytest.param(
        "https://teams.microsoft.com/dl/launcher/launcher.html"
        "?url=%2F_%23%2Fmeet%2F33122884984323%3Fp%3DJ3o61K6vtz0f8RqKru%26anon%3Dtrue"
        "&type=meet" + TEAMS_LAUNCHER_SUFFIX,
        link("https://teams.microsoft.com/meet/33122884984323?p=J3o61K6vtz0f8RqKru", TEAMS),
        id="vexa-teams-launcher-encoded-meet",
    ),
    pytest.param(
        "https://gov.teams.microsoft.us/meet/12345678901234",
        link("https://gov.teams.microsoft.us/meet/12345678901234", TEAMS),
        id="vexa-teams-gcc-meet",
    ),
    pytest.param(
        "https://dod.teams.microsoft.us/meet/12345678901234",
        link("https://dod.teams.microsoft.us/meet/12345678901234", TEAMS),
        id="vexa-teams-dod-meet",
    ),
    pytest.param(
        "https://teams.microsoft.com/l/meetup-join/"
        "19%3Ameeting_MjM2NzczMmEtMmRiNi00MGNh%40thread.skype"
        "/0?context=%7B%22Tid%22%3A%22d0880d3f-e6d1-4a41-9e81-b8fbcddf7b6c%22%7D",
        link(
            "https://teams.microsoft.com/l/meetup-join/"
            "19%3Ameeting_MjM2NzczMmEtMmRiNi00MGNh%40thread.skype"
            "/0?context=%7B%22Tid%22%3A%22d0880d3f-e6d1-4a41-9e81-b8fbcddf7b6c%22%7D",
            TEAMS,
        ),
        id="vexa-teams-legacy-thread-skype",
    ),
    pytest.param("https://teams.live.com/join/9361792952021", None, id="vexa-teams-live-join"),
    pytest.param(
        "https://frbmeetings.zoomgov.com/j/12345678901?pwd=xyz",
        link("https://frbmeetings.zoomgov.com/j/12345678901?pwd=xyz", ZOOM),
        id="vexa-zoomgov-agency-subdomain",
    ),
    pytest.param("https://events.zoom.us/ev/abc123", None, id="vexa-zoom-events-rejected"),
    # leits/MeetingBar MeetingBarTests/MeetingServicesTests.swift and
    # MeetingBar/Meetings/MeetingProvider.swift (its Zoom pattern covers zoom-x.de and zoom.com.cn)
    pytest.param(
        "https://any-client.zoom-x.de/j/65194487075",
        link("https://any-client.zoom-x.de/j/65194487075", ZOOM),
        id="meetingbar-zoom-x",
    ),
    # Zoom no longer runs its China service itself: calbot does not send bots there.
    pytest.param("https://zoom.com.cn/j/123456789", None, id="meetingbar-zoom-com-cn-rejected"),
    pytest.param(
        "zoommtg://zoom.us/join?confno=123456789&pwd=xxxx&zc=0&browser=chrome&uname=Betty",
        None,
        id="meetingbar-zoommtg-app-scheme-rejected",
    ),
    pytest.param(
        "https://stream.meet.google.com/stream/abc12ab1-abc1-1234-123a-a1234a1abc12",
        None,
        id="meetingbar-meet-livestream-viewer-rejected",
    ),
    pytest.param(
        "https://acme.webex.com/acme/j.php?MTID=m0123abcdef&RG=1",
        link("https://acme.webex.com/acme/j.php?MTID=m0123abcdef&RG=1", WEBEX),
        id="meetingbar-webex-j-php-extra-params",
    ),
    # chmouel/nextmeeting crates/nextmeeting-core/src/links.rs
    pytest.param(
        "https://zoom.us/join?confno=987654321&pwd=secret",
        link("https://zoom.us/j/987654321?pwd=secret", ZOOM),
        id="nextmeeting-zoom-join-confno",
    ),
    pytest.param(
        "https://acme.zoom.us/join?pwd=secret&confno=91234567890&utm_source=mail",
        link("https://acme.zoom.us/j/91234567890?pwd=secret", ZOOM),
        id="zoom-join-confno-any-order",
    ),
    pytest.param("https://zoom.us/join", None, id="zoom-join-page-without-confno"),
    pytest.param("https://zoom.us/join?confno=abc", None, id="zoom-join-confno-not-a-number"),
    pytest.param(
        "https://meet.google.com/xyz-uvwx-rst/",
        link("https://meet.google.com/xyz-uvwx-rst", MEET),
        id="nextmeeting-meet-trailing-slash",
    ),
    pytest.param(
        "https://example.zoomgov.com/j/123456789",
        link("https://example.zoomgov.com/j/123456789", ZOOM),
        id="nextmeeting-zoomgov",
    ),
    # ProtonMail/WebClients packages/calendar/components/videoConferencing/
    # (zoom/zoomHelpers.test.ts, teams/teamsHelpers.test.ts, googleMeet/googleMeetHelpers.test.ts)
    pytest.param(
        "http://us05web.zoom.us/j/83674139672?pwd=8Rbz0DfJeacG99xbU9R6sR9DEMCYsM.1",
        link("https://us05web.zoom.us/j/83674139672?pwd=8Rbz0DfJeacG99xbU9R6sR9DEMCYsM.1", ZOOM),
        id="proton-zoom-http-upgraded",
    ),
    pytest.param(
        "https://us02web.zoom.us/my/protonCustom",
        link("https://us02web.zoom.us/my/protonCustom", ZOOM),
        id="proton-zoom-personal-room",
    ),
    pytest.param("https://us02web.zoom.us/j/protonCustom", None, id="proton-zoom-j-name"),
    pytest.param(
        "https://www.google.com/url?q=https://applications.zoom.us/addon/invitation/detail"
        "?meetingUuid%3DCyDpeXO%252FQI2zH19%252BuBAyVw%253D%253D%26signature%3D3d8ad8d0%26v%3D1"
        "&sa=D&source=calendar&usg=AOvVaw2KiTXgK7GuIM76NpLj3loR",
        None,
        id="proton-zoom-addon-joining-instructions-rejected",
    ),
    pytest.param(
        "https://teams.live.com/meetingOptions/meetings/9346628868165/view?localeCode=en-US",
        None,
        id="proton-teams-live-meeting-options-rejected",
    ),
    pytest.param("https://meet.google.com/random-url", None, id="proton-meet-random-path"),
    # Shapes seen in public invitation texts and scripts (code search, unattributed excerpts)
    pytest.param(
        "https://meet.google.com/_meet/jrq-cvbb-dmm?ijlm=1617121727687&adhoc=1&hs=187",
        link("https://meet.google.com/jrq-cvbb-dmm", MEET),
        id="meet-instant-meeting-route",
    ),
    pytest.param("https://meet.google.com/_meet/whoops", None, id="meet-instant-route-error"),
    pytest.param("https://g.co/meet/abc-defg-hij", None, id="meet-g-co-shortcut-rejected"),
    pytest.param(
        "https://tel.meet/abc-defg-hij?pin=1234567890123", None, id="meet-tel-meet-rejected"
    ),
    pytest.param(
        "https://acme.zoom.com/j/81234567890?pwd=Tk9aVHhw.1",
        link("https://acme.zoom.com/j/81234567890?pwd=Tk9aVHhw.1", ZOOM),
        id="zoom-com-vanity-subdomain",
    ),
    pytest.param(
        "https://acme.zoom.com/my/jane.doe",
        link("https://acme.zoom.com/my/jane.doe", ZOOM),
        id="zoom-com-personal-link",
    ),
    pytest.param("https://www.zoom.com/en/products/", None, id="zoom-com-marketing-rejected"),
    pytest.param("https://support.zoom.com/hc/en", None, id="zoom-com-support-rejected"),
    pytest.param(
        "https://zoom.us/s/1234567890?zak=eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9",
        None,
        id="zoom-host-start-link-with-token-rejected",
    ),
    pytest.param(
        "https://zoom.us/j/1234567890?pwd=abc&zak=eyJ0eXAiOiJKV1Qi",
        link("https://zoom.us/j/1234567890?pwd=abc", ZOOM),
        id="zoom-host-token-dropped",
    ),
    pytest.param(
        "https://zoomgov.com/w/1612345678?tk=AbC.DQk",
        link("https://zoomgov.com/w/1612345678?tk=AbC.DQk", ZOOM),
        id="zoomgov-webinar",
    ),
    pytest.param(
        "https://teams.microsoft.com/v2/?meetingjoin=true#/l/meetup-join/"
        f"{TEAMS_THREAD_PATH.removeprefix('/l/meetup-join/')}?{TEAMS_CONTEXT}&anon=true",
        TEAMS_EXPECTED,
        id="teams-v2-deep-link-meetup-join",
    ),
    pytest.param(
        f"https://teams.microsoft.com/_#{TEAMS_THREAD_PATH}?{TEAMS_CONTEXT}",
        TEAMS_EXPECTED,
        id="teams-classic-web-client-route",
    ),
    pytest.param(
        "https://teams.microsoft.com/dl/launcher/launcher.html?url="
        + quote(f"/_#{TEAMS_THREAD_PATH}?{TEAMS_CONTEXT}&anon=true", safe="")
        + "&type=meetup-join"
        + TEAMS_LAUNCHER_SUFFIX,
        TEAMS_EXPECTED,
        id="teams-launcher-encoded-meetup-join",
    ),
    pytest.param(
        "https://gov.teams.microsoft.us/dl/launcher/launcher.html?url=%2F_%23%2Fmeet%2F"
        "12345678901234%3Fp%3DAbC&type=meet",
        link("https://gov.teams.microsoft.us/meet/12345678901234?p=AbC", TEAMS),
        id="teams-launcher-keeps-government-host",
    ),
    pytest.param(
        "https://teams.microsoft.com/v2/?meetingjoin=true", None, id="teams-v2-without-meeting"
    ),
    pytest.param("https://teams.microsoft.com/v2/", None, id="teams-web-client-rejected"),
    pytest.param(
        "https://teams.microsoft.com/dl/launcher/launcher.html?url=%2F_%23%2Fl%2Fchat%2F0%2F0"
        "%3Fusers%3Djane%40example.com&type=chat",
        None,
        id="teams-launcher-chat-rejected",
    ),
    pytest.param(
        "https://teams.microsoft.com/dl/launcher/launcher.html"
        "?url=https%3A%2F%2Fevil.example%2F%23%2Fmeet%2F123456789&type=meet",
        None,
        id="teams-launcher-foreign-url-rejected",
    ),
    pytest.param(
        "https://teams.microsoft.com/l/channel/19%3a4c5b%40thread.tacv2/General"
        "#/l/meetup-join/19%3ameeting_X%40thread.v2/0",
        None,
        id="teams-meeting-fragment-on-other-page-rejected",
    ),
    pytest.param(
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_X%40thread.v2/0"
        "?context=%7b%22Tid%22%3a%2272f9%22%7d&btype=a&role=a",
        link(
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting_X%40thread.v2/0"
            "?context=%7b%22Tid%22%3a%2272f9%22%7d&btype=a&role=a",
            TEAMS,
        ),
        id="teams-town-hall-attendee-params-kept",
    ),
    pytest.param(
        "https://univ-lyon1.webex.com/univ-lyon1/k2/j.php?MTID=t64b36a9ce2af4d65a73be8b46c9668ca",
        link(
            "https://univ-lyon1.webex.com/univ-lyon1/k2/j.php?MTID=t64b36a9ce2af4d65a73be8b46c9668ca",
            WEBEX,
        ),
        id="webex-training-k2-j-php",
    ),
    pytest.param(
        "https://iitmadras.webex.com/webappng/sites/iitmadras/meeting/download/"
        "db8eb849eb04464690de791b3f63c81a?siteurl=iitmadras&MTID=m1a992df7d279a05a",
        link(
            "https://iitmadras.webex.com/webappng/sites/iitmadras/meeting/download/"
            "db8eb849eb04464690de791b3f63c81a?siteurl=iitmadras&MTID=m1a992df7d279a05a",
            WEBEX,
        ),
        id="webex-webappng-meeting-download",
    ),
    pytest.param(
        "https://meet1423.webex.com/wbxmjs/joinservice/sites/meet1423/meeting/download/"
        "c44e3b9554904d57936b51678ea3c6f8?siteurl=meet1423&MTID=m905c71cb000dec77",
        link(
            "https://meet1423.webex.com/wbxmjs/joinservice/sites/meet1423/meeting/download/"
            "c44e3b9554904d57936b51678ea3c6f8?siteurl=meet1423&MTID=m905c71cb000dec77",
            WEBEX,
        ),
        id="webex-free-site-joinservice",
    ),
    pytest.param(
        "https://acme.webex.com/webappng/sites/acme/meeting/info/12345",
        None,
        id="webex-meeting-info-page-rejected",
    ),
    pytest.param(
        "https://ibm.webex.com/webappng/sites/ibm/recording/bd9713f3fe021039b1fa0050568f2e04"
        "/playback",
        None,
        id="webex-recording-rejected",
    ),
    pytest.param(
        "https://ibm.webex.com/webappng/sites/ibm/dashboard/pmr/james.kurkela1",
        None,
        id="webex-dashboard-rejected",
    ),
    pytest.param(
        "https://acme.webex.com/wbxmjs/joinservice", None, id="webex-joinservice-without-meeting"
    ),
    pytest.param(
        "https://app.goto.com/meeting/957100141",
        link("https://app.goto.com/meeting/957100141", GOTO),
        id="goto-app-meeting",
    ),
    pytest.param("https://app.goto.com/meeting/xy", None, id="goto-app-meeting-not-an-id"),
    pytest.param("https://app.goto.com/", None, id="goto-app-home-rejected"),
    pytest.param(
        "https://global.gotowebinar.com/join/1234567890/987654321",
        None,
        id="gotowebinar-not-supported",
    ),
    pytest.param(
        "https://bluejeans.com/1771332256/",
        link("https://bluejeans.com/1771332256", BLUEJEANS),
        id="bluejeans-id-trailing-slash",
    ),
    pytest.param("https://bluejeans.com/111/", None, id="bluejeans-test-call-page-rejected"),
    pytest.param(
        "https://whereby.com/acme-standup?roomKey=AbCdEf123456",
        link("https://whereby.com/acme-standup", WHEREBY),
        id="whereby-host-room-key-dropped",
    ),
    pytest.param(
        "https://team-acme.whereby.com/sales-demo?embed&minimal",
        link("https://team-acme.whereby.com/sales-demo?embed&minimal", WHEREBY),
        id="whereby-subdomain-embed-params-kept",
    ),
    pytest.param("https://docs.whereby.com/meetings", None, id="whereby-docs-subdomain-rejected"),
    # HTML character references written inside the URL itself.
    pytest.param(
        "https://zoom.us/j/1234567890?pwd=abc&#38;uname=Jane",
        link("https://zoom.us/j/1234567890?pwd=abc&uname=Jane", ZOOM),
        id="decimal-ampersand-reference",
    ),
    pytest.param(
        "https://zoom.us/j/1234567890?pwd=abc&#x26;uname=Jane",
        link("https://zoom.us/j/1234567890?pwd=abc&uname=Jane", ZOOM),
        id="hex-ampersand-reference",
    ),
    pytest.param(
        "https&#58;//zoom.us/j/1234567890",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="colon-reference-in-scheme",
    ),
    pytest.param(
        "https://zoom.us/j/1234567890&#8203;",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="zero-width-space-reference-ends-url",
    ),
    # Look-alike hosts and other schemes.
    pytest.param("https://zoom.com.evil.example/j/1234567890", None, id="zoom-com-lookalike"),
    pytest.param("https://evilzoom.com/j/1234567890", None, id="zoom-com-lookalike-prefix"),
    pytest.param("https://zoom.com@evil.example/j/1234567890", None, id="zoom-com-userinfo"),
    pytest.param("https://zoom.us:443@evil.example/j/1234567890", None, id="port-then-userinfo"),
    pytest.param("https://evil.example#@zoom.us/j/1234567890", None, id="host-in-fragment"),
    pytest.param("https://evil.example?@zoom.us/j/1234567890", None, id="host-in-query"),
    pytest.param("https://zoom.us%2eevil.example/j/1234567890", None, id="encoded-dot-in-host"),
    pytest.param("https://xn--zom-8cd.us/j/1234567890", None, id="punycode-lookalike"),
    pytest.param("https://z\u043e\u043em.us/j/1234567890", None, id="cyrillic-lookalike"),
    pytest.param(
        "https://meet.google.com.evil.example/abc-defg-hij", None, id="meet-lookalike-suffix"
    ),
    pytest.param(
        "https://teams.microsoft.com.evil.example/l/meetup-join/19%3ameeting_X%40thread.v2/0",
        None,
        id="teams-lookalike-suffix",
    ),
    pytest.param(
        "https://nam02.safelinks.protection.outlook.com.evil.example/?url="
        + quote("https://zoom.us/j/1234567890", safe=""),
        None,
        id="safelinks-lookalike-not-unwrapped",
    ),
    pytest.param("mailto:jane@zoom.us", None, id="mailto-rejected"),
    pytest.param("mailto:zoom.us/j/1234567890", None, id="mailto-with-path-rejected"),
]


@pytest.mark.parametrize(("url", "expected"), CANONICAL_CASES + WILD_URL_CASES)
def test_canonical_meeting_link(url: str, expected: MeetingLink | None) -> None:
    assert canonical_meeting_link(url) == expected


def test_wrappers_are_unwrapped_a_bounded_number_of_times() -> None:
    wrapped = "https://zoom.us/j/1234567890"
    for _ in range(4):
        wrapped = google_redirect(wrapped)
    assert canonical_meeting_link(wrapped) == link("https://zoom.us/j/1234567890", ZOOM)
    for _ in range(4):
        wrapped = safelink(wrapped)
    assert canonical_meeting_link(wrapped) is None


# --- find_meeting_link --------------------------------------------------------------------

TEXT_CASES = [
    pytest.param(ZOOM_INVITATION, link(ZOOM_PWD_URL, ZOOM), id="zoom-invitation"),
    pytest.param(
        ZOOM_INVITATION_LOCAL_NUMBER_FIRST,
        link("https://zoom.us/j/91234567890?pwd=aGVsbG8tem9vbS1wd2Q", ZOOM),
        id="zoom-invitation-help-links-first",
    ),
    pytest.param(
        ZOOM_ADDON_DESCRIPTION_HTML,
        link(
            "https://us02web.zoom.us/j/81234567890?pwd=Tk9aVHhwQmRqUjFzQ2E3bE1hWkVtZz09&from=addon",
            ZOOM,
        ),
        id="zoom-addon-html-description",
    ),
    pytest.param(TEAMS_INVITATION_HTML, TEAMS_EXPECTED, id="teams-invitation-html"),
    pytest.param(TEAMS_INVITATION_TEXT, TEAMS_EXPECTED, id="teams-invitation-plain-text"),
    pytest.param(TEAMS_INVITATION_SAFELINKS_TEXT, TEAMS_EXPECTED, id="teams-invitation-safelinks"),
    pytest.param(
        TEAMS_INVITATION_SAFELINKS_HTML, TEAMS_EXPECTED, id="teams-safelinks-in-html-href"
    ),
    pytest.param(
        TEAMS_SHORT_INVITATION_HTML,
        link("https://teams.microsoft.com/meet/23456789012345?p=Ab3Cd4Ef5Gh6Ij", TEAMS),
        id="teams-short-link-invitation",
    ),
    pytest.param(
        '<a href="https://teams.microsoft.com/l/meetup-join/19:meeting_NjQ@thread.v2/0'
        '?context={&quot;Tid&quot;:&quot;72f988bf&quot;}">Join</a>',
        link(
            "https://teams.microsoft.com/l/meetup-join/19:meeting_NjQ@thread.v2/0"
            "?context=%7B%22Tid%22:%2272f988bf%22%7D",
            TEAMS,
        ),
        id="teams-unencoded-context-in-href",
    ),
    pytest.param(
        WEBEX_INVITATION,
        link("https://acme.webex.com/acme/j.php?MTID=m3f1e2d3c4b5a69788796a5b4c3d2e1f0", WEBEX),
        id="webex-invitation",
    ),
    pytest.param(
        WEBEX_PERSONAL_ROOM_INVITATION,
        link("https://acme.webex.com/meet/jane.doe", WEBEX),
        id="webex-personal-room-invitation",
    ),
    pytest.param(
        GOTOMEETING_INVITATION,
        link("https://meet.goto.com/123456789", GOTO),
        id="gotomeeting-invitation",
    ),
    pytest.param(
        GOTOMEETING_CLASSIC_INVITATION,
        link("https://global.gotomeeting.com/join/123456789", GOTO),
        id="gotomeeting-classic-invitation-install-link-first",
    ),
    pytest.param(
        BLUEJEANS_INVITATION,
        link("https://bluejeans.com/123456789/4321?src=calendarLink", BLUEJEANS),
        id="bluejeans-invitation",
    ),
    pytest.param(
        WHEREBY_INVITATION,
        link("https://acme.whereby.com/weekly-sync-7f3a2b", WHEREBY),
        id="whereby-invitation",
    ),
    pytest.param(
        GOOGLE_WRAPPED_HTML,
        link("https://zoom.us/j/91234567890?pwd=aGVsbG8", ZOOM),
        id="google-redirect-href-html",
    ),
    pytest.param(
        "Agenda in the doc. [Join the call](https://meet.google.com/abc-defg-hij)",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="markdown-link",
    ),
    pytest.param(
        "Join here: https://zoom.us/j/1234567890.",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="sentence-final-period",
    ),
    pytest.param(
        "Video call (https://meet.google.com/abc-defg-hij), dial-in below.",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="parenthesised",
    ),
    pytest.param(
        "Link: &quot;https://zoom.us/j/1234567890&quot;",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="html-quoted-entities",
    ),
    pytest.param(
        "https://zoom.us/j/1234567890?pwd=abc&nbsp;Meeting ID: 123 456 7890",
        link("https://zoom.us/j/1234567890?pwd=abc", ZOOM),
        id="nbsp-entity-ends-url",
    ),
    pytest.param(
        "Join https://zoom.us/j/1234567890?pwd=abc\u00a0Meeting ID",
        link("https://zoom.us/j/1234567890?pwd=abc", ZOOM),
        id="nbsp-character-ends-url",
    ),
    pytest.param(
        "https://zoom.us/j/1234567890?pwd=abc<br>Meeting ID: 123 456 7890",
        link("https://zoom.us/j/1234567890?pwd=abc", ZOOM),
        id="br-tag-after-url",
    ),
    pytest.param(
        "\u4f1a\u8b70URL: https://zoom.us/j/1234567890?pwd=abc\uff08\u30d1\u30b9\u30b3\u30fc"
        "\u30c9: 123\uff09",
        link("https://zoom.us/j/1234567890?pwd=abc", ZOOM),
        id="japanese-text-after-url",
    ),
    pytest.param(
        "Z\u200bhttps://zoom.us/j/1234567890\u200b",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="zero-width-spaces",
    ),
    pytest.param(
        "zoom.us/j/1234567890", link("https://zoom.us/j/1234567890", ZOOM), id="bare-zoom"
    ),
    pytest.param(
        "Conference Room 4B; us02web.zoom.us/j/81234567890?pwd=AbC",
        link("https://us02web.zoom.us/j/81234567890?pwd=AbC", ZOOM),
        id="bare-zoom-subdomain-after-room",
    ),
    pytest.param(
        "Conference Room 4B; https://acme.zoom.us/j/91234567890",
        link("https://acme.zoom.us/j/91234567890", ZOOM),
        id="room-then-link",
    ),
    pytest.param(
        "MEET.GOOGLE.COM/abc-defg-hij",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="bare-meet-uppercase",
    ),
    pytest.param(
        "HTTPS://ZOOM.US/j/1234567890",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="uppercase-scheme-and-host",
    ),
    pytest.param(
        "zoom.us/j/1234567890 or, as a backup, https://meet.google.com/abc-defg-hij",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="bare-link-before-http-link-wins",
    ),
    pytest.param(
        "https://meet.google.com/abc-defg-hij then zoom.us/j/1234567890",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="http-link-before-bare-link-wins",
    ),
    pytest.param(
        "Backup: https://whereby.com/acme-standup; main: https://zoom.us/j/1234567890",
        link("https://whereby.com/acme-standup", WHEREBY),
        id="document-order",
    ),
    pytest.param(
        "Need help? https://aka.ms/JoinTeamsMeeting Learn more: https://www.microsoft.com/teams",
        None,
        id="only-help-links",
    ),
    pytest.param("Questions: jane@zoom.us/j/1234567890", None, id="email-on-meeting-host"),
    pytest.param(
        "Notes: docs.example.com/zoom.us/j/1234567890", None, id="bare-host-inside-bare-path"
    ),
    pytest.param(
        "https://example.com/redirect?to=zoom.us/j/1234567890",
        None,
        id="meeting-host-inside-other-url",
    ),
    pytest.param(
        "https://evil.example/zoom.us/j/1234567890", None, id="meeting-host-in-foreign-path"
    ),
    pytest.param("Lunch at the usual place, bring slides.", None, id="no-links"),
    pytest.param("Room: https://intranet.example.com/rooms/4B", None, id="unrelated-url"),
    pytest.param("", None, id="empty-text"),
]


# Zoom for Google Workspace add-on text, as ProtonMail/WebClients
# packages/calendar/components/videoConferencing/zoom/zoomHelpers.test.ts quotes it, with the
# "Joining instructions" page (not a join link) moved first.
ZOOM_ADDON_TEXT_WITH_JOINING_INSTRUCTIONS = """\
-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-
Joining instructions: https://www.google.com/url?q=https://applications.zoom.us/addon/invitation\
/detail?meetingUuid%3DCyDpeXO%252FQI2zH19%252BuBAyVw%253D%253D%26signature%3D3d8ad8d0%26v%3D1\
&sa=D&source=calendar&usg=AOvVaw2KiTXgK7GuIM76NpLj3loR

Join Zoom Meeting
https://us05web.zoom.us/j/83674139672?pwd=8Rbz0DfJeacG99xbU9R6sR9DEMCYsM.1 (ID: 83674139672, \
passcode: 6Z3fiV)

Please do not edit this section.
-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-
"""
ZOOM_ADDON_TEXT_EXPECTED = link(
    "https://us05web.zoom.us/j/83674139672?pwd=8Rbz0DfJeacG99xbU9R6sR9DEMCYsM.1", ZOOM
)

# A Teams (free) invitation in Outlook's plain text, after ProtonMail/WebClients
# packages/calendar/components/videoConferencing/teams/teamsHelpers.test.ts.
TEAMS_LIVE_INVITATION_TEXT = """Microsoft Teams meeting
Join on your computer, mobile app or room device
Click here to join the meeting<https://teams.live.com/meet/9346628868165?p=IuBKlitIxSGksLCMG8>
Meeting ID: 934 662 886 816 5
Passcode: 2mp6r7
Download Teams<https://www.microsoft.com/en-us/microsoft-teams/download-app> | Join on the \
web<https://www.microsoft.com/microsoft-teams/join-a-meeting>
Learn More<https://aka.ms/JoinTeamsMeeting> | Meeting options<https://teams.live.com/\
meetingOptions/meetings/9346628868165/view?localeCode=en-US>
"""

# A Webex HTML invitation whose href (joinservice) and visible text (j.php) differ.
WEBEX_HREF_AND_TEXT_DIFFER_HTML = (
    '<p>2. Join via Webex:</p><ul><li>Go to: <a href="https://veteransaffairs.webex.com/wbxmjs'
    "/joinservice/sites/veteransaffairs/meeting/download/0602006047574141a9f001afcc3a873c"
    '?siteurl=veteransaffairs&amp;MTID=mf85a5856faead97291fe0ce7cfacfb00">https://'
    "veteransaffairs.webex.com/veteransaffairs/j.php?MTID=mf85a5856faead97291fe0ce7cfacfb00"
    "</a></li></ul>"
)

WILD_TEXT_CASES = [
    # ProtonMail/WebClients packages/calendar/components/videoConferencing/
    pytest.param(
        ZOOM_ADDON_TEXT_WITH_JOINING_INSTRUCTIONS,
        ZOOM_ADDON_TEXT_EXPECTED,
        id="proton-zoom-addon-joining-instructions-skipped",
    ),
    pytest.param(
        TEAMS_LIVE_INVITATION_TEXT,
        link("https://teams.live.com/meet/9346628868165?p=IuBKlitIxSGksLCMG8", TEAMS),
        id="proton-teams-live-plain-text-invitation",
    ),
    pytest.param(
        "this is before us05web.zoom.us/j/83674139672?pwd=8Rbz0DfJeacG99xbU9R6sR9DEMCYsM.1 "
        "this is after",
        ZOOM_ADDON_TEXT_EXPECTED,
        id="proton-bare-zoom-between-words",
    ),
    pytest.param(
        "teams.live.com/meet/9346628868165?p=IuBKlitIxSGksLCMG8, some text after",
        link("https://teams.live.com/meet/9346628868165?p=IuBKlitIxSGksLCMG8", TEAMS),
        id="proton-bare-teams-live-then-comma",
    ),
    # Proton's Meet helper also finds a code after a broken scheme; calbot does not guess.
    pytest.param(
        "ttps://meet.google.com/xxx-yyyy-zzz this is after", None, id="proton-broken-scheme"
    ),
    # Shapes seen in public invitation texts (code search, unattributed excerpts)
    pytest.param(
        WEBEX_HREF_AND_TEXT_DIFFER_HTML,
        link(
            "https://veteransaffairs.webex.com/wbxmjs/joinservice/sites/veteransaffairs/meeting"
            "/download/0602006047574141a9f001afcc3a873c?siteurl=veteransaffairs"
            "&MTID=mf85a5856faead97291fe0ce7cfacfb00",
            WEBEX,
        ),
        id="webex-href-joinservice-before-text-j-php",
    ),
    pytest.param(
        '<a href="https://teams.microsoft.com/dl/launcher/launcher.html?url=%2F_%23%2Fmeet%2F'
        "33122884984323%3Fp%3DJ3o61K6vtz0f8RqKru%26anon%3Dtrue&amp;type=meet&amp;deeplinkId="
        '96bb53ab&amp;directDl=true">Join the meeting now</a>',
        link("https://teams.microsoft.com/meet/33122884984323?p=J3o61K6vtz0f8RqKru", TEAMS),
        id="teams-launcher-in-html-href",
    ),
    pytest.param(
        "Location: acme.zoom.com/j/81234567890?pwd=AbC",
        link("https://acme.zoom.com/j/81234567890?pwd=AbC", ZOOM),
        id="bare-zoom-com-vanity",
    ),
    pytest.param(
        "Einwahl: any-client.zoom-x.de/j/65194487075",
        link("https://any-client.zoom-x.de/j/65194487075", ZOOM),
        id="bare-zoom-x",
    ),
    pytest.param(
        "Dial-in page: zoom.us/join?confno=123456789&pwd=xyz",
        link("https://zoom.us/j/123456789?pwd=xyz", ZOOM),
        id="bare-zoom-join-confno",
    ),
    pytest.param(
        "Host only: https://zoom.us/s/91234567890?zak=eyJ0eXAi\n"
        "Everyone: https://zoom.us/j/91234567890?pwd=aGVsbG8",
        link("https://zoom.us/j/91234567890?pwd=aGVsbG8", ZOOM),
        id="host-start-link-skipped-for-join-link",
    ),
    # A host inside the path of an earlier scheme-less URL is part of that URL.
    pytest.param("zoom.us/!zoom.us/j/1234567890", None, id="bare-host-inside-bare-url"),
    # HTML character references spelling the URL (obfuscated against link scrapers).
    pytest.param(
        "Join: https&#58;&#47;&#47;zoom.us&#47;j&#47;1234567890?pwd=abc&#38;uname=Jane",
        link("https://zoom.us/j/1234567890?pwd=abc&uname=Jane", ZOOM),
        id="decimal-references-spell-url",
    ),
    pytest.param(
        "Join: https:&#x2F;&#x2F;zoom.us&#x2F;j&#x2F;1234567890",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="hex-references-spell-url",
    ),
    pytest.param(
        "https&colon;&sol;&sol;meet&period;google&period;com&sol;abc-defg-hij",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="named-references-spell-url",
    ),
    pytest.param(
        "Join at zoom&#46;us/j/1234567890 today",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="reference-in-bare-host",
    ),
    pytest.param(
        '<a href="https://zoom.us/j/1234567890?pwd=abc&#x26;uname=Jane">Join</a>',
        link("https://zoom.us/j/1234567890?pwd=abc&uname=Jane", ZOOM),
        id="hex-ampersand-in-href",
    ),
    pytest.param(
        "https://meet.google.com/abc-defg-hij&#8203;&#60;br&#62;",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="references-after-url-end-it",
    ),
    # Punctuation and brackets around a URL.
    pytest.param(
        "Call \u00abhttps://meet.google.com/abc-defg-hij\u00bb now",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="guillemets",
    ),
    pytest.param(
        "\u300chttps://meet.google.com/abc-defg-hij\u300d",
        link("https://meet.google.com/abc-defg-hij", MEET),
        id="japanese-corner-brackets",
    ),
    pytest.param(
        "**https://zoom.us/j/1234567890**",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="markdown-bold",
    ),
    pytest.param(
        "(see: https://zoom.us/j/1234567890?pwd=abc).",
        link("https://zoom.us/j/1234567890?pwd=abc", ZOOM),
        id="parenthesis-then-period",
    ),
    pytest.param(
        "Join: https://zoom.us/j/81234567890?pwd=Tk9aVHhw.1.",
        link("https://zoom.us/j/81234567890?pwd=Tk9aVHhw.1", ZOOM),
        id="passcode-suffix-then-period",
    ),
    pytest.param(
        "Zoom link: <https://zoom.us/j/1234567890>; backup: none",
        link("https://zoom.us/j/1234567890", ZOOM),
        id="angle-brackets-then-semicolon",
    ),
    # `mailto:` and other junk that mentions a meeting host.
    pytest.param("<mailto:zoom.us/j/1234567890>", None, id="mailto-with-meeting-path"),
    pytest.param("Organizer: mailto:jane@zoom.us", None, id="mailto-on-meeting-host"),
    pytest.param(
        "Open zoommtg://zoom.us/join?confno=123456789&pwd=xxxx in the app",
        None,
        id="zoommtg-app-link-only",
    ),
]


@pytest.mark.parametrize(("text", "expected"), TEXT_CASES + WILD_TEXT_CASES)
def test_find_meeting_link(text: str, expected: MeetingLink | None) -> None:
    assert find_meeting_link(text) == expected


# --- detect_meeting_link ------------------------------------------------------------------

ZOOM_LOCATION = "https://acme.zoom.us/j/91234567890?pwd=bG9jYXRpb24"
ZOOM_LOCATION_EXPECTED = link(ZOOM_LOCATION, ZOOM)
MEET_EXPECTED = link("https://meet.google.com/abc-defg-hij", MEET)

EVENT_CASES = [
    pytest.param(
        {
            "kind": "calendar#event",
            "summary": "Standup",
            "hangoutLink": "https://meet.google.com/abc-defg-hij",
            "conferenceData": MEET_CONFERENCE_DATA,
        },
        MEET_EXPECTED,
        id="meet-conference-data",
    ),
    pytest.param(
        {
            "conferenceData": ZOOM_ADDON_CONFERENCE_DATA,
            "description": ZOOM_ADDON_DESCRIPTION_HTML,
        },
        ZOOM_ADDON_EXPECTED,
        id="zoom-addon-conference-data",
    ),
    pytest.param(
        {
            "conferenceData": ZOOM_ADDON_CONFERENCE_DATA,
            "hangoutLink": "https://meet.google.com/abc-defg-hij",
        },
        ZOOM_ADDON_EXPECTED,
        id="entry-point-beats-hangout-link",
    ),
    pytest.param(
        {"hangoutLink": "https://meet.google.com/abc-defg-hij", "location": ZOOM_LOCATION},
        MEET_EXPECTED,
        id="hangout-link-beats-location",
    ),
    pytest.param(
        {"location": ZOOM_LOCATION, "description": TEAMS_INVITATION_HTML},
        ZOOM_LOCATION_EXPECTED,
        id="location-beats-description",
    ),
    pytest.param(
        {"location": "Conference Room 4B", "description": TEAMS_INVITATION_HTML},
        TEAMS_EXPECTED,
        id="description-when-location-has-no-link",
    ),
    pytest.param(
        {"hangoutLink": "https://meet.google.com/abc-defg-hij?authuser=0&hs=122"},
        MEET_EXPECTED,
        id="hangout-link-only",
    ),
    pytest.param(
        {"conferenceData": PHONE_ONLY_CONFERENCE_DATA, "description": ZOOM_INVITATION},
        link(ZOOM_PWD_URL, ZOOM),
        id="phone-sip-more-entry-points-skipped",
    ),
    pytest.param(
        {"conferenceData": PHONE_ONLY_CONFERENCE_DATA}, None, id="phone-only-conference-data"
    ),
    pytest.param(
        {
            "conferenceData": {
                "entryPoints": [
                    {"entryPointType": "video", "uri": "https://conf.example.net/room/4242"},
                ],
                "conferenceSolution": {"key": {"type": "addOn"}, "name": "Unknown Conf"},
            },
            "description": TEAMS_INVITATION_TEXT,
        },
        TEAMS_EXPECTED,
        id="unsupported-video-entry-point-falls-through",
    ),
    pytest.param(
        {
            "conferenceData": {
                "entryPoints": [
                    {"entryPointType": "video", "uri": "https://conf.example.net/room/4242"},
                    {"entryPointType": "video", "uri": "https://zoom.us/j/1234567890"},
                ]
            },
        },
        link("https://zoom.us/j/1234567890", ZOOM),
        id="second-video-entry-point",
    ),
    pytest.param(
        {
            "conferenceData": {"entryPoints": [{"entryPointType": "video", "uri": "tel:+1555"}]},
            "location": ZOOM_LOCATION,
        },
        ZOOM_LOCATION_EXPECTED,
        id="video-entry-point-with-tel-uri",
    ),
    pytest.param(
        {
            "conferenceData": {
                "createRequest": {
                    "requestId": "7qxalsvy0e",
                    "conferenceSolutionKey": {"type": "hangoutsMeet"},
                    "status": {"statusCode": "pending"},
                }
            },
            "location": ZOOM_LOCATION,
        },
        ZOOM_LOCATION_EXPECTED,
        id="pending-conference-create-request",
    ),
    pytest.param(
        {"conferenceData": {"entryPoints": [{"uri": "https://zoom.us/j/1234567890"}]}},
        None,
        id="entry-point-without-type",
    ),
    pytest.param(
        {"hangoutLink": "https://example.com/not-a-meeting", "location": ZOOM_LOCATION},
        ZOOM_LOCATION_EXPECTED,
        id="unsupported-hangout-link-falls-through",
    ),
    pytest.param(
        {"location": safelink(ZOOM_LOCATION)}, ZOOM_LOCATION_EXPECTED, id="safelink-in-location"
    ),
    pytest.param(
        {"description": GOTOMEETING_INVITATION},
        link("https://meet.goto.com/123456789", GOTO),
        id="description-only",
    ),
    pytest.param(
        {
            "location": "https://zoom.us/s/81234567890?zak=eyJ0eXAiOiJKV1Qi",
            "description": ZOOM_INVITATION,
        },
        link(ZOOM_PWD_URL, ZOOM),
        id="host-start-link-in-location-falls-through",
    ),
    pytest.param(
        {
            "location": "https://teams.microsoft.com/v2/?meetingjoin=true#/meet/33749853217630"
            "?p=em7xplMpIFquiFGvn8&anon=true",
            "description": ZOOM_INVITATION,
        },
        link("https://teams.microsoft.com/meet/33749853217630?p=em7xplMpIFquiFGvn8", TEAMS),
        id="teams-deep-link-in-location",
    ),
    pytest.param(
        {"description": ZOOM_ADDON_TEXT_WITH_JOINING_INSTRUCTIONS},
        ZOOM_ADDON_TEXT_EXPECTED,
        id="zoom-addon-text-description",
    ),
    pytest.param({}, None, id="empty-event"),
    pytest.param({"summary": "1:1", "location": "", "description": ""}, None, id="empty-strings"),
    pytest.param(
        {"location": None, "description": None, "hangoutLink": None, "conferenceData": None},
        None,
        id="none-fields",
    ),
    pytest.param(
        {"location": 42, "description": ["https://zoom.us/j/1234567890"], "hangoutLink": 7},
        None,
        id="non-string-fields",
    ),
    pytest.param(
        {
            "conferenceData": {"entryPoints": "https://zoom.us/j/1234567890"},
            "location": {"url": "https://zoom.us/j/1234567890"},
        },
        None,
        id="entry-points-not-a-list",
    ),
    pytest.param(
        {
            "conferenceData": {
                "entryPoints": [
                    None,
                    "video",
                    {"entryPointType": "video", "uri": None},
                    {"entryPointType": "video", "uri": ["https://zoom.us/j/1234567890"]},
                ]
            },
            "description": ZOOM_INVITATION,
        },
        link(ZOOM_PWD_URL, ZOOM),
        id="garbage-entry-points",
    ),
    pytest.param(
        {"conferenceData": "meet.google.com/abc-defg-hij", "description": 3.5},
        None,
        id="conference-data-not-a-mapping",
    ),
]


@pytest.mark.parametrize(("event", "expected"), EVENT_CASES)
def test_detect_meeting_link(event: dict[str, Any], expected: MeetingLink | None) -> None:
    assert detect_meeting_link(event) == expected


@pytest.mark.parametrize("garbage", [None, 42, "https://zoom.us/j/1234567890", [], b"zoom.us/j/1"])
def test_garbage_instead_of_event_or_text_does_not_crash(garbage: object) -> None:
    assert detect_meeting_link(cast(Any, garbage)) is None
    if not isinstance(garbage, str):
        assert find_meeting_link(cast(Any, garbage)) is None
        assert canonical_meeting_link(cast(Any, garbage)) is None


# --- size ---------------------------------------------------------------------------------


def test_typical_event_with_2kb_html_description() -> None:
    description = TEAMS_INVITATION_HTML
    assert 2_000 <= len(description) <= 8_000
    event = {
        "kind": "calendar#event",
        "id": "5qbh0v4vm9d1k2j3h4g5f6e7d8",
        "status": "confirmed",
        "summary": "Quarterly planning",
        "location": "Microsoft Teams Meeting",
        "description": description,
        "start": {"dateTime": "2026-11-25T10:00:00-08:00", "timeZone": "America/Los_Angeles"},
        "end": {"dateTime": "2026-11-25T11:00:00-08:00", "timeZone": "America/Los_Angeles"},
    }
    assert detect_meeting_link(event) == TEAMS_EXPECTED


def test_large_description_is_scanned_in_one_pass() -> None:
    """Hundreds of kilobytes of links and host-like text still end with the right answer.

    No timing assert: a quadratic scan over this text would make the suite visibly hang.
    """
    noise = (
        '<p>See <a href="https://aka.ms/JoinTeamsMeeting">help</a>, '
        "a.b.c.d.e.f.g.h.us/ x.com/ docs.example.com/zoom.us/j/1 jane@zoom.us "
        "https://www.google.com/url?q=https%3A%2F%2Fexample.com&amp;sa=D zoom webex goto "
        "httphttp:// http:/ &amp;&lt;&gt;&nbsp;</p>\n"
    )
    description = noise * 2_000 + f'<a href="{ZOOM_PWD_URL}">Join</a>'
    assert len(description) > 300_000
    assert find_meeting_link(description) == link(ZOOM_PWD_URL, ZOOM)
    assert find_meeting_link(noise * 2_000) is None
    assert canonical_meeting_link("https://" + "a." * 100_000 + "zoom.us/j/1234567890") is None


# Text shapes that make detection work hard, with the share of the description each fills.
# The first was quadratic before the scan kept candidate URLs apart: its share alone then
# cost about half a minute of CPU.
HOSTILE_DESCRIPTION_UNITS = (
    ("zoom.us/!", 300_000),  # each host inside the previous scheme-less URL
    ("zoom.us/ ", 100_000),  # a scheme-less candidate every 9 characters
    ("&amp;quot;", 100_000),  # one URL with a 100 kB tail of entities to strip
    ("&#58;&#47;&#x2F;&colon;", 100_000),  # character references decoded across the text
    ("https://teams.microsoft.com/dl/launcher/launcher.html?url=" + "%2F_%23" * 20 + " ", 100_000),
    ("https://a.webex.com/wbxmjs/joinservice/a/a/a/a/a/a/a/a//x ", 100_000),
    ("https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F1 ", 100_000),
    ("a." * 40 + "us/ ", 50_000),
    ("http:// https:/ " + "%" * 20, 50_000),
)


def test_one_megabyte_hostile_description_is_scanned_within_a_cpu_time_bound() -> None:
    """Detection runs inside sync for every event: a hostile description must not stall it."""
    parts = [unit * (size // len(unit)) for unit, size in HOSTILE_DESCRIPTION_UNITS]
    parts[2] = "https://zoom.us/j/123" + parts[2]
    description = "\n".join(parts) + f'\n<a href="{ZOOM_PWD_URL}">Join</a>'
    assert len(description) > 950_000
    started = time.process_time()
    found = detect_meeting_link({"description": description})
    elapsed = time.process_time() - started
    assert found == link(ZOOM_PWD_URL, ZOOM)
    # About 0.2 s of CPU on a laptop; quadratic work would take minutes.
    assert elapsed < 3.0, f"{elapsed:.2f} s of CPU for a 1 MB description"
