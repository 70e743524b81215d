"""The GraphQL API: Starlette app, schemas, transports."""
