"""The MongoDB store backend, planned and not implemented yet.

It will implement :class:`store.base.Store` with pymongo's ``AsyncMongoClient``
on a replica set, so that records and their outbox events share a
transaction. It will run the same contract suite as the SQLite store
(``tests/store``) whenever ``APPGRAPH_MONGO_URL`` names a server. The suite
builds it as ``MongoStore(url, database=name)`` and, after closing it, calls
``await store.drop_database()`` to remove the test database.
"""
