"""The GraphiQL page, served by the HTTP endpoint in development mode only.

The browser loads GraphiQL, React and their styles from the unpkg CDN, so the
server sends this page and nothing else. The page sends queries to the URL it
was loaded from. Requests need a token, which the user enters in GraphiQL's
headers editor as ``{"Authorization": "Bearer <token>"}``.

NOTE: the scripts are pinned to major versions without subresource integrity
hashes, so the page trusts the CDN. Subscriptions are not wired in the page.
"""

from __future__ import annotations

GRAPHIQL_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>appgraph GraphiQL</title>
<style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css">
<script crossorigin src="https://unpkg.com/react@18/umd/react.production.min.js">
</script>
<script crossorigin
  src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
<script crossorigin src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
</head>
<body>
<div id="graphiql">Loading GraphiQL from unpkg.com...</div>
<script>
const url = window.location.origin + window.location.pathname;
const fetcher = GraphiQL.createFetcher({ url });
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultHeaders: '{"Authorization": "Bearer "}',
    isHeadersEditorEnabled: true,
  })
);
</script>
</body>
</html>
"""
"""The page's HTML; it contains no request data, so nothing needs escaping."""
