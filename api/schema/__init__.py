"""GraphQL schemas: the static Strawberry part and the per-app generated part."""
