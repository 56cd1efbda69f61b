"""A diagnostic for `BENCH_STORE_ID_LOOKUP=1 make bench`, loaded only by the store's process.

SecantusDB 0.7.0b3 writes a `findAndModify` with the filter `{_id: <found>, $and: [<query>]}`,
and its write path uses the primary-key lookup only for a filter of `_id` alone: every
conditional `findAndModify` scans the collection. MongoDB answers it from the `_id` index.
This teaches that one function the lookup whenever the filter holds an `_id` equality (the
candidates are still matched against the whole filter), so the benchmark can show how much of
a figure is that scan. It is never part of the product, and the default run does not load it.
"""

from typing import Any

from secantus import storage

_scan_or_index = storage.Storage._try_index_id_keys


def _with_id_lookup(
    self: Any, db: str, coll: str, filter: dict[str, Any], *, collation: Any = None
) -> list[Any] | None:
    if filter and "_id" in filter and collation is None and not self._is_timeseries(db, coll):
        keys = storage._id_point_lookup_keys(filter["_id"])
        if keys is not None:
            found = (self._doc_recordid(db, coll, key) for key in keys)
            return [recordid for recordid in found if recordid is not None]
    result: list[Any] | None = _scan_or_index(self, db, coll, filter, collation=collation)
    return result


storage.Storage._try_index_id_keys = _with_id_lookup
