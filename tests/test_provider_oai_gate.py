"""The list gate behind 503 + Retry-After: a slot is held until the page has been built by its
worker and handed to the client's socket by its handler."""

from provider.oai import ListGate


def test_slots_are_limited_and_given_back_when_worker_and_handler_are_done():
    gate = ListGate(2)
    first, second = gate.enter(), gate.enter()
    assert first is not None and second is not None
    assert gate.enter() is None
    assert first.start()
    first.release()  # the worker has built the page
    assert gate.active == 2 and gate.enter() is None  # the handler is still sending it
    first.release()  # the handler has sent it
    first.release()  # once only
    assert gate.active == 1
    assert gate.enter() is not None and gate.enter() is None


def test_a_disconnected_client_does_not_free_a_slot_its_worker_still_uses():
    gate = ListGate(1)
    ticket = gate.enter()
    assert ticket.start()  # the worker thread began the list query
    ticket.release()  # the handler was cancelled by the disconnect
    assert gate.active == 1 and gate.enter() is None
    ticket.release()  # the worker is done
    assert gate.active == 0


def test_a_worker_that_never_ran_gives_its_slot_back_and_never_starts():
    gate = ListGate(1)
    ticket = gate.enter()
    ticket.release()  # the handler gave up before the worker started
    assert gate.active == 0
    assert not ticket.start()  # a late worker does not build the page
    ticket.release()
    assert gate.active == 0
