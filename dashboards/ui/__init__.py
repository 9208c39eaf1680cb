"""The web UI for marketers: server-rendered dashboards on the Stats API's query layer."""
