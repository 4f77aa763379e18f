"""Call recordings: stored by attempt, hashed into the ledger, kept as the campaign says.

Asterisk records every call an agent takes (``MixMonitor`` with option
``b``: only while the debtor is bridged to an agent, so a transfer's new
agent is recorded on the same file; docker/asterisk/extensions.conf,
``[cadencia-record]``). The dialplan announces each recording with
``UserEvent(CadenciaRecording)``; the call desk (``desk``) follows the call
and, once the debtor's channel hangs up and Asterisk has closed the file,
``register`` copies it into the recording store (``store``: a local
directory, or any object store behind the same interface), computes its
SHA-256, appends a ``recording`` row to the ledger (not a contact) and a
``recordings`` row. An agent may pause the recording while a card number is
read (PCI DSS): the console asks, the desk mutes the MixMonitor and unmutes
it after the campaign's ``pause_max_s`` if the agent does not (``pause``).
``purge`` deletes what the campaign's retention no longer keeps;
``playback`` streams a recording to a compliance officer after checking its
SHA-256, and logs every access. docs/recording.md says it all.
"""
