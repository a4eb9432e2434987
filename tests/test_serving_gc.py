"""The serving process's garbage collection (ui/perf.py): the heap the warm-up filled is kept out
of Python's automatic full collections, and what dies in it is still collected when the server
is idle."""
import gc
import weakref

import pytest

from ui import perf


class _Node:
    """A reference cycle: refcounting alone never frees it, only the cyclic collector does."""

    def __init__(self) -> None:
        self.me = self
        self.payload = bytearray(1 << 20)


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()


def test_frozen_heap_is_skipped_by_collections_and_found_by_the_idle_one(unfrozen):
    node = _Node()
    alive = weakref.ref(node)
    assert perf.freeze_heap() >= 1  # the node is in the permanent generation now
    del node
    gc.collect()  # what Python's automatic full collection does: frozen objects are not looked at
    assert alive() is not None, "a frozen cycle was collected: the heap was not kept out"
    perf.collect_idle()
    assert alive() is None, "the idle collection must also free cycles that died in the frozen heap"
    assert gc.get_freeze_count() >= 1  # and freeze what is left again


def test_an_idle_collection_freezes_nothing_before_the_warm_up_has(unfrozen):
    gc.unfreeze()
    perf.collect_idle()
    assert gc.get_freeze_count() == 0

