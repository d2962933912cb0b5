"""A stand-in for the SMS vendors: `mifumo simulator --port 9000`.

It speaks Beem, Arkesel, Africa's Talking and Twilio on one port, at their documented paths
(point `<VENDOR>_BASE_URL` at it), so the real adapters are exercised as they would be by
the vendors, and it counts what it received so benchmarks can check "every recipient exactly
once" and "no 60-second window held more than N".

Vendor endpoints (requests validated as the vendor does: missing credentials -> 401, missing
fields -> the vendor's error; numbers not in the vendor's format are refused its way):

    POST /v1/send                                   Beem (Basic api_key:secret_key, JSON)
    GET  /public/v1/vendors/balance                 Beem
    POST /api/v2/sms/send                           Arkesel (api-key header, JSON)
    GET  /api/v2/clients/balance-details            Arkesel
    POST /version1/messaging                        Africa's Talking (apiKey header, form;
    GET  /version1/user?username=                     JSON with Accept: application/json)
    POST /2010-04-01/Accounts/{sid}/Messages.json   Twilio (Basic sid:token, form)
    GET  /2010-04-01/Accounts/{sid}.json            Twilio

Faults, applied to the send endpoints in this order: an outage (503 on every vendor endpoint
while it lasts), 429 with Retry-After (`rate_429`), 500 in the vendor's wording
(`failure_rate`); then the request is validated and recorded, `drop_rate` closes the
connection without an answer after recording, and `latency_ms` delays every answer.

Delivery reports follow `dlr_delay_ms` after a message is accepted, one per recipient, in
the vendor's format: Beem a JSON POST {request_id, recipient_id, dest_addr, Status:
DELIVERED|UNDELIVERED}; Arkesel a GET with ?sms_id=&status=DELIVERED|NOT_DELIVERED; Africa's
Talking a form POST {id, status: Success|Failed, phoneNumber, networkCode, failureReason};
Twilio a form POST {MessageSid, MessageStatus: delivered|undelivered, ErrorCode, To, From,
AccountSid, ...} signed with X-Twilio-Signature. They go to the request's own URL where the
vendor takes one (Arkesel callback_url, Twilio StatusCallback), else to `callback_url`, in
which "{vendor}" becomes the vendor's name. Only final statuses are sent.

Control API:

    GET  /_simulator/messages   {count, results: [{id, vendor, recipient, text, sender,
                                 received_at, request_id, reference, segments}]};
                                 ?vendor= ?recipient= ?offset= ?limit=
    GET  /_simulator/stats      messages, unique_recipients, duplicates {number: times},
                                 duplicate_messages, max_messages_in_window (and segments)
                                 for ?window=60 seconds, by_vendor, requests by vendor,
                                 action and HTTP status, delivery_reports, counts per
                                 recipient (leave out with ?per_recipient=0); ?vendor=
    POST /_simulator/reset      forget messages, counters and waiting delivery reports
    GET  /_simulator/config     the settings below, and whether an outage is on
    POST /_simulator/config     change any of: latency_ms, failure_rate, rate_429,
                                 retry_after, drop_rate, dlr_delay_ms, dlr_failure_rate,
                                 callback_url, api_keys, opted_out, no_balance; and
                                 down (true/false) or down_for (seconds)
    GET  /_simulator/health

Recipients count as the same person with or without "+".

Throughput (bench/simulator_throughput.py, 2 cores shared with the load generator): one CPU
second of the simulator takes about 6,600 Twilio requests (one recipient each) or 200,000 to
450,000 recipients in Beem, Arkesel and Africa's Talking requests of 100-500 recipients.
Posting a delivery report costs about as much as answering a Twilio request, so a benchmark
that needs the last bit of speed runs without a callback URL. 50,000 records take ~6 MB.
"""

from mifumo.delivery.simulator.config import SimulatorConfig
from mifumo.delivery.simulator.server import Simulator, SimulatorThread, run

__all__ = ["Simulator", "SimulatorConfig", "SimulatorThread", "run"]
