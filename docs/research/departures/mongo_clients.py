"""1. Motor vs PyMongo's AsyncMongoClient."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from typing import Any

from measuring import DOCS, MONGO_CONCURRENCY, Op, compare, optional
from pymongo import AsyncMongoClient

# --- 1. Motor vs PyMongo's AsyncMongoClient -------------------------------------------------


async def mongo_table(url: str) -> list[str]:
    motor = optional("motor.motor_asyncio")
    clients: dict[str, Any] = {
        f"Motor {version('motor')}": motor.AsyncIOMotorClient(url),
        f"PyMongo {version('pymongo')} AsyncMongoClient": AsyncMongoClient[dict[str, Any]](url),
    }
    collection = next(iter(clients.values())).bench.departures
    await collection.drop()
    await collection.insert_many([{"_id": i, "n": 0} for i in range(DOCS)])

    def reader(client: Any) -> Op:
        collection = client.bench.departures
        return lambda i: collection.find_one({"_id": i % DOCS})

    def incrementer(client: Any) -> Op:
        collection, inc = client.bench.departures, {"$inc": {"n": 1}}
        return lambda i: collection.find_one_and_update({"_id": i % DOCS}, inc)

    rows = ["| client | operation | concurrency | ops/s | client CPU µs/op |", "|---|---|--:|--:|--:|"]
    for label, make in (("find_one by _id", reader), ("find_one_and_update $inc", incrementer)):
        for concurrency in MONGO_CONCURRENCY:
            results = await compare({name: make(c) for name, c in clients.items()}, concurrency)
            for name, (rate, cpu) in results.items():
                rows.append(f"| {name} | {label} | {concurrency} | {rate:,.0f} | {cpu:,.0f} |")
    for client in clients.values():
        closed = client.close()  # Motor's close() is synchronous, PyMongo's is a coroutine
        if inspect.isawaitable(closed):
            await closed
    return rows
