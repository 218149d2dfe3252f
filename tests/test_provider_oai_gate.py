"""The list gate behind 503 + Retry-After: a slot is held until the worker has finished."""

from provider.oai import ListGate


def test_slots_are_limited_and_given_back_once():
    gate = ListGate(2)
    first, second = gate.enter(), gate.enter()
    assert first is not None and second is not None
    assert gate.enter() is None
    first.release()
    first.release()
    assert gate.active == 1
    assert gate.enter() is not None and gate.enter() is None


def test_a_disconnected_client_does_not_free_a_slot_its_worker_still_uses():
    gate = ListGate(1)
    ticket = gate.enter()
    ticket.start()  # the worker thread began the list query
    ticket.release(unless_started=True)  # the handler was cancelled by the disconnect
    assert gate.active == 1 and gate.enter() is None
    ticket.release()  # the worker is done
    assert gate.active == 0


def test_a_worker_that_never_ran_gives_its_slot_back():
    gate = ListGate(1)
    ticket = gate.enter()
    ticket.release(unless_started=True)
    assert gate.active == 0
    ticket.start()
    ticket.release()  # a late start cannot take the slot twice
    assert gate.active == 0
