"""armbrain operator tools: the `armbrain` command, the node-graph description and launcher,
and the runtime every armbrain node's `main()` uses."""
