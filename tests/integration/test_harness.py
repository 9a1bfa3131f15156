"""The harness itself, without the gateway: Prosody starts, real clients log in and talk.
If this fails, every other failure in this directory is about the test machine, not slidge."""

from harness import is_message, is_presence


def test_prosody_clients_exchange_messages(clients):
    a = clients.new("harness")
    b = clients.new("harness")
    a.send_presence(b.jid, "subscribe")
    b.wait_for(is_presence(a.jid, "subscribe"), 10)
    mark = a.mark()
    b.send_message(a.jid, "ping <&> from b")
    m = a.wait_for(is_message(b.jid, "chat", "ping <&> from b"), 10, since=mark)
    assert m.get("from").startswith(b.jid + "/")
