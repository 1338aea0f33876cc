"""Phone calls, distributed the way leads are (the seeds' Call Logic).

A call arrives as a telephony provider's voice webhook; an IVR may ask its questions; the
call becomes a lead (the caller's number and the answers are its fields), is screened, and
goes through the same tree engine as a form lead. The call's "post" is a dial: the buyer
that answers and stays on the line for its minimum duration has bought the call.

The configuration's side lives with each resource: verticals.calls (IVR), buyers.calls (a
campaign's call terms), publishers.model.TrackingNumber.

control: the call-control XML (TwiML) pingtree answers the provider with
sessions: a live call's conversation between its webhooks and its routing
gateway: the routing core's BuyerGateway for calls (pings as for leads; the post is a dial)
lines: a buyer's live calls at once (concurrency), exact in the database
repository: the call's row and its timeline
matching: the form lead an earlier visit left with the caller's number
service: a call's whole path, written out in one place
"""
