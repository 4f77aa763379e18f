"""Messages: template rendering, SendGrid and Twilio transports, webhooks.

Pure template rendering (GSM-7/UCS-2 segment counting), one transport per
provider with errors that say whether they are permanent, webhook parsing
and signature checks. No database and no RQ.
May import: third-party libraries only. Never ``campaigns``, ``compliance``,
``optimizer`` or ``dialer``.
"""
