"""The upstream side: the pooled client, the proxy, the websocket relay."""
